"""Speech recognition for the local agent: one faster-whisper model per process, run in worker
threads so that the sessions' event loop keeps real-time pace.

The model is ``HARNESS_ASR_MODEL`` when set, else the agent profile's ``recogniser``, else
``tiny.en`` (``harness.audio.asr_model_name``; ``tiny.en``, ``base`` or a model folder, always
from local files), with ``compute_type`` ``HARNESS_ASR_COMPUTE_TYPE`` (default ``int8``).

The encoder is given the turn and its padding (:func:`window_frames`), not Whisper's whole 30 s
window: the encoder's cost grows faster than its input, and a caller's turn is a few seconds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import hashlib
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import soxr

from harness.audio import asr_beam_size, asr_compute_type, asr_model_name

ASR_RATE = 16000
# Two transcriptions at once: the model is shared and CTranslate2 runs them in parallel.
_WORKERS = 2

_lock = threading.Lock()
_recognizers: dict[str, SpeechRecognizer] = {}
ENCODINGS_KEPT = 8
"""Encoder outputs a recognizer keeps (about 1 MB each for ``tiny.en``'s 15 s window)."""

OTHERS_BUSY_MAX = 0.5
"""The share of the machine's CPU its other processes may use while a recogniser still counts
as having room for speculative work (:attr:`SpeechRecognizer.spare`): on two cores, another
process's decode on both cores is 1.0, one core busy is 0.5."""
_LOAD_WINDOW_S = 1.0
_load_lock = threading.Lock()
_load: dict[str, float] = {}


def others_busy() -> float:
    """The share of the machine's CPU (0 to 1) used by processes other than this one since the
    last reading at least :data:`_LOAD_WINDOW_S` ago (0 where it cannot be read)."""
    now = time.monotonic()
    with _load_lock:
        if "at" in _load and now - _load["at"] < _LOAD_WINDOW_S:
            return _load.get("value", 0.0)
        machine = machine_cpu_seconds()
        if machine is None:
            return 0.0
        total, busy = machine
        own = sum(os.times()[:2])
        if "at" in _load and total > _load["total"]:
            others = busy - _load["busy"] - (own - _load["own"])
            _load["value"] = min(1.0, max(0.0, others / (total - _load["total"])))
        _load.update(at=now, total=total, busy=busy, own=own)
        return _load.get("value", 0.0)


def machine_has_room() -> bool:
    """Whether the machine's other processes use less than :data:`OTHERS_BUSY_MAX` of its
    CPU (:func:`others_busy`)."""
    return others_busy() < OTHERS_BUSY_MAX


def machine_cpu_seconds() -> tuple[float, float] | None:
    """The CPU seconds of all the machine's cores so far, and those of them not idle (nor
    waiting for I/O), from ``/proc/stat`` (None off Linux)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    per_second = os.sysconf("SC_CLK_TCK")
    total = sum(ticks) / per_second
    return total, total - (ticks[3] + ticks[4]) / per_second


class SpeechRecognizer:
    """A loaded faster-whisper model and the worker threads that run it."""

    def __init__(self, model: str, compute_type: str = "int8") -> None:
        from faster_whisper import WhisperModel

        _patch_window()
        self.model_name = model
        self._model = WhisperModel(
            model, device="cpu", compute_type=compute_type,
            cpu_threads=os.cpu_count() or 2, num_workers=_WORKERS)
        self._executor = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="asr")
        self._encode = self._model.encode
        self._encoded: collections.OrderedDict[bytes, Any] = collections.OrderedDict()
        self._encoded_lock = threading.Lock()
        self.encodes = 0  # encoder runs (a turn heard again reuses its audio's encoding)
        self._model.encode = self._encoded_features  # type: ignore[method-assign]
        self.recent_seconds = 0.35  # running mean of a transcription's wall time
        self.in_flight = 0  # transcriptions queued or running (sessions may run in many loops)
        self._count_lock = threading.Lock()
        # The first call builds CTranslate2's caches; do it now rather than on a caller's turn.
        self.transcribe_sync(np.zeros(ASR_RATE // 2, dtype=np.int16), ASR_RATE)

    def _encoded_features(self, features: np.ndarray) -> Any:
        """The encoder's output for ``features``, kept for the last :data:`ENCODINGS_KEPT`
        inputs: a turn heard again (its runners-up searched, heard again without a prompt that
        came back as its transcript, decoded again after a loop) is encoded once. The encoder
        is most of a decode's cost: 0.24 s of the 15 s window's on two 2 GHz EPYC cores."""
        key = hashlib.blake2b(np.ascontiguousarray(features).data, digest_size=16).digest() \
            + repr(features.shape).encode()
        with self._encoded_lock:
            if key in self._encoded:
                self._encoded.move_to_end(key)
                return self._encoded[key]
        encoded = self._encode(features)
        with self._encoded_lock:
            self.encodes += 1
            self._encoded[key] = encoded
            while len(self._encoded) > ENCODINGS_KEPT:
                self._encoded.popitem(last=False)
        return encoded

    def transcribe_sync(self, pcm16: np.ndarray, sample_rate: int, prompt: str | None = None,
                        language: str | None = None, *, sure: bool = False) -> str:
        """The text spoken in ``pcm16`` (mono int16 at ``sample_rate``); ``""`` for no speech.

        ``language`` defaults to English, the language of the example suite. ``sure``: without
        the words Whisper only guessed (:func:`guessed`).
        """
        beam_size = asr_beam_size(sample_rate)  # the caller's line, before resampling
        audio = _at_asr_rate(pcm16, sample_rate)
        if len(audio) < ASR_RATE // 10:
            return ""
        decode = functools.partial(
            self._model.transcribe, audio, language=language or "en",
            without_timestamps=True, condition_on_previous_text=False, initial_prompt=prompt,
            vad_filter=False, max_new_tokens=max_new_tokens(len(audio) / ASR_RATE))
        with _window(len(audio)):
            # Whisper's own decode, with its fallback to rising temperatures for a transcript
            # it doubts, each decode kept short by the token limit
            text = _joined(decode(beam_size=beam_size), sure)
            if not looped(text):
                return text
            # A decoder caught in a loop ("4, 9, 1, 6, 8, 8, 8, 8, …") that the limit cut
            # short enough to pass the fallback's checks: a beam search, then samples at rising
            # temperatures. Without the limit the fallback looped at 0.0 to 0.6 and took 15 s
            # with ``base`` on a generated call; the beam wrote "4, 9, 1, 6, 8, 0." in 0.5 s.
            for retry in (dict(beam_size=RUNNER_UP_BEAM, temperature=0.0),
                          *(dict(beam_size=1, temperature=t) for t in RESAMPLE_TEMPERATURES)):
                again = _joined(decode(**retry), sure)
                if not looped(again):
                    return again
            return text

    async def transcribe(self, pcm16: np.ndarray, sample_rate: int, prompt: str | None = None,
                         language: str | None = None, *, sure: bool = False) -> str:
        """:meth:`transcribe_sync` in a worker thread (queue wait included in
        :attr:`recent_seconds`, which tells how long a transcript takes right now)."""
        started = time.perf_counter()
        text = await self._in_worker(functools.partial(
            self.transcribe_sync, pcm16, sample_rate, prompt, language, sure=sure))
        self.recent_seconds += 0.3 * (time.perf_counter() - started - self.recent_seconds)
        return text

    async def _in_worker(self, job: Callable[[], Any]) -> Any:
        """``job`` in a worker thread, counted in :attr:`in_flight` from now until the thread is
        done with it. A caller that stops waiting (a speculative transcript the caller's next
        words made useless) does not stop a job a thread has begun: it holds the recogniser
        until it ends, and it is counted until then. Counting only the waiting let speculative
        decodes of one turn pile up (four of a growing turn at once, seen on the example suite)."""
        with self._count_lock:
            self.in_flight += 1
        future = self._executor.submit(job)
        future.add_done_callback(self._job_done)
        return await asyncio.wrap_future(future)

    def _job_done(self, _future: Future[Any]) -> None:
        with self._count_lock:
            self.in_flight -= 1

    def _decoder_inputs(self, audio: np.ndarray, prompt: str | None, language: str | None
                        ) -> tuple[Any, list[int], Any, int]:
        """For a decoder pass of our own over ``audio`` (at :data:`ASR_RATE`): the tokenizer,
        the start tokens after ``prompt`` (as Whisper's own decode), the encoding and the
        frames of audio in it. The frames encoded are those Whisper's own decode encodes (all
        but the feature extractor's last), so that the encoding of a turn just heard is
        reused (:meth:`_encoded_features`)."""
        from faster_whisper.audio import pad_or_trim  # noqa: PLC0415 - with the model
        from faster_whisper.tokenizer import Tokenizer  # noqa: PLC0415

        model = self._model
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                              task="transcribe", language=language or "en")
        previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
        start = model.get_prompt(tokenizer, previous, without_timestamps=True)
        features = model.feature_extractor(audio)[..., :-1]
        frames = window_frames(len(audio))
        return tokenizer, start, model.encode(pad_or_trim(features, frames)), \
            min(features.shape[-1], frames)

    def alternatives_sync(self, pcm16: np.ndarray, sample_rate: int, prompt: str | None = None,
                          language: str | None = None, *, digit_grammar: bool = True,
                          beam_size: int | None = None,
                          enough: Callable[[list[str]], bool] | None = None) -> list[str]:
        """Every transcript a beam search keeps, best first, then (``digit_grammar``) those of a
        second search that may not write :data:`DIGIT_FILLERS` (``[]`` for audio longer than the
        model's 30 s window). The beam is ``beam_size``, else the line's own beam when it has
        one (narrowband audio), else :data:`RUNNER_UP_BEAM`: wideband audio is decoded greedily,
        and its runners-up come from a beam search of their own.

        Decodes without the fallbacks of :meth:`transcribe_sync`: the runners-up a dialogue may
        prefer when the best transcript holds only part of a value it listens for ("3, 5, 2, 1"
        for "eight, three, five, two, one" over a telephone line). The second search is the
        digit grammar of a telephone recogniser: where a small model barely hears a digit
        ("seven" without the "s" a telephone line cuts off) it writes a short word in its place
        ("eight, three, five, and one"); without those words it writes its next best guess,
        the digit. ``enough``: told the first search's transcripts, whether they will do (the
        second search is then not made).
        """
        from faster_whisper.transcribe import get_suppressed_tokens  # noqa: PLC0415

        beam_size = beam_size or max(asr_beam_size(sample_rate), RUNNER_UP_BEAM)
        audio = _at_asr_rate(pcm16, sample_rate)
        if not ASR_RATE // 10 <= len(audio) <= 30 * ASR_RATE:
            return []
        model = self._model
        tokenizer, tokens, encoded, _ = self._decoder_inputs(audio, prompt, language)
        suppressed = get_suppressed_tokens(tokenizer, [-1])
        texts: list[str] = []
        searches = [suppressed]
        if digit_grammar:
            searches.append(sorted({*suppressed, *_filler_tokens(tokenizer)}))
        for suppress in searches:
            if texts and enough is not None and enough(texts):
                break
            result = model.model.generate(
                encoded, [tokens], beam_size=beam_size, num_hypotheses=beam_size,
                max_length=model.max_length, suppress_blank=True, suppress_tokens=suppress)[0]
            texts += [tokenizer.decode(ids).strip() for ids in result.sequences_ids]
        return [t for t in dict.fromkeys(texts) if t]

    def likelihoods_sync(self, pcm16: np.ndarray, sample_rate: int, texts: list[str],
                         prompt: str | None = None, language: str | None = None) -> list[float]:
        """How likely the model finds each of ``texts`` as the transcript of ``pcm16``: the sum
        of the log probabilities of its tokens, each given the audio and the tokens before it
        (teacher-forced, after the same prompt as a decode). ``[]`` for audio a decode would
        not hear (shorter than 0.1 s or longer than the model's 30 s window). The encoding a
        decode of the same audio made is reused."""
        audio = _at_asr_rate(pcm16, sample_rate)
        if not ASR_RATE // 10 <= len(audio) <= 30 * ASR_RATE or not texts:
            return []
        tokenizer, start, encoded, frames = self._decoder_inputs(audio, prompt, language)
        if len(texts) > 1:  # one pass for all: the encoding once per reading, as a batch
            import ctranslate2  # noqa: PLC0415 - with the model

            encoded = ctranslate2.StorageView.from_array(np.ascontiguousarray(
                np.repeat(np.asarray(encoded), len(texts), axis=0)))
        results = self._model.model.align(
            encoded, start, [tokenizer.encode(" " + text.strip()) for text in texts],
            [frames] * len(texts))
        return [sum(math.log(max(p, 1e-12)) for p in result.text_token_probs)
                for result in results]

    async def likelihoods(self, pcm16: np.ndarray, sample_rate: int, texts: list[str],
                          prompt: str | None = None, language: str | None = None
                          ) -> list[float]:
        """:meth:`likelihoods_sync` in a worker thread (counted in :attr:`in_flight`)."""
        return await self._in_worker(functools.partial(
            self.likelihoods_sync, pcm16, sample_rate, texts, prompt, language))

    async def alternatives(self, pcm16: np.ndarray, sample_rate: int, prompt: str | None = None,
                           language: str | None = None,
                           enough: Callable[[list[str]], bool] | None = None) -> list[str]:
        """:meth:`alternatives_sync` in a worker thread (counted in :attr:`in_flight`)."""
        return await self._in_worker(functools.partial(
            self.alternatives_sync, pcm16, sample_rate, prompt, language, enough=enough))

    @property
    def idle(self) -> bool:
        """Whether a worker is free now (a search for a value's runners-up waits for none)."""
        return self.in_flight < _WORKERS

    @property
    def has_room(self) -> bool:
        """Whether a worker is free and the machine's other processes leave room
        (:func:`others_busy`): for a second hearing that may help but that no turn needs (a
        value's turn heard slowed)."""
        return self.idle and machine_has_room()

    @property
    def spare(self) -> bool:
        """Whether the machine has room for work nobody may need (a speculative transcript):
        nothing of this recogniser's in flight (each decode uses every core) and the machine's
        other processes using less than :data:`OTHERS_BUSY_MAX` of its CPU
        (:func:`others_busy`). With four agents on two cores (the slow tests' workers), each
        found its own workers free and speculated at every pause of its callers' turns."""
        return self.in_flight == 0 and machine_has_room()


RESAMPLE_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)
"""The temperatures of Whisper's fallback, tried in turn when a beam search looped too."""

TOKENS_PER_SECOND = 8.0
"""A caller's speech is at most about 3 words, or 4 digits with their commas, a second: more
tokens than this per second of audio (and 12 more) is a decoder repeating itself."""


def max_new_tokens(seconds: float) -> int:
    """The most tokens a decode of ``seconds`` of speech may write (:data:`TOKENS_PER_SECOND`)."""
    return int(TOKENS_PER_SECOND * seconds) + 12


_WORD = re.compile(r"\w+")


def looped(text: str) -> bool:
    """Whether ``text`` ends in a decoder's loop: one word said five times running at its end,
    or a run of two to four words four times ("2, 3, 2, 3, 2, 3, 2, 3")."""
    words = _WORD.findall(text.lower())
    for size, times in ((1, 5), (2, 4), (3, 4), (4, 4)):
        tail = words[-size * times:]
        if len(tail) == size * times and tail == tail[:size] * times:
            return True
    return False


LAST_TEMPERATURE = 1.0
"""The last temperature of Whisper's fallback (faster-whisper's default list ends there)."""
LOG_PROB_THRESHOLD = -1.0
"""Whisper's own bound on a decode's average log probability (faster-whisper's default)."""


def guessed(segment: Any) -> bool:
    """Whether Whisper only guessed a segment: its decode doubted the words at every
    temperature of the fallback (the last one is reported with the best of the decodes), and
    the best of them stayed below its log-probability bound. On hold music the agent took for
    a turn, ``base`` wrote "That's it." and "I'm sorry." so, at -2.0 average log probability."""
    return segment.temperature >= LAST_TEMPERATURE and segment.avg_logprob < LOG_PROB_THRESHOLD


def _joined(decoded: tuple[Any, Any], sure: bool = False) -> str:
    segments, _info = decoded
    return " ".join(s.text.strip() for s in segments
                    if s.text.strip() and not (sure and guessed(s)))


RUNNER_UP_BEAM = 5
"""The beam of the search for runners-up of audio the recogniser decodes greedily (wideband).
On generated calls of the example suite (``bench/hearing.py``, 63 spoken order numbers and
emails in seven voices), ``tiny.en`` heard 44 values greedily and 49 with these runners-up."""


DIGIT_FILLERS = ("and", "an", "in", "end")
"""Words a small recogniser writes in a run of digits where it barely heard one (each as a word
after a space, lower and capitalised, when that is a single token)."""


def _filler_tokens(tokenizer: Any) -> list[int]:
    # with the space only: a token without one is also a piece of a longer word ("Anderson")
    forms = {f" {case(word)}" for word in DIGIT_FILLERS for case in (str.lower, str.capitalize)}
    return [ids[0] for form in forms if len(ids := tokenizer.encode(form)) == 1]


WINDOW_MIN_S = float(os.environ.get("HARNESS_ASR_WINDOW_S", "15"))
"""The shortest window the encoder is given (``HARNESS_ASR_WINDOW_S``; 30 is Whisper's own). With
``tiny.en`` on a 2 s "Yes, that's right.", windows of 10 and 12 s heard "Yes, not right."; 15 s
and more heard it right. On the generated calls of ``bench/hearing.py`` (seed 1) 15 s heard as
many values as 30 s or more (suite 55 of 63 against 53, clinic 18 of 21 against 17) in half the
time a turn; on the example suite, four calls at once, the agent used 40 % less CPU and its
voice-to-voice p50 fell from 1.7 s to 0.6 s."""


def window_frames(samples: int) -> int:
    """Mel frames the encoder is given for ``samples`` of audio at 16 kHz: the audio and two
    seconds of silence, :data:`WINDOW_MIN_S` at least, the model's 30 s at most."""
    return int(min(3000, 100 * max(WINDOW_MIN_S, math.ceil(samples / ASR_RATE + 2))))


_frames: contextvars.ContextVar[int] = contextvars.ContextVar("asr_window_frames", default=3000)


@contextlib.contextmanager
def _window(samples: int) -> Iterator[None]:
    token = _frames.set(window_frames(samples))
    try:
        yield
    finally:
        _frames.reset(token)


def _patch_window() -> None:
    """faster-whisper pads every segment to 30 s; inside :func:`_window` (this module's
    transcriptions) it pads to the window instead. Other users of faster-whisper in the process
    (the grader's transcripts) keep its own padding."""
    from faster_whisper import audio as fw_audio  # noqa: PLC0415 - with the model
    from faster_whisper import transcribe as fw_transcribe  # noqa: PLC0415

    def pad_or_trim(array: Any, length: int = 3000, *, axis: int = -1) -> Any:
        return fw_audio.pad_or_trim(array, min(length, _frames.get()), axis=axis)

    fw_transcribe.pad_or_trim = pad_or_trim


def _at_asr_rate(pcm16: np.ndarray, sample_rate: int) -> np.ndarray:
    audio = pcm16.astype(np.float32) / 32768.0
    if sample_rate != ASR_RATE:
        audio = soxr.resample(audio, sample_rate, ASR_RATE)
    return audio


def get_recognizer(preferred: str | None = None) -> SpeechRecognizer:
    """The process-wide recognizer of a model, loaded on first use (thread-safe); ``preferred``
    is an agent profile's choice (see ``harness.audio.asr_model_name``)."""
    return recognizer_at(asr_model_name(preferred))


SECOND_OPINION = "tiny.en"
"""The recogniser a line on a slower one (``base``) asks when its transcript holds only part of a
value (``harness.agent.hearing``): its transcript, then its runners-up. On the utility line's
generated calls (seeds 1 and 2, three variants: 60 values) ``base`` heard 39 values greedily;
asked on its 14 partial ones, this opinion brought that to 51, in 0.14 s more a value turn on
average, and ``base``'s own runners-up to 45, in 0.23 s more. On the clinic's 42 values (2
partial) this opinion heard 41 and ``base``'s own runners-up 42; held out (seed 3) the clinic's
21 values were all heard with it, 18 without."""


def recognizer_at(path: str) -> SpeechRecognizer:
    """The process-wide recognizer of the model at ``path`` (a name ``faster-whisper`` loads, or
    a folder), loaded on first use (thread-safe)."""
    with _lock:
        if path not in _recognizers:
            _recognizers[path] = SpeechRecognizer(path, asr_compute_type())
        return _recognizers[path]


def loaded_recognizer(preferred: str | None = None) -> SpeechRecognizer | None:
    """That recognizer if it is loaded already (never loads it)."""
    return _recognizers.get(asr_model_name(preferred))
