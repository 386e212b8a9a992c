"""The server events of a response (output items, message parts, audio, function calls, done),
part of the agent's protocol core: no I/O, no clock."""

from __future__ import annotations

import base64
import json
from typing import Any

from harness.agent.conversation import Item, Response, item_text, word_deltas
from harness.agent.events import (
    audio_tokens,
    new_id,
    obfuscation,
    rate_limits,
    server_event,
    text_tokens,
    usage,
)


class ResponseEvents:
    """Response-side methods of :class:`harness.agent.protocol.AgentProtocol`."""

    session: dict[str, Any]
    conversation_id: str
    items: list[Item]
    responses: list[Response]
    response: Response | None

    def emit(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def error(self, message: str, *, code: str, param: str | None = None,
              client_event_id: str | None = None, error_type: str | None = None) -> None:
        raise NotImplementedError

    def flush_transcription(self, item: Item) -> None:
        raise NotImplementedError

    def open_response(self, params: dict[str, Any],
                      input_items: list[Item] | None = None) -> Response:
        """A new response (``response.created``); in the conversation it answers the turns
        not answered yet."""
        out_audio = self.session["audio"]["output"]
        audio_params = (params.get("audio") or {}).get("output") or {}
        response = Response(
            id=new_id("resp"),
            in_conversation=params.get("conversation", "auto") != "none",
            modalities=list(params.get("output_modalities") or self.session["output_modalities"]),
            voice=audio_params.get("voice", out_audio["voice"]),
            speed=float(out_audio.get("speed", 1.0)),
            output_format=audio_params.get("format", out_audio["format"]),
            metadata=params.get("metadata"),
            instructions=params.get("instructions"),
            tool_choice=params.get("tool_choice", self.session["tool_choice"]),
            input_items=input_items,
        )
        self.responses.append(response)
        if response.in_conversation:
            self.response = response
            response.consumed_items = [i for i in self.items if not i.consumed
                                       and i.type in ("message", "function_call_output")]
        created = response.public("in_progress")
        created["conversation_id"] = self.conversation_id if response.in_conversation else None
        self.emit(server_event("response.created", response=created))
        return response

    def add_output_item(self, response: Response, item: Item) -> int:
        """Add an output item to a response (and the conversation); its output index."""
        response.output.append(item)
        self.emit(server_event("response.output_item.added", response_id=response.id,
                               output_index=len(response.output) - 1, item=item.public()))
        if response.in_conversation:
            previous = self.items[-1].id if self.items else None
            self.items.append(item)
            self.emit(server_event("conversation.item.added", previous_item_id=previous,
                                   item=item.public()))
        return len(response.output) - 1

    def close_output_item(self, response: Response, item: Item, status: str) -> None:
        item.status = status
        index = response.output.index(item)
        if response.in_conversation:
            position = self.items.index(item) if item in self.items else 0
            previous = self.items[position - 1].id if position > 0 else None
            self.emit(server_event("conversation.item.done", previous_item_id=previous,
                                   item=item.public()))
        self.emit(server_event("response.output_item.done", response_id=response.id,
                               output_index=index, item=item.public()))

    def open_message(self, response: Response) -> Item:
        """An assistant message of ``response`` with one (audio or text) content part."""
        audio_out = "audio" in response.modalities
        item = Item(id=new_id("item"), type="message", role="assistant", status="in_progress",
                    consumed=True)
        self.add_output_item(response, item)
        response.open_item = item
        part = {"type": "audio", "transcript": ""} if audio_out else {"type": "text", "text": ""}
        item.content = [{"type": "output_audio", "transcript": ""} if audio_out
                        else {"type": "output_text", "text": ""}]
        self.emit(server_event("response.content_part.added", **self._ids(response, item),
                               part=part))
        return item

    def _ids(self, response: Response, item: Item) -> dict[str, Any]:
        return {"response_id": response.id, "item_id": item.id,
                "output_index": response.output.index(item), "content_index": 0}

    def text_sentence(self, response: Response, item: Item, sentence: str) -> None:
        """One sentence of a text response."""
        spoken = item.content[0]["text"]
        for delta in word_deltas(sentence, leading_space=bool(spoken)):
            self.emit(server_event("response.output_text.delta", **self._ids(response, item),
                                   delta=delta, obfuscation=obfuscation(delta)))
        item.content[0]["text"] = f"{spoken} {sentence}" if spoken else sentence

    def transcript_sentence(self, response: Response, item: Item, sentence: str) -> None:
        """The transcript of one sentence of an audio response (its audio follows)."""
        spoken = item.content[0]["transcript"]
        for delta in word_deltas(sentence, leading_space=bool(spoken)):
            self.emit(server_event("response.output_audio_transcript.delta",
                                   **self._ids(response, item), delta=delta,
                                   obfuscation=obfuscation(delta)))
        item.content[0]["transcript"] = f"{spoken} {sentence}" if spoken else sentence

    def audio_delta(self, response: Response, item: Item, encoded: bytes) -> None:
        self.emit(server_event("response.output_audio.delta", **self._ids(response, item),
                               delta=base64.b64encode(encoded).decode()))

    def close_message(self, response: Response, item: Item, status: str) -> None:
        response.open_item = None
        ids = self._ids(response, item)
        if "audio" in response.modalities:
            transcript = item.content[0]["transcript"]
            self.emit(server_event("response.output_audio.done", **ids))
            self.emit(server_event("response.output_audio_transcript.done", **ids,
                                   transcript=transcript))
            part = {"type": "audio", "transcript": transcript}
        else:
            self.emit(server_event("response.output_text.done", **ids,
                                   text=item.content[0]["text"]))
            part = {"type": "text", "text": item.content[0]["text"]}
        self.emit(server_event("response.content_part.done", **ids, part=part))
        self.close_output_item(response, item, status)

    def function_call(self, response: Response, name: str, arguments: dict[str, Any]) -> Item:
        """A complete function call item of ``response`` (arguments streamed in deltas)."""
        encoded = json.dumps(arguments)
        item = Item(id=new_id("item"), type="function_call", status="in_progress",
                    name=name, call_id="call_" + new_id("x")[2:18], arguments="",
                    consumed=True)
        index = self.add_output_item(response, item)
        ids = {"response_id": response.id, "item_id": item.id, "output_index": index,
               "call_id": item.call_id}
        for start in range(0, len(encoded), 8):
            delta = encoded[start: start + 8]
            self.emit(server_event("response.function_call_arguments.delta", **ids, delta=delta,
                                   obfuscation=obfuscation(delta)))
        item.arguments = encoded
        self.emit(server_event("response.function_call_arguments.done", **ids, name=name,
                               arguments=encoded))
        self.close_output_item(response, item, "completed")
        return item

    def finish_response(self, response: Response, status: str, reason: str | None = None,
                        details: dict[str, Any] | None = None) -> bool:
        """``response.done`` (once; False when the response had finished already)."""
        if response.done:
            return False
        response.done = True
        if response.open_item is not None:
            self.close_message(response, response.open_item, "incomplete")
        for consumed in response.consumed_items:
            self.flush_transcription(consumed)
        if self.response is response:
            self.response = None
        self.responses.remove(response)
        out_text = sum(text_tokens(item_text(i)) for i in response.output)
        out_audio = sum(audio_tokens(i.audio_ms) for i in response.output)
        done = response.public(
            status,
            {"type": "cancelled", "reason": reason} if status == "cancelled" else details,
            usage(input_text_tokens=response.input_tokens[0],
                  input_audio_tokens=response.input_tokens[1], output_text_tokens=out_text,
                  output_audio_tokens=out_audio))
        done["conversation_id"] = self.conversation_id if response.in_conversation else None
        self.emit(server_event("response.done", response=done))
        self.emit(server_event("rate_limits.updated", rate_limits=rate_limits()))
        return True

    def response_failed(self, response: Response, exc: BaseException) -> bool:
        """A response that raised: an ``error`` event and ``response.done`` with ``failed``."""
        error = {"type": "server_error", "code": "response_failed",
                 "message": f"The response failed: {exc}"}
        self.error(error["message"], code="response_failed", error_type="server_error")
        return self.finish_response(response, "failed", details={"type": "failed", "error": error})
