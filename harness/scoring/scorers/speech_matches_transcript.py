"""``speech_matches_transcript``: ASR of the agent's audio agrees with its own transcript."""

from __future__ import annotations

import functools
from typing import Any, TypedDict

import numpy as np
from pydantic import Field

from harness.extras import install_hint, missing_modules
from harness.recording import AGENT_STREAM_WAV
from harness.scenario.kinds import ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import excerpt, word_error_rate
from harness.scoring.scorers._common import utterance_evidence
from harness.scoring.verdict import Status


class SpeechMatchesTranscriptParams(ExpectationParams):
    """ASR of the agent's audio against its own transcript (WER)."""

    max_wer: float = Field(0.35, ge=0.0)


_ASR_RATE = 16_000


@functools.lru_cache(maxsize=1)
def asr_model() -> Any:
    """The harness's configured faster-whisper model (``harness.audio.asr_model_name``), loaded
    once."""
    from faster_whisper import WhisperModel  # noqa: PLC0415 - heavy; only this scorer needs it

    from harness.audio import asr_compute_type, asr_model_name  # noqa: PLC0415

    return WhisperModel(asr_model_name(), device="cpu", compute_type=asr_compute_type())


_GAP_S = 0.4
"""Silence put between items: whisper hears a call's items best in one pass, with context."""

# Every decode here is at temperature 0 alone: Whisper's fallback samples at rising temperatures
# a transcript it doubts, unseeded, so the same recording could be graded two ways.


def transcribe_each(pieces: list[np.ndarray], rate: int, beam_size: int = 1) -> list[str]:
    """What the ASR model hears in each clip, each transcribed on its own."""
    import soxr  # noqa: PLC0415

    model, out = asr_model(), []
    for piece in pieces:
        audio = piece.astype(np.float32) / 32768.0
        if rate != _ASR_RATE:
            audio = soxr.resample(audio, rate, _ASR_RATE)
        segments, _ = model.transcribe(audio, language="en", beam_size=beam_size,
                                       temperature=0.0, without_timestamps=True,
                                       condition_on_previous_text=False)
        out.append(" ".join(s.text.strip() for s in segments if s.text.strip()))
    return out


def transcribe_line(pieces: list[np.ndarray], rate: int) -> list[str]:
    """What the ASR model hears in each clip of a telephone line's audio (G.711, 8 kHz), each
    transcribed on its own with the line's beam (``harness.audio.asr_beam_size``): one pass
    over a whole call lends narrowband speech a context it then hears across clips."""
    from harness.audio import asr_beam_size  # noqa: PLC0415

    return transcribe_each(pieces, rate, asr_beam_size(8_000))


def transcribe_items(pieces: list[np.ndarray], rate: int) -> list[str]:
    """What the ASR model hears in each of several int16 mono clips, transcribed in one pass
    (each word goes to the clip its middle falls in)."""
    import soxr  # noqa: PLC0415

    gap = np.zeros(int(_GAP_S * _ASR_RATE), dtype=np.float32)
    spans: list[tuple[float, float]] = []
    parts: list[np.ndarray] = [gap]
    cursor = len(gap)
    for piece in pieces:
        audio = piece.astype(np.float32) / 32768.0
        if rate != _ASR_RATE:
            audio = soxr.resample(audio, rate, _ASR_RATE)
        spans.append((cursor / _ASR_RATE, (cursor + len(audio)) / _ASR_RATE))
        parts += [audio, gap]
        cursor += len(audio) + len(gap)
    segments, _ = asr_model().transcribe(np.concatenate(parts), language="en", beam_size=1,
                                         temperature=0.0, word_timestamps=True)
    heard: list[list[str]] = [[] for _ in pieces]
    for segment in segments:
        for word in segment.words or []:
            middle = (word.start + word.end) / 2
            index = min(range(len(spans)), key=lambda i: _distance(spans[i], middle))
            heard[index].append(word.word.strip())
    return [" ".join(w) for w in heard]


def _distance(span: tuple[float, float], t: float) -> float:
    return 0.0 if span[0] <= t <= span[1] else min(abs(t - span[0]), abs(t - span[1]))


class _ItemHeard(TypedDict):
    """One spoken item: its transcript and what the ASR heard (``measured["items"]``)."""

    response_id: str
    item_id: str
    transcript: str
    asr: str
    wer: float


@scorer("speech_matches_transcript", "ASR (faster-whisper, the configured offline model) of the "
        "agent's audio against its own transcript, over every completed spoken item: overall WER "
        "(jiwer) at most max_wer; per-item WER as evidence.",
        params=SpeechMatchesTranscriptParams, extra="asr")
def score_speech_matches_transcript(ctx: ScoringContext, p: SpeechMatchesTranscriptParams
                                    ) -> Outcome:
    if missing_modules("asr"):
        # Re-scoring a run folder on a machine without a recogniser: not a verdict on the agent.
        return Outcome("error", "this expectation transcribes the agent's audio and needs the "
                       f"'asr' extra, which is not installed: {install_hint('asr')}")
    tl = ctx.timeline
    recording = ctx.recording
    path = recording.path if recording is not None else None
    if recording is None or path is None or not (path / AGENT_STREAM_WAV).is_file():
        return Outcome("fail", "the recording has no agent audio track, so there was no agent "
                       "speech to compare with its transcript")
    track, rate = recording.track(AGENT_STREAM_WAV)
    if track.ndim > 1:
        track = track[:, 0]
    utterances = {(u.response_id, u.item_id): u for u in tl.utterances()}
    items = [(r, item) for r in tl.responses if not r.cancelled
             # Transcript and audio of a cancelled response stop at different points.
             for item in r.message_items if item.audio_chunks and item.transcript.strip()]
    pieces = [np.concatenate([track[c["start_sample"]: c["start_sample"] + c["samples"]]
                              for c in item.audio_chunks]) for _, item in items]
    rate = int(items[0][1].audio_chunks[0].get("sample_rate", rate)) if items else rate
    heard_all = transcribe_items(pieces, rate) if pieces else []
    # One pass hears most items best, but a misheard word can carry its context into the next
    # items ("I'll check that order now." heard as "I'll check my own own house." after a
    # read-back heard as "3 .6 .2 .1"): an item whose reading misses the limit is heard alone
    # too, and the closer reading is kept. Silence or other words are far from both readings.
    wers = [word_error_rate(item.transcript, heard)
            for (_, item), heard in zip(items, heard_all, strict=True)]
    again = [i for i, wer in enumerate(wers) if wer > p.max_wer]
    for i, heard in zip(again, transcribe_each([pieces[i] for i in again], rate) if again
                        else [], strict=True):
        if word_error_rate(items[i][1].transcript, heard) < wers[i]:
            heard_all[i] = heard
    rows: list[_ItemHeard] = []
    evidence = []
    for (r, item), heard in zip(items, heard_all, strict=True):
        wer = word_error_rate(item.transcript, heard)
        rows.append({"response_id": r.response_id, "item_id": item.item_id,
                     "transcript": item.transcript, "asr": heard, "wer": round(wer, 3)})
        u = utterances.get((r.response_id, item.item_id))
        if u is not None:
            ev = utterance_evidence(u, f"agent audio WER {wer:.2f}")
            ev.excerpt = (f"transcript {excerpt(item.transcript, 70)!r} / "
                          f"ASR {excerpt(heard, 70)!r}")
            evidence.append(ev)
    if not rows:
        return Outcome("fail", "the agent completed no spoken item with a transcript, so there "
                       "was no speech to compare")
    overall = word_error_rate(" ".join(r["transcript"] for r in rows),
                              " ".join(r["asr"] for r in rows))
    worst = max(rows, key=lambda r: r["wer"])
    measured = {"wer": round(overall, 3), "items": rows}
    verdict: Status = "pass" if overall <= p.max_wer else "fail"
    relation = "≤" if verdict == "pass" else ">"
    return Outcome(verdict, f"agent audio vs its transcript: WER {overall:.2f} {relation} "
                   f"{p.max_wer:.2f} over {len(rows)} item(s); worst {worst['wer']:.2f} "
                   f"({excerpt(worst['transcript'], 40)!r} heard as {excerpt(worst['asr'], 40)!r})",
                   measured, evidence)
