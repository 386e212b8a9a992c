"""The Kokoro-82M speech engine: natural voices offline, 54 speakers in nine accents.

Importing this package is cheap (the voice catalogue and the install paths); the model loads
when a voice first speaks. It needs the ``voices`` extra and an installed voice pack
(``harness voices install``).
"""

from harness.kokoro._install import (
    install_voices,
    kokoro_dir,
    model_path,
    voices_installed,
    voices_path,
)
from harness.kokoro._voices import ACCENTS, VOICES, KokoroVoice, kokoro_voice

__all__ = [
    "ACCENTS",
    "VOICES",
    "KokoroVoice",
    "install_voices",
    "kokoro_dir",
    "kokoro_voice",
    "model_path",
    "voices_installed",
    "voices_path",
]
