"""The ``openai`` caller voice: speech from OpenAI's ``/v1/audio/speech`` or any endpoint that
answers like it, used only when a scenario asks for it.

One POST per clip (model, voice, the text as ``input``, the spoken-style ``instructions``,
``response_format: pcm``); the answer is 24 kHz PCM16 (or a WAV file, which some compatible
servers send). The render cache keeps every clip by content hash, so a suite asks the endpoint
once per line. ``OPENAI_API_KEY`` holds the key and ``OPENAI_BASE_URL`` moves the endpoint, as
for the openai target; the key goes only into the request's ``Authorization`` header and is
taken out of any message the endpoint answers with.

The endpoint gives no word timings: each word's start is placed in proportion to its position in
the text across the clip's speech, which is enough to cut a caller off after a phrase.
"""

from __future__ import annotations

import io
import json
import os
import re
import urllib.error
import urllib.request

import numpy as np

from harness.audio._codec import resample
from harness.audio._speech import detect_speech
from harness.errors import InputError, TargetError

KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
PCM_RATE = 24_000
"""The rate of ``response_format: pcm`` (16-bit little-endian mono)."""
TIMEOUT_S = 60.0
_SECRET_LIKE = re.compile(r"sk-[A-Za-z0-9_*\-]{4,}")


class SpeechServiceError(TargetError):
    """The speech endpoint refused the request or could not be reached (trials *error*)."""


def base_url() -> str:
    """The speech endpoint's base (``OPENAI_BASE_URL``, else OpenAI's)."""
    return (os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


def api_key(needed_for: str = "the openai caller voice") -> str:
    """The key from ``OPENAI_API_KEY``; a user error naming the variable when it is not set."""
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise InputError(f"{needed_for} needs an API key: set {KEY_ENV} (and "
                         f"{BASE_URL_ENV} for another OpenAI-compatible endpoint)",
                         field=KEY_ENV)
    return key


def _scrub(text: str, key: str) -> str:
    return _SECRET_LIKE.sub("sk-…", text.replace(key, "…")) if key else text


def _failure(status: int | None, body: bytes, key: str, url: str) -> SpeechServiceError:
    detail = body.decode("utf-8", "replace")[:300]
    try:
        error = json.loads(body).get("error") or {}
        detail = str(error.get("message") or error.get("code") or detail)
    except (ValueError, AttributeError):
        pass
    detail = _scrub(detail, key)
    if status in (401, 403):
        return SpeechServiceError(f"the speech endpoint {url} refused the key in {KEY_ENV} "
                                  f"(HTTP {status}: {detail})")
    return SpeechServiceError(f"the speech endpoint {url} answered HTTP {status}: {detail}")


def request_speech(text: str, voice: str, model: str, instructions: str | None) -> np.ndarray:
    """The endpoint's speech for ``text``: PCM16 mono at 24 kHz."""
    key = api_key()
    url = f"{base_url()}/audio/speech"
    payload: dict[str, str] = {"model": model, "voice": voice, "input": text,
                               "response_format": "pcm"}
    if instructions:
        payload["instructions"] = instructions
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise _failure(exc.code, exc.read(), key, url) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SpeechServiceError(f"the speech endpoint {url} is unreachable: "
                                 f"{_scrub(str(reason), key)}") from None
    return _decode(body, url)


def _decode(body: bytes, url: str) -> np.ndarray:
    if body[:4] == b"RIFF":
        import soundfile  # noqa: PLC0415

        try:
            data, rate = soundfile.read(io.BytesIO(body), dtype="int16", always_2d=True)
        except (RuntimeError, ValueError) as exc:
            raise SpeechServiceError(f"the speech endpoint {url} sent a WAV file that cannot "
                                     f"be read: {exc}") from None
        mono = data.mean(axis=1).astype(np.int16)
        return resample(mono, int(rate), PCM_RATE) if rate != PCM_RATE else mono
    if len(body) < 2:
        raise SpeechServiceError(f"the speech endpoint {url} sent no audio")
    return np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2").astype(np.int16)


def word_starts(text: str, samples: np.ndarray, rate: int) -> list[tuple[int, int, int]]:
    """Per word of ``text``: (char start, char length, start sample), each start placed in
    proportion to the word's first character across the clip's speech."""
    span = detect_speech(samples, rate) or (0, max(0, samples.size - 1))
    words = [(m.start(), len(m.group())) for m in re.finditer(r"\S+", text)]
    length = max(1, len(text.rstrip()))
    return [(s, n, span[0] + round(s / length * (span[1] - span[0]))) for s, n in words]
