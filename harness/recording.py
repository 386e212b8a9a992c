"""The Recording of one scenario trial: file names, frame and annotation schemas, and its reader.

A trial folder holds:

- ``events.jsonl``: one :class:`Frame` per line, in the order they happened, appended as they
  happen. ``dir`` is ``sent`` (client → target), ``received`` (target → client, normalised to GA
  event names) or ``harness`` (the runner's own annotations, see ``ANNOTATIONS``). Audio payloads
  (``audio`` of ``input_audio_buffer.append`` and ``delta`` of ``response.output_audio.delta``)
  are replaced by an :class:`AudioRef` into a track.
  Frames may carry extra keys: ``raw_type`` (the wire name when the target spoke the beta
  dialect), ``scheduled_ms`` (on ``input_audio_buffer.append``: when the chunk was due; ``t_ms``
  is when it went out) and ``dropped: true`` (on an agent audio delta that arrived after its
  response was interrupted: recorded in ``agent_stream.wav``, never played) and ``via: "rtp"``
  (a WebRTC call: on ``input_audio_buffer.append``, the chunk went out on the RTP track, not as
  the event; on ``response.output_audio.delta``, the audio is an RTP packet of the agent's track,
  decoded on arrival and attributed to the response the server was playing). Annotations carry
  the exact time of what they mark, so one can be up to a chunk (20 ms) earlier than the line
  before it.
- ``caller.wav``: the caller stream exactly as sent (PCM16 mono, the stream's rate). Its sample 0
  is the start of chunk 0, i.e. ``harness.stream.started``'s ``t_ms`` on the session clock.
- ``agent_stream.wav``: every received agent audio byte in arrival order (PCM16 mono; over
  WebRTC, the RTP audio of the agent's responses, decoded to 24 kHz).
- ``agent.wav``: agent audio placed on the playback timeline (what the caller heard); sample 0 is
  session time 0.
- ``call.wav``: stereo, caller left, agent (playback timeline) right, both on the session clock
  from 0 (at the caller stream's rate).
- ``meta.json``: :class:`RecordingMeta`.
- ``verdicts.json``: written by scoring.

All times are ``t_ms`` on the session clock: milliseconds since the connection opened (the
WebSocket, or a WebRTC call's data channel).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import InputError

if TYPE_CHECKING:  # reading frames and meta does not load numpy; only track() does
    import numpy as np
    import numpy.typing as npt

RECORDING_SCHEMA_VERSION = 2
"""2: caller turns are numbered from 1 in expectation parameters and verdict evidence (1 counted
them from 0; such recordings are upgraded when read)."""

TURN_NUMBER_PARAMS = ("turns", "by_turn", "switch_at")
"""Expectation parameters that name caller turns by number (in a list, alone, or as the keys of a
mapping)."""

EVENTS_FILE = "events.jsonl"
CALLER_WAV = "caller.wav"
AGENT_STREAM_WAV = "agent_stream.wav"
AGENT_WAV = "agent.wav"
CALL_WAV = "call.wav"
META_FILE = "meta.json"
VERDICTS_FILE = "verdicts.json"

Direction = Literal["sent", "received", "harness"]


class AudioRef(BaseModel):
    """Where an audio payload went: ``samples`` samples from ``start_sample`` of ``track``."""

    track: Literal["caller", "agent_stream"]
    start_sample: int
    samples: int
    sample_rate: int


class Frame(BaseModel):
    """One line of ``events.jsonl``."""

    model_config = ConfigDict(extra="allow")

    seq: int = Field(..., description="0-based position in the file")
    t_ms: float = Field(..., description="session clock")
    dir: Direction
    type: str = Field(..., description="event type (GA name) or harness annotation type")
    event: dict[str, Any] = Field(default_factory=dict,
                                  description="the event as sent/received (audio replaced by "
                                              "{'audio_ref': AudioRef}); annotation payload")


WRITTEN_ONLY_IN = "written_only_in"
"""A field of a transcript frame the harness wrote from the audio (``source: asr``) with a
recogniser that writes one language whatever was spoken (its ISO 639-1 code): the words'
language says nothing of the speech's."""


# --------------------------------------------------------------------------- annotations
# The runner writes these with dir="harness". Scorers build their timeline from them plus the
# protocol events; their payloads are the contract between runner and scoring.


class StreamStarted(BaseModel):
    """``harness.stream.started``: the caller stream's chunk 0 starts at ``t_ms``."""

    sample_rate: int
    chunk_ms: int
    input_audio_format: str


class TurnStarted(BaseModel):
    """``harness.turn.started``: a caller turn begins (its first chunk is being sent).

    Times are session-clock ms of the send time of the chunk holding the sample (see
    ``docs/architecture.md``, "How time is measured").
    ``speech_onset_ms``/``speech_end_ms`` are None for silence and play turns.
    ``pauses_ms`` are [start, end] pairs of mid-turn pauses on the session clock.
    """

    turn_index: int
    kind: Literal["say", "audio", "silence", "play", "dtmf"]
    text: str | None = Field(None, description="what the caller says (the full scripted text)")
    spoken_text: str | None = Field(None, description="what was actually said (cut-off prefix)")
    addressed: bool
    start_ms: float
    end_ms: float = Field(..., description="scheduled end of the turn's audio")
    speech_onset_ms: float | None = None
    speech_end_ms: float | None = None
    pauses_ms: list[tuple[float, float]] = Field(default_factory=list)
    cut_off: bool = False
    entity: dict[str, str] | None = None
    intent: str | None = None
    trigger: Literal["first", "after_agent", "barge_in", "after_ms", "when_agent_says",
                     "timeout"] = Field(..., description="what started the turn")
    barge_in_at_agent_ms: int | None = None


class TurnSpeechSent(BaseModel):
    """``harness.turn.speech_sent``: the chunk holding a turn's first (``onset``) or last
    (``end``) sample of speech has gone out; the frame's ``t_ms`` is when. Scoring reads the
    turn's speech onset and end from these, so a chunk the harness sent late does not count
    against the agent. ``scheduled_ms`` is the time the chunk was due (``TurnStarted``'s)."""

    turn_index: int
    edge: Literal["onset", "end"]
    scheduled_ms: float


class TurnEnded(BaseModel):
    """``harness.turn.ended``: the turn's last chunk was sent."""

    turn_index: int


class PlaybackStarted(BaseModel):
    """``harness.playback.started``: a response's audio starts playing on the playback clock."""

    response_id: str
    item_id: str | None = None


class PlaybackAudible(BaseModel):
    """``harness.playback.audible``: playback time of the response's first non-silent sample."""

    response_id: str
    item_id: str | None = None
    onset_ms: float


class PlaybackStopped(BaseModel):
    """``harness.playback.stopped``: playback of a response ended (drained or interrupted)."""

    response_id: str
    item_id: str | None = None
    reason: Literal["drained", "interrupted", "session_end"]
    played_ms: float = Field(..., description="audio of this item actually played")
    dropped_ms: float = Field(..., description="audio received but never played")
    received_ms: float = Field(..., description="audio received so far for this item")


class ToolCallAnswered(BaseModel):
    """``harness.tool.answered``: the runner answered a function call from the mocks."""

    call_id: str
    name: str
    arguments: dict[str, Any] | None
    arguments_raw: str
    invented: bool = Field(..., description="the agent config does not declare this tool")
    output: Any
    latency_ms: int
    call_index: int = Field(..., description="0-based index among calls of this tool")


class TrialEnded(BaseModel):
    """``harness.trial.ended``: last line of a complete recording."""

    status: Literal["completed", "errored"]
    error: str | None = None
    time_limit_s: float | None = Field(
        None, description="set when the scenario's time limit ended the call before its script "
                          "did (the agent kept the caller waiting); the call is still graded")


class PersonaLine(BaseModel):
    """``harness.persona.line``: a line the persona's caller speaks next, as turn
    ``turn_index``; the caller model's reply (or the persona's opening, or a replayed line)."""

    turn_index: int
    say: str
    intent: str
    gives: list[str] = Field(default_factory=list)
    hang_up: bool = False
    source: Literal["model", "cache", "opening", "replay"]
    trigger: Literal["first", "after_agent", "barge_in", "timeout"] = Field(
        ..., description="the moment the caller took its turn: the agent had answered, the "
                         "caller talked over it, or it waited in vain")
    heard: str = Field("", description="the agent's words the line answers")
    request_sha256: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_sha256: str | None = Field(None, description="SHA-256 of the line's rendered clip")


class PersonaEnded(BaseModel):
    """``harness.persona.ended``: the persona speaks no more lines, and why."""

    reason: Literal["goal_reached", "hung_up", "escalated", "max_turns", "max_duration",
                    "agent_silent", "replay_ended"]
    goal_met: bool
    lines: int
    requests: int = Field(0, description="requests the caller model answered (not cached)")
    prompt_tokens: int = 0
    completion_tokens: int = 0


ANNOTATIONS: dict[str, type[BaseModel]] = {
    "harness.stream.started": StreamStarted,
    "harness.turn.started": TurnStarted,
    "harness.turn.speech_sent": TurnSpeechSent,
    "harness.turn.ended": TurnEnded,
    "harness.playback.started": PlaybackStarted,
    "harness.playback.audible": PlaybackAudible,
    "harness.playback.stopped": PlaybackStopped,
    "harness.tool.answered": ToolCallAnswered,
    "harness.trial.ended": TrialEnded,
    "harness.persona.line": PersonaLine,
    "harness.persona.ended": PersonaEnded,
}


class RtpDirection(BaseModel):
    """One direction of a WebRTC call's audio, from the RTP/RTCP statistics at the call's end."""

    packets: int = Field(..., description="RTP packets sent (caller) or received (agent)")
    lost: int = Field(..., description="packets lost on the way (gaps in the sequence numbers "
                      "at the receiving end)")
    loss: float = Field(..., description="lost / (received + lost), 0-1")
    jitter_ms: float = Field(..., description="interarrival jitter (RFC 3550) at the call's end")
    jitter_ms_max: float = Field(..., description="the highest interarrival jitter sampled")


class RtpSample(BaseModel):
    """The RTP/RTCP statistics read at one moment of a WebRTC call (cumulative counts)."""

    t_ms: float = Field(..., description="when they were read, on the session clock")
    received: int
    received_lost: int
    received_jitter_ms: float
    sent: int
    sent_lost: int | None = Field(None, description="from the agent's last RTCP receiver "
                                  "report (None before the first)")
    sent_jitter_ms: float | None = None
    rtt_ms: float | None = Field(None, description="round-trip time from RTCP (None before the "
                                 "first receiver report answering a sender report)")


class RtpStats(BaseModel):
    """``meta.json`` ``rtp``: what the RTP/RTCP statistics of a WebRTC call say about its path."""

    received: RtpDirection = Field(..., description="the agent's audio as the harness received "
                                   "it (inbound-rtp)")
    sent: RtpDirection | None = Field(None, description="the caller's audio as the agent "
                                      "received it, from its RTCP receiver reports "
                                      "(remote-inbound-rtp); None when none came")
    rtt_ms: float | None = Field(None, description="round-trip time at the call's end (RTCP "
                                 "sender and receiver reports, smoothed as aiortc does)")
    rtt_ms_max: float | None = Field(None, description="the highest round-trip time sampled")
    interval_ms: float = Field(..., description="how often the statistics were sampled")
    samples: list[RtpSample] = Field(default_factory=list)


class RecordingMeta(BaseModel):
    """``meta.json`` of a trial."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = RECORDING_SCHEMA_VERSION
    scenario: str
    scenario_file: str | None = None
    scenario_hash: str
    agent_config: dict[str, Any] = Field(..., description="the AgentConfig used (no secrets)")
    agent_config_hash: str
    variant: str | None = None
    trial: int = 0
    target: str = Field(..., description="target label, never with credentials")
    dialect: str = "ga"
    transport: str = Field("websocket", description="websocket or webrtc")
    call_id: str | None = Field(None, description="the call the service named (WebRTC: the "
                                "calls endpoint's Location, rtc_…)")
    network: str | None = Field(None, description="delay, jitter and loss the harness imposed "
                                "on the call's path (WebRTC), e.g. delay=100ms,jitter=0ms,loss=0%")
    rtp: RtpStats | None = Field(None, description="jitter, packet loss and round-trip time from "
                                 "the RTP/RTCP statistics (WebRTC)")
    faults: list[str] = Field(default_factory=list)
    caller_voice: dict[str, str | int] | None = Field(
        None, description="the caller's engine, voice and rate in this trial (a scenario's "
        "rotation of voices, or a comparison variant's caller), e.g. {engine: kokoro, voice: "
        "bf_emma, words_per_minute: 165}")
    harness_version: str
    machine: dict[str, Any] = Field(default_factory=dict)
    started_at: str = Field(..., description="UTC ISO time the session opened")
    status: Literal["running", "completed", "errored", "incomplete"] = "running"
    error: str | None = None
    scenario_model: dict[str, Any] = Field(
        default_factory=dict, description="the loaded scenario (turns, tools, expect) as JSON")
    caller_model: dict[str, str] | None = Field(
        None, description="a persona's caller model: {endpoint: host, model: name} (never a "
                          "key)")

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("schema_version",
                                                  RECORDING_SCHEMA_VERSION) >= 2:
            return data
        data = {**data, "schema_version": 2}
        model = data.get("scenario_model")
        if isinstance(model, dict) and isinstance(model.get("expect"), list):
            data["scenario_model"] = {**model, "expect": [_turns_from_one(e)
                                                          for e in model["expect"]]}
        return data


def _turns_from_one(expectation: Any) -> Any:
    """An expectation of a version-1 recording with its caller-turn numbers counted from 1."""
    if not isinstance(expectation, dict):
        return expectation
    out = {}
    for kind, params in expectation.items():
        if isinstance(params, dict):
            params = dict(params)
            for key in TURN_NUMBER_PARAMS:
                value = params.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    params[key] = value + 1
                elif isinstance(value, list):
                    params[key] = [v + 1 if isinstance(v, int) and not isinstance(v, bool) else v
                                   for v in value]
                elif isinstance(value, dict):
                    params[key] = {_turn_key_from_one(k): v for k, v in value.items()}
        out[kind] = params
    return out


def _turn_key_from_one(key: Any) -> Any:
    """A mapping key that is a 0-based turn number (an int, or its digits once written as JSON),
    counted from 1."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key + 1
    if isinstance(key, str) and key.isdigit():
        return str(int(key) + 1)
    return key


def read_frames(path: Path, skip_types: Collection[str] = ()) -> list[Frame]:
    """Read ``events.jsonl``; a torn last line (a killed run) is ignored.

    Frames of ``skip_types`` are left out without being parsed (a reader that does not need the
    caller's ``input_audio_buffer.append`` frames loads a recording several times faster).
    """
    markers = [f'"type":"{t}","event":' for t in skip_types]
    frames: list[Frame] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or (markers and any(m in line for m in markers)):
                continue
            try:
                # Parsing and validating in one step (pydantic-core) halves the load time.
                frames.append(Frame.model_validate_json(line))
            except ValueError:  # a ValidationError, for bad JSON as for a bad frame
                break
    return frames


class Recording:
    """A trial folder read back: frames, meta, and the audio tracks on demand."""

    def __init__(self, path: Path | None, meta: RecordingMeta, frames: list[Frame]):
        self.path = path
        self.meta = meta
        self.frames = frames

    @classmethod
    def load(cls, path: Path, skip_types: Collection[str] = ()) -> Recording:
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise InputError(f"not a recording folder (no {META_FILE})", location=str(path))
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
        version = raw.get("schema_version", 0)
        if version > RECORDING_SCHEMA_VERSION:
            raise InputError(
                f"recording schema version {version} is newer than this harness reads "
                f"({RECORDING_SCHEMA_VERSION}); upgrade the harness", location=str(meta_path))
        meta = RecordingMeta.model_validate(raw)
        events = path / EVENTS_FILE
        frames = read_frames(events, skip_types) if events.is_file() else []
        if meta.status == "running":
            meta.status = "incomplete"
        return cls(path, meta, frames)

    def annotations(self, type_: str) -> list[tuple[Frame, BaseModel]]:
        """Harness annotations of one type, parsed, with their frames."""
        model = ANNOTATIONS[type_]
        return [(f, model.model_validate(f.event)) for f in self.frames
                if f.dir == "harness" and f.type == type_]

    def events(self, type_: str | None = None, dir: Direction | None = None) -> list[Frame]:
        return [f for f in self.frames
                if (type_ is None or f.type == type_) and (dir is None or f.dir == dir)]

    def track(self, name: str) -> tuple[npt.NDArray[np.int16], int]:
        """(samples as int16 numpy array, sample rate) of a WAV track of this trial."""
        import soundfile as sf  # noqa: PLC0415

        if self.path is None:
            raise FileNotFoundError(name)
        data, rate = sf.read(self.path / name, dtype="int16")
        return data, rate


RUN_FILE = "run.json"
ORDER_FILE = "order.json"
"""The order in which an interleaved run started the variants of each (scenario, trial)."""


def read_run_file(run_dir: Path) -> dict[str, Any]:
    """``RUN_DIR/run.json`` with a ``trials`` list of objects, or one located InputError (a
    path the system refuses, a file that is not JSON, trials of the wrong shape)."""
    path = Path(run_dir) / RUN_FILE
    try:
        if not path.is_file():
            raise InputError(f"not a run folder (no {RUN_FILE})", location=str(run_dir))
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, unreadable, not UTF-8
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"cannot read {RUN_FILE}: {reason}", location=str(run_dir)) from None
    try:
        run = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{RUN_FILE} is not valid JSON: {exc.msg}",
                         location=f"{path}:{exc.lineno}:{exc.colno}") from None
    if not isinstance(run, dict) or not isinstance(run.get("trials"), list):
        raise InputError(f"{RUN_FILE} has no 'trials' list", location=str(path))
    for i, entry in enumerate(run["trials"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise InputError(f"trial {i + 1} of {RUN_FILE} is not an object with a 'path'",
                             location=str(path), field=f"trials[{i}]")
    return run
