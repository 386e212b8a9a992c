"""Sides of a comparison from the history store: stored runs by id or label (``REF#VARIANT``).

A stored run whose folder is still on disk is measured from its recordings, exactly as a run
folder is; one whose folder is gone is compared on what the database keeps: outcomes, verdict
statuses and the per-turn latencies and dead air (barge-in stop time and input WER need the
recordings and are left out then).
"""

from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Any

from harness.compare._analysis import Side
from harness.compare._metrics import TrialMetrics, kind_outcomes
from harness.compare._sources import VARIANT_SEPARATOR, side_from_run, split_reference, unique_name
from harness.errors import InputError


def _run_folder(run: Any) -> Path | None:
    if not run.report_path:
        return None
    folder = Path(run.report_path).parent
    return folder if (folder / "run.json").is_file() else None


def _variants(run: Any) -> list[str | None]:
    seen: list[str | None] = []
    for t in run.trials:
        if t.variant not in seen:
            seen.append(t.variant)
    return seen


def _stored_trial(t: Any, name: str) -> TrialMetrics:
    kinds = kind_outcomes(t.verdicts)
    values: dict[str, float] = {}
    for metric in ("voice_to_voice_ms", "first_audio_ms"):
        found = [getattr(turn, metric) for turn in t.turns if getattr(turn, metric) is not None]
        if found:
            values[metric] = median(found)
    gaps = [turn.dead_air_ms for turn in t.turns if turn.dead_air_ms is not None]
    if gaps:
        values["dead_air_ms"] = max(gaps)
    outcome = t.status if t.status in ("passed", "failed") else "errored"
    return TrialMetrics(scenario=t.scenario, variant=name, trial=t.trial,
                        run_dir=Path(t.recording_path or ".").parent,
                        path=Path(t.recording_path or "").name, outcome=outcome,
                        kinds=kinds if outcome != "errored" else {},
                        values=values if outcome != "errored" else {}, error=t.error)


def _side(run: Any, variant: str | None, name: str, reference: str) -> Side:
    if variant not in _variants(run):
        shown = ", ".join(v for v in _variants(run) if v) or "none"
        raise InputError(f"the stored run has no variant {variant!r} (its variants: {shown})",
                         location=reference)
    folder = _run_folder(run)
    if folder is not None:
        side = side_from_run(folder, variant, name=name, reference=reference)
    else:
        side = Side(name, [_stored_trial(t, name) for t in run.trials if t.variant == variant])
    side.source = f"stored run {run.run_id}" + (f" ({run.label})" if run.label else "") + (
        f"{VARIANT_SEPARATOR}{variant}" if variant else "")
    side.config_hash = side.config_hash or (run.agent_config_hashes or {}).get(variant or "")
    return side


def sides_from_store(url: str, references: list[str]) -> list[Side]:
    """Sides from stored runs: one run with several variants, or one run (variant) per side."""
    from harness.store import open_store  # noqa: PLC0415

    if not references:
        raise InputError("name the stored runs to compare: RUN_A RUN_B (ids or labels)")
    parsed = [split_reference(r) for r in references]
    with open_store(url, create=False) as store:
        runs = [store.load_run(ref) for ref, _variant in parsed]
    if len(runs) == 1:
        variants = _variants(runs[0])
        if parsed[0][1] is not None or len(variants) < 2:
            raise InputError("a comparison needs two sides: give two stored runs, or one that "
                             "holds two or more variants", location=references[0])
        return [_side(runs[0], v, v or runs[0].run_id, references[0]) for v in variants]
    sides: list[Side] = []
    taken: set[str] = set()
    for reference, (ref, variant), run in zip(references, parsed, runs, strict=True):
        if variant is None:
            variants = _variants(run)
            if len(variants) > 1:
                raise InputError(f"the stored run holds several variants "
                                 f"({', '.join(str(v) for v in variants)}); name one as "
                                 f"RUN{VARIANT_SEPARATOR}VARIANT", location=reference)
            variant = variants[0] if variants else None
        name = unique_name(variant or run.label or ref, taken)
        sides.append(_side(run, variant, name, reference))
    return sides
