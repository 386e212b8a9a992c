"""The sidecar of a production call: what a team knows about it besides its audio (versioned).

A sidecar is a JSON file beside the call's audio. Its own format (:class:`Sidecar`, version 1,
JSON Schema from ``harness schema --kind sidecar``) holds transcript segments, tool calls,
escalations and metadata, every time in milliseconds from the start of the recording. Two other
formats are read and converted on the way in:

- an OpenAI Realtime event log, as the harness's own ``events.jsonl`` (frames with ``t_ms``,
  ``dir`` and ``event``): the caller's turns, the agent's responses with their transcripts, and
  the tool calls with their results, read through the harness's timeline;
- a telephony platform's transcript of a dual-channel recording, as Deepgram writes it for
  ``multichannel=true`` (``results.utterances`` with ``channel``, ``start``, ``end`` and
  ``transcript`` in seconds, or ``results.channels[i].alternatives[0].words``): channel 0 is the
  caller (the left channel), channel 1 the agent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import InputError, InputErrors

SIDECAR_VERSION: Literal[1] = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Segment(_Strict):
    """What one party said, and when."""

    speaker: Literal["caller", "agent"]
    start_ms: float = Field(..., ge=0, description="from the start of the recording")
    end_ms: float = Field(..., ge=0, description="from the start of the recording")
    text: str
    intent: Literal["affirm", "deny", "correct", "other"] | None = Field(
        None, description="the caller's intent (confirmation checks read it); guessed from "
                          "the words when absent")


class ToolCall(_Strict):
    """One tool call the agent made."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = Field(None, description="what the tool returned")
    t_ms: float = Field(..., ge=0, description="when the agent called it")
    call_id: str | None = None


class Escalation(_Strict):
    """A hand-off to a human."""

    t_ms: float = Field(..., ge=0)
    reason: str | None = None
    tool: str | None = Field(None, description="the tool that made it, when one did")


class CallMetadata(_Strict):
    """Who and what the call was."""

    call_id: str | None = None
    started_at: str | None = Field(None, description="UTC ISO time the call started")
    agent_version: str | None = None
    labels: list[str] = Field(default_factory=list)


class Sidecar(_Strict):
    """A production call's sidecar (version 1). Lists left out are not known; an empty list is
    known to be empty (``tool_calls: []``: the agent called no tool)."""

    version: Literal[1] = SIDECAR_VERSION
    metadata: CallMetadata = Field(default_factory=CallMetadata)
    transcript: list[Segment] | None = None
    tool_calls: list[ToolCall] | None = None
    escalations: list[Escalation] | None = None
    source: str = Field("sidecar", description="the format it was read from")


def sidecar_schema_text() -> str:
    """The JSON Schema of the sidecar format (``harness schema --kind sidecar``)."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              **Sidecar.model_json_schema()}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_sidecar(path: Path) -> Sidecar:
    """A sidecar in any of the formats this module reads; located ``InputErrors`` otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read sidecar: {exc}", location=str(path)) from None
    if path.suffix == ".jsonl":
        return from_event_log(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"sidecar is not valid JSON: {exc.msg}",
                         location=f"{path}:{exc.lineno}:{exc.colno}") from None
    if isinstance(raw, dict) and "results" in raw and "version" not in raw:
        return from_deepgram(raw, path)
    try:
        return Sidecar.model_validate(raw)
    except ValidationError as exc:
        raise InputErrors([InputError(e["msg"], location=str(path), field=_field(e["loc"]))
                           for e in exc.errors()]) from None


def from_deepgram(raw: dict[str, Any], path: Path) -> Sidecar:
    """A Deepgram multichannel transcript: utterances (or each channel's words) as segments."""
    results = raw.get("results")
    speakers = {0: "caller", 1: "agent"}
    segments: list[Segment] = []
    try:
        if isinstance(results, dict) and isinstance(results.get("utterances"), list):
            for u in results["utterances"]:
                channel = int(u.get("channel", 0))
                if channel in speakers:
                    segments.append(Segment(speaker=speakers[channel],  # type: ignore[arg-type]
                                            start_ms=1000 * float(u["start"]),
                                            end_ms=1000 * float(u["end"]),
                                            text=str(u["transcript"])))
        elif isinstance(results, dict) and isinstance(results.get("channels"), list):
            for channel, ch in enumerate(results["channels"][:2]):
                words = ch["alternatives"][0]["words"]
                segments += _words_to_segments(words, speakers[channel])
        else:
            raise KeyError("utterances")
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"a Deepgram transcript needs results.utterances or "
                         f"results.channels[].alternatives[0].words ({exc})",
                         location=str(path), field="results") from None
    found = raw.get("metadata")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    segments.sort(key=lambda s: s.start_ms)
    return Sidecar(metadata=CallMetadata(call_id=meta.get("request_id"),
                                         started_at=meta.get("created")),
                   transcript=segments, source="deepgram")


def _words_to_segments(words: list[dict[str, Any]], speaker: str) -> list[Segment]:
    out: list[Segment] = []
    for w in words:
        start, end = 1000 * float(w["start"]), 1000 * float(w["end"])
        word = str(w.get("punctuated_word") or w["word"])
        if out and start - out[-1].end_ms < 1000:
            out[-1] = out[-1].model_copy(update={"end_ms": end, "text": f"{out[-1].text} {word}"})
        else:
            out.append(Segment(speaker=speaker, start_ms=start, end_ms=end,  # type: ignore[arg-type]
                               text=word))
    return out


def from_event_log(path: Path) -> Sidecar:
    """An OpenAI Realtime event log (the harness's ``events.jsonl``, or a folder's) as a sidecar:
    caller turns (the harness's annotations, else the server's VAD and input transcription),
    the agent's audible responses with their transcripts, and tool calls with their results."""
    from harness.recording import read_frames  # noqa: PLC0415
    from harness.scoring.timeline import build_timeline  # noqa: PLC0415

    frames = read_frames(path, skip_types=("input_audio_buffer.append",))
    if not frames:
        raise InputError("no events in the event log (expected one JSON frame a line with "
                         "t_ms, dir, type and event)", location=str(path))
    tl = build_timeline(frames)
    segments: list[Segment] = []
    for turn in tl.turns:
        text = turn.spoken_text or turn.text
        if turn.has_speech and text and turn.speech_onset_ms is not None:
            segments.append(Segment(speaker="caller", start_ms=turn.speech_onset_ms,
                                    end_ms=turn.speech_end_ms or turn.end_ms, text=text,
                                    intent=turn.intent))  # type: ignore[arg-type]
    if not tl.turns:
        stops = {v.item_id: v.t_ms for v in tl.vad if v.kind == "speech_stopped"}
        starts = {v.item_id: v.t_ms for v in tl.vad if v.kind == "speech_started"}
        for tr in tl.input_transcriptions:
            if tr.item_id in starts:
                segments.append(Segment(speaker="caller", start_ms=starts[tr.item_id],
                                        end_ms=stops.get(tr.item_id, tr.t_ms),
                                        text=tr.transcript))
    for u in tl.utterances():
        if u.transcript:
            start = u.audible_onset_ms if u.audible_onset_ms is not None else u.first_audio_ms
            end = u.audible_end_ms if u.audible_end_ms is not None else start
            segments.append(Segment(speaker="agent", start_ms=max(0.0, start),
                                    end_ms=max(start, end), text=u.transcript))
    calls = [ToolCall(name=c.name, arguments=c.arguments or {}, t_ms=c.t_ms, call_id=c.call_id,
                      result=c.answer.output if c.answer is not None else None)
             for c in tl.function_calls]
    segments.sort(key=lambda s: s.start_ms)
    return Sidecar(transcript=segments, tool_calls=calls, source="events.jsonl")


def check_against_audio(sidecar: Sidecar, duration_ms: float, location: str) -> None:
    """Refuse a sidecar whose times fall outside its audio (it belongs to another call)."""
    slack = 1000.0
    errors = []
    for i, seg in enumerate(sidecar.transcript or []):
        if seg.end_ms < seg.start_ms:
            errors.append(InputError(f"ends ({seg.end_ms:,.0f} ms) before it starts "
                                     f"({seg.start_ms:,.0f} ms)", location=location,
                                     field=f"transcript[{i}]"))
        elif seg.end_ms > duration_ms + slack:
            errors.append(InputError(
                f"ends at {seg.end_ms:,.0f} ms, after the end of the call's audio "
                f"({duration_ms:,.0f} ms): the sidecar does not match its audio",
                location=location, field=f"transcript[{i}].end_ms"))
    for i, call in enumerate(sidecar.tool_calls or []):
        if call.t_ms > duration_ms + slack:
            errors.append(InputError(
                f"at {call.t_ms:,.0f} ms, after the end of the call's audio "
                f"({duration_ms:,.0f} ms): the sidecar does not match its audio",
                location=location, field=f"tool_calls[{i}].t_ms"))
    if errors:
        raise InputErrors(errors)
