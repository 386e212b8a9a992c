"""The rubric judge against a scripted local server that speaks the chat-completions protocol:
verdicts per criterion, errors with their reason, the cache, and the missing configuration."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.errors import InputErrors
from harness.scenario.loader import load_scenario
from harness.scoring import score
from tests.scoring.builder import CallBuilder

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Script:
    """What the fake endpoint answers, in order (the last answer repeats), and what it got."""

    answers: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _completion(content: str | None = None, refusal: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "judge-1",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content,
                                     "refusal": refusal}}]}


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Script]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests.append(body)
            script.headers.append(dict(self.headers))
            answer = script.answers[min(len(script.requests) - 1, len(script.answers) - 1)]
            time.sleep(answer.get("delay_s", 0.0))
            payload = json.dumps(answer.get("json", _completion(answer.get("content"),
                                                                answer.get("refusal"))))
            self.send_response(answer.get("status", 200))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload.encode())
            except BrokenPipeError:
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HARNESS_JUDGE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("HARNESS_JUDGE_MODEL", "judge-1")
    monkeypatch.setenv("HARNESS_JUDGE_API_KEY", "sk-secret-judge-key")
    monkeypatch.setenv("HARNESS_JUDGE_TIMEOUT_S", "1")
    monkeypatch.setenv("HARNESS_JUDGE_CACHE", str(tmp_path / "cache"))
    yield script
    server.shutdown()
    server.server_close()


def _call() -> CallBuilder:
    b = CallBuilder()
    t0 = b.caller(1000.0, "Where is order eight, three, five, two, one?")
    s = b.respond(b.speech_end(t0) + 600.0, "I'll check that order now.",
                  call=("lookup_order", {"order_id": "83521"}))
    answered = b.call_time(s) + 400.0
    b.answer(s, answered, {"status": "shipped", "eta": "April 25"})
    b.respond(answered + 200.0, "It has shipped and should arrive on April 25.")
    return b


def _verdicts(**kinds: str) -> str:
    return json.dumps({"verdicts": [
        {"criterion": name, "verdict": verdict, "reason": f"{name} is {verdict}",
         "evidence": ["It has shipped and should arrive on April 25."]}
        for name, verdict in kinds.items()]})


EXPECT = {"rubric": {"criteria": ["brevity", "front_loading"]}}


def test_one_verdict_per_criterion_with_quotes_and_the_judge_recorded(endpoint: Script):
    endpoint.answers = [{"content": _verdicts(brevity="pass", front_loading="pass")}]
    [v] = score(_call().recording(), [EXPECT])
    assert v.status == "pass", v.summary
    judge = v.measured["judge"]
    assert judge["model"] == "judge-1" and judge["endpoint_host"].startswith("127.0.0.1:")
    assert len(judge["prompt_sha256"]) == 64 and judge["cached"] is False
    assert [c["criterion"] for c in v.measured["criteria"]] == ["brevity", "front_loading"]
    assert v.evidence[0].excerpt == "It has shipped and should arrive on April 25."
    [request] = endpoint.requests
    assert request["temperature"] == 0 and request["model"] == "judge-1"
    schema = request["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert schema["schema"]["properties"]["verdicts"]["items"]["properties"]["criterion"][
        "enum"] == ["brevity", "front_loading"]
    transcript = request["messages"][-1]["content"]
    assert "AGENT: It has shipped and should arrive on April 25." in transcript
    assert "TOOL CALL lookup_order" in transcript
    headers = {k.lower(): v for k, v in endpoint.headers[0].items()}
    assert headers["authorization"] == "Bearer sk-secret-judge-key"
    assert "sk-secret" not in v.model_dump_json()


def test_a_failing_criterion_fails_the_expectation(endpoint: Script):
    endpoint.answers = [{"content": _verdicts(brevity="fail", front_loading="pass")}]
    [v] = score(_call().recording(), [EXPECT])
    assert v.status == "fail" and v.summary == "brevity: brevity is fail"


def test_the_cache_answers_a_second_scoring_without_a_request(endpoint: Script):
    endpoint.answers = [{"content": _verdicts(brevity="pass", front_loading="fail")}]
    rec = _call().recording()
    first = score(rec, [EXPECT])[0]
    second = score(rec, [EXPECT])[0]
    assert len(endpoint.requests) == 1
    assert second.measured["judge"]["cached"] is True
    assert (first.status, first.summary) == (second.status, second.summary) == (
        "fail", "front_loading: front_loading is fail")
    # Another rubric is another request.
    score(rec, [{"rubric": {"criteria": ["brevity"]}}])
    assert len(endpoint.requests) == 2


@pytest.mark.parametrize(("answer", "reason"), [
    ({"content": "not json at all"}, "the judge's reply does not follow the schema"),
    ({"content": json.dumps({"verdicts": [{"criterion": "brevity", "verdict": "maybe",
                                           "reason": "", "evidence": []}]})},
     "the judge's reply does not follow the schema (verdicts.0.verdict"),
    ({"content": _verdicts(brevity="pass")},
     "must hold one verdict per criterion (brevity, front_loading); got brevity"),
    ({"refusal": "I can't help with that."}, "the judge refused: I can't help with that."),
    ({"delay_s": 2.5, "content": _verdicts(brevity="pass", front_loading="pass")},
     "did not answer within 1 s"),
    ({"status": 500, "json": {"error": {"message": "model overloaded"}}}, "answered HTTP 500"),
    ({"content": json.dumps({"verdicts": [
        {"criterion": c, "verdict": "pass", "reason": "ok", "evidence": ["Have a nice day!"]}
        for c in ("brevity", "front_loading")]})},
     "no quote from the transcript backs the verdict on brevity, front_loading"),
])
def test_judge_failures_are_error_verdicts_with_the_reason(endpoint: Script, answer, reason):
    endpoint.answers = [answer]
    [v] = score(_call().recording(), [EXPECT])
    assert v.status == "error"
    assert v.summary.startswith("rubric judge error: ") and reason in v.summary, v.summary


def test_nothing_is_cached_from_a_failed_request(endpoint: Script):
    endpoint.answers = [{"content": "oops"},
                        {"content": _verdicts(brevity="pass", front_loading="pass")}]
    rec = _call().recording()
    assert score(rec, [EXPECT])[0].status == "error"
    assert score(rec, [EXPECT])[0].status == "pass"
    assert len(endpoint.requests) == 2


SCENARIO = f"""name: judged
agent: {REPO / "agents" / "support.yaml"}
turns:
  - say: "Where is my order?"
expect:
  - rubric: {{criteria: [brevity]}}
"""


def test_without_a_judge_the_scenario_is_a_configuration_error(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    for name in ("HARNESS_JUDGE_URL", "HARNESS_JUDGE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "judged.yaml"
    path.write_text(SCENARIO)
    with pytest.raises(InputErrors) as raised:
        load_scenario(path)
    [error] = raised.value.errors
    assert error.field == "expect[0].rubric"
    assert error.message.startswith("the rubric judge is not configured: set HARNESS_JUDGE_URL")
    [v] = score(_call().recording(), [{"rubric": {}}])
    assert v.status == "error" and "not configured" in v.summary


def test_with_a_judge_the_scenario_loads_and_unknown_criteria_are_located(
        endpoint: Script, tmp_path: Path):
    path = tmp_path / "judged.yaml"
    path.write_text(SCENARIO)
    assert load_scenario(path).expect[0].kind == "rubric"
    path.write_text(SCENARIO.replace("[brevity]", "[brevity, charm]"))
    with pytest.raises(InputErrors) as raised:
        load_scenario(path)
    assert "unknown criteria charm" in str(raised.value)
    assert endpoint.requests == []
