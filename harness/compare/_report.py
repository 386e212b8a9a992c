"""The outputs of a comparison: ``compare.json``, ``compare.html`` (static, offline) and, when a
gate is used, ``compare-junit.xml``."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

import harness
from harness import stats
from harness.compare._analysis import (
    PairResult,
    Side,
    comparison_json,
    describe,
    fmt_metric,
    scenario_matrix,
    size_text,
)
from harness.compare._metrics import metric_info

COMPARE_JSON = "compare.json"
COMPARE_HTML = "compare.html"
COMPARE_JUNIT = "compare-junit.xml"
COMPARE_SCHEMA_VERSION = 2
_TRIAL_DATA = "@@trial-data@@"


@dataclass(frozen=True)
class Plan:
    """``--plan METRIC:DIFFERENCE``: how many trials per scenario would detect that difference."""

    metric: str
    difference: float

    def apply(self, pair: PairResult) -> dict[str, Any]:
        info = metric_info(self.metric)
        found = next((m for m in pair.metrics if m.metric == self.metric), None)
        want = fmt_metric(self.difference, info.kind, info.unit, signed=True)
        out: dict[str, Any] = {"metric": self.metric, "difference": self.difference,
                               "trials_per_scenario": None}
        if found is None:
            out["text"] = f"{info.label}: not measured by both variants, nothing to plan from"
            return out
        k = stats.trials_needed(found, self.difference)
        out["trials_per_scenario"] = k
        scenarios = f"these {found.n_scenarios} scenarios"
        ran = f" (this comparison: {size_text(found)})"
        if k is None:
            out["text"] = (f"a {want} change in {info.label} cannot be detected with 80% power "
                           f"on {scenarios} with up to 50 trials each{ran}")
        else:
            out["text"] = (f"to detect a {want} change in {info.label} with 80% power on "
                           f"{scenarios}: {k} trial{'s' if k != 1 else ''} per scenario{ran}")
        return out


@dataclass
class Gate:
    """``--fail-if-worse``: any metric (``metrics`` None) or the metrics named."""

    metrics: list[str] | None

    def failures(self, pairs: Sequence[PairResult]) -> list[tuple[PairResult, Any]]:
        return [(p, m) for p in pairs for m in p.worse(self.metrics)]


def trials_per_scenario(sides: Sequence[Side]) -> int | None:
    """The number of trials every scenario of every side has, when it is one number."""
    counts = {len(v) for s in sides for v in s.by_scenario().values()}
    return counts.pop() if len(counts) == 1 else None


def side_figures(side: Side) -> dict[str, Any]:
    """A variant's own figures: its trial pass rate (passed of graded trials, Wilson interval)
    and its voice-to-voice latency (the mean over scenarios of each scenario's trial medians)."""
    graded = [t for t in side.trials if t.outcome != "errored"]
    passed = stats.wilson(sum(t.outcome == "passed" for t in graded), len(graded))
    per_scenario = []
    for trials in side.by_scenario().values():
        values = [v for t in trials.values()
                  if isinstance(v := t.value("voice_to_voice_ms"), float)]
        if values:
            per_scenario.append(sum(values) / len(values))
    return {"pass_rate": passed.to_json(), "errored": len(side.trials) - len(graded),
            "voice_to_voice_ms": stats.cluster_mean(per_scenario).to_json()}


def figures_text(figures: dict[str, Any]) -> dict[str, str]:
    """The variant's figures as the report's Variants table shows them."""
    rate, v2v = figures["pass_rate"], figures["voice_to_voice_ms"]
    out = {"pass_rate": "—", "voice_to_voice": "—"}
    if rate["value"] is not None:
        ci = rate["interval"]
        out["pass_rate"] = (f"{rate['value']:.0%} ({ci['low']:.0%}–{ci['high']:.0%}, "
                            f"n={rate['n']})")
    if v2v["value"] is not None:
        ci = v2v["interval"]
        span = f"{ci['low']:.0f}–{ci['high']:.0f}, " if ci else ""
        out["voice_to_voice"] = f"{v2v['value']:.0f} ms ({span}{v2v['n']} scenarios)"
    return out


def compare_document(sides: Sequence[Side], pairs: Sequence[PairResult], *, alpha: float,
                     gate: Gate | None, primary: Sequence[str] = stats.PRIMARY_METRICS,
                     plans: Sequence[Plan] = (), order: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """Everything compare.json holds: variants, decided metrics per candidate, the matrix."""
    n_trials = trials_per_scenario(sides)
    failures = gate.failures(pairs) if gate else []
    return {
        "schema_version": COMPARE_SCHEMA_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "harness_version": harness.__version__,
        "alpha": alpha,
        "primary": list(primary),
        "across_min_scenarios": stats.ACROSS_MIN_SCENARIOS,
        "order": order,
        "baseline": sides[0].name,
        "trials_per_scenario": n_trials,
        "variants": [{"name": s.name, "source": s.source, "agent_config_hash": s.config_hash,
                      "transport": s.transport, "target": s.target,
                      "caller_voice": s.caller_voice, "figures": side_figures(s),
                      "trials": len(s.trials),
                      "scenarios": len(s.by_scenario())} for s in sides],
        "comparisons": [{
            "baseline": p.baseline, "candidate": p.candidate, "paired_trials": p.paired_trials,
            "metrics": [{**comparison_json(m), "summary": describe(m)}
                        for m in p.metrics],
            "plans": [plan.apply(p) for plan in plans]} for p in pairs],
        "gate": None if gate is None else {
            "metrics": gate.metrics, "passed": not failures,
            "worse": [{"candidate": p.candidate, "metric": m.metric} for p, m in failures]},
        "scenarios": scenario_matrix(sides),
        "trials": [t.to_json() for s in sides for t in s.trials],
    }


def write_json(out_dir: Path, document: dict[str, Any]) -> Path:
    path = out_dir / COMPARE_JSON
    # without indentation the C encoder writes it: a large comparison stays fast
    path.write_text(json.dumps(document, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("harness.compare", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined)


def _trial_details(sides: Sequence[Side], out_dir: Path) -> dict[str, Any]:
    """Per trial, what the side-by-side view shows: audio, transcript, verdicts."""
    details: dict[str, Any] = {}
    prefixes: dict[Path, str] = {}
    for side in sides:
        for t in side.trials:
            audio = None
            if t.audio is not None:
                if t.run_dir not in prefixes:
                    prefixes[t.run_dir] = Path(os.path.relpath(t.run_dir, out_dir)).as_posix()
                audio = f"{prefixes[t.run_dir]}/{t.audio}".removeprefix("./")
            details[f"{t.scenario}|{side.name}|{t.trial}"] = {
                "outcome": t.outcome, "error": t.error, "audio": audio,
                "transcript": t.transcript, "verdicts": t.verdicts,
                "values": {k: round(v, 3) for k, v in t.values.items()}}
    return details


def _fmt_value(x: float | None, kind: str, unit: str, signed: bool = False) -> str:
    if x is None:
        return "—"
    if kind == "binary":
        return f"{x * 100:+.1f} pts" if signed else f"{x * 100:.1f}%"
    if unit == "ms":
        return f"{x:+.0f} ms" if signed else f"{x:.0f} ms"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def detectable_text(m: dict[str, Any]) -> str:
    """The smallest detectable difference of a decided metric, or why there is none."""
    if m["verdict"] == "cannot be detected" or m["min_detectable"] is None:
        return "cannot at this size"
    return _fmt_value(m["min_detectable"], m["kind"], m["unit"])


FAMILY_TEXT = {"primary": "primary (Holm)", "secondary": "exploratory (BH)",
               "excluded": "not tested"}


def _p(x: float | None) -> str:
    if x is None:
        return "—"
    return "<0.0001" if x < 1e-4 else f"{x:.4f}"


def _metric_rows(pair: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for m in pair["metrics"]:
        kind, unit = m["kind"], m["unit"]
        interval = m["interval"]
        rows.append({
            **m,
            "mean_a_text": _fmt_value(m["mean_a"], kind, unit),
            "mean_b_text": _fmt_value(m["mean_b"], kind, unit),
            "difference_text": _fmt_value(m["difference"], kind, unit, signed=True),
            "interval_text": "—" if interval is None else (
                f"{_fmt_value(interval['low'], kind, unit, True)} to "
                f"{_fmt_value(interval['high'], kind, unit, True)}"),
            "across_text": "—" if m["across_scenarios"] is None else (
                f"{_fmt_value(m['across_scenarios']['interval']['low'], kind, unit, True)} to "
                f"{_fmt_value(m['across_scenarios']['interval']['high'], kind, unit, True)}"),
            "family_text": FAMILY_TEXT[m["family"]],
            "mdd_text": detectable_text(m),
            "p_text": _p(m["p_value"]), "p_adjusted_text": _p(m["p_adjusted"]),
            "verdict_class": {"better": "better", "worse": "worse",
                              "cannot be detected": "untestable",
                              "not read": "unread"}.get(m["verdict"], "same"),
        })
    return rows


def write_html(out_dir: Path, document: dict[str, Any], sides: Sequence[Side]) -> Path:
    """Write ``compare.html``: metric tables, the scenario × variant matrix, the pair view."""
    from harness.report._html import embed_json  # noqa: PLC0415

    names = [v["name"] for v in document["variants"]]
    html = _env().get_template("compare.html.j2").render(
        doc=document, variants=names, baseline=document["baseline"],
        figures={v["name"]: figures_text(v["figures"]) for v in document["variants"]},
        pairs=[{**p, "rows": _metric_rows(p)} for p in document["comparisons"]],
        matrix=document["scenarios"], trial_data=_TRIAL_DATA)
    # The trial data (megabytes for a large comparison) goes in after rendering: passed
    # through the template, it would be copied at every step of jinja's output.
    data = embed_json({"variants": names, "baseline": document["baseline"],
                       "trials": _trial_details(sides, out_dir)})
    html = html.replace(_TRIAL_DATA, str(data), 1)
    path = out_dir / COMPARE_HTML
    path.write_text(html, encoding="utf-8")
    return path


def write_junit(out_dir: Path, document: dict[str, Any], gate: Gate) -> Path:
    """One testcase per candidate and metric; a gated metric that is worse fails."""
    suites = ET.Element("testsuites", name="harness compare")
    for pair in document["comparisons"]:
        suite = ET.SubElement(suites, "testsuite",
                              name=f"{pair['candidate']} vs {pair['baseline']}")
        failures = 0
        for m in pair["metrics"]:
            case = ET.SubElement(suite, "testcase", classname=f"compare.{pair['candidate']}",
                                 name=m["metric"])
            gated = gate.metrics is None or m["metric"] in gate.metrics
            if gated and m["verdict"] == "worse":
                failures += 1
                fail = ET.SubElement(case, "failure", message=m["summary"])
                fail.text = json.dumps({k: m[k] for k in (
                    "n_scenarios", "n_pairs", "mean_a", "mean_b", "difference", "interval",
                    "test", "p_value", "family", "p_adjusted")}, indent=1)
            else:
                out = ET.SubElement(case, "system-out")
                out.text = m["summary"]
        suite.set("tests", str(len(pair["metrics"])))
        suite.set("failures", str(failures))
    path = out_dir / COMPARE_JUNIT
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path
