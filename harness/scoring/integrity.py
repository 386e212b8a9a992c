"""Call integrity: checks every trial gets without being asked, read from its recording.

Each check that finds something becomes a verdict of kind ``integrity.<check>`` with the frames
as evidence. Who is to blame decides the status:

- *failed* (``fail``: the agent misbehaved): ``server_error`` (an ``error`` event the target sent
  on its own), ``malformed_frame`` (a frame that is not JSON, or JSON that is not an event),
  ``undeclared_tool`` (a call to a tool the session did not declare), ``audio_without_response``
  (audio for a response the target never created) and ``time_limit`` (the agent kept the caller
  waiting until the scenario's ``max_duration_s`` ended the call before its script did);
- *errored* (``error``: the harness or the transport failed): ``client_event_refused`` (the target
  refused an event the harness sent: a harness bug or a target that speaks another protocol) and
  ``unanswered_tool_call`` (a tool call the harness never answered).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.recording import Frame, Recording
from harness.scenario.models import AgentConfig
from harness.scoring._text import excerpt
from harness.scoring.timeline import Timeline
from harness.scoring.verdict import Evidence, Status, Verdict

PREFIX = "integrity."

BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active"})
"""Refusals that are races of a live call, not faults: cancelling a response that finished while
the ``response.cancel`` was on its way."""

_SHOWN = 5
"""Findings spelled out in a summary; the rest are counted."""


def _frames(recording: Recording, type_: str, dir_: str = "received") -> list[Frame]:
    return [f for f in recording.frames if f.dir == dir_ and f.type == type_]


def _verdict(check: str, status: Status, what: str, found: list[tuple[str, Evidence]],
             measured: dict[str, Any] | None = None) -> Verdict:
    shown = "; ".join(text for text, _ in found[:_SHOWN])
    more = f" (and {len(found) - _SHOWN} more)" if len(found) > _SHOWN else ""
    return Verdict(kind=PREFIX + check, status=status, summary=f"{what}: {shown}{more}",
                   measured={"findings": len(found), **(measured or {})},
                   evidence=[ev for _, ev in found])


def _error_events(recording: Recording) -> tuple[list[tuple[str, Evidence]],
                                                 list[tuple[str, Evidence]]]:
    """(errors the target raised itself, refusals of events the harness sent)."""
    own: list[tuple[str, Evidence]] = []
    refused: list[tuple[str, Evidence]] = []
    for f in _frames(recording, "error"):
        err = f.event.get("error")
        err = err if isinstance(err, dict) else {"message": str(err)}
        code = err.get("code")
        if code in BENIGN_ERROR_CODES:
            continue
        message = str(err.get("message") or "no message")
        text = f"{err.get('type') or 'error'}{f' {code}' if code else ''} at {f.t_ms:,.0f} ms: " \
               f"{excerpt(message, 100)}"
        ev = Evidence(t_ms=f.t_ms, label=f"error event {code or err.get('type') or ''}".strip(),
                      event_seq=[f.seq], excerpt=excerpt(message, 200))
        (refused if err.get("type") == "invalid_request_error" else own).append((text, ev))
    return own, refused


def _malformed(recording: Recording) -> list[tuple[str, Evidence]]:
    out = []
    for f in recording.frames:
        if f.dir != "received":
            continue
        if f.type == "harness.invalid_frame":
            raw = str(f.event.get("text", ""))
            what = "a frame that is not JSON or not an event object"
        elif not f.type:
            raw = excerpt(str(f.event), 200)
            what = "an event without a type"
        else:
            continue
        out.append((f"{what} at {f.t_ms:,.0f} ms",
                    Evidence(t_ms=f.t_ms, label=what, event_seq=[f.seq],
                             excerpt=excerpt(raw, 200) or None)))
    return out


def _audio_without_response(recording: Recording) -> list[tuple[str, Evidence]]:
    created: set[str] = set()
    reported: set[str | None] = set()
    out = []
    for f in recording.frames:
        if f.dir != "received":
            continue
        if f.type == "response.created":
            rid = (f.event.get("response") or {}).get("id")
            if rid:
                created.add(rid)
        elif f.type == "response.output_audio.delta":
            rid = f.event.get("response_id")
            if rid in created or rid in reported:
                continue
            reported.add(rid)
            out.append((f"audio for response {rid or '(no id)'} at {f.t_ms:,.0f} ms, never "
                        "announced by response.created",
                        Evidence(t_ms=f.t_ms, label=f"audio of unknown response {rid or ''}",
                                 event_seq=[f.seq])))
    return out


def _undeclared(tl: Timeline, config: AgentConfig | None) -> list[tuple[str, Evidence]]:
    declared = {t.name for t in config.tools} if config is not None else None
    out = []
    for call in tl.function_calls:
        # Without the config, the runner's answer says whether the session declared the tool.
        if declared is not None and call.name in declared:
            continue
        if declared is None and (call.answer is None or not call.answer.invented):
            continue
        out.append((f"{call.name or '(no name)'} in turn {call.turn_index} at "
                    f"{call.t_ms:,.0f} ms is not a tool of the session",
                    Evidence(t_ms=call.t_ms, turn_index=call.turn_index, event_seq=[call.seq],
                             label=f"call to undeclared tool {call.name}",
                             excerpt=excerpt(call.arguments_raw, 200) or None)))
    return out


def _unanswered(tl: Timeline) -> list[tuple[str, Evidence]]:
    out = []
    unfinished = {r.response_id for r in tl.responses
                  if r.status in ("cancelled", "incomplete", "failed")}
    for call in tl.function_calls:
        if call.answer is not None or call.response_id in unfinished:
            continue
        out.append((f"{call.name} ({call.call_id}) at {call.t_ms:,.0f} ms got no output",
                    Evidence(t_ms=call.t_ms, turn_index=call.turn_index, event_seq=[call.seq],
                             label=f"tool call {call.name} never answered")))
    return out


def _time_limit(recording: Recording, tl: Timeline) -> list[tuple[str, Evidence]]:
    ended = _frames(recording, "harness.trial.ended", "harness")
    limit = ended[-1].event.get("time_limit_s") if ended else None
    if limit is None:
        return []
    scripted = len(recording.meta.scenario_model.get("turns") or [])
    played = {t.index for t in tl.turns}
    never = [n for n in range(1, scripted + 1) if n not in played]
    rest = (f"turn(s) {', '.join(map(str, never))} never played" if never
            else "every turn had started")
    return [(f"the caller was still waiting on the agent when the {limit:g} s limit ended the "
             f"call ({rest})",
             Evidence(t_ms=ended[-1].t_ms, label=f"time limit {limit:g} s",
                      event_seq=[ended[-1].seq]))]


def check_call_integrity(recording: Recording, timeline: Timeline,
                         agent_config: AgentConfig | None) -> list[Verdict]:
    """The integrity findings of one trial, one verdict per check that found something."""
    own, refused = _error_events(recording)
    cut_short = _time_limit(recording, timeline)
    checks: Iterable[tuple[str, Status, str, list[tuple[str, Evidence]]]] = (
        ("server_error", "fail", "the target sent error events during the call", own),
        ("malformed_frame", "fail", "the target sent malformed frames", _malformed(recording)),
        ("undeclared_tool", "fail", "the agent called tools the session did not declare",
         _undeclared(timeline, agent_config)),
        ("audio_without_response", "fail", "the target sent audio for responses it never "
         "created", _audio_without_response(recording)),
        ("time_limit", "fail", "the call did not end by itself", cut_short),
        ("client_event_refused", "error", "the target refused events the harness sent (a "
         "harness fault or a target speaking another protocol)", refused),
        # A call the time limit cut off before its mock answered is explained by that limit.
        ("unanswered_tool_call", "error", "the harness left tool calls without an output",
         [] if cut_short else _unanswered(timeline)),
    )
    return [_verdict(name, status, what, found) for name, status, what, found in checks if found]
