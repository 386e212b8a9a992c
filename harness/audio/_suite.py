"""``harness render``: each scenario's clips, a preview of its caller stream, and manifests.

The output of the same suite is byte-identical from run to run (no times, no absolute paths in
the audio; rounded numbers in the JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.audio._render import SAMPLE_RATE, CallerScript, RenderedTurn, render_scenario
from harness.audio._wav import write_wav
from harness.espeak import engine_versions
from harness.scenario.loader import load_suite
from harness.scenario.models import Scenario

MANIFEST_VERSION = 1
PREVIEW_LEAD_IN_MS = 500
PREVIEW_TAIL_MS = 1000
PREVIEW_AGENT_REPLY_MS = 1500
"""In the preview, the silence (bed only) that stands in for the agent's reply after each
addressed turn; the scenario's reaction gap follows it."""


@dataclass(frozen=True)
class RenderedSuite:
    """What ``render_suite`` wrote: the output folder and the suite manifest (also on disk)."""

    out_dir: Path
    manifest: dict[str, Any]

    def __str__(self) -> str:
        scenarios = self.manifest["scenarios"]
        clips = sum(len(s["turns"]) for s in scenarios)
        seconds = sum(t["duration_ms"] for s in scenarios for t in s["turns"]) / 1000
        return (f"rendered {len(scenarios)} scenario(s), {clips} clips ({seconds:.1f} s of caller "
                f"audio) to {self.out_dir}; manifest: {self.out_dir / 'manifest.json'}")


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _turn_gap_ms(scenario: Scenario, index: int, script: CallerScript) -> int:
    """Nominal gap before turn ``index`` in the preview (the agent is not there to set it)."""
    turn = scenario.turns[index]
    if turn.after_ms is not None:
        return turn.after_ms
    if turn.barge_in is not None:
        return turn.barge_in.at_agent_ms
    if index > 0 and script.turns[index - 1].addressed:
        return PREVIEW_AGENT_REPLY_MS + scenario.reaction_gap_ms
    return scenario.reaction_gap_ms if index > 0 else 0


def preview_layout(scenario: Scenario, script: CallerScript) -> tuple[list[int], int]:
    """Start sample of each turn in the preview stream, and the stream's length."""
    starts: list[int] = []
    cursor = PREVIEW_LEAD_IN_MS * SAMPLE_RATE // 1000
    for index, turn in enumerate(script.turns):
        cursor += _turn_gap_ms(scenario, index, script) * SAMPLE_RATE // 1000
        starts.append(cursor)
        cursor += turn.duration_samples
    return starts, cursor + PREVIEW_TAIL_MS * SAMPLE_RATE // 1000


def render_preview(scenario: Scenario, script: CallerScript) -> np.ndarray:
    """The whole caller stream as the runner would send it, with nominal gaps and beds on."""
    starts, length = preview_layout(scenario, script)
    stream = np.zeros(length, dtype=np.int32)
    cursor = 0
    for index, (start, turn) in enumerate(zip(starts, script.turns, strict=True)):
        stream[cursor:start] = script.bed(None).chunk(cursor, start - cursor)
        end = start + turn.duration_samples
        stream[start:end] = script.bed(index).chunk(start, end - start)
        stream[start:end] += turn.samples
        cursor = end
    stream[cursor:] = script.bed(None).chunk(cursor, length - cursor)
    return np.clip(stream, -32768, 32767).astype(np.int16)


def _bed_info(script: CallerScript, turn_index: int | None) -> dict[str, Any] | None:
    bed = script.bed(turn_index)
    if bed.silent:
        return None
    return {"kind": bed.kind, "seed": bed.seed, "snr_db": bed.snr_db,
            "level_db": _round(bed.level_db)}


def _turn_entry(scenario: Scenario, turn: RenderedTurn, script: CallerScript, file: str,
                start: int) -> dict[str, Any]:
    def stream_ms(sample: int | None) -> float | None:
        return None if sample is None else _round((start + sample) * 1000 / SAMPLE_RATE)

    source = scenario.turns[turn.index]
    return {
        "index": turn.index,
        "kind": turn.kind,
        "file": file,
        "addressed": turn.addressed,
        "duration_ms": _round(turn.duration_ms),
        "speech_onset_ms": _round(turn.speech_onset_ms),
        "speech_end_ms": _round(turn.speech_end_ms),
        "speech_onset_sample": turn.speech_onset_sample,
        "speech_end_sample": turn.speech_end_sample,
        "pauses_ms": [[_round(a), _round(b)] for a, b in turn.pauses_ms],
        "cut_off": turn.cut_off,
        "text": source.spoken_text,
        "spoken_text": turn.spoken_text,
        "bed": _bed_info(script, turn.index),
        "preview": {"start_ms": stream_ms(0),
                    "speech_onset_ms": stream_ms(turn.speech_onset_sample),
                    "speech_end_ms": stream_ms(turn.speech_end_sample)},
    }


def _clear_previous(folder: Path) -> None:
    """Remove what an earlier render wrote here (a scenario may have lost turns since)."""
    for path in [*folder.glob("turn-*.wav"), folder / "preview.wav", folder / "manifest.json"]:
        if path.is_file():
            path.unlink()


def write_scenario(scenario: Scenario, script: CallerScript, folder: Path) -> dict[str, Any]:
    """Write one scenario's clips, preview and manifest into ``folder``; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    _clear_previous(folder)
    starts, _ = preview_layout(scenario, script)
    turns = []
    for turn, start in zip(script.turns, starts, strict=True):
        file = f"turn-{turn.index:02d}-{turn.kind}.wav"
        write_wav(folder / file, turn.samples)
        turns.append(_turn_entry(scenario, turn, script, file, start))
    write_wav(folder / "preview.wav", render_preview(scenario, script))
    manifest = {
        "schema_version": MANIFEST_VERSION,
        "scenario": scenario.name,
        "scenario_file": scenario.source.name if scenario.source is not None else None,
        "sample_rate": SAMPLE_RATE,
        "caller_level_db": _round(script.caller_level_db),
        "bed": _bed_info(script, None),
        "preview": {"file": "preview.wav", "lead_in_ms": PREVIEW_LEAD_IN_MS,
                    "agent_reply_ms": PREVIEW_AGENT_REPLY_MS,
                    "reaction_gap_ms": scenario.reaction_gap_ms},
        "turns": turns,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def render_suite(paths: Iterable[str | Path], out_dir: str | Path,
                 cache_dir: str | Path | None = None) -> RenderedSuite:
    """Render every scenario under ``paths`` into ``out_dir`` (``harness render PATH… -o DIR``).

    Writes ``out_dir/<scenario>/turn-NN-<kind>.wav`` (each turn's clean clip),
    ``preview.wav`` (the caller stream with nominal gaps and the bed on), ``manifest.json``
    (each turn's speech onset/end, pauses, cut-off, text), and ``out_dir/manifest.json`` for the
    suite. Scenario files are loaded and validated first (``InputErrors`` on bad input).
    """
    out = Path(out_dir)
    scenarios = load_suite(paths)
    entries = []
    for scenario in scenarios:
        script = render_scenario(scenario, cache_dir)
        manifest = write_scenario(scenario, script, out / scenario.name)
        entries.append({"name": scenario.name, "manifest": f"{scenario.name}/manifest.json",
                        "preview": f"{scenario.name}/preview.wav",
                        "turns": manifest["turns"]})
    suite = {"schema_version": MANIFEST_VERSION, "sample_rate": SAMPLE_RATE,
             "engine": engine_versions(), "scenarios": entries}
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(suite, indent=2) + "\n")
    return RenderedSuite(out_dir=out, manifest=suite)
