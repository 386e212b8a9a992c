"""``harness calls to-scenario``: a graded production call becomes a scenario skeleton, so a bad
call turns into a regression test.

The caller's turns become recorded clips cut from the call's caller channel (with their
transcripts and intents when known, and a barge-in where the caller spoke over the agent), the
tool calls become mocks that answer as the tools did, and the call's failing expectations become
``expect`` (every graded one when none failed). The scenario is validated before it is kept.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml

from harness.errors import InputError
from harness.recording import CALLER_WAV, META_FILE, VERDICTS_FILE, Recording
from harness.scoring.timeline import Timeline, build_timeline

CLIP_MARGIN_MS = 150.0
"""Kept before a turn's speech onset and after its end, so a clip starts and ends in quiet."""


def _turns(tl: Timeline, caller: np.ndarray, rate: int, clips: Path) -> list[dict[str, Any]]:
    audible = [(p.audible_onset_ms, p.stop_ms) for r in tl.responses for p in r.playbacks
               if p.audible_onset_ms is not None]
    out: list[dict[str, Any]] = []
    for turn in tl.turns:
        onset = turn.speech_onset_ms if turn.speech_onset_ms is not None else turn.start_ms
        end = turn.speech_end_ms if turn.speech_end_ms is not None else turn.end_ms
        lo = max(0, int((onset - CLIP_MARGIN_MS) * rate / 1000))
        hi = min(len(caller), int((end + CLIP_MARGIN_MS) * rate / 1000))
        name = f"turn-{turn.index}.wav"
        sf.write(clips / name, caller[lo:hi], rate, subtype="PCM_16")
        entry: dict[str, Any] = {"audio": f"{clips.name}/{name}"}
        if turn.spoken_text or turn.text:
            entry["text"] = turn.spoken_text or turn.text
        if turn.intent in ("affirm", "deny", "correct"):
            entry["intent"] = turn.intent
        if turn.trigger == "barge_in":
            speaking = [a for a, b in audible if a <= onset and (b is None or onset < b)]
            if speaking:
                entry["barge_in"] = {"at_agent_ms": int(onset - max(speaking))}
        out.append(entry)
    return out


def _mocks(tl: Timeline) -> dict[str, list[dict[str, Any]]]:
    mocks: dict[str, list[dict[str, Any]]] = {}
    for call in tl.function_calls:
        rule: dict[str, Any] = {"returns": call.answer.output if call.answer else None}
        if call.arguments:
            rule = {"when": call.arguments, **rule}
        if rule not in mocks.setdefault(call.name, []):
            mocks[call.name].append(rule)
    return mocks


def _expectations(trial: Path) -> tuple[list[dict[str, Any]], bool]:
    """The failing graded expectations (or every graded one), and whether any failed."""
    path = trial / VERDICTS_FILE
    if not path.is_file():
        raise InputError("the call has not been graded (no verdicts.json): run harness calls "
                         "score first", location=str(trial))
    verdicts = json.loads(path.read_text(encoding="utf-8")).get("verdicts", [])
    graded = [v for v in verdicts if not v["kind"].startswith("integrity.")
              and "not_applicable" not in (v.get("measured") or {})]
    failing = [v for v in graded if v["status"] == "fail"]
    return ([{v["kind"]: {k: p for k, p in v["params"].items() if p is not None}}
             for v in (failing or graded)], bool(failing))


def call_to_scenario(trial: Path, out_dir: Path, *, agent: Path | None = None) -> Path:
    """Write ``OUT_DIR/NAME.yaml`` and its clips from a graded production call's trial folder
    (a folder of ``harness calls score``'s run); returns the scenario file."""
    from harness.scenario.loader import load_scenario  # noqa: PLC0415

    trial = Path(trial)
    if not (trial / META_FILE).is_file() and (trial / "trial-0" / META_FILE).is_file():
        trial = trial / "trial-0"
    recording = Recording.load(trial)
    intake = (recording.meta.model_extra or {}).get("call_intake")
    if not isinstance(intake, dict):
        raise InputError("not a production call graded by harness calls score (its meta.json "
                         "has no call_intake)", location=str(trial / META_FILE))
    agent_file = agent or (Path(intake["agent_file"]) if intake.get("agent_file") else None)
    if agent_file is None:
        raise InputError("the call was graded without an agent config: give --agent",
                         field="--agent")
    expect, failed = _expectations(trial)
    if not expect:
        raise InputError("the call has no graded expectation to keep", location=str(trial))
    name = re.sub(r"[^a-z0-9_.-]+", "-", recording.meta.scenario.lower()).strip("-.") or "call"
    out_dir = Path(out_dir)
    clips = out_dir / f"{name}-clips"
    clips.mkdir(parents=True, exist_ok=True)
    caller, rate = recording.track(CALLER_WAV)
    tl = build_timeline(recording)
    scenario = {
        "name": name,
        "description": f"From production call {recording.meta.call_id or name} "
                       f"(harness calls to-scenario): its caller's turns as recorded, its tools "
                       f"as they answered, and its " + ("failing expectations." if failed else
                                                        "expectations (none failed)."),
        "agent": os.path.relpath(Path(agent_file).resolve(), out_dir.resolve()),
        "tags": ["production", *intake.get("labels", [])],
        "turns": _turns(tl, caller, rate, clips),
        "tools": _mocks(tl),
        "expect": expect,
    }
    path = out_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True),
                    encoding="utf-8")
    load_scenario(path)
    return path
