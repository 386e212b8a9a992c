"""The call as a timeline derived purely from a Recording: caller turns, responses, VAD, tools.

Scorers and the report read this instead of raw frames. Everything here is a function of the
frames alone (no clock, no audio decoding), so it is cheap and deterministic, and it tolerates
what real recordings contain: responses without any tool call, cancelled and overlapping
responses, empty transcripts, and recordings cut short by a killed run.

The server's events are not parsed here: the received frames are replayed through the runner's
own sans-I/O :class:`~harness.realtime.protocol.RealtimeProtocol`, and the timeline is built from
its notices. So the timeline and the runner agree on every rule of the event stream: responses
created on first sight, each function call once (from whichever event completes it first), each
``response.done`` once.

Ownership of responses by caller turns (``Response.turn_index``): a response belongs to the caller
turn whose input it reacts to — the turn in progress at the last input event before its
``response.created``: the server's ``speech_started`` or ``timeout_triggered``, or the client's
``input_audio_buffer.commit``. So a slow answer that arrives after the next turn began still
belongs to the turn it answers, while speech the agent starts on hold music or on its own idle
timeout belongs to that turn. The response the client asks for after answering a function call
(``function_call_output`` then ``response.create``) belongs to the turn of that call. A response
with no input before it (a greeting) belongs to the last turn that started before it, if any.
Function calls belong to the turn of their response.

All times are session-clock milliseconds (see ``docs/architecture.md``); ``seq`` values are
``events.jsonl`` lines.
"""

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
    Utterance,
    VadEvent,
)
from harness.scoring.timeline._replay import build_timeline

__all__ = [
    "CallerTurn",
    "Cancel",
    "FunctionCall",
    "InputTranscription",
    "OutputItem",
    "Playback",
    "Response",
    "Timeline",
    "ToolAnswer",
    "Truncate",
    "Utterance",
    "VadEvent",
    "build_timeline",
]
