"""Plotly figure specs (plain dicts, drawn by plotly.js in the page) for the run and trial pages.

Figures are built as JSON-ready dicts rather than ``plotly.graph_objects`` because a run of a
thousand trials renders a thousand timelines and the validation of graph objects would dominate
the report's time; plotly.js validates the same spec in the browser.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness.report._trial import TrialOutcome
from harness.scoring.timeline import Timeline

ROWS = ["caller", "VAD", "agent", "tools", "verdicts"]
"""Timeline rows, bottom to top."""

COLORS = {
    "caller": "#2f6fdf", "pause": "#cfdcf5", "not_addressed": "#9a7fd1", "vad": "#7a8793",
    "played": "#1f9d55", "dropped": "#c9ced3", "tool": "#d9822b", "barge_in": "#d6336c",
    "pass": "#1f9d55", "fail": "#d03b3b", "error": "#8a4fff",
}


_DRAW_ORDER = {"pass": 1, "fail": 2, "error": 3}


def _s(ms: float) -> float:
    return round(ms / 1000.0, 3)


def _bars(name: str, row: str, spans: list[tuple[float, float, str]], color: str, *,
          width: float = 0.55, pattern: str | None = None) -> dict[str, Any]:
    """Horizontal bars on ``row`` for (start_ms, end_ms, hover) spans; clicking seeks to start."""
    marker: dict[str, Any] = {"color": color}
    if pattern:
        marker["pattern"] = {"shape": pattern, "fgcolor": "#8a949e"}
    return {
        "type": "bar", "orientation": "h", "name": name, "y": [row] * len(spans),
        "base": [_s(a) for a, _, _ in spans], "x": [max(_s(b - a), 0.005) for a, b, _ in spans],
        "width": width, "marker": marker, "hovertext": [h for _, _, h in spans],
        "hoverinfo": "text", "customdata": [[_s(a), -1] for a, _, _ in spans],
    }


def _short(text: str | None, n: int = 80) -> str:
    text = (text or "").strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def barge_ins(tl: Timeline) -> list[tuple[float, str]]:
    """Barge-in moments: caller turns that interrupt the agent, and interrupted playback."""
    out = [(t.speech_onset_ms if t.speech_onset_ms is not None else t.start_ms,
            f"caller barges in (turn {t.index})") for t in tl.turns if t.trigger == "barge_in"]
    out += [(p.stop_ms, f"agent playback stopped after {p.played_ms or 0:.0f} ms")
            for r in tl.responses for p in r.playbacks if p.interrupted and p.stop_ms is not None]
    return sorted(out)


def vad_spans(tl: Timeline) -> list[tuple[float, float | None]]:
    """Server VAD speech spans (started → stopped, arrival times); an open one ends as None."""
    spans: list[tuple[float, float | None]] = []
    open_at: float | None = None
    for v in tl.vad:
        if v.kind == "speech_started":
            open_at = v.t_ms if open_at is None else open_at
        else:
            spans.append((open_at if open_at is not None else v.t_ms, v.t_ms))
            open_at = None
    if open_at is not None:
        spans.append((open_at, None))
    return spans


def errors(tl: Timeline) -> list[tuple[float, str]]:
    """Protocol errors and the trial's own error, with their times."""
    out = [(t, msg) for t, _, msg in tl.errors]
    if tl.ended_error:
        out.append((tl.end_ms, tl.ended_error))
    return out


def timeline_figure(trial: TrialOutcome) -> dict[str, Any]:
    """The trial's timeline: caller speech and pauses, VAD, agent audio played vs dropped, tool
    calls with latency, barge-ins and verdict markers, plus a cursor line at ``shapes[0]``."""
    tl: Timeline = trial.timeline or Timeline()
    speech, pauses, other = [], [], []
    for t in tl.turns:
        if t.has_speech:
            cut = " (cut off)" if t.cut_off else ""
            said = f"turn {t.index}{cut}: {_short(t.spoken_text or t.text)}"
            speech += [(a, b, said) for a, b in t.speech_intervals]
            pauses += [(a, b, f"turn {t.index}: pause {b - a:.0f} ms") for a, b in t.pauses_ms]
        elif t.kind == "play" or not t.addressed:
            other.append((t.start_ms, t.end_ms,
                          f"turn {t.index}: audio not addressed to the agent"))
    played, dropped = [], []
    for r in tl.responses:
        say = _short(r.transcript) or r.response_id
        for p in r.playbacks:
            if p.start_ms is None:
                continue
            stop = p.stop_ms if p.stop_ms is not None else tl.end_ms
            length = p.played_ms if p.played_ms is not None else stop - p.start_ms
            played.append((p.start_ms, p.start_ms + length,
                           f"agent: {say} ({length:.0f} ms played)"))
            if p.dropped_ms:
                dropped.append((stop, stop + p.dropped_ms,
                                f"dropped: {p.dropped_ms:.0f} ms never played ({p.stop_reason})"))
    vad = [(a, b if b is not None else tl.end_ms,
            "VAD speech" + ("" if b is not None else " (never stopped)")) for a, b in vad_spans(tl)]
    calls = [c for c in tl.function_calls if c.answer is not None]
    tools = [(c.t_ms, c.answer.t_ms, f"{c.name}({_short(c.arguments_raw, 60)}) answered after "
              f"{c.answer.t_ms - c.t_ms:.0f} ms" + (" — invented tool" if c.answer.invented
                                                    else ""))
             for c in calls]
    unanswered = [(c.t_ms, tl.end_ms, f"{c.name}({_short(c.arguments_raw, 60)}) never answered")
                  for c in tl.function_calls if c.answer is None]
    bi = barge_ins(tl)
    data = [
        _bars("caller speech", "caller", speech, COLORS["caller"]),
        _bars("caller pause", "caller", pauses, COLORS["pause"], width=0.35),
        _bars("not addressed", "caller", other, COLORS["not_addressed"], width=0.35),
        _bars("VAD speech", "VAD", vad, COLORS["vad"], width=0.35),
        _bars("agent played", "agent", played, COLORS["played"]),
        _bars("agent dropped", "agent", dropped, COLORS["dropped"], pattern="/"),
        _bars("tool unanswered", "tools", unanswered, COLORS["dropped"], pattern="x"),
        _bars("tool call", "tools", tools, COLORS["tool"]),
    ]
    data[-1].update(text=[f"{c.name} {c.answer.t_ms - c.t_ms:.0f} ms" for c in calls],
                    textposition="outside", cliponaxis=False,
                    textfont={"color": "#7a4a12", "size": 11})
    data.append({
        "type": "scatter", "mode": "markers", "name": "barge-in",
        "x": [_s(t) for t, _ in bi], "y": ["agent"] * len(bi),
        "marker": {"symbol": "x-thin", "size": 14, "line": {"width": 3,
                                                          "color": COLORS["barge_in"]}},
        "hovertext": [h for _, h in bi], "hoverinfo": "text",
        "customdata": [[_s(t), -1] for t, _ in bi],
    })
    # Failing evidence is drawn last so it sits on top of passing marks at the same moment.
    points: list[tuple[int, float, str, str, int]] = []
    for i, v in enumerate(trial.verdicts):
        for e in v.evidence:
            if e.t_ms is not None:
                points.append((_DRAW_ORDER.get(v.status, 0), e.t_ms, v.status,
                               f"{v.kind} {v.status}: {_short(e.label, 70)}", i))
    points += [(3, t, "error", f"error: {_short(msg)}", -1) for t, msg in errors(tl)]
    points.sort(key=lambda p: p[0])
    data.append({
        "type": "scatter", "mode": "markers", "name": "verdict evidence",
        "x": [_s(p[1]) for p in points], "y": ["verdicts"] * len(points),
        "marker": {"symbol": "diamond", "color": [COLORS.get(p[2], "#555") for p in points],
                   "size": [14 if p[0] >= 2 else 10 for p in points],
                   "line": {"width": 1, "color": "#fff"}},
        "hovertext": [p[3] for p in points], "hoverinfo": "text",
        "customdata": [[_s(p[1]), p[4]] for p in points],
    })
    data = [d for d in data if d["x"]]
    end_s = max(_s(tl.end_ms), 1.0)
    layout = {
        "barmode": "overlay", "height": 300, "margin": {"l": 70, "r": 20, "t": 10, "b": 40},
        "xaxis": {"title": {"text": "session time (s)"}, "range": [0, end_s], "zeroline": False},
        "yaxis": {"type": "category", "categoryorder": "array", "categoryarray": ROWS,
                  "range": [-0.6, len(ROWS) - 0.4], "fixedrange": True},
        "showlegend": True, "legend": {"orientation": "h", "y": -0.25},
        "hovermode": "closest", "plot_bgcolor": "#fafbfc",
        "shapes": [{"type": "line", "x0": 0, "x1": 0, "yref": "paper", "y0": 0, "y1": 1,
                    "line": {"color": "#d6336c", "width": 1.5}, "opacity": 0.8}],
    }
    return {"data": data, "layout": layout}


def pass_rate_figure(trials: list[TrialOutcome]) -> dict[str, Any]:
    """Pass rate per expectation kind over every graded verdict of the run (not applicable ones
    are left out; the kinds table counts them)."""
    passed: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for t in trials:
        for v in t.verdicts:
            if v.status == "not_applicable":
                continue
            total[v.kind] += 1
            passed[v.kind] += v.status == "pass"
    kinds = sorted(total, key=lambda k: (passed[k] / total[k], k), reverse=True)
    rate = {k: round(100.0 * passed[k] / total[k], 1) for k in kinds}

    def bar(name: str, values: list[float], color: str) -> dict[str, Any]:
        return {"type": "bar", "orientation": "h", "name": name, "y": kinds, "x": values,
                "marker": {"color": color},
                "customdata": [f"{passed[k]}/{total[k]}" for k in kinds],
                "hovertemplate": "%{y}: %{x}% " + name + " (%{customdata} passed)<extra></extra>"}

    return {
        "data": [bar("passed", [rate[k] for k in kinds], COLORS["pass"]),
                 bar("not passed", [round(100.0 - rate[k], 1) for k in kinds], COLORS["fail"])],
        "layout": {"barmode": "stack", "height": max(160, 28 * len(kinds) + 60),
                   "showlegend": False, "margin": {"l": 190, "r": 20, "t": 10, "b": 40},
                   "xaxis": {"title": {"text": "pass rate (%)"}, "range": [0, 100]},
                   "yaxis": {"autorange": "reversed"}},
    }


def kind_pass_rates(trials: list[TrialOutcome]) -> list[dict[str, Any]]:
    """Rows for the per-kind table: kind, passed, failed, errors, not applicable (left out of
    the rate), rate."""
    rows: dict[str, dict[str, Any]] = {}
    for t in trials:
        for v in t.verdicts:
            r = rows.setdefault(v.kind, {"kind": v.kind, "pass": 0, "fail": 0, "error": 0,
                                         "not_applicable": 0})
            r[v.status] += 1
    out = []
    for r in sorted(rows.values(), key=lambda r: r["kind"]):
        graded = r["pass"] + r["fail"] + r["error"]
        r["rate"] = round(100.0 * r["pass"] / graded, 1) if graded else None
        out.append(r)
    return out


def latency_figure(trials: list[TrialOutcome]) -> dict[str, Any]:
    """Voice-to-voice latency distribution, one box per scenario (every answered turn)."""
    by_scenario: dict[str, list[float]] = defaultdict(list)
    for t in trials:
        by_scenario[t.scenario].extend(round(x) for x in t.voice_to_voice_ms)
    names = sorted(by_scenario)
    data = [{"type": "box", "name": n, "x": by_scenario[n], "boxpoints": "outliers",
             "marker": {"color": COLORS["caller"]}, "line": {"width": 1}} for n in names
            if by_scenario[n]]
    return {
        "data": data,
        "layout": {"height": max(200, 26 * len(data) + 80), "showlegend": False,
                   "margin": {"l": 250, "r": 20, "t": 10, "b": 40},
                   "xaxis": {"title": {"text": "voice-to-voice latency (ms)"},
                             "rangemode": "tozero"},
                   "yaxis": {"autorange": "reversed"}},
    }
