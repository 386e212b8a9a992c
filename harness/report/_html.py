"""HTML pages of a run: the index and one page per scenario trial, rendered with jinja2."""

from __future__ import annotations

import json
import re
import shutil
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from harness.recording import CALL_WAV, Recording
from harness.report._figures import (
    kind_pass_rates,
    latency_figure,
    pass_rate_figure,
    timeline_figure,
)
from harness.report._statistics import latency_text
from harness.report._trial import TrialOutcome

ASSETS_DIR = "assets"
PAGES_DIR = "pages"
INDEX_FILE = "index.html"
_OWN_ASSETS = ("report.css", "report.js")
CALL_WAV_START_MS = 0.0
"""Session time of ``call.wav``'s first sample: the runner writes both channels on the session
clock from 0 (the caller channel is offset by the stream start), so audio time is session time."""


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined)


def embed_json(value: Any) -> Markup:
    """Compact JSON safe inside ``<script type="application/json">``: every ``<`` (which only
    occurs inside JSON strings) is escaped, so no ``</script>`` or ``<!--`` can end the block."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return Markup(text.replace("<", "\\u003c"))


def copy_assets(run_dir: Path) -> Path:
    """Copy plotly.js (from the installed plotly package) and the report's CSS/JS into
    ``RUN_DIR/assets`` so the report works offline; plotly.js is copied once per run folder."""
    import plotly  # noqa: PLC0415  (only its bundled JS file is needed)

    dest = run_dir / ASSETS_DIR
    dest.mkdir(parents=True, exist_ok=True)
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    target = dest / "plotly.min.js"
    if not target.is_file() or target.stat().st_size != plotly_js.stat().st_size:
        shutil.copyfile(plotly_js, target)
    own = resources.files("harness.report") / "assets"
    for name in _OWN_ASSETS:
        (dest / name).write_bytes((own / name).read_bytes())
    return dest


def page_name(trial: TrialOutcome, taken: set[str]) -> str:
    """A file name for the trial's page, unique in the run."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", trial.label).strip("-.") or "trial"
    name, n = f"{base}.html", 1
    while name in taken:
        n += 1
        name = f"{base}-{n}.html"
    taken.add(name)
    return name


def _pretty(value: Any, indent: int | None = 1) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def _transcript(trial: TrialOutcome) -> list[dict[str, Any]]:
    """The conversation in time order: caller turns, agent responses and tool calls."""
    tl = trial.timeline
    entries: list[dict[str, Any]] = []
    if tl is None:
        return entries
    heard: dict[int, list[str]] = {}
    for tr in tl.input_transcriptions:
        if tr.turn_index is not None and tr.transcript.strip():
            heard.setdefault(tr.turn_index, []).append(tr.transcript.strip())
    for t in tl.turns:
        notes = []
        if t.kind == "silence":
            text = "(silence)"
        elif t.kind == "play" or not t.addressed:
            text = "(audio not addressed to the agent)"
        else:
            text = t.text or "(recorded audio)"
        if t.cut_off and t.spoken_text:
            notes.append(f"cut off: only “{t.spoken_text}” was said")
        if t.index in heard:
            notes.append("agent heard: “" + " ".join(heard[t.index]) + "”")
        if t.entity:
            notes.append("entity " + ", ".join(f"{k}={v}" for k, v in t.entity.items()))
        if t.intent:
            notes.append(f"intent {t.intent}")
        if t.trigger not in ("first", "after_agent"):
            notes.append(f"started by {t.trigger.replace('_', ' ')}")
        at = t.speech_onset_ms if t.speech_onset_ms is not None else t.start_ms
        entries.append({"t_ms": at, "who": "caller", "title": f"caller {t.index}",
                        "text": text, "notes": notes})
    for r in tl.responses:
        at = r.audible_onset_ms if r.audible_onset_ms is not None else r.playback_start_ms
        if at is None:
            if not r.transcript:
                continue
            at = r.created_ms
        notes = [f"played {r.played_ms:.0f} ms"
                 + (f", dropped {r.dropped_ms:.0f} ms" if r.dropped_ms else "")
                 + (" (interrupted)" if r.interrupted else "")]
        if r.status and r.status != "completed":
            notes.append(f"response {r.status}"
                         + (f" ({r.status_reason})" if r.status_reason else ""))
        entries.append({"t_ms": at, "who": "agent", "title": "agent",
                        "text": r.transcript or "(no transcript)", "notes": notes})
    for c in tl.function_calls:
        answer = (f"→ {_pretty(c.answer.output, None)} after {c.answer.t_ms - c.t_ms:.0f} ms"
                  if c.answer is not None else "never answered")
        entries.append({"t_ms": c.t_ms, "who": "tool", "title": "tool call",
                        "text": f"{c.name}({_pretty(c.arguments_raw, None)})", "notes": [answer]})
    entries.sort(key=lambda e: e["t_ms"])
    return entries


def render_trial_page(run_dir: Path, trial: TrialOutcome, page: str, run_id: str) -> Path:
    """Write ``RUN_DIR/pages/<page>`` for one trial (its timeline must be loaded)."""
    tl = trial.timeline
    audio = f"../{trial.rel_path}/{CALL_WAV}" if trial.has_audio else None
    tools = [{"name": c.name, "invented": bool(c.answer and c.answer.invented),
              "called_ms": c.t_ms, "arguments_json": _pretty(c.arguments_raw),
              "latency_ms": c.answer.t_ms - c.t_ms if c.answer else None,
              "output_json": _pretty(c.answer.output) if c.answer else "(never answered)"}
             for c in (tl.function_calls if tl else [])]
    html = _env().get_template("trial.html.j2").render(
        t=trial, meta=trial.meta, run_id=run_id, assets=f"../{ASSETS_DIR}",
        index=f"../{INDEX_FILE}", audio=audio,
        audio_offset=f"{CALL_WAV_START_MS / 1000:.3f}",
        description=(trial.meta.get("scenario_model") or {}).get("description"),
        transcript=_transcript(trial), tools=tools,
        # Failing verdicts first; ids keep the verdict's index, which the timeline refers to.
        verdicts=sorted(enumerate(trial.verdicts),
                        key=lambda iv: iv[1].status not in ("fail", "error")),
        fig_timeline=embed_json(timeline_figure(trial)), **_persona(trial))
    out = run_dir / PAGES_DIR / page
    out.write_text(html, encoding="utf-8")
    return out


def _persona(trial: TrialOutcome) -> dict[str, Any]:
    """A persona call's persona, its lines and how it ended, for the trial page."""
    persona = (trial.meta.get("scenario_model") or {}).get("persona")
    if not persona:
        return {"persona": None}
    recording = Recording.load(trial.path)
    lines = [line for _f, line in recording.annotations("harness.persona.line")]
    ended = [e for _f, e in recording.annotations("harness.persona.ended")]
    return {"persona": persona, "persona_lines": lines,
            "persona_ended": ended[0] if ended else None}


def _interval(est: dict[str, Any], *, percent: bool = False) -> str:
    """An estimate for a table cell: value, its interval, and n ("n too small" when the figure
    is not shown)."""
    if est.get("value") is None:
        return f"— (n={est['n']} too small)" if est.get("n") else "—"

    def f(x: float) -> str:
        return f"{100 * x:.0f} %" if percent else f"{x:,.0f} ms"
    band = (f" [{f(est['low'])}, {f(est['high'])}]" if est.get("low") is not None
            else f" [{est['note']}]" if est.get("note") else "")
    return f"{f(est['value'])}{band} (n={est['n']})"


def _caller_text(meta: dict[str, Any]) -> str:
    voice = meta.get("caller_voice") or {}
    return f"{voice.get('voice')} ({voice.get('engine')})" if voice else ""


def render_index(run_dir: Path, run: dict[str, Any], trials: list[TrialOutcome],
                 pages: list[str], totals: dict[str, Any], figures: dict[str, Any]) -> Path:
    """Write ``RUN_DIR/index.html``: totals, flakiness (repeated-trial figures), pass rate per
    kind, latency plot, trial table. ``figures`` is ``run_statistics`` of the trials."""
    machine = run.get("machine") or {}
    rows = [{"scenario": t.scenario, "scenario_file": t.scenario_file_display, "variant": t.variant,
             "trial": t.trial, "outcome": t.outcome, "error": t.error,
             "page": f"{PAGES_DIR}/{page}", "latency": latency_text(t.voice_to_voice_ms),
             "failing": t.failing, "caller": _caller_text(t.meta)}
            for t, page in zip(trials, pages, strict=True)]
    suite = figures["suite"]
    v2v = figures["latency"]["voice_to_voice_ms"]
    flakiness = {
        "k": suite["k"], "flaky": suite["flaky_scenarios"],
        "pass_rate": _interval(suite["pass_rate"], percent=True),
        "pass_at_k": _interval(suite["pass_at_k"], percent=True),
        "pass_hat_k": _interval(suite["pass_hat_k"], percent=True),
        "latency": {f"p{q}": _interval(v2v[f"p{q}"]) for q in (50, 90, 95)},
        "scenarios": [{
            "scenario": s["scenario"], "trials": s["trials"], "errored": s["errored"],
            "passed": s["passed"], "n": s["n"], "flaky": s["flaky"],
            "pass_rate": _interval(s["pass_rate"], percent=True),
            "pass_at_k": "—" if s["pass_at_k"] is None else f"{100 * s['pass_at_k']:.0f} %",
            "pass_hat_k": "—" if s["pass_hat_k"] is None else f"{100 * s['pass_hat_k']:.0f} %",
            **{f"p{q}": _interval(s["latency"]["voice_to_voice_ms"][f"p{q}"])
               for q in (50, 90, 95)}} for s in figures["scenarios"]],
        "kinds": [{"kind": k["kind"], "n": k["n"], "passed": k["passed"],
                   "pass_rate": _interval(k["pass_rate"], percent=True),
                   "pass_at_k": _interval(k["pass_at_k"], percent=True),
                   "pass_hat_k": _interval(k["pass_hat_k"], percent=True),
                   "flaky": k["flaky_scenarios"]} for k in figures["kinds"]],
    }
    rate = totals["pass_rate"]
    html = _env().get_template("index.html.j2").render(
        run={"run_id": run.get("run_id", run_dir.name), "target": run.get("target", "?"),
             "started_at": run.get("started_at", "?"), "finished_at": run.get("finished_at"),
             "harness_version": run.get("harness_version", "?")},
        machine=", ".join(f"{k} {v}" for k, v in machine.items() if isinstance(v, str | int))[:160],
        totals={**totals, "pass_rate_text": f"{rate:.0%}" if rate is not None else "—"},
        latency={"n": v2v["n"], "p50_text": _interval(v2v["p50"]).split(" (")[0]},
        flakiness=flakiness,
        kinds=kind_pass_rates(trials), trials=rows, assets=ASSETS_DIR,
        variants=any(t.variant for t in trials),
        callers=len({r["caller"] for r in rows}) > 1,
        fig_pass_rate=embed_json(pass_rate_figure(trials)),
        fig_latency=embed_json(latency_figure(trials)))
    out = run_dir / INDEX_FILE
    out.write_text(html, encoding="utf-8")
    return out
