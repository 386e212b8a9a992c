"""A load test's figures per concurrency level, read from its recordings: JSON and an HTML page.

Per level: the target's voice-to-voice and first-audio latency percentiles (pooled over the
answered turns; intervals resample whole calls, so one long call cannot fake precision), the share
of turns answered and of calls errored (Wilson intervals), and, beside them, the harness's own
pacing jitter (chunk sent − scheduled) over the calls of that level. Latency is measured from the
scheduled send time of the caller's last speech chunk, so a late chunk is measurement error: when
the jitter p99 of a level passes the limit, that level's latencies are marked untrustworthy — the
harness was overloaded, which says nothing about the agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from harness.errors import HarnessError
from harness.load.driver import Call
from harness.load.ramp import Level
from harness.recording import Recording
from harness.scoring.scorers._common import answerable_turns, turn_answer
from harness.scoring.timeline import build_timeline
from harness.stats import cluster_percentile, percentile, wilson

LOAD_SCHEMA_VERSION = 1
DEFAULT_JITTER_LIMIT_MS = 5.0
"""Pacing jitter p99 above which a level's latencies are not trusted."""
QUANTILES = (50, 90, 95, 99)
_APPEND = "input_audio_buffer.append"


@dataclass
class CallFigures:
    """What one call's recording says: latencies per answered turn, answered turns, jitter."""

    voice_to_voice_ms: list[float] = field(default_factory=list)
    first_audio_ms: list[float] = field(default_factory=list)
    turns: int = 0
    answered: int = 0
    jitter_ms: list[float] = field(default_factory=list)


def call_figures(folder: Path) -> CallFigures:
    """The figures of one call (an unreadable recording gives none)."""
    out = CallFigures()
    try:
        rec = Recording.load(folder)
    except HarnessError:
        return out
    out.jitter_ms = [f.t_ms - f.model_extra["scheduled_ms"] for f in rec.events(_APPEND)
                     if f.model_extra and "scheduled_ms" in f.model_extra]
    if rec.meta.status != "completed":
        return out
    timeline = build_timeline(rec)
    for turn in answerable_turns(timeline):
        answer = turn_answer(timeline, turn)
        out.turns += 1
        if answer.audible_onset_ms is not None:
            out.answered += 1
        if answer.voice_to_voice_ms is not None and not answer.talked_over:
            out.voice_to_voice_ms.append(answer.voice_to_voice_ms)
        if answer.first_audio_latency_ms is not None and not answer.talked_over:
            out.first_audio_ms.append(answer.first_audio_latency_ms)
    return out


def _percentiles(clusters: list[list[float]]) -> dict[str, dict[str, Any]]:
    return {f"p{q}": cluster_percentile(clusters, q).to_json() for q in QUANTILES}


def level_figures(level: Level, index: int, calls: list[Call], figures: dict[int, CallFigures],
                  jitter_limit_ms: float) -> dict[str, Any]:
    """One level's entry of ``load.json``."""
    mine = [c for c in calls if c.level == index]
    figs = [figures[c.index] for c in mine]
    jitter = [v for f in figs for v in f.jitter_ms]
    p99 = percentile(jitter, 99)
    errored = sum(c.status != "completed" for c in mine)
    turns = sum(f.turns for f in figs)
    trusted = p99.value is not None and p99.value <= jitter_limit_ms
    if p99.value is None:
        note = f"too few caller chunks ({len(jitter)}) to know the harness's own jitter"
    elif not trusted:
        note = (f"the harness's pacing jitter p99 was {p99.value:.1f} ms (limit "
                f"{jitter_limit_ms:g} ms): the harness was overloaded at this level, so its "
                "latency figures are not trustworthy; they say nothing about the agent")
    else:
        note = None
    return {
        "concurrency": level.concurrency, "hold_s": level.hold_s, "calls": len(mine),
        "errored": errored, "error_rate": wilson(errored, len(mine)).to_json(),
        "turns": turns, "answered_rate": wilson(sum(f.answered for f in figs), turns).to_json(),
        "voice_to_voice_ms": _percentiles([f.voice_to_voice_ms for f in figs]),
        "first_audio_ms": _percentiles([f.first_audio_ms for f in figs]),
        "jitter_ms": {"p50": percentile(jitter, 50).to_json(), "p99": p99.to_json(),
                      "max": max(jitter, default=None), "n": len(jitter)},
        "trustworthy": trusted, "note": note,
    }


def build_report(levels: list[Level], calls: list[Call], folder: Path, *,
                 jitter_limit_ms: float = DEFAULT_JITTER_LIMIT_MS) -> list[dict[str, Any]]:
    """Every level's figures, from the calls' recordings under ``folder``."""
    figures = {c.index: call_figures(folder / c.path) for c in calls}
    return [level_figures(level, i, calls, figures, jitter_limit_ms)
            for i, level in enumerate(levels)]


# --------------------------------------------------------------------------- the page

_env = jinja2.Environment(loader=jinja2.PackageLoader("harness.load", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]))

PLOT_W, PLOT_H, PAD = 640, 320, 56


def _value(est: dict[str, Any]) -> float | None:
    return est["value"]


def curve(levels: list[dict[str, Any]]) -> dict[str, Any]:
    """Screen coordinates of the latency-vs-concurrency curve (voice-to-voice p50 and p95)."""
    xs = [lv["concurrency"] for lv in levels]
    ys = [v for lv in levels for key in ("p50", "p95")
          for est in (lv["voice_to_voice_ms"][key],)
          for v in (_value(est), *((est["interval"] or {}).get(b) for b in ("low", "high")))
          if v is not None]
    x_lo, x_hi = min(xs, default=0), max(xs, default=1)
    y_hi = max(ys, default=1.0) * 1.1 or 1.0
    x_span = (x_hi - x_lo) or 1

    def sx(x: float) -> float:
        return round(PAD + (x - x_lo) / x_span * (PLOT_W - 2 * PAD), 1)

    def sy(y: float) -> float:
        return round(PLOT_H - PAD - y / y_hi * (PLOT_H - 2 * PAD), 1)

    series = {}
    for key in ("p50", "p95"):
        points = []
        for lv in levels:
            est = lv["voice_to_voice_ms"][key]
            if est["value"] is None:
                continue
            ci = est["interval"]
            points.append({"x": sx(lv["concurrency"]), "y": sy(est["value"]),
                           "concurrency": lv["concurrency"], "ms": round(est["value"], 1),
                           "low": sy(ci["low"]) if ci else None,
                           "high": sy(ci["high"]) if ci else None,
                           "trustworthy": lv["trustworthy"]})
        series[key] = points
    ticks_y = [round(y_hi * i / 4) for i in range(5)]
    return {"w": PLOT_W, "h": PLOT_H, "pad": PAD, "series": series,
            "ticks_x": [{"x": sx(x), "label": x} for x in xs],
            "ticks_y": [{"y": sy(y), "label": y} for y in ticks_y]}


def render_page(data: dict[str, Any]) -> str:
    """The HTML page of a load test (self-contained: inline SVG, no scripts)."""
    return _env.get_template("load.html.j2").render(data=data, curve=curve(data["levels"]))
