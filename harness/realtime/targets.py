"""Where a session connects: a target spec (local, openai, azure, a URL) → URL, headers, dialect,
transport.

A spec is ``local``, ``openai``, ``azure`` or a ``ws://``/``wss://`` URL, optionally followed by
``:beta`` for the beta dialect (``openai:beta``); the dialect can also be given on its own.
``local-webrtc``, ``openai-webrtc``, ``azure-webrtc`` and ``webrtc+http://…``/``webrtc+https://…``
(the URL of a service's calls endpoint, ``…/v1/realtime/calls``) are the same over WebRTC: an
SDP offer POSTed to that URL, audio on RTP tracks, events on a data channel
(:mod:`harness.realtime.webrtc`, the ``webrtc`` extra).
Credentials come from the environment and live only in :attr:`Target.headers`, which is never
printed, logged or recorded: :attr:`Target.label` is what reports and recordings show.

- ``openai``: ``wss://api.openai.com/v1/realtime?model=MODEL``, ``Authorization: Bearer
  $OPENAI_API_KEY`` (``OPENAI_BASE_URL`` may point elsewhere, e.g. a proxy).
- ``azure``: ``$AZURE_OPENAI_ENDPOINT`` (``https://NAME.openai.azure.com``), the deployment
  ``$AZURE_OPENAI_DEPLOYMENT`` (default: the agent config's model), ``api-key:
  $AZURE_OPENAI_API_KEY``. GA uses ``/openai/v1/realtime?model=DEPLOYMENT``; with
  ``$AZURE_OPENAI_API_VERSION`` set (a preview version) the beta path
  ``/openai/realtime?api-version=…&deployment=…`` and the beta dialect are used.
- ``openai-webrtc``: ``https://api.openai.com/v1/realtime/calls?model=MODEL`` (and
  ``OPENAI_BASE_URL``), as a browser reaches it: the key mints an ephemeral key with the session
  config (``POST …/v1/realtime/client_secrets``) and the offer carries that (beta dialect: the
  key itself).
- ``azure-webrtc``: Azure's GA routes on ``$AZURE_OPENAI_ENDPOINT`` (an ``http://`` endpoint, e.g. a
  local proxy, stays plain HTTP), the same variables as ``azure``: the API key (``api-key``)
  mints an ephemeral key at ``/openai/v1/realtime/client_secrets`` with the session config, whose
  ``model`` is the deployment, and the offer goes to ``/openai/v1/realtime/calls`` with that key
  alone. Azure's preview WebRTC route (an ``api-version``, the beta dialect) is refused.
- ``local``: the in-process reference agent; :func:`local_target` builds the URL with the model
  and the faults in its query. ``local-webrtc``: the same agent's WebRTC calls endpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from harness.errors import InputError
from harness.extras import require
from harness.realtime.dialects import DIALECTS, Dialect, is_dialect

if TYPE_CHECKING:
    from harness.sip.trunk import SipRoute

NAMED_TARGETS = ("local", "openai", "azure", "local-webrtc", "openai-webrtc", "azure-webrtc",
                 "local-sip")
LOCAL_TARGETS = ("local", "local-webrtc", "local-sip")
"""The targets the in-process reference agent serves."""
WEBRTC_PREFIX = "webrtc+"
"""``webrtc+https://HOST/v1/realtime/calls``: a calls endpoint reached over WebRTC."""

SIP_SCHEMES = ("sip:", "sips:", "tel:")
"""``sip:USER@HOST[:PORT]``: an agent that answers SIP calls (UDP), dialled directly;
``sips:USER@HOST[:PORT]`` (or ``sip:…;transport=tls``): the same over TLS, with SRTP audio;
``tel:+NUMBER``: a telephone number, dialled through the SIP trunk named by
``HARNESS_SIP_TRUNK``."""
FAULTS_HEADER = "X-Harness-Faults"
"""The INVITE header that carries the local agent's faults for one SIP call."""

Transport = Literal["websocket", "webrtc", "sip"]


@dataclass(frozen=True)
class Target:
    """A resolved target. ``headers`` hold credentials: never print or record them."""

    label: str
    url: str
    dialect: Dialect = "ga"
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    transport: Transport = "websocket"
    """``webrtc``: ``url`` is the HTTP(S) calls URL the SDP offer is POSTed to."""
    secrets_url: str | None = None
    """Over WebRTC: where an ephemeral key is minted with the session config (``POST
    …/v1/realtime/client_secrets`` with ``headers``); the offer then carries that key instead."""
    model: str | None = None
    """With a :attr:`secrets_url`: the ``model`` of the session config the key is minted with
    (on Azure the deployment, which need not be the agent config's model)."""
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    """Over SIP: (user, password) for a digest challenge (``HARNESS_SIP_USER``,
    ``HARNESS_SIP_PASSWORD``, or the trunk's); never printed or recorded. ``headers`` are extra
    INVITE headers."""
    sip_route: SipRoute | None = field(default=None, repr=False)
    """Over SIP: the next hop and the caller's identity (a trunk's proxy and caller ID)."""

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
    if name not in NAMED_TARGETS and not name.startswith(
            ("ws://", "wss://", f"{WEBRTC_PREFIX}http://", f"{WEBRTC_PREFIX}https://",
             *SIP_SCHEMES)):
        raise InputError(f"unknown target {spec!r}; expected local, openai, azure, a ws:// or "
                         "wss:// URL (optionally with :beta), over WebRTC local-webrtc, "
                         "openai-webrtc, azure-webrtc or a webrtc+https:// calls URL, or over "
                         "SIP local-sip, a sip: or sips:USER@HOST:PORT URI or a tel:+NUMBER "
                         "through a trunk", field="target")
    return name, result


def transport_of(name: str) -> Transport:
    """How a target (a spec's name, see :func:`parse_spec`) is reached."""
    if name == "local-sip" or name.startswith(SIP_SCHEMES):
        return "sip"
    webrtc = (name in ("local-webrtc", "openai-webrtc", "azure-webrtc")
              or name.startswith(WEBRTC_PREFIX))
    return "webrtc" if webrtc else "websocket"


def require_transport(name: str, *, field: str = "target") -> None:
    """Raise a user error naming the extra a target's transport needs when it is missing."""
    if transport_of(name) == "webrtc":
        require("webrtc", f"the WebRTC target {name!r}", field=field)


CREDENTIAL_ENV = {"openai": ("OPENAI_API_KEY",), "openai-webrtc": ("OPENAI_API_KEY",),
                  "azure": ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY"),
                  "azure-webrtc": ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY")}
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
    transport = transport_of(name)
    require_transport(name)
    if name in LOCAL_TARGETS:
        if local_url is None:
            raise InputError("the local target needs the local agent's URL", field="target")
        return Target(f"{name}:{model}", local_url, chosen, _dialect_headers(chosen), transport)
    if transport == "sip":
        return _sip_target(name)
    if name in ("openai", "openai-webrtc"):
        key = _env("OPENAI_API_KEY", f"the {name} target needs an API key")
        base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
        scheme, _, rest = base.rpartition("://")
        plain = scheme in ("http", "ws")
        headers = {"Authorization": f"Bearer {key}"}
        if chosen == "beta":
            headers["OpenAI-Beta"] = "realtime=v1"
        query = urlencode({"model": model})
        if transport == "webrtc":
            base = ("http://" if plain else "https://") + rest
            secrets = f"{base}/realtime/client_secrets" if chosen == "ga" else None
            return Target(f"{name}:{model}", f"{base}/realtime/calls?{query}", chosen, headers,
                          transport, secrets, model=model if secrets else None)
        base = ("ws://" if plain else "wss://") + rest
        return Target(f"openai:{model}", f"{base}/realtime?{query}", chosen, headers)
    if name in ("azure", "azure-webrtc"):
        endpoint = _env("AZURE_OPENAI_ENDPOINT", f"the {name} target needs the resource endpoint")
        key = _env("AZURE_OPENAI_API_KEY", f"the {name} target needs an API key")
        deployment = os.environ.get("AZURE_OPENAI_DEPLOYMENT") or model
        host = endpoint.split("://", 1)[-1].rstrip("/")
        version = os.environ.get("AZURE_OPENAI_API_VERSION")
        if transport == "webrtc":
            return _azure_webrtc(endpoint, host, deployment, key, version, chosen)
        if version:
            query = urlencode({"api-version": version, "deployment": deployment})
            url, chosen = f"wss://{host}/openai/realtime?{query}", "beta"
        else:
            url = f"wss://{host}/openai/v1/realtime?{urlencode({'model': deployment})}"
        return Target(f"azure:{deployment}", url, chosen, {"api-key": key})
    url = name.removeprefix(WEBRTC_PREFIX)
    parts = urlsplit(url)
    label = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if transport == "webrtc":
        label = WEBRTC_PREFIX + label
    return Target(label, url, chosen, _dialect_headers(chosen), transport)


def _azure_webrtc(endpoint: str, host: str, deployment: str, key: str, version: str | None,
                  dialect: Dialect) -> Target:
    """Azure's GA WebRTC routes: the key (``api-key``) goes to ``client_secrets`` only, the
    deployment is the session config's ``model``. Azure's preview WebRTC route is another
    protocol on another host (``/openai/realtimeapi/sessions?api-version=…`` for the key, the
    offer to ``https://REGION.realtimeapi-preview.ai.azure.com/v1/realtimertc``, a region the
    endpoint does not name): asked for, it is refused rather than replaced by the GA one."""
    if version:
        raise InputError("the azure-webrtc target takes Azure's GA routes only (/openai/v1/"
                         "realtime/client_secrets and /calls, no api-version), but "
                         f"AZURE_OPENAI_API_VERSION is set ({version!r}): unset it for WebRTC, "
                         "or reach the preview version with the azure target (a WebSocket)",
                         field="target")
    if dialect == "beta":
        raise InputError("the azure-webrtc target speaks the GA dialect only (Azure's beta "
                         "WebRTC route is its preview one, not supported); drop :beta, or use "
                         "azure:beta (a WebSocket)", field="dialect")
    scheme = "http" if endpoint.startswith("http://") else "https"
    base = f"{scheme}://{host}/openai/v1/realtime"
    return Target(f"azure-webrtc:{deployment}", f"{base}/calls", "ga", {"api-key": key},
                  "webrtc", f"{base}/client_secrets", model=deployment)


def _sip_target(uri: str) -> Target:
    """A SIP URI dialled directly, digest credentials from the environment; or a telephone
    number dialled through the trunk file named by ``HARNESS_SIP_TRUNK``."""
    from harness.sip.message import SipError, SipUri  # noqa: PLC0415
    from harness.sip.trunk import trunk_call  # noqa: PLC0415

    if uri.startswith("tel:"):
        call = trunk_call(uri)
        return Target(call.label, call.uri, "ga", {}, "sip",
                      credentials=call.route.credentials, sip_route=call.route)

    try:
        parsed = SipUri.parse(uri)
    except SipError as exc:
        raise InputError(f"not a SIP URI {uri!r}: {exc}", field="target") from None
    if not parsed.host:
        raise InputError(f"{uri!r} names no host to call", field="target")
    if parsed.transport not in ("udp", "tls"):
        raise InputError(f"{uri!r}: transport={parsed.transport} is not dialled (UDP, or TLS "
                         "with sips: or transport=tls)", field="target")
    ca = os.environ.get("HARNESS_SIP_CA")
    if parsed.transport == "tls" and ca and not os.path.isfile(ca):
        raise InputError(f"HARNESS_SIP_CA names {ca!r}, which is not a file (a CA bundle, PEM, "
                         f"to verify {parsed.host}'s certificate with)", field="target")
    user, password = os.environ.get("HARNESS_SIP_USER"), os.environ.get("HARNESS_SIP_PASSWORD")
    label = f"{parsed.scheme}:{parsed.user + '@' if parsed.user else ''}{parsed.host}" + (
        f":{parsed.port}" if parsed.port else "")
    if parsed.scheme == "sip" and parsed.transport == "tls":
        label += ";transport=tls"
    return Target(label, uri, "ga", {}, "sip",
                  credentials=(user, password) if user and password else None)


def _dialect_headers(dialect: Dialect) -> dict[str, str]:
    return {"OpenAI-Beta": "realtime=v1"} if dialect == "beta" else {}


def local_target(base_url: str, *, model: str, faults: list[str],
                 dialect: str | None = None, transport: Transport = "websocket") -> Target:
    """The local agent's target for one session: model and faults in the URL query. Over WebRTC
    ``base_url`` is the agent's calls URL (``http://HOST:PORT/v1/realtime/calls``); over SIP its
    URI (``sip:agent@HOST:PORT``), the faults in the INVITE's :data:`FAULTS_HEADER`."""
    _, chosen = parse_spec("local", dialect)
    if transport == "sip":
        label = f"local-sip:{model}" + (f"[{','.join(faults)}]" if faults else "")
        return Target(label, base_url, "ga",
                      {FAULTS_HEADER: ",".join(faults)} if faults else {}, "sip")
    query: dict[str, str] = {"model": model}
    if faults:
        query["faults"] = ",".join(faults)
    parts = urlsplit(base_url)
    path = parts.path if parts.path not in ("", "/") else "/v1/realtime"
    url = urlunsplit((parts.scheme, parts.netloc, path, urlencode(query, safe=",="), ""))
    name = "local-webrtc" if transport == "webrtc" else "local"
    label = f"{name}:{model}" + (f"[{','.join(faults)}]" if faults else "")
    return Target(label, url, chosen, _dialect_headers(chosen), transport)
