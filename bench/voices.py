"""Caller voices measured: how fast each engine renders, how well the local recogniser hears each
voice, and (``--suite``) how the local agent does on the example suite spoken by each voice.

Usage: ``.venv/bin/python bench/voices.py [--voices af_heart,bm_george,...] [--suite]``

Per voice, on a fixed set of caller lines that carry IDs and spelled values:

- render speed: the real-time factor of synthesis (wall time / audio time) cold (nothing cached)
  and cached (the render cache on disk, read back in a fresh process state);
- the local recogniser (the agent's ``tiny.en``, 24 kHz, greedy): word error rate against the
  text (numbers compared digit by digit, punctuation and case ignored), and how many of the
  lines' IDs it read back exactly (the scorers' strict reading: ``find_readbacks``);
- with ``--suite``: the example suite with every caller speaking with that voice (a turn that
  names its own voice keeps it) against the fault-free local agent, one trial per scenario: pass
  rate with its Wilson 95 % interval, voice-to-voice p50, and the scenarios that failed with the
  expectations that failed. Real-time calls: about two minutes a voice.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import api
from harness.agent.asr import get_recognizer
from harness.audio import _tts, clear_memory_cache, render_scenario
from harness.scenario.models import CallerVoice, Scenario
from harness.spoken import find_readbacks, spoken_to_compact
from harness.stats import wilson

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VOICES = ("af_heart,af_bella,am_michael,am_adam,bf_emma,bm_george,hf_alpha,hm_omega,"
                  "ef_dora,ff_siwis,if_sara,pm_alex,jf_alpha,zf_xiaoxiao,en-us,en-gb")
LINES = [
    ("Hi, where is my order? The order number is eight, three, five, two, one.", "83521"),
    ("It's four, zero, two, eight, six.", "40286"),
    ("My patient number is three, one, four, one, five, nine, two.", "3141592"),
    ("The reference is A, B, dash, one, two, three, four.", "ab-1234"),
    ("No, it's eight, three, five, seven, one.", "83571"),
    ("Please check order six, two, seven, one, nine.", "62719"),
    ("My account number is nine, nine, zero, one, two, seven.", "990127"),
    ("Yes, that's right, please go ahead and cancel it.", None),
    ("I want to talk to a human, please.", None),
    ("The new email is j, o, h, n, at mail dot com.", "john@mail.com"),
]
_NUMBER = re.compile(r"\d")


def _tokens(text: str) -> list[str]:
    """Words for the error rate: case and punctuation dropped, every digit its own word (number
    words read as digits the strict way, so "eight, three" and "83" are the same two words)."""
    words = []
    for raw in re.findall(r"[\w'@.-]+", text.lower()):
        word = raw.strip(".-'")
        if not word:
            continue
        compact = spoken_to_compact(word)
        if compact and _NUMBER.fullmatch(compact[0]) and compact.isdigit():
            words += list(compact)
        else:
            words.append(word)
    return words


def _wer(reference: str, heard: str) -> tuple[int, int]:
    ref, hyp = _tokens(reference), _tokens(heard)
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, 1):
        prev, d[0] = d.copy(), i
        for j, h in enumerate(hyp, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return int(d[-1]), len(ref)


def _scenario(voice: str) -> Scenario:
    return Scenario.model_validate({
        "name": "voices-bench", "caller": {"voice": voice},
        "turns": [{"say": text} for text, _ in LINES],
        "expect": [{"transcript": {"must_say": ["order"]}}]})


def measure(voice: str, recognizer, cache: Path) -> dict[str, object]:
    scenario = _scenario(voice)
    clear_memory_cache()
    _tts._memory.clear()
    start = time.perf_counter()
    script = render_scenario(scenario, cache_dir=cache)
    cold = time.perf_counter() - start
    clear_memory_cache()
    _tts._memory.clear()
    start = time.perf_counter()
    render_scenario(scenario, cache_dir=cache)
    cached = time.perf_counter() - start
    seconds = sum(t.samples.size for t in script.turns) / 24_000
    errors = words = captured = ids = 0
    misses = []
    for (text, value), turn in zip(LINES, script.turns, strict=True):
        heard = recognizer.transcribe_sync(turn.samples, 24_000)
        e, n = _wer(text, heard)
        errors, words = errors + e, words + n
        if value is not None:
            ids += 1
            if value in find_readbacks(heard):
                captured += 1
            else:
                misses.append(f"{value}: {heard!r}")
    return {"voice": voice, "engine": CallerVoice(voice=voice).engine_name,
            "audio_s": seconds, "rtf_cold": cold / seconds, "rtf_cached": cached / seconds,
            "wer": errors / max(1, words), "ids": (captured, ids), "misses": misses}


def suite(voice: str, out: Path) -> str:
    scenarios = api.load_scenarios([ROOT / "scenarios"])
    voiced = [s.model_copy(update={"caller": s.caller.model_copy(
        update={"voice": voice, "engine": None})}) for s in scenarios]
    outcome = api.run(voiced, out_dir=out / voice, concurrency=6)
    passed = sum(t.outcome == "passed" for t in outcome.trials)
    n = len(outcome.trials)
    interval = wilson(passed, n).interval
    v2v = [ms for t in outcome.trials for ms in t.voice_to_voice_ms]
    failed = [f"{t.scenario} ({', '.join(sorted({v.kind for v in t.failing}))})"
              for t in outcome.trials if t.outcome != "passed"]
    p50 = f"{np.median(v2v):.0f} ms" if v2v else "n/a"
    return (f"{voice:14s} passed {passed}/{n} ({passed / n:.0%}, 95 % CI "
            f"{interval.low:.0%}–{interval.high:.0%}, n={n}); v2v p50 {p50}"
            + (f"; failed: {'; '.join(failed)}" if failed else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", default=DEFAULT_VOICES)
    parser.add_argument("--suite", action="store_true",
                        help="also run the example suite once per voice (real time)")
    parser.add_argument("--out", type=Path, default=None, help="run folders of --suite")
    args = parser.parse_args()
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    recognizer = get_recognizer("tiny.en")
    print(f"{len(LINES)} caller lines, {sum(v is not None for _, v in LINES)} with IDs; "
          "recogniser tiny.en (greedy, 24 kHz)")
    print(f"{'voice':14s} {'engine':7s} {'audio':>7s} {'RTF cold':>9s} {'cached':>8s} "
          f"{'WER':>6s} {'IDs':>6s}")
    with tempfile.TemporaryDirectory() as cache:
        for voice in voices:
            r = measure(voice, recognizer, Path(cache))
            captured, ids = r["ids"]
            print(f"{voice:14s} {r['engine']:7s} {r['audio_s']:6.1f}s {r['rtf_cold']:9.3f} "
                  f"{r['rtf_cached']:8.4f} {r['wer']:6.1%} {captured:>3d}/{ids}")
            for miss in r["misses"]:
                print(f"{'':16s}missed {miss}")
    if args.suite:
        out = args.out or Path(tempfile.mkdtemp(prefix="voices-suite-"))
        for voice in voices:
            print(suite(voice, out), flush=True)


if __name__ == "__main__":
    main()
