"""Digest authentication for SIP (RFC 7616, RFC 2617 as RFC 3261 §22.4 uses it), without I/O.

:class:`Challenge` reads a ``WWW-Authenticate`` or ``Proxy-Authenticate`` value,
:func:`authorization` answers it (MD5, SHA-256 and their ``-sess`` forms, ``qop=auth`` or none),
and :class:`Verifier` is the server side: it issues challenges and checks the answers.
Passwords never leave this module: the header carries only the digest.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from harness.sip.message import SipError

_HASHES = {"MD5": "md5", "SHA-256": "sha256"}
"""Digest algorithms supported (each also with ``-sess``) and their hashlib names."""

_PARAM = re.compile(r'\s*([A-Za-z0-9_\-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*(?:,|$)')


def parse_auth_params(header_value: str) -> tuple[str, dict[str, str]]:
    """``Digest realm="x", nonce=y`` → ``("Digest", {"realm": "x", "nonce": "y"})``: the scheme
    and its parameters (names lower case, quoted values unquoted)."""
    scheme, _, rest = header_value.strip().partition(" ")
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if not match or match.end() == position:
            raise SipError(f"bad authentication parameters at {rest[position:]!r}")
        value = match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[match.group(1).lower()] = value
        position = match.end()
    return scheme, params


@dataclass
class Challenge:
    """What a ``401``/``407`` asks for: the realm and nonce to answer, how to hash."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, header_value: str) -> Challenge:
        """Read a ``WWW-Authenticate`` / ``Proxy-Authenticate`` value (quoted or unquoted
        parameters); :class:`SipError` when it is not a usable Digest challenge."""
        scheme, params = parse_auth_params(header_value)
        if scheme.lower() != "digest":
            raise SipError(f"not a Digest challenge: {header_value!r}")
        missing = [name for name in ("realm", "nonce") if name not in params]
        if missing:
            raise SipError(f"Digest challenge without {' and '.join(missing)}: {header_value!r}")
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(params["realm"], params["nonce"], params.get("algorithm", "MD5"), qop,
                   params.get("opaque"), params.get("stale", "").lower() == "true")


def authorization(challenge: Challenge, *, method: str, uri: str, username: str, password: str,
                  cnonce: str | None = None, nc: int = 1) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering ``challenge`` for a
    request (``method``, Request-URI ``uri``). Uses ``qop=auth`` when offered; ``auth-int``
    alone is refused with :class:`SipError`, as is an unknown algorithm."""
    hash_name, session = _algorithm(challenge.algorithm)
    if challenge.qop and "auth" not in challenge.qop:
        raise SipError(f"unsupported qop {','.join(challenge.qop)} (only auth is supported)")
    qop = "auth" if challenge.qop else None
    cnonce = cnonce or secrets.token_hex(8)
    nc_text = f"{nc:08x}"
    response = digest_response(
        hash_name, session, username=username, realm=challenge.realm, password=password,
        nonce=challenge.nonce, method=method, uri=uri, qop=qop, cnonce=cnonce, nc=nc_text)
    parts = [f'username="{_quote(username)}"', f'realm="{_quote(challenge.realm)}"',
             f'nonce="{_quote(challenge.nonce)}"', f'uri="{_quote(uri)}"',
             f'response="{response}"', f"algorithm={challenge.algorithm}"]
    if qop or session:
        parts.append(f'cnonce="{_quote(cnonce)}"')
    if challenge.opaque is not None:
        parts.append(f'opaque="{_quote(challenge.opaque)}"')
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}"]
    return "Digest " + ", ".join(parts)


def digest_response(hash_name: str, session: bool, *, username: str, realm: str, password: str,
                    nonce: str, method: str, uri: str, qop: str | None, cnonce: str,
                    nc: str) -> str:
    """The ``response`` value (RFC 7616 §3.4.1): KD(H(A1), nonce[:nc:cnonce:qop]:H(A2))."""

    def h(text: str) -> str:
        return hashlib.new(hash_name, text.encode("utf-8")).hexdigest()

    ha1 = h(f"{username}:{realm}:{password}")
    if session:
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    if qop:
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return h(f"{ha1}:{nonce}:{ha2}")


def _algorithm(name: str) -> tuple[str, bool]:
    upper = name.upper()
    session = upper.endswith("-SESS")
    base = upper[:-5] if session else upper
    if base not in _HASHES:
        raise SipError(f"unsupported digest algorithm {name!r} "
                       f"(supported: {', '.join(_HASHES)}, each also with -sess)")
    return _HASHES[base], session


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class Verifier:
    """The server side of digest authentication for a ``realm`` and its ``users`` (name →
    password). Nonces are its own random values; the most recent ``max_nonces`` are accepted."""

    def __init__(self, realm: str, users: dict[str, str], *, algorithm: str = "MD5",
                 max_nonces: int = 1024) -> None:
        _algorithm(algorithm)
        self.realm = realm
        self.algorithm = algorithm
        self._users = dict(users)
        self._nonces: OrderedDict[str, None] = OrderedDict()
        self._max_nonces = max_nonces

    def challenge(self) -> str:
        """A ``WWW-Authenticate`` (or ``Proxy-Authenticate``) value with a fresh nonce."""
        nonce = secrets.token_urlsafe(24)
        self._nonces[nonce] = None
        while len(self._nonces) > self._max_nonces:
            self._nonces.popitem(last=False)
        return (f'Digest realm="{_quote(self.realm)}", nonce="{nonce}", '
                f'algorithm={self.algorithm}, qop="auth"')

    def check(self, method: str, authorization_header: str | None) -> str | None:
        """The user name when ``authorization_header`` proves a known user's password for a
        nonce of ours; None otherwise (missing, malformed, wrong realm, nonce or password)."""
        if not authorization_header:
            return None
        try:
            scheme, params = parse_auth_params(authorization_header)
            hash_name, session = _algorithm(params.get("algorithm", "MD5"))
        except SipError:
            return None
        required = ("username", "realm", "nonce", "uri", "response")
        if scheme.lower() != "digest" or any(name not in params for name in required):
            return None
        username = params["username"]
        password = self._users.get(username)
        if (password is None or params["realm"] != self.realm
                or params["nonce"] not in self._nonces):
            return None
        qop = params.get("qop")
        if qop not in (None, "auth") or (qop and not ("cnonce" in params and "nc" in params)):
            return None
        expected = digest_response(
            hash_name, session, username=username, realm=self.realm, password=password,
            nonce=params["nonce"], method=method, uri=params["uri"], qop=qop,
            cnonce=params.get("cnonce", ""), nc=params.get("nc", ""))
        if hmac.compare_digest(expected, params["response"].lower()):
            return username
        return None
