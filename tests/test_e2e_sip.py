"""End to end over SIP: the harness dials the local agent's SIP endpoint on loopback (G.711 RTP
both ways, tools through the webhook endpoint the trial serves), a refused call is errored with
its SIP status, and an independent SIP implementation (Debian's baresip) calls the same endpoint.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "sip"))
from baresip import configure  # noqa: E402
from ports import free_tcp_port  # noqa: E402
from sip_peer import RefusingPeer  # noqa: E402

from harness import api  # noqa: E402
from harness.agent import start_local_agent_for  # noqa: E402
from harness.audio import resample, synthesize  # noqa: E402
from harness.runner.webhooks import TOOLS_LISTEN_ENV  # noqa: E402
from harness.scenario import load_agent_config  # noqa: E402
from harness.scenario.loader import merged_scenario_data  # noqa: E402
from harness.sip.dtmf import detect  # noqa: E402

# the module's calls (five with four local agents at once, their latency graded): the whole call
# budget (the Kokoro-voiced agent's calls too: a caller's turn waits on its timing); baresip's
# single call says what it costs
pytestmark = [pytest.mark.slow, pytest.mark.calls(8)]

ROOT = Path(__file__).resolve().parents[1]
ORDER_STATUS = ROOT / "scenarios" / "order-status.yaml"
KEYPAD = ROOT / "examples" / "keypad" / "keypad-order-id.yaml"


def _trial(outcome: api.RunOutcome) -> Path:
    return next(outcome.run_dir.glob("*/trial-0"))


def _verdicts(trial: Path) -> dict[str, dict[str, Any]]:
    raw = json.loads((trial / "verdicts.json").read_text())
    return {v["kind"]: v for v in (raw["verdicts"] if isinstance(raw, dict) else raw)}


def _frames(trial: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (trial / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Order-status fault-free and with no_preamble over local-sip and a call to a peer that
    answers 486 Busy Here, then the keypad scenario over SIP (RFC 4733 events) and over a
    WebSocket (in-band tones)."""
    out = tmp_path_factory.mktemp("sip")

    async def main() -> dict[str, Any]:
        async with RefusingPeer(486) as busy:
            # the call whose latency is graded alone; then the others (two agents answering at
            # once put order-status over SIP at p50 2.0-2.2 s here, at its 2 s limit: the
            # agent's Kokoro phone voice synthesises each first sentence before it speaks)
            clean = await api.run_async([ORDER_STATUS], target="local-sip",
                                        run_dir=out / "clean")
            faulted, refused = await asyncio.gather(
                api.run_async([ORDER_STATUS], target="local-sip", faults=("no_preamble",),
                              run_dir=out / "no_preamble"),
                api.run_async([ORDER_STATUS], target=busy.uri, run_dir=out / "busy"))
            # the keypad call over SIP serves its tools on a fixed port, as for a remote agent
            tools_port = free_tcp_port()
            os.environ[TOOLS_LISTEN_ENV] = f"127.0.0.1:{tools_port}"
            try:
                keys_sip, keys_ws = await asyncio.gather(
                    api.run_async([KEYPAD], target="local-sip", concurrency=1,
                                  run_dir=out / "keypad-sip"),
                    api.run_async([KEYPAD], target="local", run_dir=out / "keypad-ws"))
            finally:
                del os.environ[TOOLS_LISTEN_ENV]
            return {"clean": clean, "no_preamble": faulted, "busy": refused,
                    "busy_requests": busy.requests, "keypad-sip": keys_sip,
                    "keypad-ws": keys_ws, "tools_port": tools_port}

    return asyncio.run(main())


@pytest.mark.shared_calls
def test_a_call_over_sip_is_placed_answered_and_hung_up(runs: dict[str, Any]) -> None:
    trial = _trial(runs["clean"])
    meta = json.loads((trial / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["transport"] == "sip"
    sip = meta["sip"]
    lines = [(s["dir"], s["line"].split(" sip:")[0]) for s in sip["signalling"]]
    assert lines[0] == ("sent", "INVITE")
    assert ("received", "SIP/2.0 200 OK") in lines and ("sent", "ACK") in lines
    assert lines[-2:] == [("sent", "BYE"), ("received", "SIP/2.0 200 OK")]
    assert sip["hung_up_by"] == "harness" and sip["codec"] == "PCMU"
    # 20 ms packets both ways for the whole call, none lost on loopback
    assert sip["packets_received"] > 1000 and sip["packets_sent"] > 1000 and sip["lost"] == 0
    call, rate = sf.read(trial / "call.wav", dtype="int16")
    assert call.ndim == 2 and rate == 8000
    assert (np.abs(call[:, 1].astype(np.int32)) >= 328).sum() > rate  # > 1 s of agent audio


@pytest.mark.shared_calls
def test_tool_calls_over_sip_come_through_the_webhook_endpoint(runs: dict[str, Any]) -> None:
    trial = _trial(runs["clean"])
    calls = [f for f in _frames(trial) if f["type"] == "response.function_call_arguments.done"]
    assert [(c["event"]["name"], json.loads(c["event"]["arguments"]), c["source"])
            for c in calls] == [("lookup_order", {"order_id": "83521"}, "webhook")]
    verdicts = _verdicts(trial)
    assert verdicts["tool_called"]["status"] == "pass"
    assert verdicts["preamble"]["status"] == "pass", verdicts["preamble"]["summary"]
    assert verdicts["turn_answered"]["status"] == "pass"
    latency = verdicts["latency"]
    assert latency["status"] == "pass", latency["summary"]
    # what needs events a SIP call does not carry is not applicable, with the reason
    assert verdicts["input_heard"]["status"] == "not_applicable"
    assert "no transcript of what the agent heard" in \
        verdicts["input_heard"]["measured"]["not_applicable"]


@pytest.mark.shared_calls
def test_the_no_preamble_fault_is_caught_over_sip(runs: dict[str, Any]) -> None:
    verdicts = _verdicts(_trial(runs["no_preamble"]))
    assert verdicts["preamble"]["status"] == "fail", verdicts["preamble"]["summary"]
    assert verdicts["tool_called"]["status"] == "pass"


@pytest.mark.shared_calls
def test_a_refused_call_is_errored_with_its_sip_status(runs: dict[str, Any]) -> None:
    outcome = runs["busy"]
    assert outcome.exit_code == api.EXIT_ERRORED
    meta = json.loads((_trial(outcome) / "meta.json").read_text())
    assert meta["status"] == "errored"
    assert "SIP 486 Busy Here" in meta["error"]
    assert runs["busy_requests"][:2] == ["INVITE", "ACK"]  # the final answer was acknowledged


@pytest.mark.shared_calls
def test_keys_pressed_reach_the_agent_as_events_over_sip_and_as_tones_otherwise(
        runs: dict[str, Any]) -> None:
    for name in ("keypad-sip", "keypad-ws"):
        outcome = runs[name]
        assert outcome.exit_code == api.EXIT_OK, (name, _verdicts(_trial(outcome)))
        calls = [f["event"] for f in _frames(_trial(outcome))
                 if f["type"] == "response.function_call_arguments.done"]
        assert [(c["name"], json.loads(c["arguments"])) for c in calls] == \
            [("lookup_order", {"order_id": "83521"})]
    # the keypad call's tools were served on the fixed port; the others' on a port of their own
    sip_meta = json.loads((_trial(runs["keypad-sip"]) / "meta.json").read_text())["sip"]
    assert sip_meta["tool_endpoint"] == f"http://127.0.0.1:{runs['tools_port']}"
    clean_meta = json.loads((_trial(runs["clean"]) / "meta.json").read_text())["sip"]
    assert clean_meta["tool_endpoint"].startswith("http://127.0.0.1:")
    assert clean_meta["tool_endpoint"] != sip_meta["tool_endpoint"]
    frames = _frames(_trial(runs["keypad-sip"]))
    assert "".join(f["event"]["key"] for f in frames if f["type"] == "sip.dtmf") == "83521#"
    # over SIP the keys went as events, with silence in the audio where the tones would be
    sip_caller, rate = sf.read(_trial(runs["keypad-sip"]) / "caller.wav", dtype="int16")
    ws_caller, ws_rate = sf.read(_trial(runs["keypad-ws"]) / "caller.wav", dtype="int16")
    assert detect(sip_caller, rate) == "" and detect(ws_caller, ws_rate) == "83521#"
    # the agent heard the tones as the keys (its own transcript of the keypad turn)
    heard = [f["event"]["transcript"] for f in _frames(_trial(runs["keypad-ws"]))
             if f["type"] == "conversation.item.input_audio_transcription.completed"]
    assert "8 3 5 2 1" in heard, heard


@pytest.mark.calls(2)  # one SIP call
def test_baresip_calls_the_local_agent(tmp_path: Path) -> None:
    say = synthesize("Hi, I want to check on my order.", voice="en-us", words_per_minute=160,
                     sample_rate=24_000)
    pcm = np.concatenate([np.zeros(8000, np.int16), resample(say, 24_000, 8000),
                          np.zeros(8000 * 7, np.int16)])
    sf.write(tmp_path / "say.wav", pcm, 8000, subtype="PCM_16")
    baresip = configure(tmp_path, "<sip:caller@127.0.0.1>;regint=0")
    config = load_agent_config(ROOT / "agents" / "support.yaml")
    with start_local_agent_for(config) as handle:
        uri = handle.sip_uri_for(config)
        done = subprocess.run([baresip, "-f", str(tmp_path), "-e", f"/dial {uri}", "-t", "20"],
                              capture_output=True, text=True, timeout=40, check=False)
        endpoint = handle.agent._sip
        assert endpoint is not None
        ended = list(endpoint.ended)
    log = done.stdout + done.stderr
    assert "Call established" in log and "terminated" in log, log[-2000:]
    # baresip hung up when its file ended; the agent had heard the caller and answered
    assert len(ended) == 1 and ended[0].answered and ended[0].hung_up_by == "caller"
    assert ended[0].packets_in > 300
    assert any("order" in heard.lower() for heard in ended[0].heard), ended[0].heard
    received, rate = sf.read(next(tmp_path.glob("dump-*-dec.wav")), dtype="int16")
    assert rate == 8000 and (np.abs(received.astype(np.int32)) >= 328).sum() > rate // 2


def _kokoro_agent(folder: Path) -> Path:
    """The support desk speaking with a Kokoro voice (``voice: bf_emma``): its words can be
    heard from a telephone line, which espeak-ng's cannot (``docs/sip.md``)."""
    config = yaml.safe_load((ROOT / "agents" / "support.yaml").read_text())
    config["instructions"] = (ROOT / "agents" / config.pop("instructions_file")).read_text()
    config["voice"] = "bf_emma"
    (folder / "agent.yaml").write_text(yaml.safe_dump(config))
    return folder / "agent.yaml"


KOKORO_REFERENCE_RTF = 0.4
"""Seconds Kokoro took per second of speech on the two cores where the Kokoro tests' time limits
held (``docs/sip.md``: 0.65 s for "Is that right?", 3.0 s for a 7.8 s answer)."""


@functools.cache
def kokoro_slowdown() -> float:
    """How many times :data:`KOKORO_REFERENCE_RTF` Kokoro takes here per second of speech (the
    quicker of two syntheses of the agent's read-back), at least 1. On two cores of a 2 GHz AMD
    EPYC without AVX-512 it took 1.25 s a second, idle: the agent's read-back came 8.4 s after
    the caller's number, and update-email-spelled ran out of its 60 s before its last turn."""
    from harness.kokoro._engine import SAMPLE_RATE, speak  # noqa: PLC0415 - not memoised

    speak("Hello.", "bf_emma")  # the model loads
    took = []
    for _ in range(2):
        started = time.perf_counter()
        spoken = speak("Just to confirm, I heard 8, 3, 5, 2, 1.", "bf_emma")
        took.append((time.perf_counter() - started) / (len(spoken.samples) / SAMPLE_RATE))
    return max(1.0, min(took) / KOKORO_REFERENCE_RTF)


def _fitted_to_kokoro(data: dict[str, Any]) -> dict[str, Any]:
    """A scenario's data with the time the call allows the agent (its length, a turn's wait for
    the agent, the silence after the caller's last turn, ``turn_answered``'s wait) times
    :func:`kokoro_slowdown`: these tests are about what a Kokoro voice lets a SIP call hear, and
    a Kokoro agent answers only as fast as the machine synthesises. Latency limits stay as
    written and are not asserted here."""
    factor = kokoro_slowdown()
    print(f"Kokoro here: {factor:.2f} times the reference's {KOKORO_REFERENCE_RTF} s per "
          "second of speech; the call's time limits scaled by it")
    data["max_duration_s"] = round(data["max_duration_s"] * factor)
    data["idle_timeout_ms"] = round(data["idle_timeout_ms"] * factor)
    data["turn_timeout_ms"] = round(data.get("turn_timeout_ms", 15_000) * factor)
    for expectation in data.get("expect", []):
        if isinstance(expectation.get("turn_answered"), dict):
            answered = expectation["turn_answered"]
            answered["timeout_ms"] = round(answered.get("timeout_ms", 8000) * factor)
    return data


# solo: the agent synthesises each reply with Kokoro on the CPU; beside a clinic run (eight
# calls heard by `base`) its read-back came 9.9 s after the caller's turn (limit 8 s)
@pytest.mark.solo
def test_a_turn_waits_for_what_the_agent_says_over_sip(tmp_path: Path) -> None:
    """``when_agent_says`` over SIP: the caller spells the address only once it has heard the
    agent ask for it (the agent's words transcribed from the line during the call)."""
    # The caller speaks with espeak-ng, as when this test was written: what is tested is when
    # the spelled turn starts. With the suite's Kokoro caller (bf_emma) a CI run's agent took the
    # caller's "Yes." to its read-back for a no over the line and never asked for the address.
    data = _fitted_to_kokoro(merged_scenario_data(ROOT / "scenarios" / "update-email-spelled.yaml"))
    data["caller"]["voice"] = "en-us"
    scenario = tmp_path / "update-email-spelled.yaml"
    scenario.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    outcome = api.run([scenario], target="local-sip", agent=_kokoro_agent(tmp_path),
                      out_dir=tmp_path / "run")
    trial = _trial(outcome)
    meta = json.loads((trial / "meta.json").read_text())
    assert meta["status"] == "completed", meta.get("error")
    started = [f["event"] for f in _frames(trial) if f["type"] == "harness.turn.started"]
    spelled = next(e for e in started if e["turn_index"] == 2)
    assert spelled["trigger"] == "when_agent_says"
    # it started after the agent's question was said, not before
    asked = [f for f in _frames(trial) if f["type"] == "response.output_audio_transcript.done"
             and "spell" in (f["event"].get("transcript") or "").lower()]
    assert asked and asked[0]["t_ms"] < spelled["start_ms"], asked
    verdicts = _verdicts(trial)
    assert verdicts["tool_called"]["status"] == "pass", verdicts["tool_called"]["summary"]


# solo: the agent synthesises each reply with Kokoro on the CPU; beside a clinic run (eight
# calls heard by `base`) its read-back came 9.9 s after the caller's turn (limit 8 s)
@pytest.mark.solo
def test_with_a_kokoro_voice_the_agents_read_back_is_heard_over_sip(tmp_path: Path) -> None:
    """With a Kokoro voice the agent's read-back is heard from the telephone line (espeak-ng's
    is not). Its answers' pauses are longer: Kokoro took 0.4 s a second of speech where this was
    written, and a caller who has heard 700 ms of silence after the tool's answer speaks on
    (docs/sip.md)."""
    scenario = tmp_path / "order-status.yaml"
    scenario.write_text(yaml.safe_dump(_fitted_to_kokoro(merged_scenario_data(ORDER_STATUS)),
                                       sort_keys=False), encoding="utf-8")
    outcome = api.run([scenario], target="local-sip", agent=_kokoro_agent(tmp_path),
                      out_dir=tmp_path / "run")
    verdicts = _verdicts(_trial(outcome))
    print("\n" + "\n".join(f"{k}: {v['status']}: {v['summary']}" for k, v in verdicts.items()))
    for kind in ("entity_confirmed", "tool_called", "preamble", "turn_answered"):
        assert verdicts[kind]["status"] == "pass", verdicts[kind]["summary"]


SPANISH = "claro que sí, le ayudo con su pedido ahora mismo, frase {n}"
"""What the loopback transcription endpoint hears: Spanish, as a multilingual one would write
the local agent's ``wrong_language`` lines."""


@pytest.mark.calls(2)  # two SIP calls, one after the other
def test_a_transcription_endpoint_hears_the_agent_of_a_sip_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``HARNESS_SIP_TRANSCRIBE=openai`` the agent's words on a SIP call come from a
    transcription endpoint the user names: each stretch of its speech is POSTed once, as a WAV,
    with the model asked for and the key in the header only; what the endpoint heard is the
    transcript graded, its language too (an endpoint writes the language spoken; the offline
    recogniser writes only English, which ``tests/test_e2e_sip_faults.py`` shows is not graded).
    A refused key errors the trial with the reason and the key nowhere."""
    from harness.scenario.models import Expectation
    from tests.transcription_endpoint import transcription_endpoint

    [scenario] = api.load_scenarios([ORDER_STATUS])
    scenario = scenario.model_copy(update={"expect": [
        *scenario.expect, Expectation.model_validate({"language": {"expected": "en"}})]})

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-good-key")
    monkeypatch.setenv(api.SIP_TRANSCRIBE_ENV, "openai")
    monkeypatch.setenv(api.SIP_TRANSCRIBE_MODEL_ENV, "my-transcriber")
    with transcription_endpoint(SPANISH) as (url, requests):
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        heard = api.run([scenario], target="local-sip", out_dir=tmp_path / "heard")
        trial = _trial(heard)
        texts = [f["event"]["transcript"] for f in _frames(trial)
                 if f["type"] == "response.output_audio_transcript.done"]
        sources = {f.get("source") for f in _frames(trial)
                   if f["type"] == "response.output_audio_transcript.done"}
        assert heard.trials[0].run_status == "completed"
        assert texts and len(requests) == len(texts) and sources == {"asr"}
        assert sorted(texts) == sorted(SPANISH.format(n=n) for n in range(1, len(texts) + 1))
        path, auth, body = requests[0]
        assert path == "/v1/audio/transcriptions" and auth == "Bearer sk-test-good-key"
        assert b'name="model"\r\n\r\nmy-transcriber' in body and b"RIFF" in body
        # the endpoint's words are what is graded: no read-back of 83521 in them
        assert _verdicts(trial)["entity_confirmed"]["status"] == "fail"
        language = _verdicts(trial)["language"]
        assert language["status"] == "fail" and "the agent spoke es" in language["summary"]

        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-wrong-key")
        refused = api.run([ORDER_STATUS], target="local-sip", out_dir=tmp_path / "refused")
        outcome = refused.trials[0]
        assert outcome.run_status == "errored"
        assert "refused the key in OPENAI_API_KEY" in (outcome.error or "")
        for folder in (tmp_path / "heard", tmp_path / "refused"):
            for path in folder.rglob("*"):
                if path.is_file() and path.suffix in (".json", ".jsonl", ".html", ".xml"):
                    assert "sk-test" not in path.read_text(errors="ignore"), path
