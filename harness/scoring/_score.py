"""Scoring entry points: a recording and its expectations in, verdicts out (and on disk)."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.exit_codes import exit_code
from harness.recording import VERDICTS_FILE, Recording, read_run_file
from harness.scenario.models import AgentConfig, Expectation
from harness.scoring._registry import ScoringContext, registry
from harness.scoring.integrity import check_call_integrity
from harness.scoring.timeline import Timeline, build_timeline
from harness.scoring.verdict import Verdict

VERDICTS_SCHEMA_VERSION = 1


def recorded_agent_config(value: AgentConfig | dict[str, Any] | None) -> AgentConfig | None:
    """The agent config a trial recorded (``meta.json``), as the scorers need it."""
    if value is None or isinstance(value, AgentConfig):
        return value
    if value.get("instructions") is not None and value.get("instructions_file") is not None:
        # a loaded config keeps the file's text beside its name: the text is what was used
        value = {k: v for k, v in value.items() if k != "instructions_file"}
    try:
        return AgentConfig.model_validate(value)
    except ValidationError:
        # An older or foreign config: the scorers only need the tools and their flags.
        tools = [t for t in value.get("tools") or [] if isinstance(t, dict)]
        keep = {"name", "description", "parameters", "write", "escalation", "wait"}
        return AgentConfig.model_validate({"tools": [{k: v for k, v in t.items() if k in keep}
                                                     for t in tools]})


def _expectation(raw: Any) -> Expectation | Verdict:
    if isinstance(raw, Expectation):
        return raw
    try:
        return Expectation.model_validate(raw)
    except ValidationError as exc:
        kind = next(iter(raw)) if isinstance(raw, dict) and raw else str(raw)
        if isinstance(raw, dict) and "kind" in raw:
            kind = str(raw["kind"])
        msg = "; ".join(e["msg"] for e in exc.errors())
        return Verdict(kind=kind, params=raw if isinstance(raw, dict) else {}, status="error",
                       summary=f"invalid expectation: {msg}")


def score(recording: Recording, expectations: Iterable[Any] | None = None,
          agent_config: AgentConfig | dict[str, Any] | None = None,
          *, timeline: Timeline | None = None) -> list[Verdict]:
    """Grade one recording: one Verdict per expectation, in order.

    ``expectations`` default to the recording's ``meta.scenario_model["expect"]``, the agent
    config to ``meta.agent_config``. A scorer that raises yields an ``error`` verdict with the
    message; scoring itself never raises for a readable recording.
    """
    not_graded: dict[str, Any] = {}
    if expectations is None:
        expectations = recording.meta.scenario_model.get("expect") or []
        # a production call names the expectations it lacks what to grade (harness.calls)
        not_graded = (recording.meta.model_extra or {}).get("not_applicable") or {}
    config = recorded_agent_config(agent_config if agent_config is not None
                           else recording.meta.agent_config or None)
    ctx = ScoringContext(timeline=timeline or build_timeline(recording), agent_config=config,
                         recording=recording)
    scorers = registry()
    verdicts: list[Verdict] = []
    for i, raw in enumerate(expectations):
        exp = _expectation(raw)
        if isinstance(exp, Verdict):
            verdicts.append(exp)
            continue
        params = exp.params.model_dump(mode="json")
        if str(i) in not_graded:
            reason = str(not_graded[str(i)])
            verdicts.append(Verdict(kind=exp.kind, params=params, status="not_applicable",
                                    summary=f"not applicable: {reason}",
                                    measured={"not_applicable": reason}))
            continue
        info = scorers.get(exp.kind)
        if info is None:
            verdicts.append(Verdict(kind=exp.kind, params=params, status="error",
                                    summary=f"no scorer for expectation kind {exp.kind!r}"))
            continue
        try:
            out = info.fn(ctx, exp.params)
        except Exception as exc:  # noqa: BLE001 - a broken scorer must not stop the others
            verdicts.append(Verdict(kind=exp.kind, params=params, status="error",
                                    summary=f"scorer {exp.kind} failed: "
                                            f"{type(exc).__name__}: {exc}"))
            continue
        verdicts.append(Verdict(kind=exp.kind, params=params, status=out.status,
                                summary=out.summary, measured=out.measured,
                                evidence=out.evidence))
    return verdicts


def write_verdicts(trial_dir: Path, verdicts: list[Verdict]) -> Path:
    """Write ``verdicts.json`` (``{"schema_version", "verdicts": [...]}``) into a trial folder."""
    path = Path(trial_dir) / VERDICTS_FILE
    # One verdict per line: readable in a diff, and written by the fast (C) JSON encoder.
    lines = ",\n".join(v.model_dump_json() for v in verdicts)
    text = (f'{{"schema_version": {VERDICTS_SCHEMA_VERSION}, "verdicts": [\n{lines}\n]}}\n'
            if verdicts else f'{{"schema_version": {VERDICTS_SCHEMA_VERSION}, "verdicts": []}}\n')
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def load_verdicts(trial_dir: Path) -> list[Verdict]:
    """Read a trial's ``verdicts.json`` back."""
    raw = json.loads((Path(trial_dir) / VERDICTS_FILE).read_text(encoding="utf-8"))
    items = raw.get("verdicts", []) if isinstance(raw, dict) else raw
    return [Verdict.model_validate(v) for v in items]


SKIPPED_FRAME_TYPES = ("input_audio_buffer.append",)
"""Frames no scorer reads (the caller's audio chunks: most of a recording's lines)."""


def score_trial(trial_dir: Path) -> list[Verdict]:
    """Load a trial folder, score it against its own expectations, add the call-integrity
    findings (``harness.scoring.integrity``) and (re)write ``verdicts.json``."""
    recording = Recording.load(Path(trial_dir), skip_types=SKIPPED_FRAME_TYPES)
    timeline = build_timeline(recording)
    config = recorded_agent_config(recording.meta.agent_config or None)
    verdicts = score(recording, timeline=timeline)
    verdicts += check_call_integrity(recording, timeline, config)
    write_verdicts(Path(trial_dir), verdicts)
    return verdicts


PARALLEL_FROM_TRIALS = 200
"""Runs with at least this many trials are scored by one worker process per core."""


def score_run(run_dir: Path, *, workers: int | None = None) -> dict[str, list[Verdict]]:
    """Re-score every trial listed in ``run.json`` that left a recording; path → verdicts.

    Trials are independent, so large runs are scored in ``workers`` processes (default: one per
    core from :data:`PARALLEL_FROM_TRIALS` trials on); results do not depend on the split.
    """
    run_dir = Path(run_dir)
    run = read_run_file(run_dir)
    paths = [entry["path"] for entry in run.get("trials") or []
             if entry.get("path") and (run_dir / entry["path"] / "meta.json").is_file()]
    if workers is None:
        workers = (os.cpu_count() or 1) if len(paths) >= PARALLEL_FROM_TRIALS else 1
    if workers <= 1 or len(paths) < 2:
        return {rel: score_trial(run_dir / rel) for rel in paths}
    # spawn, not fork: the caller may hold threads (an event loop, a progress bar).
    context = multiprocessing.get_context("spawn")
    chunk = max(1, len(paths) // (workers * 8))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        scored = pool.map(score_trial, [run_dir / rel for rel in paths], chunksize=chunk)
        return dict(zip(paths, scored, strict=True))


def score_run_summary(results: dict[str, list[Verdict]]) -> tuple[list[str], int]:
    """Lines for a person (one per trial, then totals) and an exit code for ``score_run``
    results: 0 every verdict passed, 1 some failed, 3 some scorer broke (an ``error`` verdict)."""
    lines = []
    totals: dict[str, int] = {}
    for path, verdicts in results.items():
        counts: dict[str, int] = {}
        for v in verdicts:
            counts[v.status] = counts.get(v.status, 0) + 1
            totals[v.status] = totals.get(v.status, 0) + 1
        bad = [v.kind for v in verdicts if v.status in ("fail", "error")]
        tally = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        lines.append(f"{path}: {tally}" + (f" ({', '.join(bad)})" if bad else ""))
    tally = ", ".join(f"{n} {k}" for k, n in sorted(totals.items())) or "no verdicts"
    lines.append(f"re-scored {len(results)} trial(s): {tally}")
    return lines, exit_code(totals)


def expectation_reference_markdown() -> str:
    """The expectation reference of the docs (``docs/expectations.md``): a table of the kinds
    from the registry (a plugin's kinds too) with their parameters, and the spoken forms."""
    lines = ["| kind | what it checks | parameters |", "| --- | --- | --- |"]
    for kind, info in registry().items():
        params = []
        for name, f in info.params_model.model_fields.items():
            default = "required" if f.is_required() else f"default `{f.default!r}`"
            if f.default_factory is not None:
                default = f"default `{f.get_default(call_default_factory=True)!r}`"
            desc = f" — {f.description}" if f.description else ""
            params.append(f"`{name}` ({default}){desc}")
        cell = "<br>".join(params).replace("|", "\\|") or "—"
        lines.append(f"| `{kind}` | {info.description} | {cell} |")
    from harness.spoken import standard_forms_markdown  # noqa: PLC0415

    lines += ["", "**Spoken values.** Read-backs, tool arguments and entities are compared in the "
              "standard spoken forms a person accepts as the same value, and only those: a "
              "recogniser's sound-alikes (\"to\" for two, \"made\" for \"is eight\") are words "
              "to the grader, whatever agent said them. One exception, for the words of a "
              "read-back the harness's own recogniser wrote from the agent's audio (a SIP or "
              "production call): a word of two or more letters that eSpeak NG pronounces the "
              "same as the expected one (\"male\" and \"mail\") gives the same value, since "
              "the spelling is the recogniser's choice and a caller hears no difference; "
              "digits, spelled letters and words that sound different never do.", "",
              standard_forms_markdown()]
    return "\n".join(lines)
