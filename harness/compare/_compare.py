"""Comparisons end to end: run the variants (or read finished runs), decide, write the reports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import stats
from harness.compare._analysis import ALPHA, PairResult, Side, compare_sides, order_effect
from harness.compare._metrics import known_metric_names
from harness.compare._report import (
    COMPARE_JUNIT,
    Gate,
    Plan,
    compare_document,
    write_html,
    write_json,
    write_junit,
)
from harness.compare._sources import side_from_run, sides_from_folders
from harness.compare._spec import (
    ComparisonSpec,
    VariantSpec,
    build_variant,
    check_caller,
    check_faults,
)
from harness.errors import InputError
from harness.folders import new_stamped_folder

if TYPE_CHECKING:
    from harness import api

EXIT_OK, EXIT_WORSE, EXIT_USAGE, EXIT_ERRORED = 0, 1, 2, 3


@dataclass
class CompareOutcome:
    """A finished comparison: its sides, decided metrics, document and report files."""

    sides: list[Side]
    pairs: list[PairResult]
    document: dict[str, Any]
    out_dir: Path
    compare_json: Path
    compare_html: Path
    junit_xml: Path | None
    gate: Gate | None
    run_dir: Path | None = None
    """The run folder a live comparison recorded its calls in."""

    @property
    def gate_failed(self) -> bool:
        return self.gate is not None and bool(self.gate.failures(self.pairs))

    @property
    def errored(self) -> int:
        return sum(t.outcome == "errored" for s in self.sides for t in s.trials)

    @property
    def exit_code(self) -> int:
        """1 when the gate failed (a candidate significantly worse), else 3 when some trials
        errored (fewer trials than planned back the figures), else 0."""
        if self.gate_failed:
            return EXIT_WORSE
        return EXIT_ERRORED if self.errored else EXIT_OK


def parse_gate(fail_if_worse: bool | Sequence[str] | None) -> Gate | None:
    """``--fail-if-worse`` (all metrics) or ``--fail-if-worse a,b`` → a Gate; names checked."""
    if fail_if_worse is None or fail_if_worse is False:
        return None
    if fail_if_worse is True:
        return Gate(None)
    names = [n.strip() for item in fail_if_worse for n in str(item).split(",") if n.strip()]
    if not names:
        return Gate(None)
    known = known_metric_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"unknown metric {unknown[0]!r}; expected one of {', '.join(known)}",
                         field="--fail-if-worse")
    return Gate(names)


def _metric_names(items: Sequence[str] | None, option: str) -> list[str]:
    names = [n.strip() for item in items or [] for n in str(item).split(",") if n.strip()]
    known = known_metric_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"unknown metric {unknown[0]!r}; expected one of {', '.join(known)}",
                         field=option)
    return names


def primary_metrics(primary: Sequence[str] | None, gate: Gate | None) -> list[str]:
    """The metrics decided in the Holm family: ``--primary``, else the metrics a gate names,
    else trial pass rate and voice-to-voice latency."""
    chosen = _metric_names(primary, "--primary")
    if chosen:
        return chosen
    if gate is not None and gate.metrics:
        return list(gate.metrics)
    return list(stats.PRIMARY_METRICS)


def parse_plans(items: Sequence[str] | None) -> list[Plan]:
    """``--plan METRIC:DIFFERENCE`` (a latency in ms, a pass rate as a fraction or a %)."""
    plans = []
    for item in items or []:
        metric, sep, amount = str(item).rpartition(":")
        if not sep or not metric:
            raise InputError(f"{item!r} is not METRIC:DIFFERENCE (e.g. voice_to_voice_ms:+200 "
                             "or passed:-10%)", field="--plan")
        _metric_names([metric], "--plan")
        text = amount.strip().removesuffix("ms").strip()
        pct = text.endswith("%")
        try:
            value = float(text.removesuffix("%")) / (100.0 if pct else 1.0)
        except ValueError:
            raise InputError(f"difference {amount!r} in {item!r} is not a number (e.g. +200, "
                             "-10%)", field="--plan") from None
        if value == 0:
            raise InputError(f"difference in {item!r} is zero: name the change to detect",
                             field="--plan")
        plans.append(Plan(metric.strip(), value))
    return plans


def finish(sides: list[Side], out_dir: Path, *, gate: Gate | None, alpha: float = ALPHA,
           run_dir: Path | None = None, primary: Sequence[str] | None = None,
           plans: Sequence[Plan] = (), order: dict[str, Any] | None = None) -> CompareOutcome:
    """Decide every candidate against the baseline and write compare.json/.html (+ JUnit)."""
    if len(sides) < 2:
        raise InputError("a comparison needs at least two variants")
    chosen = primary_metrics(primary, gate)
    pairs = compare_sides(sides, alpha=alpha, primary=chosen)
    if order is not None:
        order = {**order, "effect": order_effect(sides, order.get("blocks") or [])}
    document = compare_document(sides, pairs, alpha=alpha, gate=gate, primary=chosen,
                                plans=plans, order=order)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = write_json(out_dir, document)
    html_path = write_html(out_dir, document, sides)
    junit = write_junit(out_dir, document, gate) if gate is not None else None
    if junit is None and (out_dir / COMPARE_JUNIT).is_file():
        (out_dir / COMPARE_JUNIT).unlink()  # a gate of an earlier comparison no longer holds
    return CompareOutcome(sides, pairs, document, out_dir, json_path, html_path, junit, gate,
                          run_dir)


def compare_runs(references: Sequence[str], *, out_dir: Path | None = None,
                 fail_if_worse: bool | Sequence[str] | None = None,
                 alpha: float = ALPHA, store: str | None = None,
                 primary: Sequence[str] | None = None,
                 plan: Sequence[str] | None = None) -> CompareOutcome:
    """Compare finished runs: run folders (``RUN``, ``RUN#VARIANT``) or, with ``store``, runs of
    the history database by id or label. One run with several variants is compared within
    itself (the report goes into that run folder); otherwise into ``out_dir``
    (default ``reports/compare-<UTC time>``)."""
    gate = parse_gate(fail_if_worse)
    plans = parse_plans(plan)
    primary_metrics(primary, gate)
    if store is not None:
        from harness.compare._stored import sides_from_store  # noqa: PLC0415

        sides = sides_from_store(store, list(references))
    else:
        sides = sides_from_folders(list(references))
    if out_dir is None:
        single = len(references) == 1 and store is None
        out_dir = Path(references[0]) if single else new_stamped_folder(Path("reports"), "compare")
    return finish(sides, Path(out_dir), gate=gate, alpha=alpha, primary=primary, plans=plans)


def resolve_variants(spec: ComparisonSpec, scenarios: list[Any]
                     ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Each variant's agent config and faults. Without a base file, the scenarios' own configs
    are the base: a variant without its own ``agent`` applies its changes to each scenario's
    config (one config per scenario name when the scenarios use different ones)."""
    from harness.scenario.loader import load_agent_config  # noqa: PLC0415

    base = load_agent_config(spec.base) if spec.base is not None else None
    own: dict[str, Any] | None = None
    if base is None:
        hashes = {s.agent_config.model_dump_json() if s.agent_config else None for s in scenarios}
        if len(hashes) == 1 and scenarios and scenarios[0].agent_config is not None:
            base = scenarios[0].agent_config
        elif all(s.agent_config is not None for s in scenarios):
            own = {s.name: s.agent_config for s in scenarios}
        elif any(v.agent is None for v in spec.variants.values()):
            missing = next(s for s in scenarios if s.agent_config is None)
            raise InputError("this scenario has no agent config for the variants to start from: "
                             "give it one, or give a base config (--base or 'base:')",
                             location=str(missing.source or missing.name), field="agent")
    configs: dict[str, Any] = {}
    for name, variant in spec.variants.items():
        if own is not None and variant.agent is None:
            configs[name] = {scenario: build_variant(variant, config, name=name)
                             for scenario, config in own.items()}
        else:
            configs[name] = build_variant(variant, base, name=name)
    faults = {name: check_faults(v, name) for name, v in spec.variants.items()}
    return configs, faults


_SET_BY_VARIANTS = {"agent": "--agent", "audio_format": "--audio-format", "faults": "--fault",
                    "trials": "--trials", "workers": "--workers", "executor": "--executor",
                    "address": "--address", "ship_recordings": "--ship-recordings"}
"""Run options a comparison takes from its spec and variants (or cannot use), by option name."""


async def run_comparison_async(spec: ComparisonSpec, options: api.RunOptions | None = None, *,
                               out_dir: Path = Path("reports"),
                               fail_if_worse: bool | Sequence[str] | None = None,
                               alpha: float = ALPHA,
                               on_progress: Callable[[Any], None] | None = None,
                               run_dir: Path | None = None,
                               primary: Sequence[str] | None = None,
                               plan: Sequence[str] | None = None,
                               **changes: Any) -> CompareOutcome:
    """Run every variant on the same scenarios (trials interleaved across variants, each
    scenario's caller audio rendered once for all), then compare them. The run folder holds
    the calls, the run report and the comparison. Of the run ``options`` (keyword ``changes``
    over them) a comparison uses the target, the concurrency and ``session_timeout_s``; the
    spec gives the trials, and each variant its agent config, audio format and faults, and its
    own target where it names one (a variant may differ only in transport)."""
    from harness import api  # noqa: PLC0415
    from harness.runner import run_suite  # noqa: PLC0415

    o = (options or api.RunOptions()).replace(**changes)
    default = api.RunOptions()
    for name, option in _SET_BY_VARIANTS.items():
        if getattr(o, name) != getattr(default, name):
            raise InputError(f"a comparison takes {option} from its variants and its spec, not "
                             "from the run options", field=option)
    gate = parse_gate(fail_if_worse if fail_if_worse is not None else spec.fail_if_worse)
    plans = parse_plans(plan)
    primary_metrics(primary, gate)
    api.check_run_options(o.target, spec.trials, o.concurrency, None)
    scenarios = api.load_scenarios([str(p) for p in spec.scenarios] or None)
    configs, faults = resolve_variants(spec, scenarios)
    targets = {name: v.target for name, v in spec.variants.items() if v.target is not None}
    callers = {name: voice for name, v in spec.variants.items()
               if (voice := check_caller(v, name)) is not None}
    for name in spec.variants:
        if name in targets:
            api.check_target(targets[name], faults[name])
        else:
            api.check_target(o.target, faults[name])
    folder = run_dir or api.new_run_dir(Path(out_dir))
    await run_suite(scenarios, out_dir=folder, target=o.target, trials=spec.trials,
                    concurrency=o.concurrency, variants=configs, variant_faults=faults,
                    variant_targets=targets, variant_callers=callers, interleave=True,
                    on_progress=on_progress, local_agent=api.start_local_agent_for,
                    session_timeout_s=o.session_timeout_s,
                    options=api.session_options([o.target, *targets.values()], None))
    await api.report_when_quiet(folder)
    sides = [side_from_run(folder, name) for name in configs]
    return await asyncio.to_thread(finish, sides, folder, gate=gate, alpha=alpha,
                                   run_dir=folder, primary=primary, plans=plans,
                                   order=read_order(folder))


def read_order(run_dir: Path) -> dict[str, Any] | None:
    """The variants' start order per (scenario, trial) of an interleaved run, if recorded."""
    import json  # noqa: PLC0415

    from harness.recording import ORDER_FILE  # noqa: PLC0415

    path = Path(run_dir) / ORDER_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_comparison(spec: ComparisonSpec, options: api.RunOptions | None = None,
                   **kwargs: Any) -> CompareOutcome:
    """:func:`run_comparison_async` for callers without an event loop (the CLI)."""
    return asyncio.run(run_comparison_async(spec, options, **kwargs))


def spec_from_options(*, variants: list[str], overrides: list[str], base: Path | None,
                      scenarios: list[Path], trials: int | None,
                      file_spec: ComparisonSpec | None) -> ComparisonSpec:
    """The comparison the command line describes, on top of a comparison file when given."""
    from harness.compare._spec import DEFAULT_TRIALS, parse_variant_options  # noqa: PLC0415

    if trials is not None and trials < 1:
        raise InputError(f"trials must be at least 1, got {trials}", field="--trials")
    given: dict[str, VariantSpec] = parse_variant_options(variants, overrides)
    if file_spec is not None:
        merged = dict(file_spec.variants)
        for name, v in given.items():
            if name in merged:
                merged[name] = merged[name].model_copy(
                    update={k: getattr(v, k) for k in v.model_fields_set})
            else:
                merged[name] = v
        update: dict[str, Any] = {"variants": merged}
        if base is not None:
            update["base"] = base.resolve()
        if scenarios:
            update["scenarios"] = [p.resolve() for p in scenarios]
        if trials is not None:
            update["trials"] = trials
        return file_spec.model_copy(update=update)
    if base is not None and len(given) == 1:
        # one variant on the command line: the base config unchanged is the baseline
        given = {"base": VariantSpec(), **given}
    if len(given) < 2:
        raise InputError("a comparison needs at least two variants: --variant NAME=FILE twice, "
                         "or --base FILE with --set NAME.KEY=VALUE, or a comparison file",
                         field="--variant")
    return ComparisonSpec(scenarios=[p.resolve() for p in scenarios],
                          base=base.resolve() if base else None,
                          trials=trials or DEFAULT_TRIALS, variants=given)
