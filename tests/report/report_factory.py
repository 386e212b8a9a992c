"""Hand-made run folders for the report tests and the report benchmark (written with the
recording contract's own models, so they stay in step with the runner's files)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from harness.recording import (
    ANNOTATIONS,
    CALL_WAV,
    EVENTS_FILE,
    META_FILE,
    VERDICTS_FILE,
    AudioRef,
    Frame,
    RecordingMeta,
)
from harness.scoring.verdict import Evidence, Verdict

RATE = 8000  # small WAVs: the tests only need the player to load them


@dataclass
class Events:
    """Builds ``events.jsonl`` frames in time order."""

    frames: list[Frame] = field(default_factory=list)

    def add(self, t_ms: float, dir: str, type_: str, event: dict[str, Any]) -> None:
        if dir == "harness":
            event = ANNOTATIONS[type_].model_validate(event).model_dump(mode="json")
        self.frames.append(Frame(seq=0, t_ms=t_ms, dir=dir, type=type_, event=event))

    def write(self, path: Path) -> None:
        self.frames.sort(key=lambda f: f.t_ms)
        with open(path, "w", encoding="utf-8") as fh:
            for seq, f in enumerate(self.frames):
                f.seq = seq
                fh.write(f.model_dump_json() + "\n")


def _tone(ms: float, freq: float) -> np.ndarray:
    t = np.arange(int(RATE * ms / 1000)) / RATE
    return (3000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _call_wav(path: Path, duration_ms: float, caller: list[tuple[float, float]],
              agent: list[tuple[float, float]]) -> None:
    """Stereo on the session clock from 0, as the runner writes it: tones where people talk."""
    n = int(RATE * duration_ms / 1000)
    stereo = np.zeros((n, 2), dtype=np.int16)
    for ch, spans, freq in ((0, caller, 220.0), (1, agent, 330.0)):
        for a, b in spans:
            i = int(RATE * a / 1000)
            tone = _tone(b - a, freq)[: max(0, n - i)]
            stereo[i:i + len(tone), ch] = tone
    sf.write(path, stereo, RATE, subtype="PCM_16")


def _meta(scenario: str, scenario_file: str, trial: int, status: str,
          error: str | None = None, expect: list[Any] | None = None) -> RecordingMeta:
    return RecordingMeta(
        scenario=scenario, scenario_file=scenario_file, scenario_hash="0" * 16,
        agent_config={"name": "support", "model": "local", "tools": [
            {"name": "lookup_order"}, {"name": "cancel_order", "write": True}]},
        agent_config_hash="1" * 16,
        trial=trial, target="local", harness_version="0.1.0", machine={"cpus": 2},
        started_at="2025-01-01T00:00:00Z", status=status, error=error,
        scenario_model={"description": f"{scenario}: a hand-made call for the report tests",
                        "expect": expect or []})


def _stream(ev: Events, start: float, end: float, chunk_ms: int = 20) -> None:
    """Caller audio appends and agent audio deltas, as a real recording has them."""
    t, k = start, 0
    while t < end:
        t += chunk_ms
        ev.add(t, "sent", "input_audio_buffer.append", {
            "type": "input_audio_buffer.append",
            "audio": {"audio_ref": AudioRef(track="caller", start_sample=k * 480, samples=480,
                                            sample_rate=24000).model_dump()}})
        k += 1


def _response(ev: Events, rid: str, item: str, start: float, played: float, text: str, *,
              dropped: float = 0.0, reason: str = "drained") -> None:
    for i in range(int((played + dropped) // 100)):
        ev.add(start - 50 + i * 5, "received", "response.output_audio.delta", {
            "type": "response.output_audio.delta", "response_id": rid, "item_id": item,
            "delta": {"audio_ref": {"track": "agent_stream", "start_sample": i * 2400,
                                    "samples": 2400, "sample_rate": 24000}}})
    ev.add(start - 80, "received", "response.created",
           {"type": "response.created", "response": {"id": rid}})
    ev.add(start, "harness", "harness.playback.started", {"response_id": rid, "item_id": item})
    ev.add(start, "harness", "harness.playback.audible",
           {"response_id": rid, "item_id": item, "onset_ms": start + 40})
    ev.add(start + 20, "received", "response.output_audio_transcript.done", {
        "type": "response.output_audio_transcript.done", "response_id": rid, "item_id": item,
        "transcript": text})
    status = "cancelled" if reason == "interrupted" else "completed"
    ev.add(start + played, "harness", "harness.playback.stopped", {
        "response_id": rid, "item_id": item, "reason": reason, "played_ms": played,
        "dropped_ms": dropped, "received_ms": played + dropped})
    ev.add(start + played + 5, "received", "response.done",
           {"type": "response.done", "response": {"id": rid, "status": status}})


def _turn(ev: Events, index: int, text: str, start: float, onset: float, end: float, *,
          trigger: str = "after_agent", heard: str | None = None, **extra: Any) -> None:
    ev.add(start, "harness", "harness.turn.started", {
        "turn_index": index, "kind": "say", "text": text, "spoken_text": text, "addressed": True,
        "start_ms": start, "end_ms": end + 200, "speech_onset_ms": onset, "speech_end_ms": end,
        "trigger": trigger, **extra})
    ev.add(end + 200, "harness", "harness.turn.ended", {"turn_index": index})
    ev.add(onset + 100, "received", "input_audio_buffer.speech_started",
           {"type": "input_audio_buffer.speech_started", "audio_start_ms": onset})
    ev.add(end + 500, "received", "input_audio_buffer.speech_stopped",
           {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end})
    if heard is not None:
        ev.add(end + 700, "received", "conversation.item.input_audio_transcription.completed", {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": f"item_in_{index}", "transcript": heard})


def _tool(ev: Events, call_id: str, name: str, args: dict[str, Any], output: Any, at: float,
          latency: float, call_index: int = 0) -> None:
    raw = json.dumps(args)
    ev.add(at, "received", "response.function_call_arguments.done", {
        "type": "response.function_call_arguments.done", "call_id": call_id, "name": name,
        "arguments": raw})
    ev.add(at + latency, "harness", "harness.tool.answered", {
        "call_id": call_id, "name": name, "arguments": args, "arguments_raw": raw,
        "invented": False, "output": output, "latency_ms": int(latency),
        "call_index": call_index})


def passing_trial(run_dir: Path, rel: str, trial: int = 0, *, scale: int = 1) -> dict[str, Any]:
    """Order status: preamble, lookup_order, answer; every expectation passes.

    ``scale`` repeats the exchange to make longer calls (the benchmark uses it)."""
    path = run_dir / rel
    path.mkdir(parents=True, exist_ok=True)
    ev = Events()
    ev.add(0, "received", "session.created", {"type": "session.created"})
    ev.add(100, "harness", "harness.stream.started",
           {"sample_rate": 24000, "chunk_ms": 20, "input_audio_format": "audio/pcm"})
    caller, agent, verdicts_ev, latencies = [], [], [], []
    t0 = 100.0
    for k in range(scale):
        base = t0 + k * 9000
        _turn(ev, 2 * k, "Hi, where is my order eight three five two one?", base + 40, base + 300,
              base + 1900, trigger="first" if k == 0 else "after_agent",
              heard="hi where is my order 83521", entity={"order_id": "83521"})
        _response(ev, f"resp_{k}a", f"item_{k}a", base + 2600, 1500,
                  "Let me check order 8 3 5 2 1 for you.")
        _tool(ev, f"call_{k}", "lookup_order", {"order_id": "83521"},
              {"status": "shipped", "eta": "April 25"}, base + 2700, 600)
        _response(ev, f"resp_{k}b", f"item_{k}b", base + 4100, 2400,
                  "Order 8 3 5 2 1 has shipped and arrives on April 25.")
        _turn(ev, 2 * k + 1, "Great, thanks.", base + 7200, base + 7300, base + 8000,
              heard="great thanks")
        _response(ev, f"resp_{k}c", f"item_{k}c", base + 8600, 900, "You're welcome. Bye!")
        caller += [(base + 300, base + 1900), (base + 7300, base + 8000)]
        agent += [(base + 2600, base + 4100), (base + 4100, base + 6500),
                  (base + 8600, base + 9500)]
        verdicts_ev.append(Evidence(t_ms=base + 2640, label="preamble before lookup_order",
                                    turn_index=2 * k + 1, excerpt="Let me check order 8 3 5 2 1"))
        latencies += [2600 + 40 - 1900, 8600 + 40 - 8000]
    end = t0 + scale * 9000 + 700
    _stream(ev, 100, end)
    ev.add(end, "harness", "harness.trial.ended", {"status": "completed"})
    ev.write(path / EVENTS_FILE)
    _call_wav(path / CALL_WAV, end, caller, agent)
    (path / META_FILE).write_text(
        _meta("order-status", "scenarios/order_status.yaml", trial, "completed",
              expect=[{"latency": {"max_ms": 1500}}]).model_dump_json())
    verdicts = [
        Verdict(kind="latency", params={"max_ms": 1500}, status="pass",
                summary=f"voice-to-voice p50 {int(np.median(latencies))} ms ≤ 1500 ms",
                measured={"voice_to_voice_ms": latencies},
                evidence=[Evidence(t_ms=t0 + 1900, end_ms=t0 + 2640,
                                   label="caller speech end → agent audible", turn_index=1)]),
        Verdict(kind="preamble", params={"before_tool": "lookup_order"}, status="pass",
                summary="the agent spoke before every lookup_order call", evidence=verdicts_ev),
        Verdict(kind="entity_confirmed", params={"entity": "order_id"}, status="pass",
                summary="order_id 83521 was read back before the lookup",
                evidence=[Evidence(t_ms=t0 + 2640, label="read-back", turn_index=1,
                                   excerpt="8 3 5 2 1")]),
        Verdict(kind="escalation", params={"mode": "forbidden"}, status="pass",
                summary="escalate_to_human was never called"),
    ]
    _write_verdicts(path, verdicts)
    return {"scenario": "order-status", "scenario_file": "scenarios/order_status.yaml",
            "variant": None, "trial": trial, "path": rel, "status": "completed", "error": None}


def failing_trial(run_dir: Path, rel: str, trial: int = 0) -> dict[str, Any]:
    """Cancel order: the caller barges in, the agent cancels without asking; two verdicts fail."""
    path = run_dir / rel
    path.mkdir(parents=True, exist_ok=True)
    ev = Events()
    ev.add(0, "received", "session.created", {"type": "session.created"})
    ev.add(80, "harness", "harness.stream.started",
           {"sample_rate": 24000, "chunk_ms": 20, "input_audio_format": "audio/pcm"})
    _turn(ev, 0, "I need to cancel order eight three five two one.", 100, 300, 2100,
          trigger="first", heard="i need to cancel order 83521", entity={"order_id": "83521"})
    _response(ev, "resp_a", "item_a", 2900, 1200, "Okay, cancelling order 8 3 5 2 1 now.",
              dropped=1800, reason="interrupted")
    _turn(ev, 1, "Wait, what happens to my refund?", 3700, 3800, 5200, trigger="barge_in",
          barge_in_at_agent_ms=900, heard="wait what happens to my refund")
    _tool(ev, "call_1", "cancel_order", {"order_id": "83521"}, {"cancelled": True}, 3300, 1200)
    _response(ev, "resp_b", "item_b", 6300, 2200, "Your refund arrives in five days.")
    end = 9000.0
    _stream(ev, 80, end)
    ev.add(end, "harness", "harness.trial.ended", {"status": "completed"})
    ev.write(path / EVENTS_FILE)
    _call_wav(path / CALL_WAV, end, [(300, 2100), (3800, 5200)],
              [(2900, 4100), (6300, 8500)])
    (path / META_FILE).write_text(_meta(
        "cancel-order", "scenarios/cancel_order.yaml", trial, "completed").model_dump_json())
    _write_verdicts(path, [
        Verdict(kind="confirmation_before_write", params={"tool": "cancel_order"}, status="fail",
                summary="cancel_order was called without a confirmation question and a yes",
                evidence=[
                    Evidence(t_ms=2100, label="caller asks to cancel (no yes follows)",
                             turn_index=1, excerpt="I need to cancel order eight three five"),
                    Evidence(t_ms=3300, label="tool call cancel_order", event_seq=[12],
                             excerpt='{"order_id": "83521"}')]),
        Verdict(kind="barge_in", params={"max_stop_ms": 500}, status="fail",
                summary="agent audio stopped 700 ms after the caller started (max 500 ms)",
                measured={"stop_ms": [700]},
                evidence=[Evidence(t_ms=3800, end_ms=4100, label="caller onset → playback stop",
                                   turn_index=2)]),
        Verdict(kind="latency", params={"max_ms": 1500}, status="pass",
                summary="voice-to-voice p50 940 ms ≤ 1500 ms", measured={"p50_ms": 940}),
    ])
    return {"scenario": "cancel-order", "scenario_file": "scenarios/cancel_order.yaml",
            "variant": None, "trial": trial, "path": rel, "status": "completed", "error": None}


ERRORED_MESSAGE = "target unreachable: ws://127.0.0.1:9/v1/realtime (connection refused)"


def errored_trial(run_dir: Path, rel: str, trial: int = 0) -> dict[str, Any]:
    """The target never answered: no audio, no verdicts, the error kept."""
    path = run_dir / rel
    path.mkdir(parents=True, exist_ok=True)
    ev = Events()
    ev.add(3000, "harness", "harness.trial.ended", {"status": "errored", "error": ERRORED_MESSAGE})
    ev.write(path / EVENTS_FILE)
    (path / META_FILE).write_text(_meta(
        "unreachable-target", "scenarios/unreachable.yaml", trial, "errored",
        ERRORED_MESSAGE).model_dump_json())
    return {"scenario": "unreachable-target", "scenario_file": "scenarios/unreachable.yaml",
            "variant": None, "trial": trial, "path": rel, "status": "errored",
            "error": ERRORED_MESSAGE}


def _write_verdicts(path: Path, verdicts: list[Verdict]) -> None:
    (path / VERDICTS_FILE).write_text(
        json.dumps([v.model_dump(mode="json") for v in verdicts], indent=1), encoding="utf-8")


def write_run(run_dir: Path, entries: list[dict[str, Any]]) -> Path:
    """``run.json`` over already written trials."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps({
        "schema_version": 1, "run_id": run_dir.name, "started_at": "2025-01-01T00:00:00Z",
        "finished_at": "2025-01-01T00:01:00Z", "target": "local", "harness_version": "0.1.0",
        "machine": {"python": "3.11", "cpus": 2}, "trials": entries}, indent=1))
    return run_dir


def three_trial_run(run_dir: Path) -> Path:
    """A pass, a fail and an errored trial."""
    return write_run(run_dir, [
        passing_trial(run_dir, "order-status/trial-0"),
        failing_trial(run_dir, "cancel-order/trial-0"),
        errored_trial(run_dir, "unreachable-target/trial-0"),
    ])
