"""What the local agent's small recogniser writes for a value, read as the caller meant it.

A small recogniser writes some digits as the words they sound like — "to" for two, "for" for
four, "ate" for eight, "won" for one, "I" for a nine that starts a number — and, over a
telephone line, "is eight" before more digits as "made" ("the number is made 3, 5, 2, 1").
These are repairs for what the agent hears, so they live with the agent: the scorers read every
agent's words with the strict, standard forms of ``harness.spoken`` and never credit a "made"
the agent did not mean as a digit.
"""

from __future__ import annotations

import re
from typing import Any

from harness import spoken

RECOGNISER = spoken.Hearing(homophones={
    "to": "2", "too": "2", "for": "4", "fore": "4", "ate": "8", "won": "1",
    # not a homophone but how small recognisers hear "is eight" before more digits; it resolves
    # by the same neighbour rules
    "made": "8",
    # "nine" said first in a run of digits, after "is": written as "I", "I'm" or "high" by both
    # offline models in five of seven voices (bench/hearing.py); read as nine only where digits
    # said one by one follow
    "i": "9", "i'm": "9", "high": "9",
    # "six" with its last sound lost: "sick, zero, seven, one, nine, three"
    "sick": "6",
    # "oh" said between digits by espeak-ng voices: "6, or 1, 7, 9" (tiny.en and base,
    # generated utility calls)
    "or": "0",
})
"""The homophones the local agent's recogniser is known to write for digits."""

_FIRST_DIGIT_WORDS = {**{w: RECOGNISER.homophones[w] for w in ("i", "i'm", "sick", "won", "for",
                                                             "to", "too")},
                      "a": "8", "free": "3", "fine": "5", "file": "5", "all": "0", "it said": "8",
                      "i in": "9", "in": "9"}
"""Words the local agent's recogniser wrote for the first digit of a run said after "it's", in
generated calls of the clinic and the utility line: "It's a 3-1-025" (eight), "It's i5-7-2-4-8"
(nine, written onto the next digit), "It's I'm 43617" (nine), "Sorry, it's free 790261"
(three), "It's fine. 6, 0, 9, 1, 4" and "It's account file 8.9." (five), "The account number
is all 1 9 3 6 7" (oh; ``base``, on the utility line and the clinic), "It said 372400" ("it's
eight"; ``base``, the utility line), "My account number is i in 3, 2, 7, 1, 6" (nine, its "n"
lost as in "I" for nine; ``base``, the utility line, two voices), "My account number is
I-O-6-8-7-5" (nine, oh, six, …: the run's second digit an "oh" written as the letter;
``base``, the utility line)."""

_RUN_INTO_WORDS = {"counter": "0", "countate": "8", "count date": "8"}
"""Words the local agent's recogniser wrote for "account" and the first digit said after it,
run into one, in generated calls of the utility line ("It's account oh, five, one," and "…
seven, four, two." heard as one: "It's a counter 5 1 7 4 2"; "It's a countate, 2, 5, 9, 1,
3" for eight, two, …; "It's a count date for 3 6 5 0" for eight, four, …; ``base``, eight
voices). The second digit may be written as its homophone ("It's a counter to 3-7-8-6"), so a
"to" or "for" may stand between the word and the digits."""
_DIGIT_AHEAD = r"(?:\d|(?:o|oh|zero)\b)"
_WORD_BEFORE_DIGITS = re.compile(
    rf"\b(?:(?P<word>{'|'.join(_FIRST_DIGIT_WORDS)})(?=[\s,.\-]*{_DIGIT_AHEAD})"
    rf"|(?P<into>{'|'.join(_RUN_INTO_WORDS)})(?=[\s,.\-]*(?:(?:to|too|for)[\s,.\-]+)?"
    rf"{_DIGIT_AHEAD}))", re.IGNORECASE)

_LIKE_WORDS = frozenset({"a", "i", "for", "to", "too", "all", "in"})
"""Of those, the words a caller says right before digits as words ("It's a …", "for 8352 …")."""


def first_digit_words(text: str, *, only_unlike_words: bool = False) -> str:
    """``text`` with each such word right before digits written as its digit, and each of
    :data:`_RUN_INTO_WORDS` as the digit run into it: a reading for a slot to try only when the
    digits as heard fit no value (``slots.extract``).
    ``only_unlike_words``: only the words a caller would not say there as words (not "a",
    "I", "for", "to", "too", "all", "in"), for :func:`undoubled` readings of digits that fit."""
    def digit(m: re.Match[str]) -> str:
        if m.group("into"):
            return _RUN_INTO_WORDS[m.group("into").lower()]
        word = m.group("word").lower()
        return m.group(0) if only_unlike_words and word in _LIKE_WORDS \
            else _FIRST_DIGIT_WORDS[word]
    return _WORD_BEFORE_DIGITS.sub(digit, text)



def undoubled(value: str) -> str | None:
    """``value``'s digits with the one digit written twice in a row written once ("254988" →
    "25498"), or None when no digit, or more than one, is written twice in a row (or one
    three times). Whisper writes a digit of a run twice: in generated calls, "The order number
    is 254988" for two, five, four, nine, eight, "1285466" for one, two, eight, five, four, six
    (``base``), "48352899" for a seven-digit patient number. Of 28 such readings one digit too
    long (the three domains' generated calls, seeds 1 and 2, ``tiny.en`` and ``base`` with
    their runners-up), 27 were the value once undoubled. A reading for a slot to try when the
    digits as heard fit no value, and, after a digit word the recogniser wrote before them
    ("It's account file 922860" for five, nine, two, eight, six, oh), when the word's digit
    makes them one too long (``slots.extract``)."""
    digits = re.sub(r"\D", "", value)
    runs = [m.group(0) for m in re.finditer(r"(\d)\1+", digits)]
    if len(runs) != 1 or len(runs[0]) != 2:
        return None
    return re.sub(r"(\d)\1", r"\1", digits, count=1)


_LETTER_NAMES = {"you": "u", "www": "w", "and": "n", "oh": "o", "why": "y", "eye": "i",
                 "jay": "j", "kay": "k", "cue": "q", "queue": "q", "zed": "z"}
"""Words the recogniser writes for a letter's name among spelled ones ("you, a.q.o" for u, a,
q, o; "www.u-o-f" for w, u, o, f; "S and C" for s, n, c; generated calls of the example
suite). Not the names that are also a run of letters ("em." was e, m; "see" may be s, e, e)."""

_NOT_LETTERS = frozenset({"is", "it's", "its", "it", "the", "my", "new", "to", "be", "um", "uh",
                          "er", "so", "me", "was", "now", "ok", "yes", "no", "an", "on", "by",
                          "use", "our", "his", "her", "one", "two", "six"})
"""Short words that end a spelling read backwards from its "at" ("The new email is z, dwo at …":
"is" is said, not spelled)."""

_SEPARATOR_WORDS = frozenset({"dot", "underscore", "dash", "hyphen"})
_SPELLING_PIECE = re.compile(r"[^\s,.;:\-]+")
_AT_DOMAIN = re.compile(r",?\s+at\s+(?=[a-z][\w-]*(?:\.|\s+dot\s+)[a-z])", re.IGNORECASE)


def _letters(piece: str) -> str | None:
    """The characters a piece of a spelled local part stands for, or None for a word."""
    bare = re.sub(r"'s$", "", piece)
    lower = bare.lower()
    if lower in _LETTER_NAMES:
        return _LETTER_NAMES[lower]
    if lower in _NOT_LETTERS or not bare.isalnum():
        return None
    capitals, digits = sum(c.isupper() for c in bare), any(c.isdigit() for c in bare)
    if len(bare) >= 2 and capitals == 1 and bare[0].isupper() and not digits \
            and re.search(r"[aeiouy]", lower):
        return None  # a capitalised word ("It's a Bob at …"; "A. Cfk" is letters)
    if len(bare) <= 3 or (len(bare) <= 5 and (capitals >= 2 or digits)):
        return lower
    return None


def spelled_local_part(text: str, *, pieces: int = 2) -> tuple[int, int, list[str]] | None:
    """The local part of an email spelled in ``text`` in ``pieces`` pieces or more: its span
    (start, end) and the characters it spells, one by one. The recogniser writes spelled
    letters partly as runs ("J OHN", "x. JCO", "g, kOH", "z, dwo", "gn-o-e", "P JQ-O" in
    generated calls of the example suite: Kokoro callers) and letter names as words
    (:data:`_LETTER_NAMES`). The pieces before the last "at" are read backwards until a word
    (:data:`_NOT_LETTERS`, a capitalised word, a longer one). The "at" is followed by a domain
    ("mail.com", "mail dot com"), and the pieces spell a letter at least. A local part with a
    separator said as a word ("J O H N dot D O E") is left to the spoken forms' reading."""
    ats = list(_AT_DOMAIN.finditer(text))
    if not ats:
        return None
    end = ats[-1].start()
    chars: list[str] = []
    start, count = end, 0
    for piece in reversed(list(_SPELLING_PIECE.finditer(text[:end]))):
        if piece.group(0).lower() in _SEPARATOR_WORDS:
            return None  # "john dot doe": words and separators, read as they are
        letters = _letters(piece.group(0))
        if letters is None:
            break
        chars[:0] = list(letters)
        start, count = piece.start(), count + 1
    if count < max(pieces, 1) or not any(c.isalpha() for c in chars):
        return None  # one word, or digits ("83520 at the moment")
    return start, end, chars


def joined_spelling(text: str) -> str:
    """``text`` with an email's local part spelled in two pieces or more
    (:func:`spelled_local_part`) written as the letters it spells, one by one: "Z, D, W, O at
    …" for "z, dwo at …" (``slots``)."""
    part = spelled_local_part(text)
    return text if part is None else spelled_out(text, part, part[2])


def spelled_out(text: str, part: tuple[int, int, list[str]], said: list[str]) -> str:
    """``text`` with the local part ``part`` (see :func:`spelled_local_part`) said as
    ``said``, one by one, a character upper-case, a word as it is ("R, X, K, zero at …")."""
    start, end, _ = part
    words = ", ".join(c.upper() if len(c) == 1 else c for c in said)
    return f"{text[:start]}{words}{text[end:]}"


_GLUED_LETTERS = re.compile(r"\b[A-Za-z]{1,3}-(?=\d)")


def unglued(text: str) -> str:
    """``text`` without letters the recogniser joined to digits with a dash ("This is
    RE-7-9-8-2453." for "Sorry, it's seven, nine, eight, two, four, five, three"; ``base``, a
    generated clinic call): a reading for a slot of digits to try when the digits as heard fit
    no value (``slots.extract``)."""
    return _GLUED_LETTERS.sub("", text)


_DIGIT = r"(?:\d|(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)\b)"
_BRIDGED = re.compile(
    rf"(?<=\d)(\W+)(?:(?:and|then|the|um|uh|er|erm|so|okay|ok)\b\W*)+(?={_DIGIT})",
    re.IGNORECASE)


def bridged(text: str) -> str:
    """``text`` with words that only bridge two groups of digits left out ("8, 7, 4. The 0, 1."
    for eight, seven, four, oh, one said in two breaths; "9. 07-4." and "Then 4-8-2." as a held
    fragment and the caller's next breath): a reading for a slot to try when the digits as
    heard fit no value (``slots.extract``)."""
    return _BRIDGED.sub(r"\1", text)


def find_readbacks(text: str, *, min_chars: int = 3) -> list[str]:
    """:func:`harness.spoken.find_readbacks` as the agent hears it."""
    return spoken.find_readbacks(text, min_chars=min_chars, hearing=RECOGNISER)


def spoken_to_compact(text: str) -> str:
    """:func:`harness.spoken.spoken_to_compact` as the agent hears it."""
    return spoken.spoken_to_compact(text, hearing=RECOGNISER)


def normalize_value(value: Any) -> str:
    """:func:`harness.spoken.normalize_value` as the agent hears it."""
    return spoken.normalize_value(value, hearing=RECOGNISER)


def values_equal(a: Any, b: Any) -> bool:
    """:func:`harness.spoken.values_equal` as the agent hears it."""
    return spoken.values_equal(a, b, hearing=RECOGNISER)


_YES_THATS = re.compile(
    r"^(\W*(?:(?:sorry|oh|okay|ok|um|uh|well)\b[\s,.]*)*(?:yes|yeah|yep)\b[\s,.]*)"
    r"not(?=[\s,.]+(?:right|s?it|shit|set|correct|slide)\b)", re.IGNORECASE)
"""A small recogniser writes "Yes, that's right" as "Yes, not right" (and "that's it" as "not
sit" or "not set"), seen with British voices, or as "Yes, not slide" (3 of about 100 calls with
the 15 s window of ``asr.WINDOW_MIN_S``; "Sorry, yes, not right" once in a CI run of the example
suite; "Yes, not set." for "Yes, that's it.", ``base``, a generated utility call; "Yes, not
shit." for the same, ``base``, two generated utility calls in two female voices): after a
leading yes (a "sorry", "oh" or "okay" before it allowed), a bare "not" before
right/it/sit/shit/set/correct/slide is the "that's" it misheard, not a denial. "Yes, that's not
right" and "No, not right" are kept."""


_NOT_INCORRECT = re.compile(r"\bnot\s+incorrect\b", re.IGNORECASE)
""""that is correct" written as "not incorrect" (a Scottish voice, generated calls): a double
negative that means what the caller said."""


_WORK_AN_APPOINTMENT = re.compile(r"\b(?:work|walk) (an?|my|the) appointment\b", re.IGNORECASE)
""""book an appointment" written as "work an appointment" or "walk an appointment" (7 of 10
generated booking calls of the clinic line): nobody works or walks an appointment."""


_NO_YES = re.compile(r"^\W*no[\s,.]+(?=(?:yes|yeah|yep)\W*$)", re.IGNORECASE)
"""A bare "Yes." written "No, yes." (``tiny.en``, the Kokoro voice ``bf_emma`` at 126 and 160
words a minute, with the support desk's prompt and without: two variants of a generated
``dropped-line`` call, and the word alone): the recogniser puts a word before a short yes
("Oh yes", "And yes", "Well, yes", "Like yes" for other voices), here one that denies. A "no"
that only a yes follows is dropped; "No, yes, that's wrong" and "Yes, no." are kept."""


def repair_phrases(lowered: str) -> str:
    """The caller's words as the agent takes them: phrases its recogniser is known to mishear."""
    lowered = _NO_YES.sub("", lowered)
    lowered = _YES_THATS.sub(r"\1that's", lowered)
    lowered = _NOT_INCORRECT.sub("correct", lowered)
    return _WORK_AN_APPOINTMENT.sub(r"book \1 appointment", lowered)
