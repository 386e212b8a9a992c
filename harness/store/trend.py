"""The trend report: a static, offline HTML page of stored runs over time.

Pass rate of the suite (with its interval), per scenario and per expectation kind; voice-to-voice
p50/p95 with interval bands; flaky scenarios per run; a table of the runs and one of what changed
since the baseline (with the regression gates' verdicts when they were applied). Every point of
every chart links to its run's report. Reads one row per run (the figures stored with it), so a
hundred runs render in well under a second.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.report._html import ASSETS_DIR, _env, copy_assets, embed_json
from harness.store._db import safe_url
from harness.store._history import HistoryStore
from harness.store._runs import RunInfo
from harness.store.gates import GateReport

TREND_FILE = "trend.html"
_BAND = "rgba(47,111,223,0.15)"
_PALETTE = ["#2f6fdf", "#d9822b", "#1f9d55", "#d03b3b", "#8a4fff", "#0f9fb4", "#b8860b",
            "#d6336c", "#5c6f7f", "#6b8e23"]


def _link(run: RunInfo, out_dir: Path) -> str | None:
    if not run.report_path:
        return None
    return Path(os.path.relpath(run.report_path, out_dir)).as_posix()


def _when(run: RunInfo) -> str:
    return run.started_at.strftime("%Y-%m-%d %H:%M")


def _line(name: str, runs: list[RunInfo], values: list[float | None], links: list[str | None],
          color: str, *, percent: bool, extra: list[str] | None = None) -> dict[str, Any]:
    scale = 100.0 if percent else 1.0
    unit = " %" if percent else " ms"
    hover = [f"{name}<br>{_when(r)} · run {r.run_id}<br>"
             + ("—" if v is None else f"{v * scale:,.1f}{unit}") + (extra[i] if extra else "")
             for i, (r, v) in enumerate(zip(runs, values, strict=True))]
    return {"type": "scatter", "mode": "lines+markers", "name": name,
            "x": [_when(r) for r in runs],
            "y": [None if v is None else round(v * scale, 2) for v in values],
            "customdata": links, "hovertext": hover, "hoverinfo": "text",
            "line": {"color": color, "width": 2}, "marker": {"size": 8, "color": color}}


def _band(runs: list[RunInfo], estimates: list[dict[str, Any] | None], *, percent: bool,
          name: str) -> dict[str, Any]:
    """The interval of an estimate over runs as a filled band (upper edge, then lower back)."""
    scale = 100.0 if percent else 1.0
    xs = [_when(r) for r in runs]
    high = [None if not e or e.get("high") is None else e["high"] * scale for e in estimates]
    low = [None if not e or e.get("low") is None else e["low"] * scale for e in estimates]
    return {"type": "scatter", "mode": "lines", "name": name, "x": xs + xs[::-1],
            "y": high + low[::-1], "fill": "toself", "fillcolor": _BAND,
            "line": {"width": 0}, "hoverinfo": "skip", "showlegend": True}


def _layout(title: str, *, percent: bool) -> dict[str, Any]:
    return {"height": 340, "margin": {"l": 60, "r": 20, "t": 10, "b": 60},
            "xaxis": {"type": "category", "title": {"text": "run (UTC start)"}},
            "yaxis": {"title": {"text": title},
                      **({"range": [-2, 102]} if percent else {"rangemode": "tozero"})},
            "hovermode": "closest", "legend": {"orientation": "h", "y": -0.3}}


def _estimate(figures: dict[str, Any] | None, *path: str) -> dict[str, Any] | None:
    node: Any = figures or {}
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def trend_figures(runs: list[RunInfo], out_dir: Path) -> dict[str, dict[str, Any]]:
    """Plotly specs: suite, scenario and kind pass rates, latency, flaky scenarios."""
    links = [_link(r, out_dir) for r in runs]
    figs = [r.figures or {} for r in runs]
    suite = [_estimate(f, "suite", "pass_rate") for f in figs]
    hat = [_estimate(f, "suite", "pass_hat_k") for f in figs]
    pass_rate = {"data": [
        _band(runs, suite, percent=True, name="95 % interval"),
        _line("suite pass rate", runs, [e and e.get("value") for e in suite], links,
              _PALETTE[0], percent=True,
              extra=[f" (n={e['n']} scenarios)" if e else "" for e in suite]),
        _line("pass^k", runs, [e and e.get("value") for e in hat], links, _PALETTE[1],
              percent=True)], "layout": _layout("pass rate (%)", percent=True)}

    def per(key: str, name_key: str) -> dict[str, Any]:
        names = sorted({row[name_key] for f in figs for row in f.get(key, [])})
        data = []
        for i, name in enumerate(names):
            rows = [{row[name_key]: row for row in f.get(key, [])}.get(name) for f in figs]
            values = [row["pass_rate"]["value"] if row else None for row in rows]
            extra = [f" ({row['passed']}/{row['n']})" if row else " (not run)" for row in rows]
            data.append(_line(name, runs, values, links, _PALETTE[i % len(_PALETTE)],
                              percent=True, extra=extra))
        return {"data": data, "layout": _layout("pass rate (%)", percent=True)}

    latency_data = []
    for q, color in ((50, _PALETTE[0]), (95, _PALETTE[3])):
        est = [_estimate(f, "latency", "voice_to_voice_ms", f"p{q}") for f in figs]
        latency_data.append(_band(runs, est, percent=False, name=f"p{q} 95 % interval"))
        latency_data[-1]["fillcolor"] = "rgba(47,111,223,0.12)" if q == 50 else \
            "rgba(208,59,59,0.12)"
        latency_data.append(_line(f"voice-to-voice p{q}", runs,
                                  [e and e.get("value") for e in est], links, color,
                                  percent=False,
                                  extra=[f" (n={e['n']})" if e else "" for e in est]))
    flaky = [(f.get("suite") or {}).get("flaky_scenarios") or [] for f in figs]
    flaky_fig = {"data": [{
        "type": "bar", "name": "flaky scenarios", "x": [_when(r) for r in runs],
        "y": [len(x) for x in flaky], "customdata": links, "marker": {"color": _PALETTE[1]},
        "hovertext": [f"run {r.run_id}: " + (", ".join(x) or "none")
                      for r, x in zip(runs, flaky, strict=True)], "hoverinfo": "text"}],
        "layout": {**_layout("flaky scenarios", percent=False), "showlegend": False}}
    return {"fig-suite": pass_rate, "fig-scenarios": per("scenarios", "scenario"),
            "fig-kinds": per("kinds", "kind"),
            "fig-latency": {"data": latency_data, "layout": _layout("voice-to-voice (ms)",
                                                                    percent=False)},
            "fig-flaky": flaky_fig}


def _change_pair(store: HistoryStore, runs: list[RunInfo], gates: GateReport | None
                 ) -> tuple[RunInfo | None, RunInfo | None, str]:
    """The run to show and the one it is compared with: the newest run and the run before it,
    or, when gates were applied, the gated run and the baseline run the gates chose."""
    if gates is not None:
        by_id = {r.run_id: r for r in runs}
        current = by_id.get(gates.run_id) or store.find_run(gates.run_id)
        chosen = [r.baseline_id for r in gates.results if r.baseline_id]
        if not chosen:
            return None, current, "no baseline yet"
        base = by_id.get(chosen[0]) or store.find_run(chosen[0])
        how = f"the gates' baseline ({gates.baseline})"
        if len(set(chosen)) > 1:
            how += f"; for the first gate, {gates.results[0].gate.expression}"
        return base, current, how
    if len(runs) < 2:
        return None, runs[-1] if runs else None, ""
    return runs[-2], runs[-1], "the run before"


def _changes(store: HistoryStore, runs: list[RunInfo], gates: GateReport | None
             ) -> dict[str, Any]:
    """What changed in the newest (or gated) run since its baseline, scenario by scenario."""
    base, current, how = _change_pair(store, runs, gates)
    if base is None or current is None:
        return {"baseline": None, "run": None, "how": how, "rows": []}
    before, after = base.figures or {}, current.figures or {}
    old = {s["scenario"]: s for s in before.get("scenarios", [])}
    rows = []
    for s in after.get("scenarios", []):
        o = old.get(s["scenario"])
        a, b = (o or {}).get("pass_rate", {}).get("value"), s["pass_rate"]["value"]
        la = _estimate(o, "latency", "voice_to_voice_ms", "p50")
        lb = _estimate(s, "latency", "voice_to_voice_ms", "p50")
        rows.append({
            "scenario": s["scenario"],
            "before": "—" if a is None else f"{100 * a:.0f} % (n={o['n']})",  # type: ignore[index]
            "after": "—" if b is None else f"{100 * b:.0f} % (n={s['n']})",
            "delta": None if a is None or b is None else round(100 * (b - a)),
            "p50_before": _ms(la), "p50_after": _ms(lb),
            "flaky": s.get("flaky", False)})
    rows.sort(key=lambda r: (r["delta"] is None, r["delta"] or 0))
    return {"baseline": base.run_id, "run": current.run_id, "how": how, "rows": rows}


def _ms(est: dict[str, Any] | None) -> str:
    if not est or est.get("value") is None:
        return f"— (n={est['n']})" if est else "—"
    return f"{est['value']:,.0f} ms (n={est['n']})"


def gate_rows(report: GateReport) -> list[dict[str, Any]]:
    """The gates' table: what was checked, against which run, by how much, with what support."""
    rows = []
    for r in report.results:
        g, c = r.gate, r.comparison
        scale, unit = (100.0, " %") if g.rate else (1.0, " ms")

        def fmt(v: float | None, scale: float = scale, unit: str = unit) -> str:
            return "—" if v is None else f"{v * scale:,.1f}{unit}"
        change = ("—" if r.change is None else
                  f"{100 * r.change:+.1f} %" if g.relative else f"{r.change * scale:+,.1f}{unit}")
        interval = (f"[{c.interval.low * scale:+,.1f}, {c.interval.high * scale:+,.1f}]{unit}"
                    if c and c.interval else "—")
        held = r in report.regressions
        rows.append({
            "gate": g.expression, "baseline": r.baseline_id or "—",
            "baseline_value": fmt(r.baseline_value), "value": fmt(r.value), "change": change,
            "threshold": g.threshold_text(), "interval": interval,
            "n": f"{c.n_scenarios} scen., {c.n_pairs} pairs" if c else "—",
            "p": "—" if r.p_adjusted is None else f"{r.p_adjusted:.3g}",
            "verdict": ("REGRESSED" if held else
                        "regressed (not yet in a row)" if r.regressed else
                        r.note if not r.can_fire and r.note else
                        "beyond threshold, not supported" if r.exceeded else
                        r.note or "within threshold"),
            "regressed": held})
    return rows


def render_trend(store: HistoryStore, out_dir: str | Path, *, label: str | None = None,
                 last: int | None = 30, gates: GateReport | None = None) -> Path:
    """Write ``OUT_DIR/trend.html`` (with its assets) over the stored runs (with ``label``, the
    newest ``last``); returns its path."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = store.runs(label=label, last=last)
    copy_assets(out_dir)
    figures = trend_figures(runs, out_dir)
    html = _env().get_template("trend.html.j2").render(
        label=label, assets=ASSETS_DIR, store=safe_url(store.url),
        runs=[{"id": r.run_id, "when": _when(r), "link": _link(r, out_dir),
               "commit": (r.suite_commit or "")[:12], "faults": ", ".join(map(str, r.faults)),
               "trials": r.trial_count, "target": r.target or "",
               "pass_rate": _pct((r.figures or {}).get("suite", {}).get("pass_rate")),
               "flaky": len(((r.figures or {}).get("suite") or {}).get("flaky_scenarios") or [])}
              for r in reversed(runs)],
        changes=_changes(store, runs, gates), gates=gate_rows(gates) if gates else None,
        gate_baseline=gates.baseline if gates else None,
        figures={k: embed_json(v) for k, v in figures.items()})
    out = out_dir / TREND_FILE
    out.write_text(html, encoding="utf-8")
    return out


def _pct(est: dict[str, Any] | None) -> str:
    if not est or est.get("value") is None:
        return "—"
    band = f" [{100 * est['low']:.0f}, {100 * est['high']:.0f}]" if est.get("low") is not None \
        else ""
    return f"{100 * est['value']:.0f} %{band} (n={est['n']})"
