"""The caller's voice in scenario files: an engine, one of its voices (or a list that trials
rotate through), a speaking rate, and for the cloud engine its model and spoken style."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.kokoro import VOICES as KOKORO_VOICES

DEFAULT_KOKORO_VOICE = "af_heart"
"""The voice of ``caller: {engine: kokoro}`` when it names none."""
DEFAULT_OPENAI_VOICE = "coral"
"""The voice of ``caller: {engine: openai}`` when it names none."""
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                 "shimmer", "verse")
"""The voices of OpenAI's speech endpoint (examples only: an OpenAI-compatible endpoint may
have others, so the engine takes any name)."""
DEFAULT_OPENAI_MODEL = "gpt-4o-mini-tts"

Engine = Literal["espeak", "kokoro", "openai"]


class CallerVoice(BaseModel):
    """How the caller sounds: a speech engine, one of its voices and a speaking rate."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    engine: Engine | None = Field(
        None, description="speech engine: kokoro (neural voices, offline), espeak (any language "
        "eSpeak knows) or openai (a cloud speech endpoint, with a key in OPENAI_API_KEY); by "
        "default kokoro for a Kokoro voice name, else espeak")
    voice: str = Field("en-us", description="a Kokoro voice (af_heart, bm_george, hf_alpha: "
                       "`harness voices` lists them), an espeak-ng voice or language (en-us, "
                       "en-gb+f3), or with engine openai a voice of the speech endpoint (coral)",
                       examples=[*KOKORO_VOICES, "en-us", "en-gb", "en-gb+f3", *OPENAI_VOICES])
    words_per_minute: int = Field(165, ge=80, le=400, description="speaking rate (the openai "
                                  "engine takes its rate from `instructions` instead)")
    model: str | None = Field(None, description=f"engine openai: the speech model (default "
                              f"{DEFAULT_OPENAI_MODEL})")
    instructions: str | None = Field(
        None, description="engine openai: how to speak, e.g. 'hesitant, a little out of breath, "
                          "with a Scottish accent'")

    @model_validator(mode="after")
    def _engine_default_voice(self) -> CallerVoice:
        if "voice" not in self.model_fields_set:
            if self.engine == "kokoro":
                self.voice = DEFAULT_KOKORO_VOICE
            elif self.engine == "openai":
                self.voice = DEFAULT_OPENAI_VOICE
        return self

    @property
    def engine_name(self) -> str:
        """The engine that speaks: the one given, else kokoro for a Kokoro voice name."""
        if self.engine is not None:
            return self.engine
        return "kokoro" if self.voice.strip().lower() in KOKORO_VOICES else "espeak"

    def changed(self, change: CallerVoice) -> Self:
        """This voice with the fields ``change`` gives in their place (a voice named without an
        engine brings its own engine; a voice named replaces a rotation)."""
        given = {name: getattr(change, name) for name in change.model_fields_set}
        if "voice" in given:
            given.setdefault("engine", None)
            if isinstance(self, Caller):
                given["voices"] = None
        return self.model_copy(update=given)


class Caller(CallerVoice):
    """The caller of a scenario: a voice, or a list of voices its trials take in turn."""

    voices: list[str] | None = Field(
        None, min_length=1, description="voices the trials take in turn instead of `voice`: "
        "trial k speaks with voice k mod n (all of `engine`, or each of its own engine)",
        examples=[["af_heart", "am_michael", "bf_emma"]])

    @model_validator(mode="after")
    def _voice_or_voices(self) -> Caller:
        if self.voices is not None and "voice" in self.model_fields_set:
            raise ValueError("give voice or voices, not both")
        return self

    def for_trial(self, trial: int) -> Self:
        """The caller of trial ``trial``: voice ``trial mod n`` of ``voices`` (itself without
        a list)."""
        if not self.voices:
            return self
        return self.model_copy(update={"voice": self.voices[trial % len(self.voices)],
                                       "voices": None})

    def label(self) -> dict[str, str | int]:
        """What ``meta.json`` records of the voice a trial spoke with."""
        out: dict[str, str | int] = {"engine": self.engine_name, "voice": self.voice,
                                     "words_per_minute": self.words_per_minute}
        if self.engine_name == "openai":
            out["model"] = self.model or DEFAULT_OPENAI_MODEL
            if self.instructions:
                out["instructions"] = self.instructions
        return out
