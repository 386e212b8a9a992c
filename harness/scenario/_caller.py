"""The caller's voice in scenario files: an engine, one of its voices (or a list that trials
rotate through), a speaking rate, and for the cloud engine its model and spoken style."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import InputError
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

KOKORO_ACCENT_NAMES = {
    "american": "a", "us": "a", "british": "b", "uk": "b", "spanish": "e", "french": "f",
    "hindi": "h", "indian": "h", "italian": "i", "japanese": "j", "portuguese": "p",
    "brazilian": "p", "brazilian portuguese": "p", "mandarin": "z", "chinese": "z"}
"""Accent hints a Kokoro voice answers to, each to its voice names' first letter."""
ESPEAK_ACCENT_VOICES = {
    "american": "en-us", "us": "en-us", "british": "en-gb", "uk": "en-gb",
    "received pronunciation": "en-gb-x-rp", "rp": "en-gb-x-rp", "scottish": "en-gb-scotland",
    "caribbean": "en-029", "lancaster": "en-gb-x-gbclan", "west midlands":
    "en-gb-x-gbcwmd"}
"""Accent hints an espeak-ng English voice answers to."""


def _accent_key(accent: str) -> str:
    return " ".join(accent.lower().replace("-", " ").replace("_", " ").split())


def accent_voice(accent: str, engine: str | None, gender: str | None) -> tuple[str, str]:
    """(engine, voice) of an accent hint: the first Kokoro voice of that accent (and gender),
    or the espeak-ng voice of it; a ``ValueError`` naming the hints there are otherwise."""
    key = _accent_key(accent)
    letter = KOKORO_ACCENT_NAMES.get(key)
    if engine in (None, "kokoro") and letter is not None:
        sex = {"female": "f", "male": "m"}.get(gender or "", "")
        names = sorted(n for n in KOKORO_VOICES if n[0] == letter and n[1].startswith(sex))
        if names:
            return "kokoro", names[0]
    if engine in (None, "espeak") and key in ESPEAK_ACCENT_VOICES and gender is None:
        return "espeak", ESPEAK_ACCENT_VOICES[key]
    hints = sorted(set(KOKORO_ACCENT_NAMES) if engine == "kokoro" else
                   set(ESPEAK_ACCENT_VOICES) if engine == "espeak" else
                   set(KOKORO_ACCENT_NAMES) | set(ESPEAK_ACCENT_VOICES))
    gendered = f" ({gender})" if gender else ""
    raise ValueError(f"no {engine or 'offline'} voice has the accent {accent!r}{gendered}; "
                     f"accents: {', '.join(hints)}")


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
    accent: str | None = Field(
        None, description="an accent hint instead of a voice: the first Kokoro voice of that "
        f"accent ({', '.join(sorted(set(KOKORO_ACCENT_NAMES)))}), else the espeak-ng voice of it "
        f"({', '.join(sorted(set(ESPEAK_ACCENT_VOICES) - set(KOKORO_ACCENT_NAMES)))}); with "
        "engine openai, the speech is asked for in that accent", examples=["hindi", "british"])
    gender: Literal["female", "male"] | None = Field(
        None, description="with accent: a Kokoro voice of this gender")

    @model_validator(mode="after")
    def _engine_default_voice(self) -> CallerVoice:
        if self.gender is not None and self.accent is None:
            raise ValueError("gender chooses among an accent's voices: give accent too")
        if self.accent is not None and self.engine != "openai":
            if "voice" in self.model_fields_set:
                raise ValueError("give voice or accent, not both")
            self._set_accent_voice()
        elif "voice" not in self.model_fields_set:
            if self.engine == "kokoro":
                self.voice = DEFAULT_KOKORO_VOICE
            elif self.engine == "openai":
                self.voice = DEFAULT_OPENAI_VOICE
        return self

    def _set_accent_voice(self) -> None:
        assert self.accent is not None
        engine, voice = accent_voice(self.accent, self.engine, self.gender)
        self.voice = voice
        if self.engine is None and engine != self.engine_name:
            self.engine = engine  # type: ignore[assignment]

    @property
    def spoken_instructions(self) -> str | None:
        """Engine openai: the instructions with the accent hint, as the speech is asked for."""
        if self.accent is None:
            return self.instructions
        ask = f"Speak English with this accent: {self.accent}."
        return f"{self.instructions} {ask}" if self.instructions else ask

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
            given.setdefault("accent", None)
            given.setdefault("gender", None)
            if isinstance(self, Caller):
                given["voices"] = None
        changed = self.model_copy(update=given)
        if "accent" in given and "voice" not in given and changed.engine != "openai":
            if "engine" not in given:
                changed.engine = change.engine
            if isinstance(changed, Caller):
                changed.voices = None
            try:
                changed._set_accent_voice()
            except ValueError as exc:
                raise InputError(str(exc), field="voice.accent") from None
        return changed


class Caller(CallerVoice):
    """The caller of a scenario: a voice, or a list of voices its trials take in turn."""

    voices: list[str] | None = Field(
        None, min_length=1, description="voices the trials take in turn instead of `voice`: "
        "trial k speaks with voice k mod n (all of `engine`, or each of its own engine)",
        examples=[["af_heart", "am_michael", "bf_emma"]])

    @model_validator(mode="after")
    def _voice_or_voices(self) -> Caller:
        if self.voices is not None and self.accent is not None:
            raise ValueError("give voices or accent, not both")
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
        if self.accent is not None:
            out["accent"] = self.accent
        if self.engine_name == "openai":
            out["model"] = self.model or DEFAULT_OPENAI_MODEL
            if self.instructions:
                out["instructions"] = self.instructions
        return out
