"""Readings of a turn weighed by the recogniser that heard it: an "oh" against a "four" among
digits, a letter "o" against a "zero" in a spelled email.

A small recogniser writes what it heard in the form it finds likeliest, and some sounds it
writes in the wrong form: a caller's "oh" among digits as a "4", a letter "o" spelled in an
email as a "0". Asked how likely each reading is, given the audio (teacher-forced, one batched
decoder pass on the encoding the turn's decode made), the same recogniser still tells them
apart where the margin it gives says so. The margins are measured per recogniser on generated
calls (``bench/hearing.py``); a recogniser without one is not weighed.
"""

from __future__ import annotations

import re

import numpy as np

from harness.agent import asr
from harness.agent.repairs import spelled_local_part, spelled_out
from harness.audio import asr_beam_size

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
    weighed: beside digits heard twice ("3 for 6997-0" for three, four, six, nine, seven,
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
    """``text`` with each of its ``fours`` (see :func:`oh_candidates`) written as a zero (a
    "4" as "0", "four" as "oh") where its reading as "oh" scored (``scores``: the
    candidates' log-likelihoods, in their order) at most ``margin`` below the reading as
    "four"."""
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


def oh_margin(model: str, rate: int) -> float | None:
    """:data:`OH_AS_FOUR_MARGIN` for recogniser ``model`` on audio at ``rate`` (None: no
    weighing; a telephone line takes the "f" that tells "four" from "oh")."""
    return None if asr_beam_size(rate) >= 2 else OH_AS_FOUR_MARGIN.get(model)


def ohs_heard_sync(recognizer: asr.SpeechRecognizer, model: str, pcm: np.ndarray, rate: int,
                   text: str, prompt: str | None, language: str | None = None) -> str:
    """``text`` with the "4"s ``recognizer`` (``model``: its name) wrote for an "oh" read as
    zeros (:data:`OH_AS_FOUR_MARGIN`; wideband audio only: a telephone line takes the "f"
    that tells them apart)."""
    margin = oh_margin(model, rate)
    fours, readings = oh_candidates(text)
    if margin is None or not fours:
        return text
    return read_ohs(text, fours, recognizer.likelihoods_sync(pcm, rate, readings, prompt,
                                                              language), margin)


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


def o_margin(model: str, rate: int) -> float | None:
    """:data:`O_AS_ZERO_MARGIN` for recogniser ``model`` on audio at ``rate`` (None: no
    weighing; measured on wideband audio only)."""
    return None if asr_beam_size(rate) >= 2 else O_AS_ZERO_MARGIN.get(model)


def letter_os_heard_sync(recognizer: asr.SpeechRecognizer, model: str, pcm: np.ndarray,
                         rate: int, text: str, prompt: str | None,
                         language: str | None = None) -> str:
    """``text`` with the "0"s ``recognizer`` (``model``: its name) wrote in a spelled email
    for a caller's letter "o" read as the letter (:data:`O_AS_ZERO_MARGIN`)."""
    margin = o_margin(model, rate)
    part, zeros, readings = letter_o_candidates(text)
    if margin is None or not zeros:
        return text
    return read_letter_os(text, part, zeros, recognizer.likelihoods_sync(
        pcm, rate, readings, prompt, language), margin)
