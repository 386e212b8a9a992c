"""End to end: a SIP call to an agent on the Realtime API's SIP interface, followed on its
sideband. The local agent plays the service (``harness agent serve --sip … --realtime-webhook``,
a process of its own); the harness dials it, gets the signed ``realtime.call.incoming`` webhook
at the address it serves, accepts the call with the scenario's agent config through the
service's REST API, answers the session's function call on the call's sideband WebSocket and
grades the call, with the session's own transcripts where a plain SIP call has only the
recogniser's."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from fault_table import failed_beyond_load, kinds
from ports import free_tcp_port
from websockets.asyncio.client import connect

from harness import api
from harness.json_http import Answer, JsonHttpServer
from harness.runner.sideband import (
    SIDEBAND_ENV,
    SIDEBAND_FILE,
    WEBHOOK_LISTEN_ENV,
    accept_body,
)
from harness.scenario import load_agent_config

pytestmark = [pytest.mark.slow, pytest.mark.calls(2)]

ROOT = Path(__file__).resolve().parents[1]
ORDER_STATUS = ROOT / "scenarios" / "order-status.yaml"
SECRET = "whsec_" + base64.b64encode(b"the project's webhook secret, for this test").decode()
KEY = "sk-proj-this-key-must-appear-in-no-file"
URL = re.compile(r"listening on (\S+)")
HARNESS = Path(sys.executable).with_name("harness")


class ProjectServer(JsonHttpServer):
    """The project's own server, where the service's webhooks go: it passes each on to the
    harness (another webhook endpoint of the project) as it came; with ``answer`` it also
    accepts the call with its own session and answers its function calls on a sideband of its
    own, as a production agent's server does."""

    def __init__(self, harness_webhook: str, service: dict[str, str]) -> None:
        super().__init__(port=int(service["webhook_port"]))
        self.harness_webhook = harness_webhook
        self.service = service
        self.answer = False
        self.tool_arguments: list[str] = []
        self._calls: set[asyncio.Task[None]] = set()

    async def respond(self, method: str, target: str, headers: dict[str, str], body: bytes
                      ) -> Answer:
        signature = {k: headers[k] for k in ("webhook-id", "webhook-timestamp",
                                             "webhook-signature")}
        await asyncio.to_thread(_post, self.harness_webhook, body, signature)
        if self.answer:
            task = asyncio.ensure_future(self._serve(json.loads(body)["data"]["call_id"]))
            self._calls.add(task)
        return 200, {}, {}, []

    async def _serve(self, call_id: str) -> None:
        client = openai.AsyncOpenAI(api_key="the project's own key",
                                    base_url=self.service["api"],
                                    websocket_base_url=self.service["websocket"])
        config = load_agent_config(ROOT / "agents" / "support.yaml")
        async with connect(f"{self.service['websocket']}/realtime?call_id={call_id}") as side:
            await client.realtime.calls.accept(call_id, **accept_body(config, "Help callers."))
            follow_up = False
            async for text in side:
                event = json.loads(text)
                if event["type"] == "response.function_call_arguments.done":
                    self.tool_arguments.append(event["arguments"])
                    await side.send(json.dumps({"type": "conversation.item.create", "item": {
                        "type": "function_call_output", "call_id": event["call_id"],
                        "output": json.dumps({"status": "shipped", "eta": "April 25"})}}))
                    follow_up = True
                elif event["type"] == "response.done" and follow_up:
                    await side.send(json.dumps({"type": "response.create"}))
                    follow_up = False
        await client.close()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


@pytest.fixture(scope="module")
def service() -> Iterator[dict[str, str]]:
    """The local agent as the Realtime API's SIP interface: its SIP URI, REST API and
    WebSocket URLs, and the port its webhooks go to (the project's server's)."""
    webhook_port = free_tcp_port()
    agent = subprocess.Popen(
        [str(HARNESS), "agent", "serve", "--sip", "0",
         "--agent", str(ROOT / "agents" / "support.yaml"),
         "--realtime-webhook", f"http://127.0.0.1:{webhook_port}/openai/webhook"],
        env={**os.environ, "OPENAI_WEBHOOK_SECRET": SECRET}, stderr=subprocess.PIPE, text=True)
    urls: list[str] = []
    deadline = time.monotonic() + 120
    try:
        assert agent.stderr is not None
        while len(urls) < 3 and time.monotonic() < deadline:
            line = agent.stderr.readline()
            if not line:
                break
            urls += URL.findall(line)
        by_kind = {url.split(":", 1)[0]: url for url in urls}
        assert set(by_kind) == {"ws", "sip", "http"}, f"the agent printed {urls}"
        yield {"sip": by_kind["sip"], "api": by_kind["http"],
               "websocket": by_kind["ws"].rsplit("/realtime", 1)[0],
               "webhook_port": str(webhook_port)}
    finally:
        agent.terminate()
        agent.wait(timeout=30)


def _files_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


def _call(service: dict[str, str], out: Path, mode: str, websocket: str | None = None
          ) -> tuple[api.RunOutcome, Path, list[str]]:
    """order-status dialled with the sideband in ``mode`` (at ``websocket``, else the
    service's); the project's server answers the call's tools itself when the harness only
    observes."""
    listen = free_tcp_port()
    env = {SIDEBAND_ENV: mode, WEBHOOK_LISTEN_ENV: f"127.0.0.1:{listen}",
           "OPENAI_API_KEY": KEY, "OPENAI_WEBHOOK_SECRET": SECRET,
           "OPENAI_BASE_URL": service["api"],
           "OPENAI_WEBSOCKET_BASE_URL": websocket or service["websocket"]}

    async def main() -> tuple[api.RunOutcome, list[str]]:
        project = ProjectServer(f"http://127.0.0.1:{listen}/", service)
        project.answer = mode == "observe"
        await project.start()
        try:
            outcome = await api.run_async([ORDER_STATUS], target=service["sip"], concurrency=1,
                                          out_dir=out)
        finally:
            await project.stop()
        return outcome, project.tool_arguments

    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        outcome, answered = asyncio.run(main())
    return outcome, next(outcome.run_dir.glob("*/trial-0")), answered


@pytest.fixture(scope="module")
def accepted(service: dict[str, str], tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[api.RunOutcome, Path]:
    outcome, trial, answered = _call(service, tmp_path_factory.mktemp("accept"), "accept")
    assert answered == []  # the harness answered the tool, not the project's server
    return outcome, trial


def _verdicts(trial: Path) -> dict[str, dict[str, Any]]:
    raw = json.loads((trial / "verdicts.json").read_text())
    return {v["kind"]: v for v in (raw["verdicts"] if isinstance(raw, dict) else raw)}


@pytest.mark.shared_calls
def test_the_accepted_call_passes_with_its_tools_answered_on_the_sideband(
        accepted: tuple[api.RunOutcome, Path]) -> None:
    outcome, trial = accepted
    verdicts = _verdicts(trial)
    assert outcome.trials[0].run_status == "completed", outcome.trials[0].error
    # speech_matches_transcript is left out: it is the recogniser's hearing of the agent's
    # espeak-ng voice through G.711 (one call's "Goodbye!" heard as "Don't mind."), graded below
    # latency or dead air with the recogniser, or the agent's voice after it, queued behind other
    # tests' calls is the machine's load, as in the fault tables (CI runs: the number's
    # transcripts 2.9 s after the caller's turn, its answer 3,151 ms against 3,000; in another,
    # an answer at 3,274 ms, where the call alone answers every turn within 866 ms)
    [failed] = kinds(outcome, {"fail", "error"}).values()
    [beyond_load] = failed_beyond_load(outcome, {outcome.trials[0].scenario: set()}).values()
    failing = {k: v["summary"] for k, v in verdicts.items() if v["status"] != "pass"
               and k != "speech_matches_transcript" and k not in failed - beyond_load}
    assert not failing, failing
    meta = json.loads((trial / "meta.json").read_text())["sip"]["sideband"]
    assert meta["mode"] == "accept" and meta["call_id"].startswith("rtc_")
    assert meta["function_calls"] == 1 and meta["events"] > 10
    frames = [json.loads(line) for line in (trial / "events.jsonl").read_text().splitlines()]
    calls = [f for f in frames if f["type"] == "response.function_call_arguments.done"]
    assert [(f["event"]["name"], json.loads(f["event"]["arguments"]), f["source"])
            for f in calls] == [("lookup_order", {"order_id": "83521"}, "sideband")]


@pytest.mark.shared_calls
def test_what_a_plain_sip_call_cannot_grade_is_graded_from_the_sideband(
        accepted: tuple[api.RunOutcome, Path]) -> None:
    _, trial = accepted
    verdicts = _verdicts(trial)
    # over SIP without a sideband these two are not_applicable (no transcripts on the line)
    assert verdicts["input_heard"]["status"] == "pass"
    assert verdicts["input_heard"]["measured"]["turns"], verdicts["input_heard"]
    matched = verdicts["speech_matches_transcript"]
    assert matched["status"] in ("pass", "fail"), matched
    assert "WER" in matched["summary"] and "item(s)" in matched["summary"]
    frames = [json.loads(line) for line in (trial / "events.jsonl").read_text().splitlines()]
    heard = [f["event"]["transcript"] for f in frames
             if f["type"] == "conversation.item.input_audio_transcription.completed"]
    # one transcription per turn the agent's detector heard: the scenario's four, or more where
    # a caller's pause ended one (Kokoro's after "eight," at 130 words a minute can)
    assert len(heard) >= 4 and "check on my order" in heard[0], heard
    # "Goodbye." or "Good bye.": the recogniser's spelling, not the caller's words
    assert "goodbye" in "".join(heard[-1].lower().split()), heard
    worded = {f.get("source") for f in frames
              if f["type"] == "response.output_audio_transcript.done"}
    assert worded == {"sideband"}
    events = [json.loads(line) for line in (trial / SIDEBAND_FILE).read_text().splitlines()]
    types = [e["event"]["type"] for e in events]
    assert "response.function_call_arguments.done" in types and "response.done" in types
    assert not any(t == "response.output_audio.delta" for t in types)


@pytest.mark.shared_calls
def test_no_key_or_secret_reaches_the_run_folder(accepted: tuple[api.RunOutcome, Path]) -> None:
    outcome, _ = accepted
    text = _files_text(Path(outcome.run_dir))
    assert KEY not in text and SECRET not in text and SECRET[6:] not in text


def test_observed_the_projects_server_answers_and_the_call_is_graded(
        service: dict[str, str], tmp_path: Path) -> None:
    """``observe``: the project's server accepts the call and answers its tool; the harness
    follows the sideband and grades the call with the tool call and answer it saw."""
    outcome, trial, answered = _call(service, tmp_path, "observe")
    assert outcome.trials[0].run_status == "completed", outcome.trials[0].error
    assert [json.loads(a) for a in answered] == [{"order_id": "83521"}]
    verdicts = _verdicts(trial)
    for kind in ("tool_called", "entity_confirmed", "preamble", "transcript", "input_heard"):
        assert verdicts[kind]["status"] == "pass", (kind, verdicts[kind]["summary"])
    meta = json.loads((trial / "meta.json").read_text())["sip"]["sideband"]
    assert meta["mode"] == "observe" and meta["function_calls"] == 1
    frames = [json.loads(line) for line in (trial / "events.jsonl").read_text().splitlines()]
    answers = [f["event"]["output"] for f in frames if f["type"] == "harness.tool.answered"]
    assert answers == [{"status": "shipped", "eta": "April 25"}]


def test_a_sideband_that_cannot_attach_errors_the_call_at_once(
        service: dict[str, str], tmp_path: Path) -> None:
    """Accepted, but its sideband unreachable: the harness cannot answer the call's tools, so
    the trial is errored with the reason, without waiting out the call."""
    nowhere = f"ws://127.0.0.1:{free_tcp_port()}/v1"
    started = time.monotonic()
    outcome, trial, _ = _call(service, tmp_path, "accept", websocket=nowhere)
    took = time.monotonic() - started
    result = outcome.trials[0]
    assert result.run_status == "errored", result
    assert "unreachable" in (result.error or "") and "sideband:rtc_" in (result.error or "")
    assert KEY not in (result.error or "")
    assert took < 20, f"the call was waited out ({took:.0f} s)"
