"""The Kokoro-82M speakers: 54 voices, named as the model's voice pack names them.

A name is ``<accent><gender>_<speaker>``: ``a`` American and ``b`` British English, then speakers
whose English carries another language's accent (``e`` Spanish, ``f`` French, ``h`` Hindi,
``i`` Italian, ``j`` Japanese, ``p`` Brazilian Portuguese, ``z`` Mandarin Chinese); ``f`` or
``m`` for a female or male voice. Every voice reads English text here: the British voices with
British phonemes, all others with American ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import InputError

ACCENTS = {
    "a": "American English", "b": "British English", "e": "Spanish", "f": "French",
    "h": "Hindi", "i": "Italian", "j": "Japanese", "p": "Brazilian Portuguese",
    "z": "Mandarin Chinese",
}
"""The accent each name's first letter stands for."""

_NAMES = (
    "af_alloy af_aoede af_bella af_heart af_jessica af_kore af_nicole af_nova af_river af_sarah "
    "af_sky am_adam am_echo am_eric am_fenrir am_liam am_michael am_onyx am_puck am_santa "
    "bf_alice bf_emma bf_isabella bf_lily bm_daniel bm_fable bm_george bm_lewis ef_dora em_alex "
    "em_santa ff_siwis hf_alpha hf_beta hm_omega hm_psi if_sara im_nicola jf_alpha "
    "jf_gongitsune jf_nezumi jf_tebukuro jm_kumo pf_dora pm_alex pm_santa zf_xiaobei zf_xiaoni "
    "zf_xiaoxiao zf_xiaoyi zm_yunjian zm_yunxi zm_yunxia zm_yunyang"
).split()


@dataclass(frozen=True)
class KokoroVoice:
    """One speaker: its name, accent, gender and the phoneme set its English is read with."""

    name: str
    accent: str
    gender: str
    language: str

    @property
    def description(self) -> str:
        english = "" if self.accent.endswith("English") else " accent"
        return f"{self.accent}{english}, {self.gender}"


def _voice(name: str) -> KokoroVoice:
    return KokoroVoice(name=name, accent=ACCENTS[name[0]],
                       gender="female" if name[1] == "f" else "male",
                       language="en-gb" if name[0] == "b" else "en-us")


VOICES: dict[str, KokoroVoice] = {name: _voice(name) for name in _NAMES}
"""Every Kokoro voice by name."""


def kokoro_voice(name: str) -> KokoroVoice:
    """The voice called ``name``; ``InputError`` naming similar ones when there is none."""
    voice = VOICES.get(name.strip().lower())
    if voice is None:
        prefix = name.strip().lower()[:2]
        near = [v for v in VOICES if v.startswith(prefix)] or [v for v in VOICES
                                                               if v[0] == prefix[:1]]
        raise InputError(f"unknown Kokoro voice {name!r}"
                         + (f"; similar voices: {', '.join(near[:8])}" if near else "")
                         + " (`harness voices` lists them)")
    return voice
