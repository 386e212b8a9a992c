"""Where a comparison's trials come from: run folders (``RUN`` or ``RUN#VARIANT``).

A run folder holding several variants (what a live comparison writes) gives one side per
variant, baseline first; two or more references give one side each, and a reference to a run
with several variants must name the one it means.
"""

from __future__ import annotations

from pathlib import Path

from harness.compare._analysis import Side
from harness.compare._metrics import load_trial_metrics
from harness.errors import InputError

VARIANT_SEPARATOR = "#"


def split_reference(reference: str) -> tuple[str, str | None]:
    """``RUN#VARIANT`` → (RUN, VARIANT); a plain ``RUN`` → (RUN, None)."""
    run, sep, variant = reference.rpartition(VARIANT_SEPARATOR)
    if not sep:
        return reference, None
    return run, variant or None


def run_variants(run: dict) -> list[str | None]:
    """The variants of a run in their order in ``run.json`` (None: a run without variants)."""
    seen: list[str | None] = []
    for entry in run["trials"]:
        if entry.get("variant") not in seen:
            seen.append(entry.get("variant"))
    return seen


def side_from_run(run_dir: Path, variant: str | None, *, name: str | None = None,
                  reference: str | None = None) -> Side:
    """One variant's trials of a run folder, measured (scored first where needed)."""
    from harness.report import read_run  # noqa: PLC0415

    run = read_run(run_dir)
    variants = run_variants(run)
    if variant not in variants:
        shown = ", ".join(v for v in variants if v) or "none"
        raise InputError(f"the run has no variant {variant!r} (its variants: {shown})",
                         location=reference or str(run_dir))
    label = name or variant or run_dir.name
    trials = [load_trial_metrics(run_dir, entry, variant=label)
              for entry in run["trials"] if entry.get("variant") == variant]
    metas = _metas(run_dir, run, variant)
    return Side(name=label, trials=trials,
                source=f"{run_dir}" + (f"{VARIANT_SEPARATOR}{variant}" if variant else ""),
                config_hash=_one(metas, "agent_config_hash"),
                transport=_one(metas, "transport", "websocket"), target=_one(metas, "target"),
                caller_voice=_caller_voices(metas))


def _metas(run_dir: Path, run: dict, variant: str | None) -> list[dict]:
    """The ``meta.json`` of each of the variant's trials that has one."""
    import json  # noqa: PLC0415

    from harness.recording import META_FILE  # noqa: PLC0415

    found: list[dict] = []
    for entry in run["trials"]:
        if entry.get("variant") != variant:
            continue
        meta = Path(run_dir) / (entry.get("path") or "") / META_FILE
        if meta.is_file():
            found.append(json.loads(meta.read_text(encoding="utf-8")))
    return found


def _one(metas: list[dict], key: str, default: str | None = None) -> str | None:
    """The value of ``key`` the trials share (``default`` where a trial has none, as recordings
    from before the key have), or None when they differ or none has it."""
    values = {str(m.get(key) or default) for m in metas if m.get(key) or default}
    return values.pop() if len(values) == 1 else None


def _caller_voices(metas: list[dict]) -> str | None:
    voices = sorted({f"{v.get('voice')} ({v.get('engine')})" for m in metas
                     if isinstance(v := m.get("caller_voice"), dict)})
    return ", ".join(voices) or None


def sides_from_folders(references: list[str]) -> list[Side]:
    """Sides from run folder references: one run with several variants, or one side each."""
    from harness.report import read_run  # noqa: PLC0415

    if not references:
        raise InputError("name the runs to compare: RUN_A RUN_B (or one run with variants)")
    parsed = [split_reference(r) for r in references]
    if len(parsed) == 1:
        folder, variant = parsed[0]
        run = read_run(Path(folder))
        variants = run_variants(run)
        if variant is not None or len(variants) < 2:
            raise InputError("a comparison needs two sides: give two runs, or one run that "
                             "holds two or more variants", location=references[0])
        return [side_from_run(Path(folder), v, reference=references[0]) for v in variants]
    sides: list[Side] = []
    taken: set[str] = set()
    for reference, (folder, variant) in zip(references, parsed, strict=True):
        run_dir = Path(folder)
        if variant is None:
            variants = run_variants(read_run(run_dir))
            if len(variants) > 1:
                shown = ", ".join(str(v) for v in variants)
                raise InputError(f"the run holds several variants ({shown}); name one as "
                                 f"RUN{VARIANT_SEPARATOR}VARIANT", location=reference)
            variant = variants[0] if variants else None
        name = unique_name(variant or run_dir.resolve().name, taken)
        sides.append(side_from_run(run_dir, variant, name=name, reference=reference))
    return sides


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3`` … when already used."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate
