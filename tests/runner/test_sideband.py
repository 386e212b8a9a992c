"""The sideband of a SIP call to an agent on the Realtime API's SIP interface: its settings, the
webhook it serves (signatures checked by the ``openai`` client), the session it accepts the call
with, and how its transcripts word the call's rebuilt responses."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from ports import free_tcp_port
from test_webhooks import post

from harness.errors import InputError, TargetError
from harness.runner.rebuilt import AgentSpeech, LoggedCall, Stretch, attach_calls
from harness.runner.sideband import (
    CALL_HEADER,
    SIDEBAND_ENV,
    WEBHOOK_LISTEN_ENV,
    Sideband,
    Transcript,
    accept_body,
    sideband_settings,
    spoken_texts,
    unless_it_fails,
    until_either,
)
from harness.scenario.models import AgentConfig, ToolSpec

SECRET = "whsec_" + base64.b64encode(b"a test secret of the sideband").decode()
KEY = "sk-test-never-written-anywhere"
ENV = {SIDEBAND_ENV: "accept", WEBHOOK_LISTEN_ENV: f"127.0.0.1:{free_tcp_port()}",
       "OPENAI_API_KEY": KEY, "OPENAI_WEBHOOK_SECRET": SECRET, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
CONFIG = AgentConfig(model="gpt-realtime", voice="marin", instructions="Help with orders.",
                     input_audio_format="audio/pcmu", output_audio_format="audio/pcmu",
                     tools=[ToolSpec(name="lookup_order", description="Look an order up",
                                     parameters={"type": "object", "properties": {
                                         "order_id": {"type": "string"}}})])


def signed(event: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    """A webhook body and its Standard Webhooks headers, as the service signs them."""
    body = json.dumps(event).encode()
    wid, ts = event["id"], str(int(time.time()))
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()
    return body, {"webhook-id": wid, "webhook-timestamp": ts,
                  "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def incoming(call_id: str, headers: dict[str, str]) -> dict[str, Any]:
    return {"id": f"evt_{call_id}", "object": "event", "type": "realtime.call.incoming",
            "created_at": int(time.time()), "data": {"call_id": call_id, "sip_headers": [
                {"name": name, "value": value} for name, value in headers.items()]}}


# ---------------------------------------------------------------------- settings


def test_without_the_switch_there_is_no_sideband() -> None:
    assert sideband_settings({}) is None


@pytest.mark.parametrize(("change", "field"), [
    ({SIDEBAND_ENV: "answer"}, SIDEBAND_ENV),
    ({WEBHOOK_LISTEN_ENV: ""}, WEBHOOK_LISTEN_ENV),
    ({WEBHOOK_LISTEN_ENV: "host:port"}, WEBHOOK_LISTEN_ENV),
    ({"OPENAI_API_KEY": ""}, "OPENAI_API_KEY"),
    ({"OPENAI_WEBHOOK_SECRET": ""}, "OPENAI_WEBHOOK_SECRET"),
    ({"OPENAI_BASE_URL": "api.openai.com"}, "OPENAI_BASE_URL"),
])
def test_a_bad_or_missing_setting_names_its_variable(change: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as err:
        sideband_settings({**ENV, **change})
    assert err.value.field == field
    assert KEY not in str(err.value) and SECRET not in str(err.value)


def test_the_websocket_base_follows_the_api_base_and_credentials_are_not_shown() -> None:
    settings = sideband_settings(ENV)
    assert settings is not None
    assert (settings.mode, settings.api_base, settings.websocket_base) == (
        "accept", "http://127.0.0.1:9/v1", "ws://127.0.0.1:9/v1")
    assert KEY not in repr(settings) and SECRET not in repr(settings)
    default = sideband_settings({**ENV, "OPENAI_BASE_URL": ""})
    assert default is not None and default.websocket_base == "wss://api.openai.com/v1"


def test_the_call_is_accepted_with_the_agent_config_in_the_lines_format() -> None:
    body = accept_body(CONFIG, "Help with orders.")
    assert body["type"] == "realtime" and body["model"] == "gpt-realtime"
    assert body["instructions"] == "Help with orders."
    assert [t["name"] for t in body["tools"]] == ["lookup_order"]
    assert body["audio"]["output"]["voice"] == "marin"
    assert "format" not in body["audio"]["input"] and "format" not in body["audio"]["output"]


# ---------------------------------------------------------------------- the webhook


def test_the_webhook_takes_its_own_call_and_refuses_what_is_not_signed() -> None:
    async def main() -> tuple[list[tuple[int, Any]], str | None, list[str]]:
        settings = sideband_settings(ENV)
        assert settings is not None
        sideband = Sideband(settings, config=CONFIG, mocks={}, instructions=None,
                            clock=lambda: 0.0)
        base = await sideband.start()
        token = sideband.headers[CALL_HEADER]
        answers = []
        try:
            for event, secret in [
                (incoming("rtc_other", {CALL_HEADER: "someone-else"}), SECRET),
                (incoming("rtc_forged", {CALL_HEADER: token}), "whsec_" + base64.b64encode(
                    b"not the secret").decode()),
                ({"id": "evt_batch", "object": "event", "type": "batch.completed",
                  "created_at": int(time.time()), "data": {"id": "batch_1"}}, SECRET),
                (incoming("rtc_ours", {"From": "<sip:harness@127.0.0.1>", CALL_HEADER: token}),
                 SECRET),
                (incoming("rtc_late", {CALL_HEADER: token}), SECRET),
            ]:
                body, headers = signed(event, secret)
                answers.append(await asyncio.to_thread(post, base, "/", raw=body,
                                                       headers=headers))
            answers.append(await asyncio.to_thread(post, base, "/", method="GET"))
            follow = asyncio.ensure_future(sideband.follow())
            await asyncio.sleep(0.5)  # it has the call id and is accepting it: nothing listens
            with pytest.raises(TargetError) as err:
                await asyncio.wait_for(follow, 30)
            assert "accepting call rtc_ours" in str(err.value) and KEY not in str(err.value)
            return answers, sideband.call_id, sideband.refused_webhooks
        finally:
            await sideband.close()

    answers, call_id, ignored = asyncio.run(main())
    statuses = [status for status, _ in answers]
    assert statuses == [200, 400, 200, 200, 200, 405]
    assert "OPENAI_WEBHOOK_SECRET" in answers[1][1]["error"]
    assert call_id == "rtc_ours"
    assert ignored == ["rtc_other", "rtc_late"]


def test_a_call_whose_webhook_never_comes_errors_with_where_it_was_awaited(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.runner.sideband as module

    monkeypatch.setattr(module, "INCOMING_TIMEOUT_S", 0.3)

    async def main() -> str:
        settings = sideband_settings(ENV)
        assert settings is not None
        sideband = Sideband(settings, config=CONFIG, mocks={}, instructions=None,
                            clock=lambda: 0.0)
        never = asyncio.ensure_future(asyncio.sleep(60))
        follow = asyncio.ensure_future(sideband.run())
        try:
            await unless_it_fails(never, follow)
        except TargetError as exc:
            assert never.cancelled()
            return str(exc)
        finally:
            await sideband.close()
        raise AssertionError("the call's wait was not ended by the sideband's error")

    message = asyncio.run(main())
    assert "no realtime.call.incoming webhook" in message and WEBHOOK_LISTEN_ENV in message


# ---------------------------------------------------------------------- the words


def test_each_stretch_of_speech_gets_the_transcripts_of_the_responses_that_made_it() -> None:
    speech = [AgentSpeech(Stretch(1_000, 2_500), "heard by the recogniser", "asr"),
              AgentSpeech(Stretch(6_000, 9_000), "the second, misheard", "asr"),
              AgentSpeech(Stretch(12_000, 13_000), "nothing from the sideband", "asr"),
              AgentSpeech(Stretch(16_000, 17_000), "voiced late", "asr")]
    spoken_texts(speech, [Transcript("r1", 600.0, "One moment."),
                          Transcript("r2", 3_200.0, "Your order 83521"),
                          Transcript("r3", 6_100.0, "arrives on April 25."),
                          Transcript("r4", 13_500.0, "Anything else?")])
    assert [(sp.text, sp.text_source) for sp in speech] == [
        ("One moment.", "sideband"), ("Your order 83521 arrives on April 25.", "sideband"),
        ("nothing from the sideband", "asr"), ("Anything else?", "sideband")]


def test_a_sideband_that_breaks_ends_the_wait_and_one_that_closes_does_not() -> None:
    async def main() -> tuple[str, bool]:
        async def broken() -> None:
            await asyncio.sleep(0.05)
            raise TargetError("sideband:rtc_1 is unreachable")

        stream = asyncio.ensure_future(asyncio.sleep(30))
        ended = asyncio.ensure_future(asyncio.Event().wait())
        with pytest.raises(TargetError) as err:
            await until_either(stream, ended, asyncio.ensure_future(broken()))
        stream.cancel()
        closed = asyncio.ensure_future(asyncio.sleep(0.05))  # the call's sideband closed first
        stream = asyncio.ensure_future(asyncio.sleep(0.3))
        done = await until_either(stream, ended, closed)
        ended.cancel()
        return str(err.value), done == {stream}

    message, stream_done = asyncio.run(main())
    assert "unreachable" in message and stream_done


def test_a_call_made_while_its_preamble_begins_to_play_goes_with_that_preamble() -> None:
    """The preamble began to play (the sideband's output_audio_buffer.started) at 20,706 ms,
    its first audible sample reached the caller at 21,068 ms, and the tool call came between, at
    21,029 ms: it is the preamble's call (as one CI run's order-status over a sideband had it),
    not a call with no preamble before it."""
    speech = [AgentSpeech(Stretch(13_000, 17_800)), AgentSpeech(Stretch(21_068, 22_400)),
              AgentSpeech(Stretch(22_688, 25_600))]
    spoken_texts(speech, [
        Transcript("r2", 11_542.0, "Just to confirm, I heard 8, 3, 5, 2, 1.", 12_630.0),
        Transcript("r3", 20_256.0, "I'll check that order now.", 20_706.0),
        Transcript("r4", 21_832.0, "It has shipped.", 22_325.0)])
    # before its onset, but within the stretch before, a start is not taken
    assert [sp.first_ms for sp in speech] == [12_630.0, 20_706.0, 22_688.0]
    call = LoggedCall("lookup_order", {"order_id": "83521"}, {"status": "shipped"}, 21_029.0,
                      "call_1")
    orphans = attach_calls([call], speech, [1_000.0, 6_469.0, 18_511.0, 26_330.0])
    assert orphans == [] and speech[1].calls == [call]
    late = [AgentSpeech(Stretch(1_000, 5_000)), AgentSpeech(Stretch(5_100, 6_000))]
    spoken_texts(late, [Transcript("a", 500.0, "One.", 900.0),
                        Transcript("b", 4_000.0, "Two.", 4_500.0)])
    assert [sp.arrived_ms for sp in late] == [900.0, None]
