"""Spoken text as tokens: words, number words, spelled characters and separators, with lone
letters (and a hearing's homophones) resolved by their neighbours; runs of number words as
digits."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_UNITS = {
    "zero": 0, "oh": 0, "nought": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "niner": 9,
}
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
_MULTIPLIERS = {"hundred": 100, "thousand": 1000}
_REPEATS = {"double": 2, "triple": 3}
_NATO = {
    "alpha": "a", "alfa": "a", "bravo": "b", "charlie": "c", "delta": "d", "echo": "e",
    "foxtrot": "f", "golf": "g", "hotel": "h", "india": "i", "juliet": "j", "juliett": "j",
    "kilo": "k", "lima": "l", "mike": "m", "november": "n", "oscar": "o", "papa": "p",
    "quebec": "q", "romeo": "r", "sierra": "s", "tango": "t", "uniform": "u", "victor": "v",
    "whiskey": "w", "whisky": "w", "xray": "x", "yankee": "y", "zulu": "z",
}
_SEPARATOR_WORDS = {
    "dash": "-", "hyphen": "-", "dot": ".", "underscore": "_", "slash": "/", "plus": "+",
}
_FILLERS = {"um", "umm", "uh", "uhh", "er", "erm", "ah", "hmm", "mm"}
_SOFT_PUNCT = set(",.;:…")
_DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_SYMBOL_WORDS = {"-": "dash", ".": "dot", "@": "at", "_": "underscore", "/": "slash", "+": "plus"}

_LEX = re.compile(r"(?P<w>[^\W_]+(?:['’][^\W\d_]+)?)|(?P<s>[-_@./+])|(?P<p>\S)")
_XRAY = re.compile(r"\bx[- ]ray\b", re.IGNORECASE)


@dataclass(frozen=True)
class Hearing:
    """Words a recogniser writes for digits it heard (``{"to": "2", "for": "4"}``), read as
    those digits where the neighbours say a value is being spelled. The strict reading, the
    one scorers use, has none: it takes only the standard spoken forms of a value."""

    homophones: Mapping[str, str] = field(default_factory=dict)


STRICT = Hearing()


@dataclass
class _Tok:
    """One lexical item. ``kind`` is one of: digits, num, alnum, letter, weak (a/i), homo, rep,
    sep, at, word, filler, soft (ignorable punctuation), hard (run-breaking punctuation)."""

    kind: str
    text: str
    upper: bool = False
    sentence_start: bool = False


def _classify_word(raw: str, sentence_start: bool, hearing: Hearing) -> _Tok:
    w = raw.casefold().replace("’", "'")
    upper = raw.isupper()
    if w.isdigit():
        return _Tok("digits", w)
    if any(c.isdigit() for c in w):
        return _Tok("alnum", w)
    if w in _UNITS or w in _TEENS or w in _TENS or w in _MULTIPLIERS:
        return _Tok("num", w)
    if w in hearing.homophones:
        return _Tok("homo", w, upper=upper, sentence_start=sentence_start)
    if w in _NATO:
        return _Tok("letter", _NATO[w])
    if w in _REPEATS:
        return _Tok("rep", w)
    if w in _SEPARATOR_WORDS:
        return _Tok("sep", _SEPARATOR_WORDS[w])
    if w == "at":
        return _Tok("at", "@")
    if w in _FILLERS:
        return _Tok("filler", w)
    if len(w) == 1 and w.isalpha():
        kind = "weak" if w in ("a", "i") else "letter"
        return _Tok(kind, w, upper=upper, sentence_start=sentence_start)
    return _Tok("word", w)


def _is_joinable_part(part: str) -> bool:
    """Whether a hyphen next to this part is a recogniser's joiner rather than a real dash."""
    p = part.casefold()
    return len(p) == 1 or p in _UNITS or p in _TEENS or p in _TENS or p in _NATO


def _lex(text: str, hearing: Hearing = STRICT) -> list[_Tok]:
    """Tokens of ``text``; glued symbols ("john.doe", "AB-1234") become separators, loose ones
    punctuation; hyphen-joined spelled characters ("A-B-1-2") become separate tokens."""
    text = _XRAY.sub("xray", text)
    matches = list(_LEX.finditer(text))
    # Group matches into glued compounds: words joined by symbols with no whitespace between.
    groups: list[list[re.Match[str]]] = []
    for m in matches:
        glued = (
            groups
            and m.start() == groups[-1][-1].end()
            and (m.lastgroup == "w" or m.lastgroup == "s")
            and (groups[-1][-1].lastgroup in ("w", "s"))
        )
        if glued:
            groups[-1].append(m)
        else:
            groups.append([m])

    tokens: list[_Tok] = []
    sentence_start = True
    for group in groups:
        # Symbols at the edges of a compound are punctuation ("1." or "-twenty").
        lead: list[re.Match[str]] = []
        trail: list[re.Match[str]] = []
        while group and group[0].lastgroup == "s":
            lead.append(group.pop(0))
        while group and group[-1].lastgroup == "s":
            trail.insert(0, group.pop())
        for m in lead:
            tokens.append(_Tok("soft", m.group()))
        if group:
            words = [m.group() for m in group if m.lastgroup == "w"]
            symbols = [m.group() for m in group if m.lastgroup == "s"]
            # "A-B-1-2", "eight-three", "J.O.H.N": a recogniser spelling characters out.
            joiner_only = bool(symbols) and all(
                (s == "-" and _is_joinable_part(w)) or (s == "." and len(w) == 1)
                for s in symbols for w in words)
            has_digit = any(c.isdigit() for w in words for c in w)
            for m in group:
                if m.lastgroup == "p":
                    tokens.append(_punct(m.group()))
                    sentence_start = m.group() in ".?!"
                elif m.lastgroup == "s":
                    if joiner_only:
                        continue
                    sym = m.group()
                    tokens.append(_Tok("at", "@") if sym == "@" else _Tok("sep", sym))
                elif symbols and has_digit and not joiner_only and not m.group().isdigit():
                    # A part of a compact ID such as "AB-1234" or "ORD-3125B23": literal text.
                    tokens.append(_Tok("alnum", m.group().casefold()))
                    sentence_start = False
                else:
                    tokens.append(_classify_word(m.group(), sentence_start, hearing))
                    sentence_start = False
        for m in trail:
            tokens.append(_punct(m.group()))
            sentence_start = m.group() == "."
    return tokens


def _punct(p: str) -> _Tok:
    return _Tok("soft" if p in _SOFT_PUNCT or p in "-_/+@" else "hard", p)


_CHARISH = {"digits", "num", "alnum", "letter", "rep"}


def _neighbour(tokens: list[_Tok], i: int, step: int) -> tuple[_Tok | None, bool]:
    """The nearest non-soft token from ``i`` in direction ``step`` and whether punctuation
    was skipped on the way."""
    j = i + step
    skipped = False
    while 0 <= j < len(tokens) and tokens[j].kind == "soft":
        skipped = True
        j += step
    return (tokens[j] if 0 <= j < len(tokens) else None), skipped


def _digitish(tok: _Tok | None) -> bool:
    if tok is None:
        return False
    if tok.kind in ("digits", "num", "rep"):
        return True
    return tok.kind == "alnum" and any(c.isdigit() for c in tok.text)


def _spelled_digits_follow(tokens: list[_Tok], i: int, hearing: Hearing) -> bool:
    """Whether at least two digits said one by one ("7 1", "seven, one") follow token ``i``."""
    count = 0
    j = i + 1
    while j < len(tokens) and count < 2:
        tok = tokens[j]
        if tok.kind == "soft":
            j += 1
            continue
        # digits only: an undecided homophone is not one yet ("I made 2 orders" starts no run;
        # one decided as a digit by its own neighbours is)
        single = (tok.kind == "digits" and len(tok.text) == 1) or (
            tok.kind == "num" and tok.text in _UNITS)
        if not single:
            return False
        count += 1
        j += 1
    return count >= 2


def _resolve_homophones(tokens: list[_Tok], value_mode: bool, hearing: Hearing) -> list[_Tok]:
    """Homophones that are digits, decided until nothing changes (in "28.0 for for six three"
    the second "for" starts a run first, then the first one sits between digits)."""
    tokens = list(tokens)
    changed = True
    while changed:
        changed = False
        for i, tok in enumerate(tokens):
            if tok.kind != "homo":
                continue
            prev, _ = _neighbour(tokens, i, -1)
            nxt, _ = _neighbour(tokens, i, +1)
            between = _digitish(prev) and (_digitish(nxt) or nxt is None or nxt.kind == "hard")
            starts_run = not _digitish(prev) and _spelled_digits_follow(tokens, i, hearing)
            if between or starts_run or (value_mode and (_digitish(prev) or _digitish(nxt))):
                tokens[i] = _Tok("digits", hearing.homophones[tok.text])
                changed = True
    return tokens


def _resolve(tokens: list[_Tok], value_mode: bool, hearing: Hearing = STRICT) -> list[_Tok]:
    """Decide homophones ("to" → 2) and weak letters ("a"/"i") from their neighbours.

    A homophone is a digit between digits, at the end of a digit run, or where a run of digits
    said one by one starts with it ("for seven one nine" → 4719; "calling for my order" and
    "for 24 hours" keep their word).
    """
    tokens = _resolve_homophones(tokens, value_mode, hearing)
    out: list[_Tok] = []
    for i, tok in enumerate(tokens):
        prev, _ = _neighbour(tokens, i, -1)
        nxt, skipped_after = _neighbour(tokens, i, +1)
        if tok.kind == "homo":
            # not a digit here: the word it is without the hearing ("i" may still be a letter)
            tok = _classify_word(tok.text.upper() if tok.upper else tok.text,
                                 tok.sentence_start, STRICT)
        if tok.kind == "num" and tok.text == "oh" and not value_mode:
            # a digit beside one ("two oh four", "oh 4"), or where digits said one by one
            # follow ("oh, one, five, seven" → 0157); else the word ("Oh, I see", "Oh, five
            # would be great")
            if not (_digitish(prev) or (_digitish(nxt) and not skipped_after)
                    or _spelled_digits_follow(tokens, i, hearing)):
                tok = _Tok("word", tok.text)
        elif tok.kind == "weak":
            letter_near = any(n is not None and n.kind in ("letter", "alnum") and
                              not any(c.isdigit() for c in n.text)
                              for n in (prev, nxt))
            upper_near_char = tok.upper and not tok.sentence_start and any(
                n is not None and n.kind in _CHARISH for n in (prev, nxt))
            if value_mode or letter_near or upper_near_char:
                tok = _Tok("letter", tok.text)
            else:
                tok = _Tok("word", tok.text, upper=tok.upper, sentence_start=tok.sentence_start)
        out.append(tok)
    return _chained_letters(tokens, out)


def _chained_letters(tokens: list[_Tok], out: list[_Tok]) -> list[_Tok]:
    """``out`` with a capital "A" or "I" left a word read as a letter where the letter beside
    it is one of the two read as a letter ("A, I, O, O": the "I" is a letter beside the "O",
    so the "A" beside the "I" is one too); at a sentence's start only with punctuation after it
    (an article is not followed by a comma)."""
    changed = True
    while changed:
        changed = False
        for i, tok in enumerate(out):
            punctuated = i + 1 < len(tokens) and tokens[i + 1].kind in ("soft", "sep")
            if not (tokens[i].kind == "weak" and tok.kind == "word" and tok.upper
                    and (punctuated or not tok.sentence_start)):
                continue
            for step in (-1, 1):
                j = i + step
                while 0 <= j < len(out) and out[j].kind in ("sep", "soft"):
                    j += step
                if 0 <= j < len(out) and tokens[j].kind == "weak" and out[j].kind == "letter":
                    out[i] = _Tok("letter", tok.text)
                    changed = True
                    break
    return out


def _number_groups(words: list[str]) -> str:
    """Digits for a run of number words: groups concatenate, cardinals are composed."""
    out: list[str] = []
    i = 0

    def small(i: int) -> tuple[int | None, int]:
        if i >= len(words):
            return None, i
        w = words[i]
        if w in _TENS:
            if i + 1 < len(words) and words[i + 1] in _UNITS and _UNITS[words[i + 1]] > 0:
                return _TENS[w] + _UNITS[words[i + 1]], i + 2
            return _TENS[w], i + 1
        if w in _TEENS:
            return _TEENS[w], i + 1
        if w in _UNITS:
            return _UNITS[w], i + 1
        return None, i

    def below_thousand(i: int) -> tuple[int | None, int]:
        value, j = small(i)
        if j < len(words) and words[j] == "hundred":
            value = (value if value is not None else 1) * 100
            j += 1
            k = j + 1 if j < len(words) and words[j] == "and" else j
            rest, k2 = small(k)
            if rest is not None and not (k2 < len(words) and words[k2] in _MULTIPLIERS):
                value, j = value + rest, k2
        return value, j

    while i < len(words):
        if words[i] == "and":
            i += 1
            continue
        start = i
        value, j = below_thousand(i)
        if j < len(words) and words[j] == "thousand":
            value = (value if value is not None else 1) * 1000
            j += 1
            k = j + 1 if j < len(words) and words[j] == "and" else j
            rest, k2 = below_thousand(k)
            if rest is not None:
                value, j = value + rest, k2
        if value is None or j == start:
            j = start + 1
            continue
        # A lone "oh"/"zero" keeps its digit; composed groups print as numbers.
        out.append(str(value))
        i = j
    return "".join(out)
