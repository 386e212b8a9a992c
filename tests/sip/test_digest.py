"""Digest authentication against the RFCs' worked examples, and the verifier that checks it."""

from __future__ import annotations

import hashlib
import urllib.request

import pytest

from harness.sip.digest import Challenge, Verifier, authorization, parse_auth_params
from harness.sip.message import SipError

# RFC 7616 §3.9.1: the challenge (offered with both algorithms) and the request it answers.
RFC7616_CHALLENGE = ('Digest realm="http-auth@example.org", qop="auth, auth-int", '
                     'algorithm={algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
                     'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize("algorithm, response", [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_rfc7616_examples(algorithm: str, response: str) -> None:
    challenge = Challenge.parse(RFC7616_CHALLENGE.format(algorithm=algorithm))
    assert challenge.qop == ("auth", "auth-int") and challenge.algorithm == algorithm
    header = authorization(challenge, method="GET", uri="/dir/index.html", username="Mufasa",
                           password="Circle of Life", cnonce=RFC7616_CNONCE, nc=1)
    scheme, params = parse_auth_params(header)
    assert scheme == "Digest"
    assert params["response"] == response
    assert params["qop"] == "auth" and params["nc"] == "00000001"
    assert params["cnonce"] == RFC7616_CNONCE
    assert params["opaque"] == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
    assert params["uri"] == "/dir/index.html" and params["username"] == "Mufasa"
    assert "Circle" not in header


def test_rfc2617_example() -> None:
    # RFC 2617 §3.5 (note its password is "Circle Of Life").
    challenge = Challenge.parse('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                                'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
                                'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    header = authorization(challenge, method="GET", uri="/dir/index.html", username="Mufasa",
                           password="Circle Of Life", cnonce="0a4f113b")
    assert parse_auth_params(header)[1]["response"] == "6629fae49393a05397450978507c4ef1"


def _h(name: str, text: str) -> str:
    return hashlib.new(name, text.encode()).hexdigest()


@pytest.mark.parametrize("algorithm, hash_name", [("MD5-sess", "md5"),
                                                  ("SHA-256-sess", "sha256")])
def test_session_algorithms_fold_the_nonces_into_ha1(algorithm: str, hash_name: str) -> None:
    challenge = Challenge("sip.example", "N", algorithm, ("auth",))
    header = authorization(challenge, method="INVITE", uri="sip:bob@sip.example",
                           username="alice", password="pw", cnonce="C", nc=2)
    ha1 = _h(hash_name, f"{_h(hash_name, 'alice:sip.example:pw')}:N:C")
    ha2 = _h(hash_name, "INVITE:sip:bob@sip.example")
    expected = _h(hash_name, f"{ha1}:N:00000002:C:auth:{ha2}")
    assert parse_auth_params(header)[1]["response"] == expected


def test_without_qop_the_rfc2069_form_is_used() -> None:
    header = authorization(Challenge("r", "n"), method="REGISTER", uri="sip:r",
                           username="u", password="p")
    params = parse_auth_params(header)[1]
    expected = _h("md5", f"{_h('md5', 'u:r:p')}:n:{_h('md5', 'REGISTER:sip:r')}")
    assert params["response"] == expected
    assert "qop" not in params and "nc" not in params and "cnonce" not in params


def test_challenge_parsing_quoted_unquoted_and_stale() -> None:
    challenge = Challenge.parse('Digest realm="asterisk",nonce="1a2b",stale=TRUE,'
                                'algorithm=MD5,qop=auth')
    assert challenge == Challenge("asterisk", "1a2b", "MD5", ("auth",), None, True)
    escaped = Challenge.parse(r'Digest realm="a \"quoted\" realm", nonce=abc')
    assert escaped.realm == 'a "quoted" realm' and escaped.nonce == "abc"


@pytest.mark.parametrize("value, message", [
    ('Basic realm="x"', "not a Digest challenge"),
    ('Digest nonce="n"', "without realm"),
    ('Digest realm="x", nonce', "bad authentication parameters"),
])
def test_bad_challenges_raise(value: str, message: str) -> None:
    with pytest.raises(SipError, match=message):
        Challenge.parse(value)


def test_unsupported_algorithm_or_qop_is_refused() -> None:
    with pytest.raises(SipError, match="unsupported digest algorithm"):
        authorization(Challenge("r", "n", "SHA-512-256"), method="INVITE", uri="sip:x",
                      username="u", password="p")
    with pytest.raises(SipError, match="unsupported qop"):
        authorization(Challenge("r", "n", qop=("auth-int",)), method="INVITE", uri="sip:x",
                      username="u", password="p")


def test_verifier_accepts_the_right_password_only() -> None:
    verifier = Verifier("agent.local", {"harness": "s3cret"})
    challenge = Challenge.parse(verifier.challenge())
    assert challenge.realm == "agent.local" and challenge.qop == ("auth",)
    good = authorization(challenge, method="INVITE", uri="sip:agent@127.0.0.1",
                         username="harness", password="s3cret")
    assert verifier.check("INVITE", good) == "harness"
    bad = authorization(challenge, method="INVITE", uri="sip:agent@127.0.0.1",
                        username="harness", password="wrong")
    assert verifier.check("INVITE", bad) is None
    assert verifier.check("BYE", good) is None  # the digest covers the method
    stranger = authorization(challenge, method="INVITE", uri="sip:agent@127.0.0.1",
                             username="nobody", password="s3cret")
    assert verifier.check("INVITE", stranger) is None
    assert verifier.check("INVITE", None) is None
    assert verifier.check("INVITE", "Digest garbage") is None


def test_verifier_refuses_nonces_it_did_not_issue_and_forgets_old_ones() -> None:
    verifier = Verifier("r", {"u": "p"}, algorithm="SHA-256", max_nonces=2)
    foreign = authorization(Challenge("r", "made-up", "SHA-256", ("auth",)), method="INVITE",
                            uri="sip:r", username="u", password="p")
    assert verifier.check("INVITE", foreign) is None
    first = Challenge.parse(verifier.challenge())
    answer = authorization(first, method="INVITE", uri="sip:r", username="u", password="p")
    assert verifier.check("INVITE", answer) == "u"
    verifier.challenge()
    verifier.challenge()
    assert verifier.check("INVITE", answer) is None


def test_the_verifier_accepts_an_independent_implementations_answer() -> None:
    # The standard library's HTTP digest client answers our challenge (it quotes algorithm=).
    verifier = Verifier("agent.test", {"harness": "s3cret"})
    passwords = urllib.request.HTTPPasswordMgr()
    passwords.add_password("agent.test", "http://127.0.0.1/", "harness", "s3cret")
    client = urllib.request.AbstractDigestAuthHandler(passwords)
    request = urllib.request.Request("http://127.0.0.1/agent", method="INVITE")
    answer = client.get_authorization(request, parse_auth_params(verifier.challenge())[1])
    assert answer is not None
    assert verifier.check("INVITE", f"Digest {answer}") == "harness"
    assert verifier.check("BYE", f"Digest {answer}") is None
