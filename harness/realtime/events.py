"""The client events the harness sends, as types: one ``TypedDict`` per event, in the GA shape.

Each is the wire JSON of the event (``json.dumps`` of the dict), so a type checker sees a
misspelt field or a wrong value where the event is built, and the tests validate every event the
protocol builds against the ``openai`` package's own types (``RealtimeClientEventParam``).
``input_audio_buffer.append`` is written as text on the hot path
(:meth:`harness.realtime.protocol.RealtimeProtocol.append_text`) and typed here for readers.

The session object of ``session.update`` differs between the GA and beta dialects
(:func:`harness.realtime.dialects.session_config`), so it stays a mapping here.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class SessionUpdate(TypedDict):
    """``session.update``: the agent config as the dialect's session object."""

    type: Literal["session.update"]
    session: dict[str, Any]


class InputAudioBufferAppend(TypedDict):
    """``input_audio_buffer.append``: base64 audio in the session's input format."""

    type: Literal["input_audio_buffer.append"]
    audio: str


class InputAudioBufferCommit(TypedDict):
    """``input_audio_buffer.commit``: the caller's turn ends (without server turn detection)."""

    type: Literal["input_audio_buffer.commit"]


class ResponseCreate(TypedDict):
    """``response.create``: answer now (without server turn detection, after a tool output)."""

    type: Literal["response.create"]


class ResponseCancel(TypedDict):
    """``response.cancel``: stop a response (the caller barged in)."""

    type: Literal["response.cancel"]
    response_id: NotRequired[str]


class ConversationItemTruncate(TypedDict):
    """``conversation.item.truncate``: the agent's audio item was heard only up to here."""

    type: Literal["conversation.item.truncate"]
    item_id: str
    content_index: int
    audio_end_ms: int


class FunctionCallOutput(TypedDict):
    """A tool's answer, as a conversation item."""

    type: Literal["function_call_output"]
    call_id: str
    output: str


class ConversationItemCreate(TypedDict):
    """``conversation.item.create``: the harness adds a tool's answer to the conversation."""

    type: Literal["conversation.item.create"]
    item: FunctionCallOutput


class OutputAudioBufferClear(TypedDict):
    """``output_audio_buffer.clear`` (WebRTC): the server stops the agent's audio now and
    truncates what was not played."""

    type: Literal["output_audio_buffer.clear"]


ClientEvent = (SessionUpdate | InputAudioBufferAppend | InputAudioBufferCommit | ResponseCreate
               | ResponseCancel | ConversationItemTruncate | ConversationItemCreate
               | OutputAudioBufferClear)
"""Every client event the harness sends."""
