"""Server-side voice activity detection on the input stream's own clock (no I/O, no wall time).

A frame (20 ms) counts as caller speech when webrtcvad calls it voiced *and* its level passes a
gate. The gate is the highest of:

- an absolute floor set by ``threshold``: ``-65 + 40 * threshold`` dBFS (0.5 → -45 dBFS);
  webrtcvad's aggressiveness also follows ``threshold`` (<0.3 → 0, <0.5 → 1, <0.7 → 2, else 3);
- a noise floor gate: 8 dB above the 10th percentile of the last 3 s of frame levels, so a
  steady background bed does not hold a turn open;
- the caller frame gate: ``CALLER_FRAME_GATE_DB`` below the caller's speech level (the median
  level of the speech frames of the caller's turns so far, see :meth:`learn_caller_level`), so
  quieter sound mostly does not start or prolong a turn.

The session judges whole turns too: a committed turn whose active level is more than
``CALLER_TURN_GATE_DB`` below the caller's is handed to the policy as not addressed to the agent
(it stays silent or calls its wait tool). The ``talk_over_noise`` fault switches both gates off
while the agent is quiet.

A turn starts when 3 of 5 frames are speech and ends after ``silence_duration_ms`` without.

Times are milliseconds of audio received (samples / rate), like the service's
``audio_start_ms`` / ``audio_end_ms``: ``audio_start_ms`` includes ``prefix_padding_ms`` and
``audio_end_ms`` includes the silence that ended the turn.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

FRAME_MS = 20
CALLER_FRAME_GATE_DB = 6.0
# A whole turn more than this below the caller's level (P.56 active level, as the scenario
# renderer measures it) is taken as not addressed to the agent. The example suite plays TV,
# side conversations and noise 8-12 dB below the caller; a recorded caller clip may itself be
# 5 dB louder than the synthesised turns after it, which bounds the gate from below.
CALLER_TURN_GATE_DB = 6.0
NOISE_GATE_DB = 8.0
_NOISE_WINDOW_FRAMES = 150
_ONSET_WINDOW = 5  # speech starts when 3 of the last 5 frames are speech
_ONSET_FRAMES = 3
# Initial lead of a speculative transcript: one transcription of a short utterance.
_SPECULATION_LEAD_MS = 350
# Pauses shorter than this are inside a sentence (a comma, a breath): not worth a transcript.
_MIN_SPECULATION_PAUSE_MS = 200
_VAD_RATE = 8000  # webrtcvad is built for telephone-band speech; exact 3:1 decimation from 24 kHz


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began; ``audio_start_ms`` includes the prefix padding, ``onset_ms`` does not."""

    audio_start_ms: int
    onset_ms: int


@dataclass(frozen=True)
class SpeechPaused:
    """The caller has been silent long enough that a transcript of the turn so far is worth
    starting (the turn may still go on); speech last ended at ``speech_end_ms``."""

    speech_end_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    """The turn ended: ``audio_end_ms`` = end of speech + silence duration."""

    audio_end_ms: int
    speech_end_ms: int


VadEvent = SpeechStarted | SpeechPaused | SpeechStopped


def level_dbfs(frame: np.ndarray) -> float:
    """RMS level of PCM16 samples in dB relative to full scale."""
    power = float(np.mean(np.square(frame.astype(np.float64)))) if len(frame) else 0.0
    return 10.0 * np.log10(power + 1e-9) - 20.0 * np.log10(32768.0)


class VoiceActivityDetector:
    """Feed PCM16 samples with :meth:`feed`; get speech start / pause / stop events back."""

    def __init__(
        self,
        sample_rate: int,
        *,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
        caller_gate: bool = True,
        speculate: bool = True,
    ) -> None:
        if sample_rate not in (8000, 24000):
            raise ValueError(f"unsupported input rate {sample_rate}")
        self.sample_rate = sample_rate
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.caller_gate = caller_gate
        self.floor_db = -65.0 + 40.0 * threshold
        mode = 0 if threshold < 0.3 else 1 if threshold < 0.5 else 2 if threshold < 0.7 else 3
        self._vad = webrtcvad.Vad(mode)
        self._frame_len = sample_rate * FRAME_MS // 1000
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames_seen = 0
        self._levels: deque[float] = deque(maxlen=_NOISE_WINDOW_FRAMES)
        self._recent: deque[tuple[bool, int]] = deque(maxlen=_ONSET_WINDOW)
        self.caller_level_db: float | None = None
        self.speaking = False
        self._speech_end_ms = 0
        self._turn_levels: list[float] = []
        self.last_turn_levels: list[float] = []
        self.speculate = speculate
        # How long before the end of a turn a speculative transcript should start: about one
        # transcription, so it is ready when the turn ends (the session keeps it up to date).
        self.speculation_lead_ms = _SPECULATION_LEAD_MS
        self._speculated = False
        self.buffer_start_ms = 0

    @property
    def now_ms(self) -> int:
        """Milliseconds of audio processed so far."""
        return self._frames_seen * FRAME_MS

    def reset(self, at_ms: int) -> None:
        """Forget the current turn (buffer cleared or committed by hand); audio before ``at_ms``
        is no longer in the buffer."""
        self.speaking = False
        self._recent.clear()
        self._speculated = False
        self.buffer_start_ms = at_ms

    def gate_db(self) -> float:
        """The level a voiced frame must reach to count as speech right now."""
        gate = self.floor_db
        if len(self._levels) >= 5:
            gate = max(gate, float(np.percentile(self._levels, 10)) + NOISE_GATE_DB)
        if self.caller_gate and self.caller_level_db is not None:
            gate = max(gate, self.caller_level_db - CALLER_FRAME_GATE_DB)
        return gate

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        """Process PCM16 mono samples at the input rate; return the events they caused."""
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n_frames = len(data) // self._frame_len
        self._pending = data[n_frames * self._frame_len:]
        events: list[VadEvent] = []
        for i in range(n_frames):
            frame = data[i * self._frame_len:(i + 1) * self._frame_len]
            events.extend(self._frame(frame))
        return events

    def _frame(self, frame: np.ndarray) -> list[VadEvent]:
        start_ms = self.now_ms
        self._frames_seen += 1
        level = level_dbfs(frame)
        gate = self.gate_db()
        self._levels.append(level)
        if self._frames_seen <= 5:
            return []  # the noise floor is not known yet
        narrow = frame if self.sample_rate == _VAD_RATE else frame.reshape(-1, 3).mean(
            axis=1).astype(np.int16)
        is_speech = level >= gate and self._vad.is_speech(narrow.tobytes(), _VAD_RATE)
        self._recent.append((is_speech, start_ms))
        voiced_recent = [t for s, t in self._recent if s]
        if not self.speaking:
            if len(voiced_recent) < _ONSET_FRAMES:
                return []
            onset = voiced_recent[0]
            self.speaking = True
            self._speculated = False
            self._speech_end_ms = self.now_ms
            self._turn_levels = [lv for (voiced, _), lv in zip(
                self._recent, list(self._levels)[-len(self._recent):], strict=True) if voiced]
            audio_start = max(self.buffer_start_ms, onset - self.prefix_padding_ms)
            return [SpeechStarted(audio_start_ms=audio_start, onset_ms=onset)]
        # A lone voiced frame in a pause (a click, a burst of babble) does not extend the turn.
        if is_speech and len(voiced_recent) >= 2:
            self._speech_end_ms = self.now_ms
            self._speculated = False
            self._turn_levels.append(level)
            return []
        silence = self.now_ms - self._speech_end_ms
        if silence >= self.silence_duration_ms:
            self.speaking = False
            self._recent.clear()
            self.last_turn_levels, self._turn_levels = self._turn_levels, []
            return [SpeechStopped(audio_end_ms=self.now_ms, speech_end_ms=self._speech_end_ms)]
        speculate_after = max(min(_MIN_SPECULATION_PAUSE_MS, self.silence_duration_ms // 2),
                              self.silence_duration_ms - self.speculation_lead_ms)
        if self.speculate and not self._speculated and silence >= speculate_after:
            self._speculated = True
            return [SpeechPaused(speech_end_ms=self._speech_end_ms)]
        return []

    def end_of_input(self) -> SpeechStopped | None:
        """The input stopped arriving (a client that stops streaming when its caller stops):
        end the current turn where the audio ends, as the silence that follows would."""
        if not self.speaking:
            return None
        self.speaking = False
        self._recent.clear()
        self.last_turn_levels, self._turn_levels = self._turn_levels, []
        return SpeechStopped(audio_end_ms=self.now_ms, speech_end_ms=self._speech_end_ms)

    def learn_caller_level(self) -> None:
        """The last turn was the caller's: let its speech frames set the caller's level."""
        # Short blips say little about the caller's level; a turn needs 200 ms of speech.
        if len(self.last_turn_levels) < 10:
            return
        self.caller_level_db = follow_level(self.caller_level_db,
                                            float(np.median(self.last_turn_levels)))


def follow_level(current: float | None, measured: float) -> float:
    """Follow a louder turn at once, a quieter one slowly (a soft reply is still the caller)."""
    if current is None or measured > current:
        return measured
    return 0.8 * current + 0.2 * measured
