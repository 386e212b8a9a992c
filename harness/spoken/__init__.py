"""Spoken-form normalisation of identifiers, numbers and emails: the standard forms a person
accepts as the same value (loader and scorers), and, given a ``Hearing``, a recogniser's.

Speech recognisers write the same value in many ways: "8, 3, 5, 2, 1.", "Eight three five two
one.", "eighty three five twenty one", "835-21", "A-B-1-2", "Alpha Bravo dash one two",
"john dot doe at example dot com". This module turns all of them into one compact form.

Public API:

- ``spoken_to_compact(text)``: the whole text read as one value ("eight three five" → "835",
  "A B dash one two" → "ab-12", "john dot doe at example dot com" → "john.doe@example.com").
  Filler words ("um", "uh") are dropped; other words are kept (they may be parts of an email).
- ``normalize_value(v)``: canonical comparison form of an entity or argument value (any JSON
  scalar): spoken or compact input, case-folded, spaces and filler punctuation removed.
- ``values_equal(a, b)``: ``normalize_value(a) == normalize_value(b)``.
- ``find_readbacks(text)``: the entity-like values spoken inside a sentence, in compact form, in
  order ("Just to confirm, that's eight, three, five, two, one, correct?" → ["83521"]).
- ``sound_alike(heard, expected)``: compact values that differ only in homophones, for a
  read-back the harness's own recogniser wrote (``harness.spoken._sounds``).
- ``to_spoken(value)``: the inverse used for read-backs: a value said character by character
  ("83521" → "eight, three, five, two, one"; "john.doe@example.com" → "john dot doe at example
  dot com"), which ``find_readbacks`` parses back to the same compact value.

Rules worth knowing (all follow what recognisers write for spelled input):

- Number words group as people say them: "eighty three" → "83", "one twenty three" → "123",
  "nine thousand nine hundred eleven" → "9911"; digits said one by one simply concatenate.
  "double five" → "55", "triple oh" → "000"; "oh"/"zero"/"nought" → "0". An "oh" is a digit
  beside another digit or where digits said one by one follow ("oh, one, five" → "015"); "Oh, I
  see" and "Oh, five would be great" keep the word.
- Only standard spoken forms are read: the strict reading (``STRICT``, the default, which the
  scorers use) takes "made 3, 5, 2, 1" as the word "made" and three digits. A ``Hearing`` adds a
  recogniser's homophones ("to" → 2, "for" → 4), read as digits only between digits or where a
  run of digits said one by one starts ("eight three five to one" → "83521"; "I want to cancel"
  stays words): the local agent passes its own (``harness.agent.repairs``).
- A hyphen written between single characters or number words is a recogniser's way of joining
  spelled characters ("A-B-1-2" → "ab12", "eight-three-five" → "835"), and so are dots between
  single letters ("J.O.H.N." → "john"); between longer parts a hyphen is a real dash ("AB-1234" →
  "ab-1234"). A spoken "dash"/"hyphen"/"dot" is always a real separator.
- In sentences, a lone "a"/"I" counts as a spelled letter only next to another spelled letter, or
  when written upper-case mid-sentence next to a digit ("that's A, one, two"); an upper-case
  "A" or "I" beside such an "A" or "I" is one too ("A, I, O, O" → "aioo"; at a sentence's
  start only with a comma or dash after it).
- ``find_readbacks`` keeps values of at least three characters (so "two orders" or "April 25"
  are not read-backs) and any email.
"""

from __future__ import annotations

import re
from typing import Any

from harness.spoken._sounds import sound_alike
from harness.spoken._tokens import (
    _CHARISH,
    _DIGIT_WORDS,
    _FILLERS,
    _MULTIPLIERS,
    _NATO,
    _REPEATS,
    _SEPARATOR_WORDS,
    _SYMBOL_WORDS,
    _TEENS,
    _TENS,
    _UNITS,
    STRICT,
    Hearing,
    _lex,
    _number_groups,
    _resolve,
    _Tok,
)

__all__ = [
    "STRICT",
    "Hearing",
    "find_readbacks",
    "normalize_value",
    "sound_alike",
    "spoken_to_compact",
    "standard_forms_markdown",
    "to_spoken",
    "values_equal",
]


def _compact_tokens(tokens: list[_Tok]) -> str:
    """Concatenate value tokens into one compact string (number runs composed)."""
    out: list[str] = []
    num_run: list[str] = []
    pending_repeat = 1

    def flush_numbers() -> None:
        nonlocal num_run
        if num_run:
            digits = _number_groups(num_run)
            out.append(digits)
            num_run = []

    for tok in tokens:
        if tok.kind == "num" or (tok.kind == "word" and tok.text == "and" and num_run):
            if pending_repeat > 1 and tok.text in _UNITS:
                flush_numbers()
                out.append(str(_UNITS[tok.text]) * pending_repeat)
                pending_repeat = 1
                continue
            num_run.append(tok.text)
            continue
        flush_numbers()
        if tok.kind == "rep":
            pending_repeat = _REPEATS[tok.text]
        elif tok.kind in ("digits", "alnum", "letter", "word"):
            text = tok.text
            if pending_repeat > 1 and len(text) == 1:
                text = text * pending_repeat
            pending_repeat = 1
            out.append(text)
        elif tok.kind in ("sep", "at"):
            out.append(tok.text)
    flush_numbers()
    return "".join(out).strip("-._/+@")


def spoken_to_compact(text: str, *, hearing: Hearing = STRICT) -> str:
    """The whole of ``text`` read as one value, in compact, case-folded form.

    >>> spoken_to_compact("eight, three, five, two, one.")
    '83521'
    >>> spoken_to_compact("Alpha Bravo dash one two")
    'ab-12'
    >>> spoken_to_compact("john dot doe at example dot com")
    'john.doe@example.com'
    """
    tokens = _resolve(_lex(text, hearing), value_mode=True, hearing=hearing)
    kept = [t for t in tokens if t.kind not in ("filler", "soft", "hard")]
    if kept and kept[-1].kind == "word" and kept[-1].text == "and":
        kept.pop()
    return _compact_tokens(kept)


def normalize_value(v: Any, *, hearing: Hearing = STRICT) -> str:
    """Canonical comparison form of an entity or argument value (spoken or compact).

    >>> normalize_value("AB-1234"), normalize_value("A B dash one two"), normalize_value(83521)
    ('ab-1234', 'ab-12', '83521')
    """
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).casefold()
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return spoken_to_compact(str(v), hearing=hearing)


def values_equal(a: Any, b: Any, *, hearing: Hearing = STRICT) -> bool:
    """Whether two values are the same entity once normalised ("8, 3, 5" == "835")."""
    return normalize_value(a, hearing=hearing) == normalize_value(b, hearing=hearing)


def _value_len(compact: str) -> int:
    return sum(c.isalnum() for c in compact)


def _email_spans(tokens: list[_Tok]) -> list[tuple[int, int]]:
    """Token spans [start, end) of emails: local part, "at", a domain with at least one dot."""

    def unit_end(i: int, step: int) -> int | None:
        """Index past the unit that starts at ``i`` going in ``step`` (letter runs are one unit)."""
        if not (0 <= i < len(tokens)):
            return None
        spelled = ("letter", "weak", "digits", "num", "alnum")
        kind = tokens[i].kind
        if kind == "word":
            return i + step
        if kind in spelled:
            # Spelled characters are one unit, also when said with pauses ("J, O, H, N, two").
            j = i
            while 0 <= j < len(tokens) and (
                tokens[j].kind in spelled
                or (tokens[j].kind == "soft" and 0 <= j + step < len(tokens)
                    and tokens[j + step].kind in spelled)
            ):
                j += step
            return j
        return None

    def skip_soft(i: int, step: int) -> int:
        while 0 <= i < len(tokens) and tokens[i].kind == "soft":
            i += step
        return i

    def is_sep(i: int) -> bool:
        return 0 <= i < len(tokens) and tokens[i].kind == "sep" and tokens[i].text != "/"

    spans: list[tuple[int, int]] = []
    for k, tok in enumerate(tokens):
        if tok.kind != "at":
            continue
        left = unit_end(skip_soft(k - 1, -1), -1)
        if left is None:
            continue
        while is_sep(skip_soft(left, -1)):
            nxt = unit_end(skip_soft(skip_soft(left, -1) - 1, -1), -1)
            if nxt is None:
                break
            left = nxt
        start = left + 1
        right = unit_end(skip_soft(k + 1, +1), +1)
        if right is None:
            continue
        dots = 0
        while is_sep(skip_soft(right, +1)):
            sep = skip_soft(right, +1)
            nxt = unit_end(skip_soft(sep + 1, +1), +1)
            if nxt is None:
                break
            dots += tokens[sep].text == "."
            right = nxt
        if dots:
            spans.append((start, right))
    return spans


def find_readbacks(text: str, *, min_chars: int = 3, hearing: Hearing = STRICT) -> list[str]:
    """Entity-like values spoken in a sentence, in compact form and in order of appearance.

    A value is a run of digits, number words, spelled letters (incl. NATO words), compact IDs
    and spoken separators ("dash", "dot", ...), possibly split by commas or ellipses; or an
    email ("john dot doe at example dot com"). Values with fewer than ``min_chars`` letters and
    digits are ignored (3 by default, so "two orders" or "April 25" are not read-backs).

    >>> find_readbacks("Just to confirm, that's eight, three, five, two, one, correct?")
    ['83521']
    """
    tokens = _resolve(_lex(text, hearing), value_mode=False, hearing=hearing)
    found: list[tuple[int, str]] = []
    used: set[int] = set()
    for start, end in _email_spans(tokens):
        found.append((start, _compact_tokens(tokens[start:end])))
        used.update(range(start, end))

    run: list[_Tok] = []
    run_start = 0

    def close() -> None:
        while run and run[-1].kind in ("sep", "soft", "rep"):
            run.pop()
        value = _compact_tokens([t for t in run if t.kind != "soft"])
        if value and _value_len(value) >= min_chars:
            found.append((run_start, value))
        run.clear()

    for i, tok in enumerate(tokens):
        in_run = i not in used and (
            tok.kind in _CHARISH
            or (tok.kind in ("sep", "soft") and run)
            or (tok.kind == "word" and tok.text == "and" and run and run[-1].kind == "num")
        )
        if in_run:
            if not run:
                run_start = i
            run.append(tok)
        elif run:
            close()
    if run:
        close()
    return [value for _, value in sorted(found)]


def to_spoken(value: Any, *, spell_local_part: bool = False, numerals: bool = False) -> str:
    """``value`` said character by character, for a read-back that ``find_readbacks`` parses.

    Digits become words ("eight, three"), letters are spelled upper-case ("A, B"), separators
    become words ("dash", "dot", "at"). In an email, the domain's parts are said as words, and so
    is the local part unless ``spell_local_part`` is true ("J, O, H, N dot D, O, E at example
    dot com"). With ``numerals``, digits stay numerals ("8, 3, 5"); a speech synthesiser says
    them the same way.

    >>> to_spoken("83521")
    'eight, three, five, two, one'
    >>> to_spoken("john.doe@example.com")
    'john dot doe at example dot com'
    """
    compact = normalize_value(value)
    at = compact.find("@")
    parts: list[str] = []
    for m in re.finditer(r"[a-z]+|\d|[^a-z\d]", compact):
        piece = m.group()
        if piece.isdigit():
            parts.append((piece if numerals else _DIGIT_WORDS[int(piece)]) + ",")
        elif piece.isalpha():
            in_domain = at >= 0 and m.start() > at
            in_local = at >= 0 and m.start() < at
            if len(piece) > 1 and (in_domain or (in_local and not spell_local_part)):
                parts.append(piece)
            else:
                parts.extend(c.upper() + "," for c in piece)
        else:
            if parts:
                parts[-1] = parts[-1].rstrip(",")
            parts.append(_SYMBOL_WORDS.get(piece, piece))
    return " ".join(parts).rstrip(",")


def standard_forms_markdown() -> str:
    """The spoken forms the strict reading accepts as parts of a value, as a Markdown table
    (generated from the tables it reads with, so the documentation cannot drift from them)."""
    def words(table: Any) -> str:
        return ", ".join(f"{w}" for w in table)

    nato = ", ".join(f"{w} ({c})" for w, c in _NATO.items())
    separators = ", ".join(f"{w} ({c})" for w, c in _SEPARATOR_WORDS.items())
    rows = [
        ("digits", "0–9 written as digits, alone or in runs (`8 3 5`, `835 21`, `83521`)"),
        ("number words", f"{words(_UNITS)}; {words(_TEENS)}; {words(_TENS)}; "
                         f"{words(_MULTIPLIERS)} — said one by one they concatenate "
                         "(eight three five → 835), grouped they compose (eighty three → 83, "
                         "one twenty three → 123)"),
        ("oh", "zero beside another digit (two oh four → 204) or before digits said one by "
               "one (oh, one, five → 015); the word otherwise (Oh, I see)"),
        ("repeats", "double, triple before a digit (double five → 55, triple oh → 000)"),
        ("letters", "single letters (`A B 1 2`, `A-B-1-2`, `J.O.H.N`; a lone a or I beside "
                    "another spelled letter, or an upper-case A or I beside such an A or I: "
                    "`A, I, O, O`) and the NATO alphabet: " + nato),
        ("separators", separators + "; `at` (@) between the parts of an email"),
        ("compact IDs", "written as one word with their own dashes (`AB-1234`, `ORD-3125B23`)"),
        ("ignored", f"the fillers {words(sorted(_FILLERS))}, commas and ellipses between the "
                    "parts"),
    ]
    lines = ["| form | accepted as part of a value |", "| --- | --- |"]
    lines += [f"| {name} | {text} |" for name, text in rows]
    return "\n".join(lines) + "\n"
