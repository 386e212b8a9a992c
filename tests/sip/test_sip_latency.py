"""Latency over SIP against a peer that answers a known delay D after the caller's speech ends
(``known_delay_sip_peer.py``, on its own event loop): the voice-to-voice latency the harness
measures is D to within ±10 ms on every turn. The errors' p50/p99 are printed."""

from __future__ import annotations

import json
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from known_delay_sip_peer import KnownDelaySipPeer  # noqa: E402

from harness import api  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DELAY_MS = 300.0
TURNS = 6
RATE = 24_000


def _scenario(folder: Path) -> Path:
    """Turns of 590 ms of 440 Hz tone with a clean end, each followed by silence."""
    t = np.arange(int(0.59 * RATE)) / RATE
    burst = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    clip = np.concatenate([burst, np.zeros(int(0.41 * RATE), dtype=np.int16)])
    with wave.open(str(folder / "burst.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(clip.tobytes())
    turns = "".join("  - audio: burst.wav\n    text: tone\n" for _ in range(TURNS))
    path = folder / "known-delay.yaml"
    path.write_text(f"name: known-delay\nagent: {ROOT / 'agents' / 'support.yaml'}\n"
                    f"reaction_gap_ms: 300\nturns:\n{turns}"
                    "expect:\n  - latency: {max_ms: 5000}\n", encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.solo
def test_voice_to_voice_over_sip_against_a_known_delay(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path)
    with KnownDelaySipPeer(DELAY_MS) as peer:
        outcome = api.run([scenario], out_dir=tmp_path / "runs", target=peer.uri)
        achieved = list(peer.achieved_ms)
    folder = next(outcome.run_dir.glob("known-delay/trial-0"))
    raw = json.loads((folder / "verdicts.json").read_text())
    rows = raw["verdicts"] if isinstance(raw, dict) else raw
    latency, = [v for v in rows if v["kind"] == "latency"]
    measured = [row["voice_to_voice_ms"] for row in latency["measured"]["per_turn"]]
    errors = [v - DELAY_MS for v in measured]
    peer_late = [a - DELAY_MS for a in achieved]
    print(f"\nknown delay {DELAY_MS:g} ms over SIP, {TURNS} turns: measured − D "
          f"p50 {np.percentile(np.abs(errors), 50):.1f} ms, "
          f"p99 {np.percentile(np.abs(errors), 99):.1f} ms ({[round(e, 1) for e in errors]}); "
          f"the peer's answer late by at most {max(peer_late):.1f} ms")
    assert len(measured) == TURNS and len(achieved) == TURNS, (measured, achieved)
    assert all(abs(e) <= 10 for e in errors), errors
