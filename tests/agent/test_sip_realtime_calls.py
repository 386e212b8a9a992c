"""The local agent's SIP endpoint as the OpenAI Realtime API's SIP interface, on loopback: the
harness's own SIP caller dials it, a test HTTP receiver gets the signed ``realtime.call.incoming``
webhook (verified by the ``openai`` package's ``webhooks.unwrap``), the ``openai`` SDK accepts,
rejects and hangs up the call through the agent's REST API, and a WebSocket on the call's
sideband follows the session and answers its function call."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import h11
import numpy as np
import openai
import pytest
from agent_client import SERVER_EVENT, caller_speech, run, scripted_factory
from openai.types.webhooks import RealtimeCallIncomingWebhookEvent
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from harness.agent import LocalAgent
from harness.agent import realtime_calls as rc
from harness.agent.realtime_calls import WEBHOOK_SECRET_ENV, RealtimeCalls
from harness.cli import main as cli_main
from harness.errors import InputError
from harness.sip.call import CallRejected, SipCall

SECRET = "whsec_" + base64.b64encode(b"the local agent's test signing key").decode()
LOOKUP_ORDER = {"type": "function", "name": "lookup_order",
                "description": "Look an order up by its number.",
                "parameters": {"type": "object",
                               "properties": {"order_id": {"type": "string"}},
                               "required": ["order_id"]}}
FRAME = 160  # 20 ms at 8 kHz
SUPPORT = Path(__file__).resolve().parents[2] / "agents" / "support.yaml"


class WebhookReceiver:
    """A test HTTP server the agent's webhooks go to: keeps each request's body and headers and
    answers with the next of ``statuses`` (the last one from then on)."""

    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self.arrived = asyncio.Event()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hooks/openai?t=1"

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        headers: dict[str, str] = {}
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            else:
                break
        self.requests.append((body, headers))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        writer.write(conn.send(h11.Response(status_code=status,
                                            headers=[("Content-Length", "0")])) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        writer.close()
        self.arrived.set()

    async def next_call_id(self, timeout_s: float = 10.0) -> str:
        async with asyncio.timeout(timeout_s):
            while not self.requests:
                await self.arrived.wait()
                self.arrived.clear()
        return str(json.loads(self.requests[-1][0])["data"]["call_id"])


@asynccontextmanager
async def realtime_agent(receiver: WebhookReceiver, *, preload_asr: bool = False
                         ) -> AsyncIterator[tuple[LocalAgent, str, openai.AsyncOpenAI]]:
    """The scripted local agent answering realtime calls: (agent, its SIP URI, an SDK client of
    its REST API)."""
    async with LocalAgent(policy_factory=scripted_factory, preload_asr=preload_asr) as agent:
        uri = await agent.start_sip({}, realtime_calls=RealtimeCalls(receiver.url, SECRET))
        assert agent.api_url is not None and agent.api_url.startswith("http://127.0.0.1:")
        assert agent.api_url.endswith("/v1")
        client = openai.AsyncOpenAI(api_key="local", base_url=agent.api_url, max_retries=0)
        try:
            yield agent, uri, client
        finally:
            await client.close()


class Caller:
    """The harness's SIP caller with a mouth (audio queued, silence otherwise, a packet every
    20 ms as a phone sends) and ears (each received packet's arrival and level)."""

    def __init__(self, uri: str, headers: dict[str, str] | None = None) -> None:
        self.heard: list[tuple[float, float]] = []
        self.call = SipCall(uri, headers=headers, send_rate=8000, on_audio=self._hear)
        self._queue = np.zeros(0, dtype=np.int16)
        self._mouth: asyncio.Task[None] | None = None

    def _hear(self, pcm: np.ndarray, arrived_ns: int) -> None:
        level = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0
        self.heard.append((arrived_ns / 1e9, level))

    def say(self, pcm: np.ndarray) -> None:
        self._queue = np.concatenate([self._queue, pcm.astype(np.int16)])

    def start_talking(self) -> None:
        async def mouth() -> None:
            start = time.monotonic()
            for k in range(1_000_000):
                frame, self._queue = self._queue[:FRAME], self._queue[FRAME:]
                self.call.send_audio(np.pad(frame, (0, FRAME - len(frame))))
                await asyncio.sleep(max(0.0, start + (k + 1) * 0.02 - time.monotonic()))

        self._mouth = asyncio.ensure_future(mouth())

    def loud_after(self, t: float) -> float:
        """Seconds of audible agent audio (above -40 dBFS) that arrived after ``t``."""
        return sum(0.02 for at, level in self.heard if at > t and level > 328)

    async def close(self) -> None:
        if self._mouth is not None:
            self._mouth.cancel()
        await self.call.close(linger_s=2)


async def _until(condition: Any, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


def _unwrap(body: bytes, headers: dict[str, str], secret: str = SECRET) -> Any:
    return openai.OpenAI(api_key="x", webhook_secret=secret).webhooks.unwrap(body, headers)


# --------------------------------------------------------------------------- the whole call


@pytest.mark.slow
@pytest.mark.calls(1)
def test_a_call_rings_is_accepted_and_its_function_call_is_answered_on_the_sideband() -> None:
    speech = caller_speech("I am calling about my order.", rate=8000)

    async def main() -> dict[str, Any]:
        async with WebhookReceiver() as receiver, \
                realtime_agent(receiver, preload_asr=True) as (agent, uri, client):
            caller = Caller(uri, headers={"X-Harness-Call": "abc",
                                          "Authorization": 'Digest username="caller"'})
            placing = asyncio.ensure_future(caller.call.place(timeout_s=20))
            call_id = await receiver.next_call_id()
            await asyncio.sleep(0.3)
            ringing_only = not placing.done()
            events: list[tuple[float, dict[str, Any]]] = []
            async with connect(f"{agent.url}?call_id={call_id}") as sideband:
                async def follow() -> None:
                    async for frame in sideband:
                        events.append((time.monotonic(), json.loads(frame)))

                follower = asyncio.ensure_future(follow())
                await client.realtime.calls.accept(
                    call_id, type="realtime", model="gpt-realtime",
                    instructions="You help callers with their orders.", tools=[LOOKUP_ORDER],
                    audio={"input": {"transcription": {"model": "whisper-1"}},
                           "output": {"voice": "marin"}})
                media = await placing
                caller.start_talking()
                await asyncio.sleep(0.5)
                caller.say(speech)

                def first(kind: str, after: int = 0, **match: Any) -> dict[str, Any] | None:
                    return next((e for _, e in events[after:] if e["type"] == kind and all(
                        e.get(k) == v for k, v in match.items())), None)

                await _until(lambda: first("response.function_call_arguments.done"), 20)
                call = first("response.function_call_arguments.done")
                assert call is not None
                await sideband.send(json.dumps({"type": "conversation.item.create", "item": {
                    "type": "function_call_output", "call_id": call["call_id"],
                    "output": json.dumps({"status": "shipped"})}}))
                mark = len(events)
                await sideband.send(json.dumps({"type": "response.create"}))
                await _until(lambda: first("response.created", mark), 10)
                answer = first("response.created", mark)
                assert answer is not None
                rid = answer["response"]["id"]
                await _until(lambda: first("output_audio_buffer.started", mark, response_id=rid),
                             10)
                started = next(t for t, e in events[mark:]
                               if e["type"] == "output_audio_buffer.started"
                               and e["response_id"] == rid)
                await asyncio.sleep(1.5)
                await client.realtime.calls.hangup(call_id)
                await asyncio.wait_for(caller.call.ended.wait(), 5)
                await asyncio.wait_for(follower, 5)  # the agent closes the sideband
                loud = caller.loud_after(started)
                await caller.close()
            signals = [line for _, _, line in caller.call.signals.entries]
            return {"request": receiver.requests[0], "ringing_only": ringing_only,
                    "media": media, "events": [e for _, e in events], "loud": loud,
                    "signals": signals, "call_id": call_id, "caller": caller.call,
                    "ended": agent._sip.ended if agent._sip else []}

    out = run(main())
    body, headers = out["request"]
    event = _unwrap(body, headers)
    assert isinstance(event, RealtimeCallIncomingWebhookEvent)
    assert event.data.call_id == out["call_id"] and len(out["call_id"]) == 4 + 32
    names = [h.name for h in event.data.sip_headers]
    assert {"name": "X-Harness-Call", "value": "abc"} in [h.model_dump()
                                                         for h in event.data.sip_headers]
    assert "Authorization" not in names and names[0] == "Via" and "Call-ID" in names
    assert out["ringing_only"]  # not answered before the accept
    assert "SIP/2.0 180 Ringing" in out["signals"] and "SIP/2.0 200 OK" in out["signals"]
    assert out["media"].codec in ("PCMU", "PCMA")
    events = out["events"]
    for sent in events:
        SERVER_EVENT.validate_python(sent)
    kinds = [e["type"] for e in events]
    assert "response.output_audio.delta" not in kinds
    session = next(e for e in events if e["type"] == "session.updated")["session"]
    assert session["instructions"] == "You help callers with their orders."
    assert [t["name"] for t in session["tools"]] == ["lookup_order"]
    assert session["audio"]["input"]["format"]["type"] in ("audio/pcmu", "audio/pcma")
    for kind in ("session.created", "input_audio_buffer.speech_started",
                 "input_audio_buffer.speech_stopped",
                 "conversation.item.input_audio_transcription.completed", "response.created",
                 "response.output_audio_transcript.delta", "response.output_audio.done",
                 "response.function_call_arguments.done", "response.done"):
        assert kind in kinds, kind
    said = [e["transcript"] for e in events if e["type"] == "response.output_audio_transcript.done"]
    assert said[0] == "Let me look that up." and "shipped" in said[-1]
    assert out["loud"] > 0.5  # the answer was spoken on the call's RTP
    assert out["caller"].hung_up_by == "remote"


# --------------------------------------------------------------------------- the REST API


def test_a_rejected_call_gets_the_status_asked_for_and_unknown_calls_are_404() -> None:
    async def main() -> tuple[CallRejected, Any, Any, int, Any]:
        async with WebhookReceiver() as receiver, realtime_agent(receiver) as (agent, uri, client):
            caller = Caller(uri)
            placing = asyncio.ensure_future(caller.call.place(timeout_s=10))
            call_id = await receiver.next_call_id()
            with pytest.raises(openai.NotFoundError) as unknown:
                await client.realtime.calls.accept("rtc_" + "0" * 32, type="realtime")
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{agent.url}?call_id=rtc_{'0' * 32}"):
                    pass
            await client.realtime.calls.reject(call_id, status_code=486)
            with pytest.raises(CallRejected) as rejected:
                await placing
            with pytest.raises(openai.ConflictError) as late:
                await client.realtime.calls.accept(call_id, type="realtime")
            await caller.close()
            return rejected.value, unknown.value, late.value, \
                refused.value.response.status_code, agent
    rejected, unknown, late, sideband_status, _ = run(main())
    assert rejected.status == 486
    assert unknown.status_code == 404 and unknown.body["code"] == "call_not_found"  # type: ignore[index]
    assert late.status_code == 409
    assert sideband_status == 404


def test_an_accepted_call_is_answered_and_hung_up_through_the_api(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> tuple[list[str], str | None, list[dict[str, Any]]]:
        async with WebhookReceiver() as receiver, realtime_agent(receiver) as (agent, uri, client):
            caller = Caller(uri)
            placing = asyncio.ensure_future(caller.call.place(timeout_s=10))
            call_id = await receiver.next_call_id()
            async with connect(f"{agent.url}?call_id={call_id}") as sideband:
                # a client event sent while the call is pending goes in after the accept's
                await sideband.send(json.dumps({"type": "session.update", "session": {
                    "type": "realtime", "instructions": "From the sideband."}}))
                with pytest.raises(openai.BadRequestError):
                    await client.realtime.calls.accept(call_id, type="realtime",
                                                       extra_body={"voice_of": "nobody"})
                await client.realtime.calls.accept(call_id, type="realtime",
                                                   instructions="From the accept.")
                await placing
                with pytest.raises(openai.ConflictError):
                    await client.realtime.calls.accept(call_id, type="realtime")
                seen: list[dict[str, Any]] = []
                async with asyncio.timeout(5):
                    while sum(e["type"] == "session.updated" for e in seen) < 2:
                        seen.append(json.loads(await sideband.recv()))
                await client.realtime.calls.hangup(call_id)
                await asyncio.wait_for(caller.call.ended.wait(), 5)
            with pytest.raises(openai.ConflictError):
                await client.realtime.calls.hangup(call_id)
            await caller.close()
            return [line for _, _, line in caller.call.signals.entries], \
                caller.call.hung_up_by, seen

    signals, hung_up_by, seen = run(main())
    assert "SIP/2.0 180 Ringing" in signals and "SIP/2.0 200 OK" in signals
    assert any(line.startswith("BYE ") for line in signals) and hung_up_by == "remote"
    updated = [e["session"]["instructions"] for e in seen if e["type"] == "session.updated"]
    assert updated == ["From the accept.", "From the sideband."]
    assert seen[0]["type"] == "session.created"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "realtime call rtc_" in logged
    assert SECRET not in logged and SECRET[6:] not in logged


def test_a_call_nobody_accepts_is_rejected_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rc, "ACCEPT_TIMEOUT_S", 1.0)

    async def main() -> CallRejected:
        async with WebhookReceiver() as receiver, realtime_agent(receiver) as (_, uri, _c):
            caller = Caller(uri)
            with pytest.raises(CallRejected) as rejected:
                await caller.call.place(timeout_s=10)
            await caller.close()
            return rejected.value

    assert run(main()).status == 408


def test_a_webhook_that_fails_is_retried_then_the_call_is_rejected_480(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rc, "WEBHOOK_RETRY_S", 0.05)

    async def main() -> tuple[CallRejected, list[tuple[bytes, dict[str, str]]]]:
        async with WebhookReceiver(statuses=(500,)) as receiver, \
                realtime_agent(receiver) as (_, uri, _c):
            caller = Caller(uri)
            with pytest.raises(CallRejected) as rejected:
                await caller.call.place(timeout_s=10)
            await caller.close()
            return rejected.value, receiver.requests

    rejected, requests = run(main())
    assert rejected.status == 480
    assert len(requests) == rc.WEBHOOK_ATTEMPTS
    assert len({headers["webhook-id"] for _, headers in requests}) == 1  # one event, resent


# --------------------------------------------------------------------------- the secret


def test_the_signature_is_openais_and_a_wrong_secret_fails_it() -> None:
    event = rc.incoming_event("rtc_" + "a" * 32, [("Via", "SIP/2.0/UDP h"),
                                                   ("Proxy-Authorization", "Digest x"),
                                                   ("X-Harness-Call", "abc")])
    body = json.dumps(event)
    now = int(time.time())
    headers = {"webhook-id": event["id"], "webhook-timestamp": str(now),
               "webhook-signature": rc.signature(SECRET, event["id"], now, body)}
    parsed = _unwrap(body, headers)
    assert [h.name for h in parsed.data.sip_headers] == ["Via", "X-Harness-Call"]
    assert RealtimeCallIncomingWebhookEvent.model_validate(event).type == "realtime.call.incoming"
    with pytest.raises(openai.InvalidWebhookSignatureError):
        _unwrap(body, headers, "whsec_" + base64.b64encode(b"another key").decode())
    plain = "not-a-whsec-secret"  # any other text: its bytes are the key, as the SDK reads it
    headers["webhook-signature"] = rc.signature(plain, event["id"], now, body)
    assert _unwrap(body, headers, plain).data.call_id == event["data"]["call_id"]


def test_realtime_calls_refuse_to_start_without_a_good_secret(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match=WEBHOOK_SECRET_ENV):
        RealtimeCalls.from_env("http://127.0.0.1:9/hook", environ={})
    bad = "whsec_not*base64"
    with pytest.raises(InputError) as refused:
        RealtimeCalls("http://127.0.0.1:9/hook", bad)
    assert bad not in str(refused.value) and "not base64" in str(refused.value)
    assert SECRET not in repr(RealtimeCalls("http://127.0.0.1:9/hook", SECRET))
    with pytest.raises(InputError, match="http"):
        RealtimeCalls("ftp://example.com/hook", SECRET)
    monkeypatch.delenv(WEBHOOK_SECRET_ENV, raising=False)
    with pytest.raises(SystemExit) as stopped:
        cli_main(["agent", "serve", "--sip", "0", "--agent", str(SUPPORT),
              "--realtime-webhook", "http://127.0.0.1:9/hook"])
    assert stopped.value.code == 2
    assert WEBHOOK_SECRET_ENV in capsys.readouterr().err


def test_a_caller_that_gives_up_while_ringing_leaves_nothing_to_accept() -> None:
    async def main() -> tuple[list[str], Any, int]:
        async with WebhookReceiver() as receiver, realtime_agent(receiver) as (agent, uri, client):
            caller = Caller(uri)
            placing = asyncio.ensure_future(caller.call.place(timeout_s=10))
            call_id = await receiver.next_call_id()
            caller.call.hang_up()  # CANCEL
            await asyncio.wait_for(caller.call.ended.wait(), 5)
            placing.cancel()
            await _until(lambda: not agent._sip.calls, 5)  # type: ignore[union-attr]
            with pytest.raises(openai.ConflictError) as late:
                await client.realtime.calls.accept(call_id, type="realtime")
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{agent.url}?call_id={call_id}"):
                    pass
            await caller.close()
            return [line for _, _, line in caller.call.signals.entries], late.value, \
                refused.value.response.status_code

    signals, late, sideband_status = run(main())
    assert "SIP/2.0 487 Request Terminated" in signals
    assert late.status_code == 409 and sideband_status == 404
