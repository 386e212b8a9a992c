"""Mutation runs shared by the end-to-end fault tables: one ``harness.api.run_async`` per fault,
concurrently, and the fault × expectation-kind table they print; and what a mute agent may pass,
shared by the mute-agent tests."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

from harness import api
from harness.recording import EVENTS_FILE, read_frames
from harness.report import RunOutcome

CALLS_PER_RUN = 2
"""Calls at once in each fault run unless a table says fewer: at most ``runs_at_once ×
calls_per_run`` calls at once. With 8 the recogniser fell behind on two cores; on a slower day
4 put order-status past its 2 s p50 (the suite's table runs one call a run)."""
FAULT_SCENARIOS = Path(__file__).resolve().parent / "fixtures" / "fault-scenarios"
"""Scenarios written for a fault's row, beside the example suite's (which the rows run first)."""
LONG_NOISE = {"talk_over_noise": {"long-hold-music": {"no_response"}}}
"""``talk_over_noise``'s row over every transport: one long stretch of hold music and a silence
after it. The example suite's stretches come 700 ms apart, and a reply the agent makes to one
is cut off by the next before a word of it plays when the agent answers late: with 1.2 s added
to its replies (``added_latency_ms``, as on a loaded machine) hold-music's row went unseen over
SIP, as it had once in a CI run; this one is seen with 4 s added over SIP and 1.5 s over
WebRTC. Over a WebSocket, a CI run on a slower two-core machine left hold-music's row unseen the
same way (the music's transcript 3.6 s after it stopped, the reply cancelled by the side talk);
over WebRTC the music's transcript came 7.5 s after it, when six seconds of silence had ended,
so the silence after the music is ten seconds."""
STAGGER_S = 2.0
"""Staggered starts: calls that start together end their turns together, and their
transcriptions would queue for the recogniser all at once."""


async def run_faults_async(scenarios: Path, mutations: dict[str, dict[str, set[str]]],
                           out: Path, *, runs_at_once: int, target: str = "local",
                           stagger_s: float = STAGGER_S,
                           calls_per_run: int = CALLS_PER_RUN) -> dict[str, RunOutcome]:
    """Each fault's scenarios (``mutations``: fault → scenario file stem → kinds) with that
    fault switched on, ``runs_at_once`` runs at a time of ``calls_per_run`` calls each against
    ``target`` (``local`` or ``local-webrtc``); fault → its outcome."""
    slots = asyncio.Semaphore(runs_at_once)

    async def run(index: int, fault: str, names: dict[str, set[str]]) -> RunOutcome:
        await asyncio.sleep(index * stagger_s)
        async with slots:
            return await api.run_async(
                [scenario_file(scenarios, name) for name in names], faults=[fault], target=target,
                concurrency=calls_per_run, out_dir=out / fault.split("=")[0])

    outcomes = await asyncio.gather(*(run(i, fault, names)
                                      for i, (fault, names) in enumerate(mutations.items())))
    return dict(zip(mutations, outcomes, strict=True))


def shares(mutations: dict[str, dict[str, set[str]]], n: int
           ) -> list[dict[str, dict[str, set[str]]]]:
    """A fault table's rows dealt into ``n`` shares (row i to share i mod n). A table's test
    class per share runs the shares at once, each in a worker process of its own (``--dist
    loadscope`` sends a class to one worker): a table of real-time calls takes a share of its
    time, and no process codes more calls than it did before."""
    rows = list(mutations.items())
    return [dict(rows[i::n]) for i in range(n)]


def scenario_file(scenarios: Path, name: str) -> Path:
    """``name``'s file: in ``scenarios``, else among :data:`FAULT_SCENARIOS`."""
    path = scenarios / f"{name}.yaml"
    return path if path.exists() else FAULT_SCENARIOS / f"{name}.yaml"


def run_faults(scenarios: Path, mutations: dict[str, dict[str, set[str]]], out: Path, *,
               runs_at_once: int, target: str = "local", stagger_s: float = STAGGER_S,
               calls_per_run: int = CALLS_PER_RUN) -> dict[str, RunOutcome]:
    """:func:`run_faults_async` for a test without an event loop."""
    return asyncio.run(run_faults_async(scenarios, mutations, out, runs_at_once=runs_at_once,
                                        target=target, stagger_s=stagger_s,
                                        calls_per_run=calls_per_run))


def kinds(outcome: RunOutcome, status: set[str]) -> dict[str, set[str]]:
    """Scenario → the expectation kinds whose verdicts have one of ``status``."""
    return {t.scenario: {v.kind for v in t.verdicts if v.status in status}
            for t in outcome.trials}


LATE_ANSWER_MS = 1500.0
"""An answer this late behind the agent's own pace waited for the CPU behind other calls: idle,
the local agent's transcripts come 0.01–0.5 s after its VAD stopped the turn and its first sound
follows the transcript by tens of ms. Twice in CI (the slow phase, other tests' calls beside the
fault table's) ``error_event``'s order-status had its two-breath turn's transcripts 1.7 and
2.6 s late, and a turn at 3,051 ms against the scenario's 3,000 ms limit."""

TRANSCRIPT = "conversation.item.input_audio_transcription.completed"


def late_answer_ms(trial: object, *, answer: bool = True) -> float:
    """The longest wait in a trial's recording that the agent's pace, not what it said, explains:
    from a caller turn's end to its transcript (the recogniser), plus, with ``answer``, from that
    transcript to the agent's next audible sound before the caller speaks again (its voice and the
    line). A turn's end is the agent VAD's ``speech_stopped``; a recording without it (a SIP call
    followed on its sideband, which carries the caller's transcripts but not ``speech_stopped``)
    counts from a caller turn's last chunk, less the silence the agent's VAD waits for before it
    ends a turn (``silence_duration_ms`` of the agent config's turn detection). Without
    ``answer`` only the recogniser counts: for a fault that delays the answer itself."""
    path = Path(trial.path)  # type: ignore[attr-defined]
    frames = list(read_frames(path / EVENTS_FILE))
    after, silence = "input_audio_buffer.speech_stopped", 0.0
    if not any(f.type == after for f in frames):
        config = json.loads((path / "meta.json").read_text()).get("agent_config") or {}
        after = "harness.turn.ended"
        silence = float((config.get("turn_detection") or {}).get("silence_duration_ms") or 0)
    since: float | None = None
    heard: float | None = None
    waited = worst = 0.0
    for frame in frames:
        if frame.type in (after, "harness.turn.started") and heard is not None:
            worst = max(worst, waited)  # the caller went on before the agent answered
            heard = None
        if frame.type == after:
            since = frame.t_ms
        elif frame.type == TRANSCRIPT and since is not None:
            waited, heard, since = max(0.0, frame.t_ms - since - silence), frame.t_ms, None
            if not answer:
                worst, heard = max(worst, waited), None
        elif frame.type == "harness.playback.audible" and heard is not None:
            worst = max(worst, waited + frame.t_ms - heard)
            heard = None
    return max(worst, waited) if heard is not None else worst


TIMED_KINDS = frozenset({"latency", "dead_air"})
"""What an agent queued behind other calls for the CPU fails by itself: how long the agent took to
answer (``latency``) and the silence the caller heard before it did (``dead_air``). In a CI run
on a slower two-core machine, the WebRTC table's ``skip_confirmation`` row failed
cancel-confirmed's ``dead_air`` (10.3 s) beside the ``confirmation_before_write`` it expects,
its number's transcript 7.8 s late."""


def latency_from_load(outcome: RunOutcome, expected: dict[str, set[str]]) -> dict[str, float]:
    """Scenario → its late answer (ms, :func:`late_answer_ms`), for each trial that failed a
    :data:`TIMED_KINDS` expectation the fault is not expected to fail, and whose recording shows
    the agent's recogniser, or its voice after it, was late (:data:`LATE_ANSWER_MS`): a load the
    fault did not cause. Where the row expects ``latency`` (the fault delays the answer), only
    the recogniser's lateness counts."""
    out = {}
    for t in outcome.trials:
        unexpected = {v.kind for v in t.verdicts if v.kind in TIMED_KINDS
                      and v.status == "fail"} - expected.get(t.scenario, set())
        if not unexpected:
            continue
        late = late_answer_ms(t, answer="latency" not in expected.get(t.scenario, set()))
        if late > LATE_ANSWER_MS:
            out[t.scenario] = late
    return out


def failed_beyond_load(outcome: RunOutcome, expected: dict[str, set[str]], *,
                       prefix: str = "") -> dict[str, set[str]]:
    """Scenario → the kinds its trial failed (or errored), without the :data:`TIMED_KINDS`
    failures :func:`latency_from_load` puts down to load, which are printed. ``expected``: the
    fault's row, keyed by scenario name without ``prefix`` (a domain's, as the clinic's
    ``clinic-``)."""
    failed = {k.removeprefix(prefix): v for k, v in kinds(outcome, {"fail", "error"}).items()}
    for scenario, late in latency_from_load(outcome, {prefix + k: v for k, v in expected.items()}
                                            ).items():
        name = scenario.removeprefix(prefix)
        dropped = (TIMED_KINDS - expected.get(name, set())) & failed[name]
        # the agent queued behind other calls on the machine: not the fault's doing
        print(f"{scenario}: {', '.join(sorted(dropped))} failed with an answer {late:,.0f} ms "
              "late behind the agent's recogniser and voice (load, not the fault)")
        failed[name] -= dropped
    return failed


def failures(outcome: RunOutcome) -> list[str]:
    """Each trial that did not pass, with its failing verdicts: for assertion messages."""
    return [f"{t.scenario}: {t.outcome} {t.error or ''}".strip() + "".join(
        f"\n    {v.kind}: {v.summary}" for v in t.failing) for t in outcome.trials
        if t.outcome != "passed"]


def table(results: dict[str, RunOutcome]) -> str:
    """Fault × expectation kind: how many graded expectations failed / how many there were."""
    all_kinds = sorted({v.kind for o in results.values() for t in o.trials for v in t.verdicts})
    rows = [["fault", *all_kinds]]
    for fault, outcome in results.items():
        failed: Counter[str] = Counter()
        graded: Counter[str] = Counter()
        for t in outcome.trials:
            for v in t.verdicts:
                graded[v.kind] += 1
                failed[v.kind] += v.status == "fail"
        rows.append([fault, *(f"{failed[k]}/{graded[k]}" if graded[k] else "·"
                              for k in all_kinds)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


SILENT_AGENT_MAY_PASS = {
    "no_tool_call": lambda p: True,
    "no_response": lambda p: True,
    "escalation": lambda p: p["mode"] == "forbidden",
    "transcript": lambda p: not p["must_say"],
    "input_heard": lambda p: True,
    "no_filler_on_noise": lambda p: True,
}
"""What an agent that never answers legitimately satisfies: prohibitions (no tool call, no
take-over, no filler on noise, no escalation, nothing forbidden said) and what the target heard.
Every other expectation needs the agent to act and must fail (docs/expectations.md lists these)."""
