"""SRTP for a call keyed by SDES (RFC 3711, keys from RFC 4568 ``a=crypto`` lines).

Each side protects what it sends with its own key (the ``a=crypto`` of its own description) and
reads the far end's packets with the far end's key. :class:`SrtpContext` holds both directions;
the cipher and the authentication are libsrtp's, through ``pylibsrtp`` (the binding aiortc uses),
not written here. Nothing here does I/O: the transports call :meth:`SrtpContext.protect` before
a packet goes out and :meth:`SrtpContext.unprotect` as one arrives.
"""

from __future__ import annotations

import pylibsrtp

from harness.sip.sdp import Crypto

_PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}


def _session(crypto: Crypto, direction: int) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=crypto.key, ssrc_type=direction,
                              srtp_profile=_PROFILES[crypto.suite])
    return pylibsrtp.Session(policy)


class SrtpContext:
    """Both directions of a call's SRTP: ``local`` keys what this side sends, ``remote`` what it
    receives (any SSRC either way). A packet that fails authentication or replays one already
    read is dropped (:meth:`unprotect` returns None) and counted in :attr:`dropped`."""

    def __init__(self, local: Crypto, remote: Crypto) -> None:
        self.local = local
        self.remote = remote
        self._out = _session(local, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        self._in = _session(remote, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        self.dropped = 0

    def protect(self, packet: bytes) -> bytes:
        """An RTP packet encrypted and authenticated for the wire."""
        return bytes(self._out.protect(packet))

    def unprotect(self, packet: bytes) -> bytes | None:
        """The RTP packet inside an SRTP one, or None when it is not authentic (or a replay)."""
        try:
            return bytes(self._in.unprotect(packet))
        except pylibsrtp.Error:
            self.dropped += 1
            return None

    def protect_rtcp(self, packet: bytes) -> bytes:
        """An RTCP packet as SRTCP."""
        return bytes(self._out.protect_rtcp(packet))

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        """The RTCP packet inside an SRTCP one, or None when it is not authentic."""
        try:
            return bytes(self._in.unprotect_rtcp(packet))
        except pylibsrtp.Error:
            self.dropped += 1
            return None
