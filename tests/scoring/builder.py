"""Hand-built recordings for scorer tests, written frame by frame the way the runner writes them.

Annotation payloads are validated against the runner's annotation models, protocol events have
the GA shapes of the recorded cassettes, and audio payloads are AudioRefs into the tracks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from harness.recording import (
    AGENT_STREAM_WAV,
    ANNOTATIONS,
    EVENTS_FILE,
    META_FILE,
    WRITTEN_ONLY_IN,
    Frame,
    Recording,
    RecordingMeta,
)

RATE = 24_000

SUPPORT_TOOLS: list[dict[str, Any]] = [
    {"name": "lookup_order", "parameters": {"type": "object", "properties": {
        "order_id": {"type": "string"}}, "required": ["order_id"]}},
    {"name": "cancel_order", "write": True, "parameters": {"type": "object", "properties": {
        "order_id": {"type": "string"}, "reason": {"type": "string"}}, "required": ["order_id"]}},
    {"name": "update_email", "write": True, "parameters": {"type": "object", "properties": {
        "email": {"type": "string"}}, "required": ["email"]}},
    {"name": "escalate_to_human", "escalation": True, "parameters": {"type": "object",
                                                                     "properties": {}}},
    {"name": "wait_for_user", "wait": True, "parameters": {"type": "object", "properties": {}}},
]


@dataclass
class Spoken:
    """Handles of one response the builder wrote."""

    response_id: str
    item_id: str | None
    call_ids: list[str] = field(default_factory=list)
    play_start_ms: float | None = None
    audio_ms: float = 0.0


class CallBuilder:
    """Builds one call: caller turns, agent responses, tool answers; then a Recording."""

    def __init__(self, expect: list[Any] | None = None, tools: list[dict[str, Any]] | None = None,
                 status: str = "completed"):
        self._frames: list[tuple[float, int, str, str, dict[str, Any]]] = []
        self._order = 0
        self._ids = 0
        self._turns = 0
        self._agent_samples = 0
        self._agent_track: list[Any] = []
        self.expect = expect or [{"turn_answered": {}}]
        self.tools = SUPPORT_TOOLS if tools is None else tools
        self.status = status
        self.add(0.0, "received", "session.created", {"session": {"id": "sess_1"}})
        self.add(5.0, "sent", "session.update", {"session": {"type": "realtime"}})
        self.add(40.0, "received", "session.updated", {"session": {"id": "sess_1"}})
        self.annotate(50.0, "harness.stream.started", sample_rate=RATE, chunk_ms=20,
                      input_audio_format="audio/pcm")

    # ------------------------------------------------------------------ primitives
    def add(self, t_ms: float, dir_: str, type_: str, event: dict[str, Any]) -> None:
        self._order += 1
        body = dict(event)
        if dir_ != "harness":
            body.setdefault("type", type_)
        self._frames.append((t_ms, self._order, dir_, type_, body))

    def annotate(self, t_ms: float, type_: str, **payload: Any) -> None:
        model = ANNOTATIONS[type_]
        self.add(t_ms, "harness", type_, model.model_validate(payload).model_dump(mode="json"))

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}_{self._ids:03d}"

    # ------------------------------------------------------------------ caller
    def caller(self, start: float, text: str | None = None, *, kind: str = "say",
               duration: float | None = None, onset_delay: float = 20.0,
               pauses: list[tuple[float, float]] | None = None, cut_off: bool = False,
               spoken_text: str | None = None, entity: dict[str, str] | None = None,
               intent: str | None = None, trigger: str | None = None, vad: bool | None = None,
               vad_started_at: float | None = None, transcription: str | None = None,
               barge_in_at_agent_ms: int | None = None) -> int:
        """A caller turn starting at ``start``; speech lasts ``duration`` (default from words).
        Returns the turn's number (1 = the first turn), as the timeline and verdicts count.

        The server's VAD fires on speech turns (``vad`` false: it does not), on non-addressed
        audio only with ``vad=True``; ``vad_started_at`` delays its ``speech_started``."""
        index = self._turns
        self._turns += 1
        speech = kind in ("say", "audio")
        if duration is None:
            duration = 330.0 * max(1, len((spoken_text or text or "x").split())) if speech else 3000
        onset = start + onset_delay if speech else None
        end = onset + duration if speech and onset is not None else None
        turn_end = (end + 40.0) if end is not None else start + duration
        self.annotate(start, "harness.turn.started", turn_index=index, kind=kind, text=text,
                      spoken_text=spoken_text if spoken_text is not None else text,
                      addressed=speech, start_ms=start, end_ms=turn_end, speech_onset_ms=onset,
                      speech_end_ms=end, pauses_ms=pauses or [], cut_off=cut_off, entity=entity,
                      intent=intent,
                      trigger=trigger or ("first" if index == 0 else "after_agent"),
                      barge_in_at_agent_ms=barge_in_at_agent_ms)
        self.annotate(turn_end, "harness.turn.ended", turn_index=index)
        if vad if vad is not None else speech:
            item_id = self.new_id("item_in")
            heard_from = onset if onset is not None else start + 200.0
            heard_to = end if end is not None else turn_end
            started = vad_started_at if vad_started_at is not None else heard_from + 90.0
            self.add(started, "received", "input_audio_buffer.speech_started",
                     {"audio_start_ms": int(heard_from), "item_id": item_id})
            self.add(max(started, heard_to) + 550.0, "received",
                     "input_audio_buffer.speech_stopped",
                     {"audio_end_ms": int(heard_to), "item_id": item_id})
            self.add(max(started, heard_to) + 560.0, "received", "input_audio_buffer.committed",
                     {"item_id": item_id, "previous_item_id": None})
            if transcription is not None:
                self.add(end + 700.0, "received",
                         "conversation.item.input_audio_transcription.completed",
                         {"item_id": item_id, "content_index": 0, "transcript": transcription})
        return index + 1

    def speech_end(self, index: int) -> float:
        return self._turn_payload(index)["speech_end_ms"]

    def speech_onset(self, index: int) -> float:
        return self._turn_payload(index)["speech_onset_ms"]

    def _turn_payload(self, number: int) -> dict[str, Any]:
        return next(f[4] for f in self._frames
                    if f[3] == "harness.turn.started" and f[4]["turn_index"] == number - 1)

    # ------------------------------------------------------------------ agent
    def respond(self, created: float, say: str | None = None, *,
                call: tuple[str, dict[str, Any]] | None = None, first_audio_delay: float = 120.0,
                audio_ms: float | None = None, status: str = "completed",
                reason: str | None = None, done: float | None = None, transcript: bool = True,
                play: bool = True, play_start: float | None = None, audible_delay: float = 25.0,
                stop_at: float | None = None, stop_reason: str | None = None,
                response_id: str | None = None, samples: Any = None) -> Spoken:
        """One response: an optional spoken message, then an optional function call.

        ``samples`` (int16 at 24 kHz) are the message's real audio, written to the agent track;
        without them the track holds silence of ``audio_ms``."""
        rid = response_id or self.new_id("resp")
        self.add(created, "received", "response.created",
                 {"response": {"id": rid, "object": "realtime.response", "status": "in_progress",
                               "status_details": None, "output": []}})
        spoken = Spoken(response_id=rid, item_id=None)
        t = created + 5.0
        output: list[dict[str, Any]] = []
        index = 0
        if say is not None:
            item_id = self.new_id("item")
            spoken.item_id = item_id
            if samples is not None:
                audio_ms = 1000.0 * len(samples) / RATE
            if audio_ms is None:
                audio_ms = 320.0 * max(1, len(say.split()))
            spoken.audio_ms = audio_ms
            self.add(t, "received", "response.output_item.added",
                     {"response_id": rid, "output_index": index,
                      "item": {"id": item_id, "type": "message", "role": "assistant",
                               "status": "in_progress", "content": []}})
            first_audio = created + first_audio_delay
            if transcript:
                for n, word in enumerate(say.split(" ")):
                    self.add(first_audio - 2.0 + n * 0.5, "received",
                             "response.output_audio_transcript.delta",
                             {"response_id": rid, "item_id": item_id, "output_index": index,
                              "content_index": 0, "delta": (" " if n else "") + word})
            n_chunks = max(1, int(audio_ms // 100))
            per_chunk = int(RATE * audio_ms / 1000 / n_chunks)
            audio = (np.asarray(samples, dtype=np.int16) if samples is not None
                     else np.zeros(per_chunk * n_chunks, dtype=np.int16))
            self._agent_track.append(audio[: per_chunk * n_chunks])
            for k in range(n_chunks):
                self.add(first_audio + k * 10.0, "received", "response.output_audio.delta",
                         {"response_id": rid, "item_id": item_id, "output_index": index,
                          "content_index": 0,
                          "delta": {"audio_ref": {"track": "agent_stream",
                                                  "start_sample": self._agent_samples,
                                                  "samples": per_chunk, "sample_rate": RATE}}})
                self._agent_samples += per_chunk
            t = first_audio + n_chunks * 10.0
            self.add(t, "received", "response.output_audio.done",
                     {"response_id": rid, "item_id": item_id, "output_index": index,
                      "content_index": 0})
            if transcript:
                self.add(t + 0.5, "received", "response.output_audio_transcript.done",
                         {"response_id": rid, "item_id": item_id, "output_index": index,
                          "content_index": 0, "transcript": say})
            self.add(t + 1.0, "received", "response.output_item.done",
                     {"response_id": rid, "output_index": index,
                      "item": {"id": item_id, "type": "message", "role": "assistant",
                               "status": "completed",
                               "content": [{"type": "output_audio",
                                            "transcript": say if transcript else None}]}})
            output.append({"id": item_id, "type": "message", "status": "completed",
                           "content": [{"type": "output_audio",
                                        "transcript": say if transcript else None}]})
            index += 1
            t += 2.0
            if play:
                start = play_start if play_start is not None else first_audio
                spoken.play_start_ms = start
                self.annotate(start, "harness.playback.started", response_id=rid, item_id=item_id)
                self.annotate(start + audible_delay, "harness.playback.audible", response_id=rid,
                              item_id=item_id, onset_ms=start + audible_delay)
                end = stop_at if stop_at is not None else start + audio_ms
                played = end - start
                self.annotate(end, "harness.playback.stopped", response_id=rid, item_id=item_id,
                              reason=stop_reason or ("interrupted" if stop_at else "drained"),
                              played_ms=played, dropped_ms=audio_ms - played,
                              received_ms=audio_ms)
        if call is not None:
            name, args = call
            item_id = self.new_id("item")
            call_id = self.new_id("call")
            spoken.call_ids.append(call_id)
            raw = json.dumps(args)
            self.add(t, "received", "response.output_item.added",
                     {"response_id": rid, "output_index": index,
                      "item": {"id": item_id, "type": "function_call", "name": name,
                               "call_id": call_id, "arguments": "", "status": "in_progress"}})
            self.add(t + 1.0, "received", "response.function_call_arguments.delta",
                     {"response_id": rid, "item_id": item_id, "output_index": index,
                      "call_id": call_id, "delta": raw})
            self.add(t + 2.0, "received", "response.function_call_arguments.done",
                     {"response_id": rid, "item_id": item_id, "output_index": index,
                      "call_id": call_id, "name": name, "arguments": raw})
            self.add(t + 3.0, "received", "response.output_item.done",
                     {"response_id": rid, "output_index": index,
                      "item": {"id": item_id, "type": "function_call", "name": name,
                               "call_id": call_id, "arguments": raw, "status": "completed"}})
            output.append({"id": item_id, "type": "function_call", "name": name,
                           "call_id": call_id, "arguments": raw, "status": "completed"})
            t += 4.0
        if status is not None:
            details = {"type": status, "reason": reason} if reason else None
            self.add(done if done is not None else t, "received", "response.done",
                     {"response": {"id": rid, "status": status, "status_details": details,
                                   "output": output}})
        return spoken

    def call_time(self, spoken: Spoken) -> float:
        call_id = spoken.call_ids[0]
        return next(f[0] for f in self._frames if f[3] == "response.function_call_arguments.done"
                    and f[4]["call_id"] == call_id)

    def answer(self, spoken: Spoken, t_ms: float, output: Any = None, *, name: str | None = None,
               arguments: dict[str, Any] | None = None, follow_up: bool = True) -> None:
        """The runner answers the call: annotation, function_call_output, response.create."""
        call_id = spoken.call_ids[0]
        call_frame = next(f for f in self._frames
                          if f[3] == "response.function_call_arguments.done"
                          and f[4]["call_id"] == call_id)
        raw = call_frame[4]["arguments"]
        self.annotate(t_ms, "harness.tool.answered", call_id=call_id,
                      name=name or call_frame[4]["name"], arguments=arguments or json.loads(raw),
                      arguments_raw=raw, invented=False, output=output or {"ok": True},
                      latency_ms=int(t_ms - call_frame[0]), call_index=0)
        self.add(t_ms + 0.5, "sent", "conversation.item.create",
                 {"item": {"type": "function_call_output", "call_id": call_id,
                           "output": json.dumps(output or {"ok": True})}})
        if follow_up:
            self.add(t_ms + 1.0, "sent", "response.create", {})

    def truncate(self, t_ms: float, item_id: str | None, audio_end_ms: int) -> None:
        self.add(t_ms, "sent", "conversation.item.truncate",
                 {"item_id": item_id, "content_index": 0, "audio_end_ms": audio_end_ms})

    # ------------------------------------------------------------------ output
    def frames(self, *, ended: bool = True, heard: bool = False,
               written_only_in: str | None = None) -> list[Frame]:
        """The call's frames; ``heard``: the agent's transcripts are marked as a recogniser's
        (``source: asr``), as in a call rebuilt from its audio, and ``written_only_in`` names
        the one language that recogniser writes."""
        rows = sorted(self._frames)
        last = rows[-1][0] if rows else 0.0
        mark: dict[str, str] = {"source": "asr"} if heard else {}
        if heard and written_only_in:
            mark[WRITTEN_ONLY_IN] = written_only_in
        out = [Frame(seq=i, t_ms=t, dir=d, type=ty, event=ev,
                     **(mark if ty.endswith("audio_transcript.done") else {}))
               for i, (t, _, d, ty, ev) in enumerate(rows)]
        if ended:
            body = ANNOTATIONS["harness.trial.ended"].model_validate({"status": "completed"})
            out.append(Frame(seq=len(out), t_ms=last + 100.0, dir="harness",
                             type="harness.trial.ended", event=body.model_dump(mode="json")))
        return out

    def meta(self) -> RecordingMeta:
        return RecordingMeta(
            scenario="built-call", scenario_hash="0" * 16,
            agent_config={"name": "support", "tools": self.tools}, agent_config_hash="1" * 16,
            target="local", harness_version="0.1.0", started_at="2025-01-01T00:00:00Z",
            status=self.status, scenario_model={"name": "built-call", "expect": self.expect})

    def recording(self, *, ended: bool = True, heard: bool = False,
                  written_only_in: str | None = None) -> Recording:
        return Recording(None, self.meta(), self.frames(ended=ended, heard=heard,
                                                        written_only_in=written_only_in))

    def write(self, folder: Path, *, ended: bool = True) -> Recording:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / META_FILE).write_text(self.meta().model_dump_json(indent=1), encoding="utf-8")
        with open(folder / EVENTS_FILE, "w", encoding="utf-8") as fh:
            for f in self.frames(ended=ended):
                fh.write(f.model_dump_json() + "\n")
        track = (np.concatenate(self._agent_track) if self._agent_track
                 else np.zeros(0, dtype=np.int16))
        sf.write(folder / AGENT_STREAM_WAV, track, RATE, subtype="PCM_16")
        return Recording.load(folder)
