"""Pydantic models of scenarios, caller turns, tool mocks, expectations and agent configs.

They are the scenario file format's contract. Unknown keys are errors everywhere. Cross-file checks
(referenced files exist, mocks name declared tools, ...) live in ``harness.scenario.loader``;
the checks that need only one model live here as validators.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.scenario._caller import Caller, CallerVoice
from harness.scenario._persona import Persona
from harness.scenario.kinds import ExpectationParams, expectation_kinds, kind_of

SCHEMA_VERSION = 1


class Strict(BaseModel):
    """Base of every model read from YAML: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- caller and noise

NoiseKind = Literal[
    "white", "pink", "brown", "babble", "hold_music", "tv", "side_conversation"
]
"""Generated noise kinds. ``tv`` and ``side_conversation`` are TTS talkers at a lower level."""


class NoiseSpec(Strict):
    """A background bed: a generated kind or a WAV file, at an SNR against the caller's speech."""

    kind: NoiseKind | None = Field(None, description="generated noise kind")
    file: Path | None = Field(None, description="WAV file looped as the bed (relative to the YAML)")
    snr_db: float = Field(20.0, ge=-10.0, le=60.0, description="caller speech level over the bed")
    seed: int = Field(0, description="seed of the generated bed (rendering is deterministic)")

    @model_validator(mode="after")
    def _one_source(self) -> NoiseSpec:
        if (self.kind is None) == (self.file is None):
            raise ValueError("give exactly one of 'kind' or 'file'")
        return self


class Pause(Strict):
    """A pause inside a caller turn: the caller stops mid-sentence and goes on."""

    pause_ms: int = Field(..., ge=0, le=60_000)


SaySegment = Annotated[str | Pause, Field(union_mode="left_to_right")]


class CutOff(Strict):
    """Where a caller clip ends abruptly (give exactly one)."""

    after_text: str | None = Field(None, description="the clip stops where this prefix ends")
    at_ms: int | None = Field(None, ge=1, description="the clip stops this far into its speech")
    fraction: float | None = Field(None, gt=0.0, lt=1.0, description="fraction of the clip kept")

    @model_validator(mode="after")
    def _exactly_one(self) -> CutOff:
        given = [v for v in (self.after_text, self.at_ms, self.fraction) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of after_text, at_ms, fraction")
        return self


class BargeIn(Strict):
    """The turn starts while the agent is speaking, this far into its audible reply."""

    at_agent_ms: int = Field(..., ge=0, le=60_000)


class Play(Strict):
    """Audio not addressed to the agent (hold music, TV, a side conversation, noise, a WAV)."""

    noise: NoiseKind | None = Field(None, description="generated kind to play")
    file: Path | None = Field(None, description="WAV file to play (relative to the YAML)")
    ms: int = Field(..., ge=100, le=120_000, description="how long it plays")
    level_db: float = Field(-6.0, ge=-60.0, le=0.0,
                            description="level relative to the caller's speech level")
    seed: int = Field(0, description="seed of a generated kind (rendering is deterministic)")

    @model_validator(mode="after")
    def _one_source(self) -> Play:
        if (self.noise is None) == (self.file is None):
            raise ValueError("give exactly one of 'noise' or 'file'")
        return self


Intent = Literal["affirm", "deny", "correct", "other"]


class Turn(Strict):
    """One scripted caller turn.

    Exactly one of ``say``, ``audio``, ``silence_ms``, ``play`` or ``dtmf`` says what the caller
    does.
    """

    say: str | list[SaySegment] | None = Field(
        None, description="text to speak; a list mixes text segments and {pause_ms: N} pauses")
    audio: Path | None = Field(None, description="recorded WAV clip (any rate, any channels)")
    text: str | None = Field(None, description="what a recorded clip says (for scorers)")
    silence_ms: int | None = Field(None, ge=0, le=120_000, description="the caller says nothing")
    play: Play | None = Field(None, description="audio not addressed to the agent")
    dtmf: str | None = Field(
        None, pattern=r"^[0-9*#A-D]+$",
        description="keys the caller presses, e.g. '83521#': RFC 4733 events over SIP, in-band "
                    "tones (100 ms a key, 80 ms apart) on other transports")

    cut_off: CutOff | None = Field(None, description="the clip ends abruptly")
    entity: dict[str, str] | None = Field(
        None, description="what the caller meant, e.g. {order_id: '83521'}, for entity scorers")
    intent: Intent | None = Field(
        None, description="what the turn means to the dialogue (affirm, deny, correct, other)")
    voice: CallerVoice | None = Field(None, description="per-turn caller voice override")
    noise: NoiseSpec | Literal["none"] | None = Field(
        None, description="per-turn background bed override ('none' turns it off)")

    barge_in: BargeIn | None = Field(
        None, description="start while the agent is speaking, this far into its reply")
    after_ms: int | None = Field(None, ge=0, le=120_000,
                                 description="start this long after the previous turn ended")
    when_agent_says: str | None = Field(
        None, description="start once the agent's transcript matches this regex")

    @model_validator(mode="after")
    def _one_action(self) -> Turn:
        actions = [n for n in ("say", "audio", "silence_ms", "play", "dtmf")
                   if getattr(self, n) is not None]
        if len(actions) != 1:
            raise ValueError("a turn needs exactly one of say, audio, silence_ms, play, dtmf"
                             + (f" (got {', '.join(actions)})" if actions else ""))
        starts = [n for n in ("barge_in", "after_ms", "when_agent_says")
                  if getattr(self, n) is not None]
        if len(starts) > 1:
            raise ValueError("give at most one of barge_in, after_ms, when_agent_says "
                             f"(got {', '.join(starts)})")
        if self.cut_off is not None and self.say is None and self.audio is None:
            raise ValueError("cut_off needs a say or audio turn")
        if self.when_agent_says is not None:
            try:
                re.compile(self.when_agent_says)
            except re.error as exc:
                raise ValueError(f"when_agent_says is not a valid regex: {exc}") from None
        if isinstance(self.say, list) and not any(isinstance(s, str) for s in self.say):
            raise ValueError("say needs at least one text segment")
        return self

    @property
    def kind(self) -> Literal["say", "audio", "silence", "play", "dtmf"]:
        if self.say is not None:
            return "say"
        if self.audio is not None:
            return "audio"
        if self.silence_ms is not None:
            return "silence"
        if self.dtmf is not None:
            return "dtmf"
        return "play"

    @property
    def segments(self) -> list[str | Pause]:
        """The say text as segments (a plain string is one segment)."""
        if self.say is None:
            return []
        return [self.say] if isinstance(self.say, str) else list(self.say)

    @property
    def spoken_text(self) -> str | None:
        """Everything the caller says in this turn (segments joined), or a clip's ``text``."""
        if self.say is not None:
            return " ".join(s for s in self.segments if isinstance(s, str))
        if self.dtmf is not None:
            return " ".join(self.dtmf)
        return self.text

    @property
    def addressed(self) -> bool:
        """Whether this turn is meant for the agent (speech, or keys pressed)."""
        return self.kind in ("say", "audio", "dtmf")


# --------------------------------------------------------------------------- tool mocks


class ToolResult(Strict):
    """One mock answer. ``returns`` is sent as the function output; ``error`` sends
    ``{"error": ...}``. ``when`` matches a subset of the call's arguments (normalised)."""

    when: dict[str, Any] | None = Field(None, description="argument subset this answer applies to")
    returns: Any = Field(None, description="the function output (any JSON)")
    error: str | None = Field(None, description="answer with {error: ...} instead")
    latency_ms: int = Field(0, ge=0, le=120_000, description="delay before the output is sent")

    @model_validator(mode="after")
    def _result_or_error(self) -> ToolResult:
        if self.returns is not None and self.error is not None:
            raise ValueError("give 'returns' or 'error', not both")
        return self

    def output(self) -> Any:
        return {"error": self.error} if self.error is not None else self.returns


class ToolSequence(Strict):
    """Answers for repeated calls: the n-th call gets the n-th entry (the last one repeats)."""

    sequence: list[ToolResult] = Field(..., min_length=1, description="answers in call order")


ToolMock = Annotated[ToolSequence | ToolResult | list[ToolResult],
                     Field(union_mode="left_to_right")]


def resolve_mock(mock: ToolMock, arguments: dict[str, Any], call_index: int) -> ToolResult | None:
    """The answer a mock gives to the ``call_index``-th call (0-based) with these arguments.

    Conditional lists answer with the first entry whose ``when`` matches (an entry without
    ``when`` matches anything); ``None`` when nothing matches.
    """
    from harness.spoken import values_equal  # noqa: PLC0415 - keeps models import-light

    if isinstance(mock, ToolSequence):
        return mock.sequence[min(call_index, len(mock.sequence) - 1)]
    rules = mock if isinstance(mock, list) else [mock]
    for rule in rules:
        if rule.when is None or all(
            k in arguments and values_equal(arguments[k], v) for k, v in rule.when.items()
        ):
            return rule
    return None


# --------------------------------------------------------------------------- expectations


class Expectation(BaseModel):
    """One entry of a scenario's ``expect`` list: ``{kind: params}``.

    The kinds and their parameter models come from the registry in ``harness.scenario.kinds``
    (built-in scorers and plugins), looked up when an expectation is validated.
    """

    model_config = ConfigDict(extra="forbid")

    kind: str
    params: ExpectationParams

    @model_validator(mode="before")
    @classmethod
    def _from_mapping(cls, data: Any) -> Any:
        if isinstance(data, dict) and set(data) == {"kind", "params"}:
            kind, params = data["kind"], data["params"]
        elif isinstance(data, dict) and len(data) == 1:
            kind, params = next(iter(data.items()))
        elif isinstance(data, str):
            kind, params = data, {}
        else:
            raise ValueError(
                "an expectation is a mapping with one key, e.g. {latency: {max_ms: 1500}}")
        registered = kind_of(kind) if isinstance(kind, str) else None
        if registered is None:
            raise ValueError(f"unknown expectation kind {kind!r}; expected one of "
                             + ", ".join(sorted(expectation_kinds())))
        model = registered.params_model
        if model.shorthand is not None and isinstance(params, (str, int, float, bool)):
            params = {model.shorthand: params}
        if params is None:
            params = {}
        if isinstance(params, BaseModel):
            return {"kind": kind, "params": params}
        return {"kind": kind, "params": model.model_validate(params)}

    def label(self) -> str:
        """Short human label, e.g. ``latency(max_ms=1500)``."""
        params = self.params.model_dump(exclude_defaults=True)
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{self.kind}({args})"


# --------------------------------------------------------------------------- agent config

AudioFormat = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
AUDIO_FORMAT_NAMES: dict[str, AudioFormat] = {
    "audio/pcm": "audio/pcm", "pcm16": "audio/pcm", "pcm": "audio/pcm",
    "audio/pcmu": "audio/pcmu", "g711_ulaw": "audio/pcmu", "pcmu": "audio/pcmu",
    "ulaw": "audio/pcmu",
    "audio/pcma": "audio/pcma", "g711_alaw": "audio/pcma", "pcma": "audio/pcma",
    "alaw": "audio/pcma",
}
"""Audio format names a user may give (GA, beta and short), each to its GA name."""


def audio_format_named(name: str) -> AudioFormat | None:
    """The GA audio format a name stands for (``g711_ulaw`` → ``audio/pcmu``), or None."""
    return AUDIO_FORMAT_NAMES.get(name.strip().lower())


class TurnDetection(Strict):
    """Server turn detection, as a ``session.update`` carries it."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float | None = Field(0.5, ge=0.0, le=1.0)
    prefix_padding_ms: int | None = Field(300, ge=0)
    silence_duration_ms: int | None = Field(500, ge=0)
    create_response: bool = True
    interrupt_response: bool = True
    idle_timeout_ms: int | None = Field(None, ge=0)
    eagerness: Literal["low", "medium", "high", "auto"] | None = None


class InputTranscription(Strict):
    model: str = "gpt-4o-mini-transcribe"
    prompt: str | None = None
    language: str | None = None


class ToolSpec(Strict):
    """A function tool (JSON Schema parameters) with the harness's flags."""

    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}})
    write: bool = Field(False, description="has a side effect: must be confirmed before the call")
    escalation: bool = Field(False, description="hands the call to a human")
    wait: bool = Field(False, description="the no-op tool an agent calls to stay silent on "
                       "purpose (noise, hold music, side talk): not an action")

    def session_tool(self) -> dict[str, Any]:
        """The tool as a ``session.update`` carries it (without the harness flags)."""
        return {"type": "function", "name": self.name, "description": self.description,
                "parameters": self.parameters}

    @property
    def required_arguments(self) -> list[str]:
        return list(self.parameters.get("required", []))


class AgentConfig(Strict):
    """What a ``session.update`` carries, plus the harness flags on tools."""

    name: str | None = Field(None, description="label in reports; defaults to the file name")
    model: str = "gpt-realtime"
    instructions: str | None = None
    instructions_file: Path | None = Field(None, description="instructions read from this file")
    voice: str = "marin"
    input_audio_format: AudioFormat = "audio/pcm"
    output_audio_format: AudioFormat = "audio/pcm"
    turn_detection: TurnDetection | None = Field(
        default_factory=TurnDetection, description="null: manual commit + response.create")
    input_transcription: InputTranscription | None = Field(default_factory=InputTranscription)
    tool_choice: str = "auto"
    tools: list[ToolSpec] = Field(default_factory=list)
    local_profile: str = Field(
        "support_desk", description="dialogue profile of the local reference agent: a profile "
        "name, or a YAML file relative to this agent config")

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, tools: list[ToolSpec]) -> list[ToolSpec]:
        seen: set[str] = set()
        for t in tools:
            if t.name in seen:
                raise ValueError(f"tool {t.name!r} is declared twice")
            seen.add(t.name)
        return tools

    @model_validator(mode="after")
    def _instructions(self) -> AgentConfig:
        if self.instructions is not None and self.instructions_file is not None:
            raise ValueError("give instructions or instructions_file, not both")
        return self

    def tool(self, name: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name == name), None)

    @property
    def write_tools(self) -> list[str]:
        return [t.name for t in self.tools if t.write]

    @property
    def escalation_tools(self) -> list[str]:
        return [t.name for t in self.tools if t.escalation]

    @property
    def wait_tools(self) -> list[str]:
        return [t.name for t in self.tools if t.wait]

    @property
    def sample_rate(self) -> int:
        """Rate of the input stream: 24 kHz PCM, 8 kHz G.711."""
        return 24_000 if self.input_audio_format == "audio/pcm" else 8_000


# --------------------------------------------------------------------------- scenario


class Scenario(Strict):
    """A scripted call: caller turns, tool mocks and what to expect."""

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="unique in the suite")
    description: str = Field("", description="what the call tests, shown in reports")
    extends: Path | None = Field(None, description="defaults file (agent, caller, noise, tools)")
    agent: Path | None = Field(None, description="AgentConfig file (relative to the YAML)")
    tags: list[str] = Field(default_factory=list, description="labels to select and group runs")
    caller: Caller = Field(default_factory=Caller, description="the caller's voice")
    noise: NoiseSpec | None = Field(None, description="bed under the whole call; none by default")
    reaction_gap_ms: int = Field(700, ge=0, le=10_000,
                                 description="human gap after the agent stops before the next turn")
    idle_timeout_ms: int = Field(
        6000, ge=0, le=120_000,
        description="after the last turn, wait this long for the agent to go idle")
    max_duration_s: float = Field(180.0, gt=0, description="per-trial timeout")
    turn_timeout_ms: int = Field(
        15_000, ge=1000, le=600_000,
        description="a turn that waits on the agent (its answer, when_agent_says, a barge-in) "
        "starts anyway this long after the previous turn ended")
    turns: list[Turn] = Field(
        default_factory=list, description="the caller's script, in order (with a persona: "
        "spoken before the persona takes over)")
    persona: Persona | None = Field(
        None, description="a caller played by a language model after the scripted turns")
    tools: dict[str, ToolMock] = Field(
        default_factory=dict, description="tool name → mock answer(s) the runner sends")
    expect: list[Expectation] = Field(..., min_length=1, description="what the call must show")

    # Set by the loader, never read from YAML.
    source: Path | None = Field(None, exclude=True, description="(set by the loader)")
    agent_config: AgentConfig | None = Field(None, exclude=True, description="(set by the loader)")

    @field_validator("expect", mode="before")
    @classmethod
    def _expect_not_empty(cls, v: Any) -> Any:
        if v == [] or v is None:
            raise ValueError("a scenario needs at least one expectation")
        return v

    @model_validator(mode="after")
    def _someone_speaks(self) -> Scenario:
        if not self.turns and self.persona is None:
            raise ValueError("a scenario needs turns, a persona, or both")
        if self.persona is not None and self.persona.max_duration_s >= self.max_duration_s:
            raise ValueError(f"persona.max_duration_s ({self.persona.max_duration_s:g}) must be "
                             f"below the call's time limit, max_duration_s "
                             f"({self.max_duration_s:g}), so the agent can answer the last line")
        return self

    def voice_of(self, turn: Turn) -> CallerVoice:
        """The voice ``turn`` is spoken with: the caller's (of the first trial, when the caller
        rotates ``voices``), with the fields the turn's own ``voice`` gives in their place
        (``voice: {words_per_minute: 130}`` slows the caller down and keeps the caller's engine
        and voice)."""
        caller = self.caller.for_trial(0)
        return caller if turn.voice is None else caller.changed(turn.voice)

    def for_trial(self, trial: int, caller: CallerVoice | None = None) -> Scenario:
        """The scenario as trial ``trial`` speaks it: the caller's rotation resolved to one
        voice, and ``caller`` (a comparison variant's caller voice) in place of the fields it
        gives."""
        spoken = self.caller if caller is None else self.caller.changed(caller)
        spoken = spoken.for_trial(trial)
        return self if spoken is self.caller else self.model_copy(update={"caller": spoken})

    def entities(self) -> dict[str, str]:
        """Every labelled entity, the last label winning (a correction overrides); a persona's
        facts first."""
        out: dict[str, str] = dict(self.persona.facts) if self.persona is not None else {}
        for t in self.turns:
            out.update(t.entity or {})
        return out
