"""Where a session connects: a target spec (local, openai, azure, a URL) → URL, headers, dialect.

A spec is ``local``, ``openai``, ``azure`` or a ``ws://``/``wss://`` URL, optionally followed by
``:beta`` for the beta dialect (``openai:beta``); the dialect can also be given on its own.
Credentials come from the environment and live only in :attr:`Target.headers`, which is never
printed, logged or recorded: :attr:`Target.label` is what reports and recordings show.

- ``openai``: ``wss://api.openai.com/v1/realtime?model=MODEL``, ``Authorization: Bearer
  $OPENAI_API_KEY`` (``OPENAI_BASE_URL`` may point elsewhere, e.g. a proxy).
- ``azure``: ``$AZURE_OPENAI_ENDPOINT`` (``https://NAME.openai.azure.com``), the deployment
  ``$AZURE_OPENAI_DEPLOYMENT`` (default: the agent config's model), ``api-key:
  $AZURE_OPENAI_API_KEY``. GA uses ``/openai/v1/realtime?model=DEPLOYMENT``; with
  ``$AZURE_OPENAI_API_VERSION`` set (a preview version) the beta path
  ``/openai/realtime?api-version=…&deployment=…`` and the beta dialect are used.
- ``local``: the in-process reference agent; :func:`local_target` builds the URL with the model
  and the faults in its query.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from harness.errors import InputError
from harness.realtime.dialects import DIALECTS, Dialect, is_dialect

NAMED_TARGETS = ("local", "openai", "azure")


@dataclass(frozen=True)
class Target:
    """A resolved target. ``headers`` hold credentials: never print or record them."""

    label: str
    url: str
    dialect: Dialect = "ga"
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def safe_url(self) -> str:
        """The URL without query values that could carry secrets (for messages)."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def parse_spec(spec: str, dialect: str | None = None) -> tuple[str, Dialect]:
    """Split ``openai:beta`` into (``openai``, ``beta``); check names; URLs pass through."""
    name = spec.strip()
    chosen = dialect
    for d in DIALECTS:
        if name.endswith(":" + d) and not name.endswith("://" + d):
            name, chosen = name[: -len(d) - 1], d
    result: Dialect = "ga"
    if chosen is not None:
        if not is_dialect(chosen):
            raise InputError(f"unknown dialect {chosen!r}; expected one of {', '.join(DIALECTS)}",
                             field="dialect")
        result = chosen
    if name not in NAMED_TARGETS and not name.startswith(("ws://", "wss://")):
        raise InputError(f"unknown target {spec!r}; expected local, openai, azure or a ws:// or "
                         "wss:// URL (optionally with :beta)", field="target")
    return name, result


CREDENTIAL_ENV = {"openai": ("OPENAI_API_KEY",),
                  "azure": ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY")}
"""Environment variables each named target needs (the pytest plugin skips without them)."""


def missing_credentials(spec: str) -> list[str]:
    """The environment variables ``spec`` needs that are not set (none for local and URLs)."""
    name, _ = parse_spec(spec)
    return [var for var in CREDENTIAL_ENV.get(name, ()) if not os.environ.get(var)]


def _env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise InputError(f"{what}: set the environment variable {name}", field="target")
    return value


def resolve_target(spec: str, *, model: str, dialect: str | None = None,
                   local_url: str | None = None) -> Target:
    """The :class:`Target` of a spec for an agent config's model (``local`` needs ``local_url``)."""
    name, chosen = parse_spec(spec, dialect)
    if name == "local":
        if local_url is None:
            raise InputError("the local target needs the local agent's URL", field="target")
        return Target(f"local:{model}", local_url, chosen, _dialect_headers(chosen))
    if name == "openai":
        key = _env("OPENAI_API_KEY", "the openai target needs an API key")
        base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
        scheme, _, rest = base.rpartition("://")
        base = ("ws://" if scheme in ("http", "ws") else "wss://") + rest
        headers = {"Authorization": f"Bearer {key}"}
        if chosen == "beta":
            headers["OpenAI-Beta"] = "realtime=v1"
        return Target(f"openai:{model}", f"{base}/realtime?{urlencode({'model': model})}",
                      chosen, headers)
    if name == "azure":
        endpoint = _env("AZURE_OPENAI_ENDPOINT", "the azure target needs the resource endpoint")
        key = _env("AZURE_OPENAI_API_KEY", "the azure target needs an API key")
        deployment = os.environ.get("AZURE_OPENAI_DEPLOYMENT") or model
        host = endpoint.split("://", 1)[-1].rstrip("/")
        version = os.environ.get("AZURE_OPENAI_API_VERSION")
        if version:
            query = urlencode({"api-version": version, "deployment": deployment})
            url, chosen = f"wss://{host}/openai/realtime?{query}", "beta"
        else:
            url = f"wss://{host}/openai/v1/realtime?{urlencode({'model': deployment})}"
        return Target(f"azure:{deployment}", url, chosen, {"api-key": key})
    parts = urlsplit(name)
    return Target(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), name, chosen,
                  _dialect_headers(chosen))


def _dialect_headers(dialect: Dialect) -> dict[str, str]:
    return {"OpenAI-Beta": "realtime=v1"} if dialect == "beta" else {}


def local_target(base_url: str, *, model: str, faults: list[str],
                 dialect: str | None = None) -> Target:
    """The local agent's target for one session: model and faults in the URL query."""
    _, chosen = parse_spec("local", dialect)
    query: dict[str, str] = {"model": model}
    if faults:
        query["faults"] = ",".join(faults)
    parts = urlsplit(base_url)
    path = parts.path if parts.path not in ("", "/") else "/v1/realtime"
    url = urlunsplit((parts.scheme, parts.netloc, path, urlencode(query, safe=",="), ""))
    label = f"local:{model}" + (f"[{','.join(faults)}]" if faults else "")
    return Target(label, url, chosen, _dialect_headers(chosen))
