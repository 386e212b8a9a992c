"""The scenario's tool mocks as HTTP webhooks: a real server on loopback, a real HTTP client."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from ports import free_tcp_port
from pydantic import TypeAdapter

from harness.api import RunOptions
from harness.errors import InputError
from harness.json_http import MAX_BODY_BYTES
from harness.runner.webhooks import (
    TOOLS_LISTEN_ENV,
    ToolWebhooks,
    WebhookCall,
    fixed_listen,
)
from harness.scenario.models import AgentConfig, ToolMock, ToolSpec

CONFIG = AgentConfig(tools=[
    ToolSpec(name="lookup_order", parameters={
        "type": "object", "properties": {"order_id": {"type": "string"}}}),
    ToolSpec(name="cancel_order", write=True, parameters={
        "type": "object", "properties": {"order_id": {"type": "string"}}}),
    ToolSpec(name="log_note", parameters={
        "type": "object", "properties": {"arguments": {"type": "string"}}}),
    ToolSpec(name="send_sms", parameters={
        "type": "object", "properties": {"message": {"type": "object"}}}),
])
_MOCK = TypeAdapter(ToolMock)
MOCKS = {
    "lookup_order": _MOCK.validate_python({"sequence": [
        {"returns": {"status": "shipped"}},
        {"returns": {"status": "delivered"}, "latency_ms": 300},
        {"error": "backend down"},
    ]}),
    "cancel_order": _MOCK.validate_python([
        {"when": {"order_id": "83521"}, "returns": {"cancelled": True}},
        {"returns": {"error": "not_found"}},
    ]),
    "log_note": _MOCK.validate_python({"returns": "noted"}),
    "send_sms": _MOCK.validate_python({"returns": {"sent": True}}),
}
SECRET = "sk-webhook-secret-4242"


def post(base: str, path: str, body: Any = None, *, raw: bytes | None = None,
         headers: dict[str, str] | None = None, method: str = "POST",
         conn: http.client.HTTPConnection | None = None) -> tuple[int, Any]:
    """One request with http.client; the status and the JSON answer."""
    own = conn is None
    if conn is None:
        parts = urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json",
                                                  **(headers or {})})
    response = conn.getresponse()
    text = response.read()
    if own:
        conn.close()
    return response.status, json.loads(text) if text else None


def serve(client: Callable[[str], Any], **kwargs: Any) -> tuple[ToolWebhooks, Any]:
    """Start the webhooks, run ``client(base_url)`` in a thread, stop them."""
    async def main() -> tuple[ToolWebhooks, Any]:
        async with ToolWebhooks(CONFIG, MOCKS, **kwargs) as hooks:
            result = await asyncio.to_thread(client, hooks.base_url)
        return hooks, result
    return asyncio.run(main())


def test_sequences_and_argument_rules_answer_like_the_websocket_runner() -> None:
    def client(base: str) -> list[tuple[int, Any]]:
        return [post(base, "/tools/lookup_order", {"order_id": "83521"}),
                post(base, "/tools/lookup_order", {"order_id": "83521"}),
                post(base, "/tools/lookup_order", {"order_id": "83521"}),
                post(base, "/tools/lookup_order", {}),
                post(base, "/tools/cancel_order", {"order_id": "8 3 5 2 1"}),
                post(base, "/tools/cancel_order", {"order_id": "11111"})]
    hooks, answers = serve(client)
    assert answers == [(200, {"status": "shipped"}), (200, {"status": "delivered"}),
                       (200, {"error": "backend down"}), (200, {"error": "backend down"}),
                       (200, {"cancelled": True}), (200, {"error": "not_found"})]
    assert [(c.name, c.answer.call_index) for c in hooks.calls] == [
        ("lookup_order", 0), ("lookup_order", 1), ("lookup_order", 2), ("lookup_order", 3),
        ("cancel_order", 0), ("cancel_order", 1)]
    assert hooks.counts == {"lookup_order": 4, "cancel_order": 2}
    assert json.loads(hooks.calls[4].arguments_raw) == {"order_id": "8 3 5 2 1"}
    assert hooks.calls[4].answer.arguments == {"order_id": "8 3 5 2 1"}
    assert all(c.t_answered is not None and c.t_answered >= c.t for c in hooks.calls)
    assert [c.t for c in hooks.calls] == sorted(c.t for c in hooks.calls)


def test_latency_is_honoured_and_a_slow_call_does_not_hold_up_another() -> None:
    def client(base: str) -> tuple[float, list[tuple[int, Any]]]:
        post(base, "/tools/lookup_order", {"order_id": "1"})  # the first answer: no latency
        started = time.perf_counter()
        slow = asyncio.run(_two_at_once(base))
        return time.perf_counter() - started, slow
    hooks, (elapsed, answers) = serve(client)
    assert answers[0] == (200, {"status": "delivered"})  # the second call: 300 ms
    assert answers[1] == (200, {"cancelled": True})
    slow, fast = hooks.calls[1], hooks.calls[2]
    assert slow.name == "lookup_order" and fast.name == "cancel_order"
    assert slow.answer.latency_ms == 300
    assert slow.t_answered is not None and fast.t_answered is not None
    assert slow.t_answered - slow.t >= 0.300  # on the server's own clock
    assert fast.t > slow.t and fast.t_answered < slow.t_answered
    assert elapsed >= 0.300


async def _two_at_once(base: str) -> list[tuple[int, Any]]:
    slow = asyncio.create_task(asyncio.to_thread(post, base, "/tools/lookup_order",
                                                 {"order_id": "2"}))
    await asyncio.sleep(0.05)
    fast = await asyncio.to_thread(post, base, "/tools/cancel_order", {"order_id": "83521"})
    return [await slow, fast]


def test_the_server_clock_stamps_calls() -> None:
    ticks = iter(range(100, 200))
    answered: list[WebhookCall] = []
    hooks, _ = serve(lambda base: post(base, "/tools/log_note", {"arguments": "x"}),
                     clock=lambda: float(next(ticks)), on_answer=answered.append)
    (call,) = hooks.calls
    assert (call.t, call.t_answered) == (100.0, 101.0)
    assert answered == [call]


def test_a_failing_observer_costs_no_answer() -> None:
    def observer(call: WebhookCall) -> None:
        raise RuntimeError("observer broke")

    hooks, answers = serve(lambda base: [post(base, "/tools/log_note", {"arguments": "x"}),
                                         post(base, "/tools/log_note", {"arguments": "y"})],
                           on_answer=observer)
    assert answers == [(200, "noted"), (200, "noted")]
    assert all(c.t_answered is not None for c in hooks.calls) and len(hooks.calls) == 2


def test_unknown_tool_is_404_and_recorded_as_invented() -> None:
    hooks, answer = serve(lambda base: post(base, "/tools/refund_everything", {"all": True}))
    assert answer == (404, {"error": "unknown tool 'refund_everything'"})
    (call,) = hooks.calls
    assert call.name == "refund_everything" and call.answer.invented
    assert hooks.rejected == []


@pytest.mark.parametrize("raw, message", [
    (b"{not json", "the body is not JSON"),
    (b"\xff\xfe", "the body is not JSON"),
])
def test_bad_json_is_400_with_a_message(raw: bytes, message: str) -> None:
    hooks, (status, answer) = serve(lambda base: post(base, "/tools/lookup_order", raw=raw))
    assert status == 400
    assert message in answer["error"] and "JSON object" in answer["error"]
    assert hooks.calls == [] and hooks.counts == {}
    (rejected,) = hooks.rejected
    assert (rejected.method, rejected.path, rejected.status) == ("POST", "/tools/lookup_order",
                                                                  400)


def test_arguments_that_are_not_an_object_get_the_runners_error_result() -> None:
    hooks, answer = serve(lambda base: post(base, "/tools/lookup_order", ["83521"]))
    assert answer == (200, {"error": "arguments are not a JSON object"})
    assert hooks.calls[0].arguments_raw == '["83521"]'


def test_wrapped_arguments_retell_and_the_named_route() -> None:
    def client(base: str) -> list[tuple[int, Any]]:
        return [
            post(base, "/tools/cancel_order", {"arguments": {"order_id": "83521"}}),
            post(base, "/tools/cancel_order", {"arguments": '{"order_id": "83521"}'}),
            post(base, "/tools/cancel_order", {"name": "cancel_order", "call": {"id": "c1"},
                                               "args": {"order_id": "83521"}}),
            post(base, "/tools", {"name": "cancel_order", "arguments": {"order_id": "83521"}}),
            post(base, "/tools/", {"name": "cancel_order", "args": {"order_id": "9"}}),
            # a tool whose own parameter is called "arguments" takes the body as it is
            post(base, "/tools/log_note", {"arguments": "call back Tuesday"}),
            post(base, "/tools", {"arguments": {}}),
            post(base, "/tools/cancel_order", {"name": "lookup_order", "arguments": {}}),
        ]
    hooks, answers = serve(client)
    assert answers[:4] == [(200, {"cancelled": True})] * 4
    assert answers[4] == (200, {"error": "not_found"})
    assert answers[5] == (200, "noted")
    assert answers[6][0] == 400 and '"name": TOOL' in answers[6][1]["error"]
    assert answers[7][0] == 400 and "the path names tool 'cancel_order'" in answers[7][1]["error"]
    assert [c.answer.arguments for c in hooks.calls[:5]] == [{"order_id": "83521"}] * 4 + [
        {"order_id": "9"}]
    assert hooks.calls[1].arguments_raw == '{"order_id": "83521"}'
    assert hooks.calls[5].answer.arguments == {"arguments": "call back Tuesday"}
    assert hooks.counts == {"cancel_order": 5, "log_note": 1}


def _vapi(*calls: tuple[str, str, Any], kind: str = "toolCalls") -> dict[str, Any]:
    if kind == "toolCalls":
        entries = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                   for i, n, a in calls]
    else:
        entries = [{"id": i, "name": n, "arguments": a} for i, n, a in calls]
    return {"message": {"type": "tool-calls", kind: entries, "call": {"id": "call-1"}}}


def test_vapi_tool_calls_are_answered_in_vapis_shape() -> None:
    def client(base: str) -> list[tuple[int, Any]]:
        return [
            post(base, "/tools", _vapi(("tc_1", "lookup_order", {"order_id": "1"}),
                                       ("tc_2", "cancel_order", '{"order_id": "83521"}'))),
            post(base, "/tools/lookup_order",
                 _vapi(("tc_3", "lookup_order", {"order_id": "1"}), kind="toolCallList")),
            post(base, "/tools", _vapi(("tc_4", "make_coffee", {}))),
            post(base, "/tools", {"message": {"type": "status-update", "status": "ended"}}),
            post(base, "/tools/cancel_order", _vapi(("tc_5", "lookup_order", {}))),
        ]
    hooks, answers = serve(client)
    assert answers[0] == (200, {"results": [
        {"toolCallId": "tc_1", "result": '{"status": "shipped"}'},
        {"toolCallId": "tc_2", "result": '{"cancelled": true}'}]})
    # the second lookup_order call: 300 ms later, its sequence's second answer
    assert answers[1] == (200, {"results": [
        {"toolCallId": "tc_3", "result": '{"status": "delivered"}'}]})
    assert answers[2] == (200, {"results": [
        {"toolCallId": "tc_4", "result": '{"error": "unknown tool \'make_coffee\'"}'}]})
    assert answers[3] == (200, {})  # not a tool call
    assert answers[4][0] == 400
    assert [(c.call_id, c.name) for c in hooks.calls] == [
        ("tc_1", "lookup_order"), ("tc_2", "cancel_order"), ("tc_3", "lookup_order"),
        ("tc_4", "make_coffee")]
    assert hooks.calls[3].answer.invented
    # both calls of one request are answered together
    assert hooks.calls[0].t_answered == hooks.calls[1].t_answered


def test_a_tool_parameter_named_message_is_not_taken_for_vapi() -> None:
    body = {"message": {"type": "text", "body": "hello"}}
    hooks, answer = serve(lambda base: post(base, "/tools/send_sms", body))
    assert answer == (200, {"sent": True})
    assert hooks.calls[0].answer.arguments == body


def test_other_paths_methods_and_oversized_bodies_are_refused() -> None:
    def client(base: str) -> list[tuple[int, Any]]:
        return [post(base, "/v1/tools/lookup_order", {}),
                post(base, "/tools/a/b", {}),
                post(base, "/tools/lookup_order", method="GET"),
                post(base, "/tools/lookup_order", raw=b"{" + b" " * MAX_BODY_BYTES + b"}")]
    hooks, answers = serve(client)
    assert [status for status, _ in answers] == [404, 404, 405, 413]
    assert "POST to /tools/{name}" in answers[0][1]["error"]
    assert hooks.calls == []
    assert [r.status for r in hooks.rejected] == [404, 404, 405, 413]


def test_keep_alive_and_chunked_bodies() -> None:
    def client(base: str) -> list[tuple[int, Any]]:
        parts = urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        first = post(base, "/tools/cancel_order", {"order_id": "83521"}, conn=conn)
        sock = conn.sock
        conn.request("POST", "/tools/cancel_order", body=iter([b'{"order_id"', b': "83521"}']),
                     encode_chunked=True, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        second = (response.status, json.loads(response.read()))
        assert conn.sock is sock  # the same connection
        conn.close()
        return [first, second]
    hooks, answers = serve(client)
    assert answers == [(200, {"cancelled": True})] * 2
    assert len(hooks.calls) == 2


def test_no_header_is_recorded_or_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": f"Bearer {SECRET}", "X-Vapi-Secret": SECRET}

    def client(base: str) -> list[tuple[int, Any]]:
        return [post(base, "/tools/lookup_order", {"order_id": "1"}, headers=headers),
                post(base, "/tools/lookup_order", raw=b"nope", headers=headers),
                post(base, "/elsewhere", {}, headers=headers)]
    hooks, answers = serve(client)
    assert [status for status, _ in answers] == [200, 400, 404]
    assert SECRET not in repr(hooks.calls) + repr(hooks.rejected) + caplog.text
    assert SECRET not in json.dumps([a for _, a in answers])


def test_stop_keeps_a_call_that_was_still_waiting() -> None:
    async def main() -> tuple[ToolWebhooks, BaseException | tuple[int, Any]]:
        hooks = ToolWebhooks(CONFIG, {"lookup_order": _MOCK.validate_python(
            {"returns": {"status": "late"}, "latency_ms": 5000})})
        base = await hooks.start()
        request = asyncio.create_task(asyncio.to_thread(post, base, "/tools/lookup_order", {}))
        while not hooks.calls:
            await asyncio.sleep(0.01)
        await hooks.stop()
        try:
            return hooks, await request
        except (ConnectionError, http.client.HTTPException) as exc:
            return hooks, exc
    hooks, outcome = asyncio.run(main())
    assert isinstance(outcome, (ConnectionError, http.client.HTTPException))
    (call,) = hooks.calls
    assert call.name == "lookup_order" and call.t_answered is None
    assert call.answer.output == {"status": "late"}


def test_base_url_names_the_port() -> None:
    def client(base: str) -> str:
        return base
    hooks, base = serve(client)
    assert base == f"http://127.0.0.1:{hooks.port}" and hooks.port > 0


@pytest.mark.parametrize(("value", "expected"), [
    ("8787", ("0.0.0.0", 8787)), ("127.0.0.1:9000", ("127.0.0.1", 9000)),
    ("[::1]:9000", ("::1", 9000)), ("", None)])
def test_a_fixed_tool_endpoint_is_read_from_host_and_port(value: str, expected: Any) -> None:
    assert fixed_listen(value) == expected


@pytest.mark.parametrize("value", ["http://x:1", "0.0.0.0:", "host:99999", ":8787", "x"])
def test_a_bad_fixed_tool_endpoint_says_what_was_expected(value: str) -> None:
    with pytest.raises(InputError, match="expected HOST:PORT or PORT") as info:
        fixed_listen(value)
    assert info.value.field == TOOLS_LISTEN_ENV


def test_a_fixed_port_is_held_by_one_call_and_free_for_the_next() -> None:
    """Calls one after another each listen on the fixed port; a second call while one holds it
    cannot (which is why a run with a fixed endpoint makes its SIP calls one at a time)."""
    port = free_tcp_port()

    async def main() -> list[str]:
        seen = []
        for _ in range(2):
            async with ToolWebhooks(CONFIG, MOCKS, host="0.0.0.0", port=port) as hooks:
                assert hooks.base_url == f"http://127.0.0.1:{port}"
                status, answer = await asyncio.to_thread(
                    post, hooks.base_url, "/tools/log_note", {"arguments": "hi"})
                seen.append(f"{status} {answer}")
                with pytest.raises(OSError):
                    await ToolWebhooks(CONFIG, MOCKS, host="127.0.0.1", port=port).start()
        return seen

    assert asyncio.run(main()) == ["200 noted", "200 noted"]


def test_sip_calls_with_a_fixed_endpoint_go_one_at_a_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOOLS_LISTEN_ENV, "127.0.0.1:8787")
    with pytest.raises(InputError, match="run these SIP calls one at a time") as info:
        RunOptions(target="local-sip", concurrency=2).check()
    assert info.value.field == "--concurrency"
    with pytest.raises(InputError, match="one at a time") as info:
        RunOptions(target="sip:agent@127.0.0.1:5070", concurrency=1, workers=2).check()
    assert info.value.field == "--workers"
    RunOptions(target="local-sip", concurrency=1).check()
    RunOptions(target="local", concurrency=4).check()  # no webhooks over a WebSocket
    monkeypatch.delenv(TOOLS_LISTEN_ENV)
    RunOptions(target="local-sip", concurrency=4).check()
