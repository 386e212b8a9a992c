"""Transcripts from OpenAI's ``/v1/audio/transcriptions`` or any endpoint that answers like it:
for production calls that come without one (``transcribe: openai`` in ``calls.yaml``) and for
the agent's words on a SIP call (``HARNESS_SIP_TRANSCRIBE=openai``).

One POST per turn (a WAV of the turn's audio as ``file``, the policy's ``transcribe_model`` as
``model``); the answer's ``text`` is the transcript. ``OPENAI_API_KEY`` holds the key and
``OPENAI_BASE_URL`` names the endpoint, as for the openai caller voice; the key goes only into
the request's ``Authorization`` header and is taken out of any message the endpoint answers with.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

import numpy as np
import soundfile as sf

from harness.audio._openai_tts import KEY_ENV, TIMEOUT_S, api_key, base_url
from harness.audio._openai_tts import _scrub as scrub
from harness.errors import TargetError


class TranscriptionServiceError(TargetError):
    """The transcription endpoint refused the request or could not be reached."""


def _multipart(fields: dict[str, str], audio: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             .encode() for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="turn.wav"\r\nContent-Type: audio/wav\r\n\r\n'.encode() + audio
                 + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), boundary


def endpoint_transcriber(model: str) -> Callable[[list[np.ndarray], int], list[str]]:
    """A transcriber (clips, rate → texts) over the endpoint; the key is read now, so a missing
    one is a located user error before any call is graded."""
    key = api_key("the transcription endpoint")
    url = f"{base_url()}/audio/transcriptions"

    def transcribe(pieces: list[np.ndarray], rate: int) -> list[str]:
        out = []
        for piece in pieces:
            wav = io.BytesIO()
            sf.write(wav, piece, rate, format="WAV", subtype="PCM_16")
            body, boundary = _multipart({"model": model, "response_format": "json"},
                                        wav.getvalue())
            request = urllib.request.Request(url, data=body, method="POST", headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": f"multipart/form-data; boundary={boundary}"})
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                    answer = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                detail = scrub(exc.read().decode("utf-8", "replace")[:300], key)
                what = f"refused the key in {KEY_ENV} " if exc.code in (401, 403) else ""
                raise TranscriptionServiceError(
                    f"the transcription endpoint {url} {what}answered HTTP {exc.code}: "
                    f"{detail}") from None
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                raise TranscriptionServiceError(
                    f"the transcription endpoint {url} failed: {scrub(str(reason), key)}"
                ) from None
            out.append(str(answer.get("text", "")).strip() if isinstance(answer, dict) else "")
        return out

    return transcribe
