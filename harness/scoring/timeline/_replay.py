"""Builds a call's Timeline by replaying its recorded frames through the Realtime protocol."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from harness.realtime.protocol import (
    AudioDelta,
    FunctionCallReady,
    IdleTimeout,
    InputCommitted,
    InputTranscriptDelta,
    InputTranscriptDone,
    Notice,
    OutputItemAdded,
    OutputItemDone,
    RealtimeProtocol,
    ResponseCreated,
    ResponseDone,
    ServerError,
    SpeechStarted,
    SpeechStopped,
    TranscriptDelta,
    TranscriptDone,
)
from harness.recording import WRITTEN_ONLY_IN, Frame, Recording
from harness.scoring.timeline._model import (
    CallerTurn,
    Cancel,
    FunctionCall,
    InputTranscription,
    OutputItem,
    Playback,
    Response,
    Timeline,
    ToolAnswer,
    Truncate,
    VadEvent,
)


def _parse_arguments(raw: Any) -> tuple[dict[str, Any] | None, str]:
    if isinstance(raw, dict):
        return raw, json.dumps(raw, sort_keys=True)
    text = raw if isinstance(raw, str) else ""
    try:
        parsed = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return None, text
    return (parsed if isinstance(parsed, dict) else None), text


class _Builder:
    """One pass over the frames; keeps lookup tables the finished Timeline does not need."""

    def __init__(self) -> None:
        self.tl = Timeline()
        self.responses: dict[str, Response] = {}
        self.items: dict[str, OutputItem] = {}
        self.calls: dict[str, FunctionCall] = {}
        self.answers: dict[str, ToolAnswer] = {}
        self.transcriptions: dict[str, InputTranscription] = {}
        self.transcription_deltas: dict[str, list[str]] = {}
        self.input_item_time: dict[str, float] = {}
        self.output_call_ids: list[str] = []
        self.pending_follow_up: str | None = None
        self.last_input_ms: float | None = None
        # Recorded events are already in GA names: the protocol replays them as received.
        self.protocol = RealtimeProtocol("ga")

    # ------------------------------------------------------------------ responses and items
    def response(self, response_id: str | None, frame: Frame) -> Response | None:
        if not response_id:
            return None
        r = self.responses.get(response_id)
        if r is None:
            # A response whose ``response.created`` was not captured (late join or reordering).
            r = Response(response_id=response_id, created_ms=frame.t_ms, created_seq=frame.seq)
            self.responses[response_id] = r
            self.tl.responses.append(r)
        return r

    def item(self, item_id: str | None, response_id: str | None, type_: str,
             frame: Frame, output_index: int | None = None) -> OutputItem | None:
        if not item_id:
            return None
        item = self.items.get(item_id)
        if item is None:
            item = OutputItem(item_id=item_id, response_id=response_id or "", type=type_,
                              added_ms=frame.t_ms, added_seq=frame.seq, output_index=output_index)
            self.items[item_id] = item
            r = self.response(response_id, frame)
            if r is not None:
                r.items.append(item)
        return item

    def call(self, call_id: str | None, name: str | None, raw_args: Any, response_id: str | None,
             item_id: str | None, frame: Frame) -> None:
        if not call_id or call_id in self.calls:
            return
        arguments, raw = _parse_arguments(raw_args)
        fc = FunctionCall(call_id=call_id, name=name or "", arguments=arguments, arguments_raw=raw,
                          response_id=response_id, item_id=item_id, t_ms=frame.t_ms, seq=frame.seq)
        self.calls[call_id] = fc
        self.tl.function_calls.append(fc)
        r = self.response(response_id, frame)
        if r is not None:
            r.function_calls.append(fc)

    # ------------------------------------------------------------------ frames
    def received(self, f: Frame) -> None:
        for notice in self.protocol.receive_event(f.event, f.t_ms).notices:
            handler = _NOTICE_HANDLERS.get(type(notice))
            if handler is not None:
                handler(self, notice, f)
        if f.type == "conversation.item.truncated":
            self.tl.truncates.append(Truncate(f.t_ms, f.seq, f.event.get("item_id"),
                                              f.event.get("audio_end_ms"), by="server"))

    def _response_created(self, n: ResponseCreated, f: Frame) -> None:
        r = self.response(n.response_id, f)
        if r is not None and n.announced:
            r.input_anchor_ms = self.last_input_ms
            if self.pending_follow_up is not None:
                r.follow_up_of = self.pending_follow_up
                self.pending_follow_up = None

    def _response_done(self, n: ResponseDone, f: Frame) -> None:
        r = self.response(n.response_id, f)
        if r is None:
            return
        r.done_ms, r.done_seq = f.t_ms, f.seq
        r.status, r.status_reason = n.status, n.reason
        for item_id, transcript in n.messages:
            item = self.item(item_id, r.response_id, "message", f)
            if item is not None and item.transcript_final is None and transcript:
                item.transcript_final = transcript

    def _output_item(self, n: OutputItemAdded | OutputItemDone, f: Frame) -> None:
        item = self.item(n.item_id, n.response_id, n.item_type, f, n.output_index)
        if isinstance(n, OutputItemDone) and item is not None:
            item.done_ms, item.status = f.t_ms, n.status

    def _function_call(self, n: FunctionCallReady, f: Frame) -> None:
        c = n.call
        self.item(c.item_id, c.response_id, "function_call", f)
        self.call(c.call_id, c.name, c.arguments_raw, c.response_id, c.item_id, f)

    def _audio(self, n: AudioDelta, f: Frame) -> None:
        item = self.item(n.item_id, n.response_id, "message", f)
        if item is None:
            return
        if item.first_audio_ms is None:
            item.first_audio_ms, item.first_audio_seq = f.t_ms, f.seq
        ref = n.audio_ref
        if ref is not None and ref.get("sample_rate"):
            item.audio_received_ms += 1000.0 * ref.get("samples", 0) / ref["sample_rate"]
            item.audio_chunks.append(ref)

    def _transcript_delta(self, n: TranscriptDelta, f: Frame) -> None:
        item = self.item(n.item_id, n.response_id, "message", f)
        if item is None:
            return
        if n.spoken:
            item.transcript_deltas.append(n.text)
            item.transcript_seqs.append(f.seq)
        else:
            item.text_deltas.append(n.text)

    def _transcript_done(self, n: TranscriptDone, f: Frame) -> None:
        item = self.item(n.item_id, n.response_id, "message", f)
        if item is None:
            return
        if n.spoken:
            item.transcript_final = n.text
            item.transcript_seqs.append(f.seq)
            extra = f.model_extra or {}
            item.transcript_heard = extra.get("source") == "asr"
            item.transcript_written_only_in = extra.get(WRITTEN_ONLY_IN)
        else:
            item.text_final = n.text

    def _speech(self, n: SpeechStarted | SpeechStopped, f: Frame) -> None:
        if isinstance(n, SpeechStarted):
            self.tl.vad.append(VadEvent("speech_started", f.t_ms, f.seq, n.item_id,
                                        n.audio_start_ms))
            self.last_input_ms = f.t_ms
            if n.item_id:
                self.input_item_time.setdefault(n.item_id, f.t_ms)
        else:
            self.tl.vad.append(VadEvent("speech_stopped", f.t_ms, f.seq, n.item_id,
                                        n.audio_end_ms))

    def _idle_timeout(self, n: IdleTimeout, f: Frame) -> None:
        self.last_input_ms = f.t_ms

    def _committed(self, n: InputCommitted, f: Frame) -> None:
        if n.item_id:
            self.input_item_time.setdefault(n.item_id, f.t_ms)

    def _input_transcript_delta(self, n: InputTranscriptDelta, f: Frame) -> None:
        self.transcription_deltas.setdefault(n.item_id or "", []).append(n.text)

    def _input_transcript_done(self, n: InputTranscriptDone, f: Frame) -> None:
        item_id = n.item_id or ""
        tr = InputTranscription(item_id=item_id, t_ms=f.t_ms, seq=f.seq, transcript=n.transcript)
        self.transcriptions[item_id] = tr
        self.tl.input_transcriptions.append(tr)

    def _error(self, n: ServerError, f: Frame) -> None:
        self.tl.errors.append((f.t_ms, f.seq, n.message))

    def sent(self, f: Frame) -> None:
        ev = f.event
        if f.type == "conversation.item.truncate":
            self.tl.truncates.append(Truncate(f.t_ms, f.seq, ev.get("item_id"),
                                              ev.get("audio_end_ms")))
        elif f.type == "response.cancel":
            self.tl.cancels.append(Cancel(f.t_ms, f.seq, ev.get("response_id")))
        elif f.type == "conversation.item.create":
            item = ev.get("item") or {}
            if item.get("type") == "function_call_output" and item.get("call_id"):
                self.output_call_ids.append(item["call_id"])
        elif f.type == "input_audio_buffer.commit":
            self.last_input_ms = f.t_ms
        elif f.type == "response.create" and self.output_call_ids:
            self.pending_follow_up = self.output_call_ids[-1]
            self.output_call_ids.clear()

    def playback(self, f: Frame) -> None:
        ev = f.event
        rid = ev.get("response_id")
        r = self.response(rid, f)
        if r is None:
            return
        item_id = ev.get("item_id")
        kind = f.type.rsplit(".", 1)[1]
        pb = None
        if kind != "started":
            # The open playback of this response (and item, when both name one).
            for cand in reversed(r.playbacks):
                if item_id and cand.item_id and cand.item_id != item_id:
                    continue
                if kind == "audible" and cand.audible_onset_ms is not None:
                    continue
                if kind == "stopped" and cand.stop_ms is not None:
                    continue
                pb = cand
                break
        if pb is None:
            pb = Playback(response_id=r.response_id, item_id=item_id)
            r.playbacks.append(pb)
            item = self.items.get(item_id) if item_id else None
            if item is not None:
                item.playbacks.append(pb)
        if pb.item_id is None and item_id:
            pb.item_id = item_id
            item = self.items.get(item_id)
            if item is not None and pb not in item.playbacks:
                item.playbacks.append(pb)
        if kind == "started":
            pb.start_ms, pb.start_seq = f.t_ms, f.seq
        elif kind == "audible":
            pb.audible_onset_ms = float(ev.get("onset_ms", f.t_ms))
            pb.audible_seq = f.seq
        elif kind == "stopped":
            pb.stop_ms, pb.stop_seq = f.t_ms, f.seq
            pb.stop_reason = ev.get("reason")
            pb.played_ms = ev.get("played_ms")
            pb.dropped_ms = ev.get("dropped_ms")
            pb.received_ms = ev.get("received_ms")

    def harness(self, f: Frame) -> None:
        ev = f.event
        t = f.type
        if t == "harness.turn.started":
            # Outputs sent before a new caller turn are not what a later response.create follows.
            self.output_call_ids.clear()
            self.tl.turns.append(CallerTurn(
                index=int(ev["turn_index"]) + 1, kind=ev.get("kind", "say"), text=ev.get("text"),
                spoken_text=ev.get("spoken_text"), addressed=bool(ev.get("addressed", True)),
                start_ms=float(ev.get("start_ms", f.t_ms)),
                scheduled_end_ms=float(ev.get("end_ms", f.t_ms)),
                speech_onset_ms=ev.get("speech_onset_ms"), speech_end_ms=ev.get("speech_end_ms"),
                pauses_ms=[(float(a), float(b)) for a, b in ev.get("pauses_ms") or []],
                cut_off=bool(ev.get("cut_off", False)), entity=ev.get("entity"),
                intent=ev.get("intent"), trigger=ev.get("trigger", "first"),
                barge_in_at_agent_ms=ev.get("barge_in_at_agent_ms"), seq=f.seq))
        elif t == "harness.turn.speech_sent":
            # when the chunk holding the speech onset / end actually went out (late, if the
            # harness was): what the agent could hear, so what its latencies count from
            turn = self.tl.turn(int(ev.get("turn_index", -2)) + 1)
            if turn is not None:
                if ev.get("edge") == "end" and turn.speech_end_ms is not None:
                    turn.speech_end_ms = f.t_ms
                elif ev.get("edge") == "onset" and turn.speech_onset_ms is not None:
                    turn.speech_onset_ms = f.t_ms
        elif t == "harness.turn.ended":
            turn = self.tl.turn(int(ev.get("turn_index", -2)) + 1)
            if turn is not None:
                turn.sent_end_ms, turn.ended_seq = f.t_ms, f.seq
        elif t.startswith("harness.playback."):
            self.playback(f)
        elif t == "harness.tool.answered":
            self.answers[ev.get("call_id", "")] = ToolAnswer(
                t_ms=f.t_ms, seq=f.seq, output=ev.get("output"),
                latency_ms=int(ev.get("latency_ms", 0)), invented=bool(ev.get("invented", False)),
                call_index=int(ev.get("call_index", 0)))
            if ev.get("call_id") not in self.calls:
                # The protocol events of the call were not captured; the annotation still says it.
                self.call(ev.get("call_id"), ev.get("name"), ev.get("arguments_raw")
                          or ev.get("arguments"), None, None, f)
        elif t == "harness.stream.started":
            self.tl.stream_start_ms = f.t_ms
        elif t == "harness.trial.ended":
            self.tl.ended_status = ev.get("status")
            self.tl.ended_error = ev.get("error")

    def finish(self) -> Timeline:
        tl = self.tl
        tl.turns.sort(key=lambda t: (t.start_ms, t.index))
        for call_id, answer in self.answers.items():
            if call_id in self.calls:
                self.calls[call_id].answer = answer
        for r in tl.responses:
            origin = self.calls.get(r.follow_up_of) if r.follow_up_of else None
            if origin is not None and origin.response_id is not None:
                parent = self.responses.get(origin.response_id)
                r.turn_index = parent.turn_index if parent is not None else tl.turn_at(r.created_ms)
            elif r.input_anchor_ms is not None:
                r.turn_index = _input_turn(tl, r.input_anchor_ms, r.created_ms)
            else:
                r.turn_index = tl.turn_at(r.created_ms)
            r.items.sort(key=lambda i: (i.output_index if i.output_index is not None else 1 << 30,
                                        i.added_seq))
        for c in tl.function_calls:
            call_response = self.responses.get(c.response_id) if c.response_id else None
            c.turn_index = (call_response.turn_index if call_response is not None
                            else tl.turn_at(c.t_ms))
        for item_id, deltas in self.transcription_deltas.items():
            if item_id not in self.transcriptions and item_id:
                # Transcription that never completed (a cut-short recording): keep the deltas.
                tr = InputTranscription(item_id=item_id, t_ms=tl.end_ms, seq=-1,
                                        transcript="".join(deltas))
                tl.input_transcriptions.append(tr)
        for tr in tl.input_transcriptions:
            tr.turn_index = _input_turn(tl, self.input_item_time.get(tr.item_id, tr.t_ms), tr.t_ms)
        return tl


_NOTICE_HANDLERS: dict[type[Notice], Callable[[_Builder, Any, Frame], None]] = {
    ResponseCreated: _Builder._response_created,
    ResponseDone: _Builder._response_done,
    OutputItemAdded: _Builder._output_item,
    OutputItemDone: _Builder._output_item,
    FunctionCallReady: _Builder._function_call,
    AudioDelta: _Builder._audio,
    TranscriptDelta: _Builder._transcript_delta,
    TranscriptDone: _Builder._transcript_done,
    SpeechStarted: _Builder._speech,
    SpeechStopped: _Builder._speech,
    IdleTimeout: _Builder._idle_timeout,
    InputCommitted: _Builder._committed,
    InputTranscriptDelta: _Builder._input_transcript_delta,
    InputTranscriptDone: _Builder._input_transcript_done,
    ServerError: _Builder._error,
}
"""What each notice of the protocol means for the timeline (notices not listed do not matter)."""


def _input_turn(tl: Timeline, input_ms: float, later_ms: float) -> int | None:
    """The turn of caller input that began at ``input_ms`` and was answered or transcribed at
    ``later_ms``. Input that noise opened before the caller spoke to the agent holds the first
    speech addressed to it that began before ``later_ms``: during the lead-in, before the first
    turn, or during audio not addressed to the agent (a TV, hold music, side talk) that ran on
    into the caller's next words. A reply decided while only such audio had played stays with
    that audio's turn."""
    index = tl.turn_at(input_ms)
    if index is None and tl.turns and later_ms >= tl.turns[0].start_ms:
        return tl.turns[0].index
    opened = tl.turn(index) if index is not None else None
    if opened is not None and (not opened.addressed or opened.kind != "say"):
        spoken = [t.index for t in tl.turns if t.index > opened.index and t.addressed
                  and t.kind == "say" and t.speech_onset_ms is not None
                  and t.speech_onset_ms <= later_ms]
        if spoken:
            return min(spoken)
    return index


def build_timeline(source: Recording | Iterable[Frame]) -> Timeline:
    """The timeline of a recording (or of its frames, in file order)."""
    frames = source.frames if isinstance(source, Recording) else source
    b = _Builder()
    last = 0.0
    for f in frames:
        last = max(last, f.t_ms)
        if f.dir == "received":
            b.received(f)
        elif f.dir == "sent":
            b.sent(f)
        else:
            b.harness(f)
    b.tl.end_ms = last
    return b.finish()
