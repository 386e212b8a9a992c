"""Benchmark of ``harness calls score``: N synthetic production calls of several minutes each,
graded with the support desk's policy (``examples/production/calls.yaml``, no recogniser, no
rubric judge), and where the time goes.

Usage: ``.venv/bin/python bench/calls.py [--calls 100] [--min-s 180] [--max-s 300]
[--rate 8000] [--keep DIR]``

Each call is a stereo G.711 µ-law WAV at 8 kHz (a telephone platform's dual-channel recording)
with a sidecar: a caller turn of speech-like sound (a voiced tone with a syllable rhythm) every
few seconds, the agent's answer after 0.5–1.5 s, a tool call in one turn of four, transcripts of
every turn. Generating them is not timed. Timed, call by call as ``harness calls score`` does it:
reading and resampling the audio, reading the sidecar, finding the turns and responses, writing
the trial folder (``events.jsonl`` and the four tracks); then scoring every trial, then rendering
the reports. Printed: each stage's total and share, the whole per call and per audio minute, and
the whole for 100 calls at the mean length given.
Budget: 100 calls of 3–5 minutes in under 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import api  # noqa: E402
from harness.calls import load_policy  # noqa: E402
from harness.calls._audio import read_call_audio  # noqa: E402
from harness.calls._build import plan_call, write_plan  # noqa: E402
from harness.calls._intake import _meta, applicability, never_arose, resolve_input  # noqa: E402
from harness.calls._sidecar import check_against_audio, load_sidecar  # noqa: E402
from harness.runner.capture import RecordingWriter  # noqa: E402
from harness.runner.results import RunResult, TrialResult, write_run_file  # noqa: E402


def _sound(rng: np.random.Generator, seconds: float, rate: int, freq: float) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(3.5, 5.5) * t) ** 2
    return 0.25 * syllables * np.sin(2 * np.pi * freq * t + 0.3 * np.sin(2 * np.pi * 5 * t))


def make_call(folder: Path, index: int, seconds: float, rate: int) -> Path:
    """One stereo µ-law call and its sidecar; returns the WAV."""
    rng = np.random.default_rng(index)
    n = int(seconds * rate)
    caller, agent = np.zeros(n), np.zeros(n)
    caller += rng.normal(0, 0.002, n)  # the line's hiss
    segments, calls = [], []
    t, turn = 0.6, 0
    while t < seconds - 8:
        say = rng.uniform(1.0, 3.5)
        caller[int(t * rate): int(t * rate) + int(say * rate)] = _sound(rng, say, rate, 180.0)
        segments.append({"speaker": "caller", "start_ms": 1000 * t, "end_ms": 1000 * (t + say),
                         "text": "yes please" if turn % 4 == 3 else "I have a question about "
                                                                    "my order"})
        t += say + rng.uniform(0.5, 1.5)
        answer = rng.uniform(1.5, 4.0)
        if turn % 4 == 1:
            calls.append({"name": "lookup_order", "arguments": {"order_id": "83521"},
                          "result": {"status": "shipped"}, "t_ms": 1000 * (t + 0.8)})
        agent[int(t * rate): int(t * rate) + int(answer * rate)] = _sound(rng, answer, rate, 260.0)
        segments.append({"speaker": "agent", "start_ms": 1000 * t,
                         "end_ms": 1000 * (t + answer),
                         "text": "Let me check that. It has shipped. Anything else?"})
        t += answer + rng.uniform(0.8, 2.0)
        turn += 1
    wav = folder / f"call-{index:03d}.wav"
    sf.write(wav, np.stack([caller, agent], axis=1), rate, subtype="ULAW")
    (folder / f"call-{index:03d}.json").write_text(json.dumps({
        "version": 1, "metadata": {"call_id": f"CA{index:05d}"}, "transcript": segments,
        "tool_calls": calls}))
    return wav


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--min-s", type=float, default=180.0)
    ap.add_argument("--max-s", type=float, default=300.0)
    ap.add_argument("--rate", type=int, default=8000)
    ap.add_argument("--keep", type=Path, default=None, help="write here and keep the files")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-calls-"))
    inputs = work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    lengths = np.random.default_rng(0).uniform(args.min_s, args.max_s, args.calls)
    wavs = [make_call(inputs, i, float(s), args.rate) for i, s in enumerate(lengths)]
    policy, agent = load_policy(ROOT / "examples" / "production" / "calls.yaml")
    policy = policy.model_copy(update={"transcribe": "none"})

    stages = dict.fromkeys(("read audio", "read sidecar", "find turns", "write trial",
                            "score", "report"), 0.0)
    run_dir = work / "run"
    run_dir.mkdir(exist_ok=True)
    run = RunResult(run_dir, "bench", "production", "", None)
    start = time.perf_counter()
    for wav in wavs:
        call = resolve_input(str(wav), None)
        t0 = time.perf_counter()
        audio = read_call_audio(call.audio)
        t1 = time.perf_counter()
        assert call.sidecar is not None
        sidecar = load_sidecar(call.sidecar)
        check_against_audio(sidecar, audio.duration_ms, str(call.sidecar))
        t2 = time.perf_counter()
        plan = plan_call(audio, sidecar, None)
        t3 = time.perf_counter()
        na = applicability(policy, agent, sidecar, plan, True)
        meta = _meta(call, sidecar, policy, agent, plan.reconstructed, na, "bench", {})
        write_plan(RecordingWriter(run_dir / call.name / "trial-0", meta), plan, audio)
        never_arose(run_dir / call.name / "trial-0", meta, policy, na)
        t4 = time.perf_counter()
        for name, dt in zip(("read audio", "read sidecar", "find turns", "write trial"),
                            (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            stages[name] += dt
        run.trials.append(TrialResult(call.name, str(wav), None, 0, f"{call.name}/trial-0",
                                      "completed"))
    write_run_file(run, [])
    t0 = time.perf_counter()
    api.score_missing(run_dir)
    stages["score"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    outcome = api.render_report(run_dir)
    stages["report"] = time.perf_counter() - t0
    total = time.perf_counter() - start

    minutes = float(lengths.sum()) / 60
    print(f"{args.calls} calls, {minutes:.0f} audio minutes (mean {lengths.mean():.0f} s), "
          f"stereo µ-law at {args.rate} Hz, sidecars with transcripts and tool calls")
    for name, dt in stages.items():
        print(f"  {name:<13} {dt:8.1f} s  {100 * dt / total:5.1f} %  "
              f"{1000 * dt / args.calls:7.0f} ms a call")
    print(f"  total         {total:8.1f} s  ({total / args.calls:.2f} s a call, "
          f"{total / minutes:.2f} s an audio minute)")
    print(f"  100 calls at this mean length: {100 * total / args.calls / 60:.1f} min "
          f"(budget 10 min)")
    statuses = [t.outcome for t in outcome.trials] if hasattr(outcome, "trials") else []
    if statuses:
        print("  trial outcomes:", {s: statuses.count(s) for s in set(statuses)})
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
