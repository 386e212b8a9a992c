"""Readings of a turn weighed by the recogniser that heard it: a "five" against a "nine" written
"I", an "oh" lost at the start of a number, an "oh" against a "four" among digits, a letter "o"
against a "zero" in a spelled email.

A small recogniser writes what it heard in the form it finds likeliest, and some sounds it
writes in the wrong form: a caller's "oh" among digits as a "4", a letter "o" spelled in an
email as a "0". Asked how likely each reading is, given the audio (teacher-forced, one batched
decoder pass on the encoding the turn's decode made), the same recogniser still tells them
apart where the margin it gives says so. The margins are measured per recogniser on generated
calls (``bench/hearing.py``); a recogniser without one is not weighed.

Each weighing is a :class:`Plan` (the readings to score, and how their scores read the turn),
made by one of :data:`WEIGHINGS` in order; the agent's hearing scores each plan on its
recogniser's workers, ``bench/hearing.py`` with :func:`heard_sync`: one definition for both.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.agent import asr
from harness.agent.repairs import RECOGNISER, spelled_local_part, spelled_out
from harness.audio import asr_beam_size


@dataclass(frozen=True)
class Plan:
    """What one weighing of a turn's transcript asks of the recogniser: the ``readings`` to
    score on the turn's audio (teacher-forced, one batched pass) and ``read``, which makes the
    transcript the agent takes from their log-likelihoods (in the readings' order)."""

    readings: list[str]
    read: Callable[[list[float]], str]


def _margin(margins: dict[str, float], model: str, rate: int) -> float | None:
    """A weighing's margin for recogniser ``model`` on audio at ``rate`` (None: not weighed; each
    margin was measured on wideband audio, and a telephone line takes the sounds that tell the
    readings apart)."""
    return None if asr_beam_size(rate) >= 2 else margins.get(model)


OH_AS_FOUR_MARGIN = {"base": -7.0}
"""How much less likely (natural log) "oh" may be than "four" in a recogniser's own reading of
a turn for a "4" it wrote among digits to be read as the "oh" (a zero) the caller said; per
recogniser, on wideband audio. Whisper writes some voices' "oh" as a "4" ("one, six, three,
oh, two" as "1, 6, 3, 4, 2"), yet asked how likely the words are, with the digits spelled
out, it still hears that no "f" began the word: on the utility line's generated calls
(seeds 1 to 10) ``base`` put each of 125 "4"s that were a four 7.2 or more below "oh", and 19
of 23 that were an "oh" 6.0 or less below; on seeds looked at afterwards it heard 102 of 120
values where it had heard 93, and lost none. ``tiny.en``'s readings of the same turns overlap,
so it has no margin (docs/local-agent.md, "An "oh" weighed against "four")."""

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ITEM = r"(?:\d+|zero|oh|one|two|three|four|for|five|six|seven|eight|nine)"
_DIGIT_RUN = re.compile(rf"(?<![\w']){_ITEM}(?:[ ,.\-]+{_ITEM})*(?![\w'])", re.IGNORECASE)
_RUN_ITEM = re.compile(r"\d|[a-z]+", re.IGNORECASE)
_MAY_BE_OH = frozenset({"4", "four"})
_OH_RUN_MIN = 3  # items in a run for a "4" in it to be a candidate "oh"


def _run_items(text: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, the digit or digit word, whether it may be an "oh") of each item of
    ``text``'s runs of digits and digit words ("for" among them: a small recogniser's four).
    A "4" or "four" may be one in a run of :data:`_OH_RUN_MIN` items or more. A "for" is not
    weighed here (only where it begins a run: :func:`lead_for_candidates`): beside digits heard
    twice ("3 for 6997-0" for three, four, six, nine, seven,
    oh), a four heard so scored close to "oh", and the run's other readings were wrong."""
    out = []
    for run in _DIGIT_RUN.finditer(text):
        items = list(_RUN_ITEM.finditer(run.group(0)))
        long = len(items) >= _OH_RUN_MIN
        out += [(run.start() + i.start(), run.start() + i.end(), i.group(0),
                 long and i.group(0).lower() in _MAY_BE_OH) for i in items]
    return out


def oh_candidates(text: str) -> tuple[list[int], list[str]]:
    """The "4"s (digits, or the word "four") of ``text`` that may be an "oh" (see
    :func:`_run_items`), by their place among its run items, and the readings to weigh them
    by: ``text`` with its runs spelled out ("1, 6, 3, 4, 2" as "one, six, three, four, two"),
    then the same with each such "4" spelled "oh"."""
    fours = [k for k, item in enumerate(_run_items(text)) if item[3]]
    if not fours:
        return [], []
    return fours, [_spelled(text), *(_spelled(text, oh_at=k) for k in fours)]


def _spelled(text: str, oh_at: int | None = None) -> str:
    """``text`` with each run's items said one by one ("one, six, three, four, two"), the
    ``oh_at``-th item as "oh"."""
    count = 0

    def spell(run: re.Match[str]) -> str:
        nonlocal count
        words = []
        for item in _RUN_ITEM.findall(run.group(0)):
            words.append("oh" if count == oh_at else _DIGIT_WORDS[int(item)] if item.isdigit()
                         else item.lower())
            count += 1
        return " " + ", ".join(words)

    return re.sub(r"\s+", " ", _DIGIT_RUN.sub(spell, text)).strip()


def read_ohs(text: str, fours: list[int], scores: list[float], margin: float) -> str:
    """``text`` with each of its ``fours`` (see :func:`oh_candidates` and
    :func:`lead_for_candidates`) written as a zero (a "4" as "0", "four" or "for" as "oh")
    where its reading as "oh" scored (``scores``: the candidates' log-likelihoods, in their
    order) at most ``margin`` below the reading as written."""
    if len(scores) != len(fours) + 1:
        return text
    zeros = {k for k, score in zip(fours, scores[1:], strict=True) if score - scores[0] > margin}
    if not zeros:
        return text
    out, at = [], 0
    for k, (start, end, item, _) in enumerate(_run_items(text)):
        if k in zeros:
            out += [text[at:start], "0" if item.isdigit() else
                    "Oh" if item[0].isupper() else "oh"]
            at = end
    out.append(text[at:])
    return "".join(out)


O_AS_ZERO_MARGIN = {"tiny.en": 0.0}
"""How much less likely (natural log) a letter "O" may be than "zero" in a recogniser's own
reading of a spelled email for a "0" it wrote in the local part to be read as the letter "o"
the caller spelled; per recogniser, on wideband audio. 0 for ``tiny.en``: the likelier reading.
On generated calls of the example suite the 29 callers who said "zero" and were written "0"
scored the letter 0.3 to 5.8 below, the 4 "o"s written "0" 3.2 to 9.7 above
(docs/local-agent.md, "A spelled email")."""


def letter_o_candidates(text: str) -> tuple[tuple[int, int, list[str]] | None, list[int],
                                            list[str]]:
    """The spelled local part of an email in ``text`` (:func:`repairs.spelled_local_part`:
    its span and characters), the places of its "0"s among its characters, and the readings to
    weigh them by: ``text`` with the local part spelled one by one, every "0" said "zero",
    then the same with each "0" in turn said "O"."""
    part = spelled_local_part(text, pieces=1)
    if part is None or "0" not in part[2]:
        return None, [], []
    chars = part[2]
    zeros = [k for k, c in enumerate(chars) if c == "0"]

    def reading(o_at: int | None) -> str:
        return spelled_out(text, part, ["O" if k == o_at else "zero" if c == "0" else c
                                        for k, c in enumerate(chars)])

    return part, zeros, [reading(None), *(reading(k) for k in zeros)]


def read_letter_os(text: str, part: tuple[int, int, list[str]] | None, zeros: list[int],
                   scores: list[float], margin: float) -> str:
    """``text`` with its email's local part (``part``, see :func:`letter_o_candidates`)
    spelled one by one, each of its ``zeros`` written as the letter "O" where that reading
    scored (``scores``: the candidates' log-likelihoods, in their order) at most ``margin``
    below the reading as "zero"; ``text`` as it is where none did."""
    if part is None or len(scores) != len(zeros) + 1:
        return text
    letters = {k for k, score in zip(zeros, scores[1:], strict=True) if score - scores[0] > margin}
    if not letters:
        return text
    return spelled_out(text, part, ["o" if k in letters else c for k, c in enumerate(part[2])])


LEAD_OH_MARGIN = {"base": -7.0}
"""How much less likely (natural log) a reading with an "oh" at the start of a number may be
than the transcript as the recogniser wrote it, for an "oh" it lost there to be read back in;
per recogniser, on wideband audio. Some voices' "oh" said first is lost altogether ("oh,
nine, one, five, three, four" as "91534") or written as a word ("more 3, 6, 4, 5, 8", "is
low. 5 6 4 8 9"). On the utility line's generated calls (seeds 1 to 8, each account's first
digit written as an "oh", a "four" and an "eight"; 471 turns) ``base`` dropped or wrote as a
word 48 of 157 "oh"s said first; the readings with the "oh" back scored 2.9 to 18 below the
transcript for those, 10.2 or more below for the 16 numbers one digit short that began with a
four or an eight. At -7, 18 values were made whole, one already wrong stayed wrong, and none
heard right was lost (docs/local-agent.md, "An "oh" lost at the start of a number")."""

_NOT_AN_OH = re.compile(
    rf"(?:{'|'.join(sorted({*_DIGIT_WORDS, *RECOGNISER.homophones}, key=len, reverse=True))})$",
    re.IGNORECASE)
"""A word that is, or ends in, a digit or a word the recogniser writes for one ("before": its
"fore" may be the caller's four): never weighed as an "oh"."""
_WORD_BEFORE = re.compile(r"(?<![\w'])([A-Za-z]{1,4})[\s,.\-]*$")
"""The word right before a run that an "oh" may have been written as: a short one ("all",
"more", "no", "low", "so", "O"), not a contraction's end."""


def lead_oh_candidates(text: str, completes: Callable[[str], bool]
                       ) -> tuple[list[str], list[str], list[tuple[int, int | None]]]:
    """The transcripts an "oh" lost at the start of one of ``text``'s runs of digits would
    make, where they hold a whole value (``completes``), and the readings to weigh them by:
    ``text`` spelled out, then per transcript its reading with that "oh" said, and, for an
    "oh" put before the run, the same with an "eight" there (a doubled first digit lost is as
    short a sound; a reading with an "oh" must be likelier). The third list gives, per
    transcript, the places among the readings of its reading and of its rival (None: none).
    Two places are tried: before the run, and in place of the short word right before it
    (:data:`_WORD_BEFORE`: "more 3, 6, 4, 5, 8"), unless that word is or ends in a digit
    (:data:`_NOT_AN_OH`)."""
    transcripts: list[str] = []
    readings = [_spelled(text)]
    places: list[tuple[int, int | None]] = []
    for run in _DIGIT_RUN.finditer(text):
        items = list(_RUN_ITEM.finditer(run.group(0)))
        sep = run.group(0)[items[0].end():items[1].start()] if len(items) > 1 else " "
        head, tail = text[:run.start()], text[run.start():]
        befores = [(head, True)]
        word = _WORD_BEFORE.search(head)
        if word and not _NOT_AN_OH.search(word.group(1)):
            befores.append((head[:word.start(1)], False))
        for before, inserted in befores:
            made = f"{before}0{sep}{tail}"
            if not completes(made):
                continue
            at = sum(1 for item in _run_items(made) if item[0] < len(before))
            transcripts.append(made)
            readings.append(_spelled(made, oh_at=at))
            rival = None
            if inserted:
                readings.append(_spelled(f"{before}8{sep}{tail}"))
                rival = len(readings) - 1
            places.append((len(readings) - (2 if inserted else 1), rival))
    return transcripts, readings, places


def read_lead_oh(text: str, transcripts: list[str], places: list[tuple[int, int | None]],
                 scores: list[float], margin: float) -> str:
    """The likeliest of ``transcripts`` (see :func:`lead_oh_candidates`) whose reading scored
    at most ``margin`` below ``text``'s and above its rival's; ``text`` where none did."""
    if not places or len(scores) != 1 + max(max(r or 0, k) for k, r in places):
        return text
    fit = [(scores[k], made) for made, (k, rival) in zip(transcripts, places, strict=True)
           if scores[k] - scores[0] >= margin and (rival is None or scores[k] > scores[rival])]
    return max(fit, key=lambda f: f[0])[1] if fit else text


def lead_oh_plan(text: str, model: str, rate: int, policy: Any) -> Plan | None:
    """The weighing of an "oh" lost at the start of a number (:data:`LEAD_OH_MARGIN`), for a
    transcript that holds part of a value the dialogue listens for and no whole one (a policy
    with ``part_of_a_value`` and ``holds_a_value``)."""
    margin = _margin(LEAD_OH_MARGIN, model, rate)
    part = getattr(policy, "part_of_a_value", None)
    holds = getattr(policy, "holds_a_value", None)
    if margin is None or part is None or holds is None or not part(text):
        return None
    transcripts, readings, places = lead_oh_candidates(text, holds)
    if not transcripts:
        return None
    return Plan(readings, lambda scores: read_lead_oh(text, transcripts, places, scores, margin))


def oh_plan(text: str, model: str, rate: int, policy: Any = None) -> Plan | None:
    """The weighing of the "4"s written for an "oh" (:data:`OH_AS_FOUR_MARGIN`)."""
    margin = _margin(OH_AS_FOUR_MARGIN, model, rate)
    fours, readings = oh_candidates(text)
    if margin is None or not fours:
        return None
    return Plan(readings, lambda scores: read_ohs(text, fours, scores, margin))


FOR_AS_OH_MARGIN = {"base": -4.5}
"""How much less likely (natural log) "oh" may be than the "for" a recogniser wrote as the first
item of a run of digits for that "for" to be read as the "oh" (a zero) the caller said; per
recogniser, on wideband audio. "The reading is oh, three, five, seven, six." is written "The
reading is for 3 5 7 6", which reads as a four. A "for" further into a run is not weighed (see
:func:`_run_items`). On the utility line's generated meter readings (seeds 1 to 12) ``base``
scored "oh" 3.8 or less below the "for" for 8 of the 10 such "for"s that were an "oh", and 5.6
or more below for the 118 that were a four; on its account turns (seeds 1 to 18), 6.8 or more
below for 22 of 23 fours, and 3.9 below for one after "before", whose value was already heard
wrong (docs/local-agent.md, "A "for" that begins a reading")."""


def lead_for_candidates(text: str) -> tuple[list[int], list[str]]:
    """The "for"s that begin a run of :data:`_OH_RUN_MIN` items or more in ``text``, by their
    place among its run items, and the readings to weigh them by: ``text`` with its runs
    spelled out, then the same with each such "for" said "oh"."""
    fors, at = [], 0
    for run in _DIGIT_RUN.finditer(text):
        items = _RUN_ITEM.findall(run.group(0))
        if len(items) >= _OH_RUN_MIN and items[0].lower() == "for":
            fors.append(at)
        at += len(items)
    if not fors:
        return [], []
    return fors, [_spelled(text), *(_spelled(text, oh_at=k) for k in fors)]


def lead_for_plan(text: str, model: str, rate: int, policy: Any = None) -> Plan | None:
    """The weighing of a "for" written for an "oh" that begins a number
    (:data:`FOR_AS_OH_MARGIN`)."""
    margin = _margin(FOR_AS_OH_MARGIN, model, rate)
    fors, readings = lead_for_candidates(text)
    if margin is None or not fors:
        return None
    return Plan(readings, lambda scores: read_ohs(text, fors, scores, margin))


def letter_o_plan(text: str, model: str, rate: int, policy: Any = None) -> Plan | None:
    """The weighing of the "0"s written for a spelled letter "o" (:data:`O_AS_ZERO_MARGIN`)."""
    margin = _margin(O_AS_ZERO_MARGIN, model, rate)
    part, zeros, readings = letter_o_candidates(text)
    if margin is None or not zeros:
        return None
    return Plan(readings, lambda scores: read_letter_os(text, part, zeros, scores, margin))


FIVE_AS_NINE_MARGIN = {"base": 0.0}
"""How much likelier (natural log) a "five" must be than a "nine" in a recogniser's own reading
of a turn for an "I", "I'm" or "high" it wrote beside digits to be read as the five the caller
said; per recogniser, on wideband audio. The agent's repairs read such a word as a nine (a nine
said first is written so by both offline models), yet some voices' five loses its "f" and "v"
the same way ("Account number 4-1-0-I-28", "It's two, eight, oh, three, one, I'm"). On the
utility line's generated calls (seeds 1 to 12) ``base`` scored "five" 1.1 to 5.4 above "nine"
for the 7 that were a five and 3.4 or more below for the 7 that were a nine, so the likelier
reading is taken (docs/local-agent.md, "A five written "I"")."""

_NINE_OR_FIVE = re.compile(r"(?<![\w'])(i'm|i|high)(?![\w'])", re.IGNORECASE)
_ITEM_BEFORE = re.compile(rf"(?<![\w']){_ITEM}[ ,.\-]*$", re.IGNORECASE)
_ITEM_AFTER = re.compile(rf"[ ,.\-]*{_ITEM}(?![\w'])", re.IGNORECASE)


def five_candidates(text: str) -> tuple[list[tuple[int, int]], list[str]]:
    """The spans of the "I", "I'm" and "high" in ``text`` that a digit or a digit word
    follows, or that end a run of them ("…, 1, I'm..."; not "6. I think"), and the readings to
    weigh each by, two a word: ``text`` spelled out with the word said "nine", then "five"."""
    spans = [m.span() for m in _NINE_OR_FIVE.finditer(text)
             if _ITEM_AFTER.match(text[m.end():]) or (
                 _ITEM_BEFORE.search(text[:m.start()]) and not re.search(r"\w", text[m.end():]))]
    readings = [_spelled(f"{text[:start]}{digit}{text[end:]}")
                for start, end in spans for digit in ("nine", "five")]
    return spans, readings


def read_fives(text: str, spans: list[tuple[int, int]], scores: list[float],
               margin: float) -> str:
    """``text`` with each word of ``spans`` (see :func:`five_candidates`) written "5" where
    its reading as "five" scored more than ``margin`` above its reading as "nine"."""
    if len(scores) != 2 * len(spans):
        return text
    for k in reversed(range(len(spans))):
        if scores[2 * k + 1] - scores[2 * k] > margin:
            start, end = spans[k]
            text = f"{text[:start]}5{text[end:]}"
    return text


def five_plan(text: str, model: str, rate: int, policy: Any = None) -> Plan | None:
    """The weighing of the "I"s and "I'm"s written for a five (:data:`FIVE_AS_NINE_MARGIN`)."""
    margin = _margin(FIVE_AS_NINE_MARGIN, model, rate)
    spans, readings = five_candidates(text)
    if margin is None or not spans:
        return None
    return Plan(readings, lambda scores: read_fives(text, spans, scores, margin))


WEIGHINGS: tuple[Callable[[str, str, int, Any], Plan | None], ...] = (
    five_plan, lead_oh_plan, lead_for_plan, oh_plan, letter_o_plan)
"""The weighings of a turn, in order, each on the transcript the one before made: a five
written "I", an "oh" lost at a number's start, a "for" written for one, the "4"s among the
digits, an email's "0"s."""


def heard_sync(recognizer: asr.SpeechRecognizer, model: str, pcm: np.ndarray, rate: int,
               text: str, prompt: str | None, language: str | None = None,
               policy: Any = None) -> str:
    """``text`` after each of :data:`WEIGHINGS` that applies, scored by ``recognizer``
    (``model``: its name) on ``pcm`` (``policy``: the dialogue's, for the weighings that ask
    what it listens for)."""
    for weigh in WEIGHINGS:
        plan = weigh(text, model, rate, policy)
        if plan is not None:
            text = plan.read(recognizer.likelihoods_sync(pcm, rate, plan.readings, prompt,
                                                          language))
    return text
