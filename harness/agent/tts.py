"""The agent's voice: sentences synthesised with espeak-ng or Kokoro (``harness.audio``) and
encoded in the session's output format.

The agent speaks with a British English voice so that it never sounds like the default caller
(``en-us``). The service's voice names map to distinct ``en-gb`` voices of espeak-ng; any voice
name that ``harness.audio`` knows (``en-gb-scotland``, ``en-gb+f3`` ...) is used as given, and a
Kokoro voice's name (``bf_emma``, ``bm_george`` ...; the ``voices`` extra) is spoken by Kokoro.
On a telephone line espeak-ng is not intelligible to a recogniser (a read-back of 83521 was heard
0 or 1 time in 4 in 18 voice and rate settings, Kokoro's 4 in 4); Kokoro costs the agent's
answers their first sentence's synthesis (0.6 to 1.5 s on two cores), so it is chosen, not the
default.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import numpy as np

from harness import audio
from harness.errors import InputError

AGENT_VOICE = "en-gb"
AGENT_WORDS_PER_MINUTE = 175
TTS_RATE = 24000

SERVICE_VOICES = {
    "alloy": "en-gb", "ash": "en-gb+m3", "ballad": "en-gb-scotland", "coral": "en-gb+f3",
    "echo": "en-gb+m2", "sage": "en-gb+f2", "shimmer": "en-gb+f4", "verse": "en-gb-x-rp",
    "marin": "en-gb+f1", "cedar": "en-gb+m1",
}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class SpokenSentence:
    """One synthesised sentence: its text, PCM16 at 24 kHz and the same audio encoded."""

    text: str
    pcm: np.ndarray
    encoded: bytes

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) * 1000.0 / TTS_RATE


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (split after . ! ?), so the first one can be spoken early."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def espeak_voice(session_voice: str) -> str:
    """The espeak-ng voice for a session's ``voice`` field."""
    return SERVICE_VOICES.get(session_voice.lower(), session_voice)


def kokoro_voice_name(session_voice: str) -> str | None:
    """The Kokoro voice ``session_voice`` names, or None (an espeak-ng voice)."""
    from harness.kokoro import VOICES  # noqa: PLC0415 - the catalogue only, no model

    name = session_voice.strip().lower()
    return name if name in VOICES else None


def encode(pcm: np.ndarray, output_format: dict) -> bytes:
    """24 kHz PCM16 as bytes of ``output_format`` (audio/pcm, audio/pcmu or audio/pcma)."""
    kind = output_format["type"]
    if kind == "audio/pcm":
        return pcm.astype("<i2").tobytes()
    return audio.encode_g711(pcm, "ulaw" if kind == "audio/pcmu" else "alaw", sample_rate=TTS_RATE)


def synthesize_sentence(text: str, session_voice: str, speed: float,
                        output_format: dict) -> SpokenSentence:
    """Speak one sentence in the session's voice and format (falls back to the agent's default
    voice when the session names a voice espeak-ng does not have). A Kokoro voice's sentences
    are remembered in this process (``harness.audio``): the agent says its preambles and
    questions again and again, and a sentence costs Kokoro about 0.4 s a second of speech."""
    wpm = int(round(AGENT_WORDS_PER_MINUTE * speed))
    kokoro = kokoro_voice_name(session_voice)
    if kokoro is not None:
        pcm = audio.speak_kokoro(text, kokoro, words_per_minute=wpm,
                                 sample_rate=TTS_RATE).samples.copy()
        return SpokenSentence(text=text, pcm=pcm, encoded=encode(pcm, output_format))
    try:
        pcm = audio.synthesize(text, voice=espeak_voice(session_voice), words_per_minute=wpm,
                               sample_rate=TTS_RATE)
    except InputError:
        pcm = audio.synthesize(text, voice=AGENT_VOICE, words_per_minute=wpm, sample_rate=TTS_RATE)
    return SpokenSentence(text=text, pcm=pcm, encoded=encode(pcm, output_format))


async def synthesize_sentence_async(text: str, session_voice: str, speed: float,
                                    output_format: dict) -> SpokenSentence:
    """:func:`synthesize_sentence` off the event loop."""
    return await asyncio.to_thread(synthesize_sentence, text, session_voice, speed, output_format)
