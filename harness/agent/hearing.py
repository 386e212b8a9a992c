"""What the agent hears: the transcripts of the caller's turns, and turns heard together.

A turn's transcript may come from a speculative transcription started in the pause before the
turn ended (see ``listener``); when that heard nothing, the committed turn is transcribed. When
several turns make one utterance (held words and the turn that goes on from them, or turns one
response answers together) they are also heard as one: a number said in two breaths is heard
better whole than in halves.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soxr

from harness.agent import asr, weighing
from harness.agent.conversation import Item
from harness.agent.dialogue import DialoguePolicy
from harness.agent.protocol import AgentProtocol
from harness.audio import asr_beam_size, asr_model_choice, asr_model_name, asr_model_path
from harness.sip.dtmf import detect

# The longest stretch of turns heard as one (the recogniser's window is 30 s).
_AS_ONE_MAX_S = 28


# A transcript this sparse for its audio has likely lost words: small recognisers sometimes stop
# after the first sentence of a turn ("Hi, I want to cancel an order." for seven seconds that go
# on with the order number), where a beam search's runners-up still hold the rest.
_SPARSE_MIN_S = 4.0
_SPARSE_WORDS_PER_S = 1.2


def reads_short(text: str, seconds: float) -> bool:
    """Whether ``text`` holds too few words for ``seconds`` of a caller's turn to be all of it
    (speech runs at two to three words a second; a turn's audio adds under a second of
    silence)."""
    return seconds >= _SPARSE_MIN_S and len(re.findall(r"[\w']+", text)) < \
        _SPARSE_WORDS_PER_S * seconds


def cheap_search(recogniser: str | None) -> bool:
    """Whether a runner-up search of wideband audio is cheap enough to make by default for a
    part of a value: with the tiny models. On 5.5 s of a caller's number, idle, the search took
    0.78 s with ``tiny.en`` and 1.47 s with ``base``; a search holds the recogniser every call of
    the process shares, and with ``base`` (the clinic's profile) and six calls at once the
    callers' turns waited up to 8 s for their transcripts."""
    return Path(asr_model_choice(recogniser)).name.startswith("tiny")


def wideband_runner_ups() -> bool:
    """Whether runners-up are searched for every wideband transcript that wants them
    (``HARNESS_ASR_RUNNER_UPS=1``), including those that only read short for their audio.
    Without it, wideband audio has them searched only for a transcript that holds part of a
    value, which the dialogue would otherwise have to ask again for (narrowband audio, decoded
    with a beam, always has them). On the example suite's generated calls (``bench/hearing.py``,
    seed 1, three variants, ``tiny.en``) the greedy transcript held 47 of 63 values, 52 with
    runners-up for partial values (11 searches) and 53 with every search (13); each search costs
    up to two beam decodes, and with several agents on two cores (the slow tests in CI) the
    searches for short readings put calls past their latency limits."""
    return os.environ.get("HARNESS_ASR_RUNNER_UPS", "") not in ("", "0")


def wants_runner_ups(policy: object, text: str, seconds: float) -> bool:
    """Whether the recogniser's runners-up are worth a search for this transcript of ``seconds``
    of a turn: it holds part of a value the dialogue listens for, or no whole one and too few
    words for its audio. Only for a policy with the optional ``part_of_a_value``,
    ``holds_a_value`` and ``choose_transcript`` (see ``DialoguePolicy``)."""
    part_of_a_value = getattr(policy, "part_of_a_value", None)
    holds_a_value = getattr(policy, "holds_a_value", None)
    if not text or part_of_a_value is None or holds_a_value is None \
            or not hasattr(policy, "choose_transcript"):
        return False
    return bool(part_of_a_value(text)) or (reads_short(text, seconds)
                                           and not holds_a_value(text))


def where_to_search(policy: Any, text: str, seconds: float, *, wideband: bool,
                    recogniser: str | None) -> str | None:
    """Where the agent looks for a transcript that holds the whole value ``text`` (the best
    transcript of ``seconds`` of a turn) lacks: ``None`` (nowhere: ``text`` stands), ``"own"``
    (the recogniser's runners-up) or ``"second"`` (:data:`asr.SECOND_OPINION`'s transcript,
    then its runners-up). Audio the recogniser decodes greedily (``wideband``) is searched only
    for part of a value unless :func:`wideband_runner_ups` says otherwise; a line whose own
    recogniser is too slow for the search (:func:`cheap_search`) asks the second opinion."""
    if not wants_runner_ups(policy, text, seconds):
        return None
    if wideband and not wideband_runner_ups() and not policy.part_of_a_value(text):
        return None
    own = not wideband or wideband_runner_ups() or cheap_search(recogniser)
    return "own" if own else "second"


SLOWED_TO = 0.9
"""The speed a turn is heard again at where no search found the whole value it should hold
(:func:`wants_slowed`): resampled, so its pitch drops with its pace. On the utility line's
generated calls (seeds 3 to 6 and 9 to 12, 240 values; ``bench/hearing.py``) the agent's
hearing held no whole value for 18; slowed to 0.9, ``tiny.en`` heard 8 of them right and
``base`` 9, one after the other 11 (2 heard wrong); slowed to 0.85, 6 and 6; stretched with
the pitch kept (Rubber Band, WSOLA) 5 to 9. A second hearing only: stretched to 0.9, ``base``
heard 80 of 116 values of a whole line where the agent at the caller's pace heard 96."""


def slowed(pcm: np.ndarray, rate: int, to: float = SLOWED_TO) -> np.ndarray:
    """``pcm`` played at ``to`` of its speed, at its own ``rate`` (resampled: pitch and pace
    drop together, as on a tape played slow)."""
    return np.asarray(soxr.resample(pcm, rate, round(rate / to)), dtype=pcm.dtype)


def wants_slowed(policy: Any, text: str, seconds: float) -> bool:
    """Whether the turn is worth hearing again slowed (:data:`SLOWED_TO`): ``text`` (its
    transcript after any search for runners-up) holds part of a value the dialogue listens for
    and no whole one; or the dialogue wants a value in this turn (``wants_a_value``: it asked
    for one, or the turn names an intent that needs one) and ``text`` holds none, and nothing at
    all or too few words for its audio (:func:`reads_short`). Never for hold music or a TV the
    agent hears while it waits for a yes. Only for a policy with the optional methods of
    :func:`wants_runner_ups` and ``wants_a_value``."""
    wants_a_value = getattr(policy, "wants_a_value", None)
    if wants_a_value is None or not all(
            hasattr(policy, m) for m in ("part_of_a_value", "holds_a_value")):
        return False
    if text.strip() and policy.part_of_a_value(text):
        return True
    return (not text.strip() or reads_short(text, seconds)) and not policy.holds_a_value(text) \
        and bool(wants_a_value(text))


def keys_pressed(pcm: np.ndarray, rate: int) -> str:
    """The keys a caller pressed in a turn, heard as in-band tones (a line without telephone
    events), as the agent takes them: the digits, one by one ("8 3 5 2 1"); ``#`` and ``*`` end
    or correct an entry on a keypad and are not read. ``""`` for a turn without tones."""
    return " ".join(k for k in detect(pcm, rate) if k.isdigit())


def _words(text: str) -> set[str]:
    # a possessive is its noun: the prompt's "shop's support desk" comes back as "shop."
    return {w.removesuffix("'s") for w in re.findall(r"[a-z0-9']+", text.lower())}


def is_prompt_echo(text: str, prompt: str | None) -> bool:
    """Whether a transcript is made only of the recogniser prompt's words: Whisper repeats its
    prompt, whole or in part, on audio without speech (music, a TV), and at times on a short
    word or on speech under noise (a caller's "Yes.", a request over kitchen babble)."""
    return bool(prompt) and bool(_words(text)) and _words(text) <= _words(prompt or "")


class _PolicySource(Protocol):
    def policy(self) -> DialoguePolicy: ...


class Ear(Protocol):
    """What hearing needs of its session's listener."""

    protocol: AgentProtocol
    recogniser: str | None  # the profile's model (None: the harness's default)
    responder: _PolicySource

    @property
    def input_rate(self) -> int: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...


class Hearing:
    """The transcription side of one session's listener."""

    def __init__(self, listener: Ear) -> None:
        self.listener = listener
        self._transcripts: dict[Item, asyncio.Future[str]] = {}
        # The last turn that went on from held ones, heard together with them as it ended.
        self._as_one: dict[Item, tuple[list[Item], asyncio.Task[str]]] = {}

    def turn_committed(self, item: Item, early: asyncio.Task[str] | None) -> None:
        """Transcribe a committed turn; ``early``: its speculative transcription, if any."""
        self._transcripts[item] = asyncio.get_running_loop().create_future()
        self.listener.spawn(self._transcribe_item(item, early))

    def user_audio_added(self, item: Item) -> None:
        """A user audio message the client created: transcribe it."""
        self.turn_committed(item, None)

    async def transcript(self, item: Item) -> str:
        """The transcript of a user message (waits for its transcription)."""
        if item.transcript is not None:
            return item.transcript
        future = self._transcripts.get(item)
        if future is None:
            # Audio given inline in a response's input: transcribed on demand.
            self.user_audio_added(item)
            future = self._transcripts[item]
        # Shielded: cancelling a response must not cancel the turn's transcript, which the
        # next response answers.
        return await asyncio.shield(future)

    def _settings(self) -> tuple[Any, str | None, str | None]:
        """The session's policy, recogniser prompt and language."""
        settings = self.listener.protocol.transcription or {}
        # A session that gives no prompt gets its dialogue policy's: the setting of the call,
        # which helps a small recogniser with the call's words.
        policy = self.listener.responder.policy()
        return policy, settings.get("prompt") or policy.transcription_prompt, \
            settings.get("language")

    async def transcribe(self, pcm: np.ndarray, *, runner_ups: bool = True) -> str:
        """The text of caller audio at the session's input rate, as the session hears it
        (``runner_ups``: with the recogniser's runners-up where they are wanted; a speculative
        transcription goes without, and the committed turn has them searched then)."""
        if keys := keys_pressed(pcm, self.listener.input_rate):
            return keys
        policy, prompt, language = self._settings()
        recognizer = await asyncio.to_thread(asr.get_recognizer, self.listener.recogniser)
        text = await recognizer.transcribe(pcm, self.listener.input_rate, prompt=prompt,
                                           language=language)
        if is_prompt_echo(text, prompt):
            # heard again without the prompt: what it writes then is the turn's words, or, on
            # audio without speech, nothing the dialogue takes for an answer. The echo already
            # says "no speech here" more often than not (hold music), so only words Whisper did
            # not merely guess count (``asr.guessed``: on music it guessed "That's it.").
            text = await recognizer.transcribe(pcm, self.listener.input_rate, prompt=None,
                                               language=language, sure=True)
            if is_prompt_echo(text, prompt):
                return ""
        return await self.with_runner_ups(pcm, text) if runner_ups else text

    async def with_runner_ups(self, pcm: np.ndarray, text: str) -> str:
        """``text`` (the best transcript of ``pcm``), or a runner-up that holds the whole value
        it holds only part of, as a recogniser with a grammar would (see
        :func:`where_to_search`), or, where none does, the turn heard slowed
        (:meth:`heard_slowed`). Wideband audio is searched only with spare capacity: on a
        busy recogniser the search would hold up every call's transcripts, so the best
        transcript stands. Last, the transcript is weighed (:meth:`weighed`): an "oh" lost at
        a number's start, a "4" written for one."""
        return await self.weighed(pcm, await self.heard_slowed(pcm, await self._searched(
            pcm, text)))

    async def weighed(self, pcm: np.ndarray, text: str) -> str:
        """``text`` after the weighings of :data:`weighing.WEIGHINGS` that apply (a five
        written "I" read as a five, an "oh" lost at a number's start read back in, a "for" or a
        "4" written for an "oh" read as a zero, a "0" written for an email's letter "o" read as
        the letter), each one batched decoder pass of the line's recogniser on the encoding the
        turn's own decode made, with spare capacity only (``SpeechRecognizer.has_room``)."""
        policy, prompt, language = self._settings()
        rate = self.listener.input_rate
        model = asr_model_choice(self.listener.recogniser)
        recognizer = None
        for weigh in weighing.WEIGHINGS:
            plan = weigh(text, model, rate, policy)
            if plan is None:
                continue
            if recognizer is None:
                recognizer = await asyncio.to_thread(asr.get_recognizer,
                                                     self.listener.recogniser)
                if not recognizer.has_room:
                    # as a turn heard slowed: on a busy recogniser, or a machine whose other
                    # processes use its CPU, the weighing would hold up every call's transcripts
                    # (``base`` took 0.33 s for two readings on two loaded cores; the clinic's
                    # eight calls at once beside other tests' calls answered a caller's "Yes,
                    # correct." too late)
                    return text
            text = plan.read(await recognizer.likelihoods(pcm, rate, plan.readings, prompt,
                                                          language))
        return text

    async def heard_slowed(self, pcm: np.ndarray, text: str) -> str:
        """``text``, or, where it holds no whole value the dialogue wants one from
        (:func:`wants_slowed`), the turn slowed to :data:`SLOWED_TO` and heard by
        :data:`asr.SECOND_OPINION`, then by the line's own recogniser: the first transcript that
        holds a whole value. Each only with spare capacity on wideband audio: a worker free
        and the machine's other processes leaving room (``SpeechRecognizer.has_room``)."""
        policy, prompt, language = self._settings()
        rate = self.listener.input_rate
        if not wants_slowed(policy, text, len(pcm) / rate):
            return text
        wideband = asr_beam_size(rate) < 2
        paths = dict.fromkeys([asr_model_path(asr.SECOND_OPINION),
                               asr_model_name(self.listener.recogniser)])
        slow = slowed(pcm, rate)
        for path in paths:
            recognizer = await asyncio.to_thread(asr.recognizer_at, path)
            if wideband and not recognizer.has_room:
                break
            heard = await recognizer.transcribe(slow, rate, prompt=prompt, language=language)
            if policy.holds_a_value(heard):
                return heard
        return text

    async def _searched(self, pcm: np.ndarray, text: str) -> str:
        """``text``, or a runner-up that holds the whole value it holds only part of."""
        policy, prompt, language = self._settings()
        rate = self.listener.input_rate
        wideband = asr_beam_size(rate) < 2
        where = where_to_search(policy, text, len(pcm) / rate, wideband=wideband,
                                recogniser=self.listener.recogniser)
        if where is None:
            return text
        own = where == "own"
        recognizer = await asyncio.to_thread(
            functools.partial(asr.get_recognizer, self.listener.recogniser) if own
            else functools.partial(asr.recognizer_at, asr_model_path(asr.SECOND_OPINION)))
        if wideband and not recognizer.idle:
            return text
        def whole(texts: list[str]) -> bool:
            return any(policy.holds_a_value(t) for t in texts)

        heard = [] if own else [await recognizer.transcribe(pcm, rate, prompt=prompt,
                                                            language=language)]
        if not whole(heard):
            heard += await recognizer.alternatives(pcm, rate, prompt=prompt, language=language,
                                                   enough=whole)
        return str(policy.choose_transcript([text, *(h for h in heard if h != text)]))

    def spawn_transcription(self, pcm: np.ndarray, *, runner_ups: bool = True
                            ) -> asyncio.Task[str]:
        return self.listener.spawn(self.transcribe(pcm, runner_ups=runner_ups))

    # ----------------------------------------------------------------------- heard as one

    def audio_of(self, items: list[Item]) -> np.ndarray | None:
        """The user audio items' audio end to end (None: no items, or one without audio at
        the input rate)."""
        rate = self.listener.input_rate
        if not items or any(i.audio is None or i.audio_rate != rate for i in items):
            return None
        return np.concatenate([i.audio for i in items if i.audio is not None])

    def transcribe_as_one(self, pcm: np.ndarray, *, runner_ups: bool = True
                          ) -> asyncio.Task[str] | None:
        """A transcription of turns end to end (None beyond the recogniser's window)."""
        if len(pcm) > _AS_ONE_MAX_S * self.listener.input_rate:
            return None
        return self.spawn_transcription(pcm, runner_ups=runner_ups)

    def went_on(self, items: list[Item], early: asyncio.Task[str] | None) -> None:
        """A turn went on from held ones (the hold was on when the caller went on): start
        hearing them as one now (``early``: the same, started in the pause before the turn
        ended). :meth:`heard_as_one` reads it."""
        task = early
        if task is None:
            pcm = self.audio_of(items)
            task = None if pcm is None else self.transcribe_as_one(pcm)
        if task is not None:
            self._as_one = {items[-1]: (items, task)}

    async def heard_as_one(self, items: list[Item]) -> str | None:
        """User audio items heard together, as one utterance: a number said in two breaths is
        heard with the context of both (a small recogniser hears "two, eight, oh, four," alone
        as "2844" and the whole as "2804463"). ``None`` for fewer than two items, or when they
        cannot be heard as one (no audio, longer than the recogniser's window, a failure)."""
        if len(items) < 2:
            return None
        started = self._as_one.get(items[-1])
        if started is not None and started[0] == items:
            task: asyncio.Task[str] | None = started[1]
        else:
            pcm = self.audio_of(items)
            task = None if pcm is None else self.transcribe_as_one(pcm)
        if task is None:
            return None
        try:
            return await asyncio.shield(task)
        except Exception:  # noqa: BLE001 - the turns' own transcripts still stand
            return None

    # ----------------------------------------------------------------------- one turn

    async def _transcribe_item(self, item: Item, early: asyncio.Task[str] | None) -> None:
        text = ""
        if not item.no_input and item.audio is not None:
            try:
                # runner-ups only for the caller's turns: audio not meant for the agent (by its
                # level) is not worth a search
                text = await (early if early is not None else self.transcribe(
                    item.audio, runner_ups=item.addressed))
                if early is not None and not text and item.addressed:
                    # The speculative cut ends where the detector last heard voicing: a soft
                    # last sound ("yes") may lie past it. Nothing heard there: hear the turn
                    # (the caller's; audio not meant for the agent is not worth a second pass).
                    text = await self.transcribe(item.audio)
                elif early is not None and item.addressed:
                    text = await self.with_runner_ups(item.audio, text)
            except Exception as exc:  # noqa: BLE001 - the caller still gets an answer
                self.listener.protocol.transcription_failed(item, str(exc))
        self.listener.protocol.transcribed(item, text)
        future = self._transcripts.pop(item, None)
        if future is not None and not future.done():
            future.set_result(item.transcript or "")
