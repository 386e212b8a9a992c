"""Telephone numbers dialled through a SIP trunk: the trunk file, and the route of a ``tel:``
call through it.

A trunk (Twilio Elastic SIP Trunking, Telnyx, a PBX, kamailio in front of an agent) takes the
call at its proxy and places it on the number. The harness sends every request of the call to
the trunk's ``proxy`` with the number in the Request-URI (``sip:+15551234567@DOMAIN;user=phone``,
RFC 3261 §19.1.6), its own number as the caller ID, and answers the trunk's digest challenge
(401 or 407) with the trunk's credentials. The file names where the password is (an environment
variable), never the password: nothing the harness writes can carry it.

.. code-block:: yaml

    # trunk.yaml, named by HARNESS_SIP_TRUNK
    proxy: sip:sip.example-trunk.com:5060   # the next hop of every request
    domain: example.pstn.twilio.com         # the Request-URI's host (default: the proxy's)
    username: harness-ci                    # digest user (none: the trunk trusts the address)
    password_env: HARNESS_SIP_PASSWORD      # the variable holding the password (this default)
    caller_id: "+15550100123"               # the From user
    display_name: Harness caller
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.errors import InputError, InputErrors
from harness.scenario.loader import load_yaml_model
from harness.sip.message import SipError, SipUri

TRUNK_ENV = "HARNESS_SIP_TRUNK"
"""The environment variable naming the trunk file ``tel:`` targets are dialled through."""

_NUMBER_SEPARATORS = re.compile(r"[\-.()]")
"""Visual separators a ``tel:`` number may hold (RFC 3966), dropped before dialling."""


class TrunkFile(BaseModel):
    """The trunk file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    proxy: str = Field(description="The trunk's proxy, the next hop of every request of the "
                                   "call: sip:HOST[:PORT] (or HOST[:PORT]).")
    domain: str | None = Field(None, description="The host of the Request-URI "
                                                 "(sip:NUMBER@DOMAIN;user=phone); default: the "
                                                 "proxy's host.")
    username: str | None = Field(None, description="The digest user name; none when the trunk "
                                                   "admits the caller by its address.")
    password_env: str = Field("HARNESS_SIP_PASSWORD",
                              description="The environment variable holding the digest "
                                          "password (never the password itself).")
    caller_id: str = Field("harness", description="The caller's number or user: the From URI's "
                                                  "user part (E.164 for most trunks).")
    display_name: str | None = Field(None, description="The caller's display name in From.")
    transport: Literal["udp"] = Field("udp", description="How the trunk is reached (UDP).")

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str) -> str:
        uri = value if value.startswith(("sip:", "sips:")) else f"sip:{value}"
        try:
            parsed = SipUri.parse(uri)
        except SipError as exc:
            raise ValueError(f"expected sip:HOST[:PORT], got {value!r} ({exc})") from None
        if parsed.scheme != "sip" or parsed.transport != "udp":
            raise ValueError("the trunk is reached over UDP so far (a sip: proxy without "
                             f"transport=tls or tcp), got {value!r}")
        return uri

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, value: str) -> str:
        if not re.fullmatch(r"\+?[A-Za-z0-9_.!~*'()\-]+", value):
            raise ValueError(f"expected a number such as +15550100123 or a user name, got "
                             f"{value!r}")
        return value

    @field_validator("password_env")
    @classmethod
    def _password_env(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("expected the name of an environment variable (the password "
                             "itself never goes in a file)")
        return value


@dataclass(frozen=True)
class SipRoute:
    """How a call is placed: the next hop (``None``: the Request-URI's own host) and who calls.
    ``credentials`` are never printed or recorded."""

    next_hop: tuple[str, int] | None = None
    from_user: str = "harness"
    display_name: str | None = None
    from_host: str | None = None
    credentials: tuple[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TrunkCall:
    """A ``tel:`` target resolved through a trunk: the Request-URI, a label and the route."""

    uri: str
    label: str
    route: SipRoute


def dialled_number(tel: str) -> str:
    """The number of a ``tel:`` URI, separators dropped (``tel:+1-555-010-0199`` →
    ``+15550100199``); :class:`InputError` when it is not a telephone number."""
    try:
        parsed = SipUri.parse(tel)
    except SipError as exc:
        raise InputError(f"not a telephone number {tel!r}: {exc}", field="target") from None
    number = _NUMBER_SEPARATORS.sub("", parsed.user or "")
    if not re.fullmatch(r"\+?[0-9*#]{2,32}", number):
        raise InputError(f"{tel!r}: expected tel:+ and the number's digits (e.g. "
                         "tel:+15551234567)", field="target")
    return number


def load_trunk(path: str | Path) -> TrunkFile:
    """Read a trunk file; every problem located (``file:line:col: field: message``)."""
    if not Path(path).is_file():
        raise InputErrors([InputError(f"no trunk file at {str(path)!r} (named by {TRUNK_ENV})",
                                      field=TRUNK_ENV)])
    return load_yaml_model(path, TrunkFile, what="a SIP trunk")


def trunk_call(tel: str, trunk_path: str | Path | None = None) -> TrunkCall:
    """Resolve a ``tel:`` target through the trunk file (``trunk_path``, else the file named by
    :data:`TRUNK_ENV`), its password read from the environment."""
    number = dialled_number(tel)
    trunk_path = trunk_path or os.environ.get(TRUNK_ENV)
    if not trunk_path:
        raise InputError(f"{tel!r}: a telephone number is dialled through a SIP trunk; set "
                         f"{TRUNK_ENV} to a trunk file (proxy, credentials, caller ID; see "
                         "docs/sip.md)", field="target")
    trunk = load_trunk(trunk_path)
    proxy = SipUri.parse(trunk.proxy)
    credentials = None
    if trunk.username is not None:
        password = os.environ.get(trunk.password_env)
        if not password:
            raise InputError(f"the trunk's user {trunk.username!r} needs its password: set the "
                             f"environment variable {trunk.password_env}", field="target")
        credentials = (trunk.username, password)
    domain = trunk.domain or proxy.host
    uri = SipUri("sip", number, domain, None, {"user": "phone"})
    route = SipRoute(next_hop=proxy.address, from_user=trunk.caller_id,
                     display_name=trunk.display_name, from_host=domain, credentials=credentials)
    return TrunkCall(str(uri), f"tel:{number} via {proxy.host}"
                     + (f":{proxy.port}" if proxy.port else ""), route)
