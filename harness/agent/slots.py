"""Slot extraction of the local agent: the value of a profile slot in a caller's words, by kind.

Kinds: ``digits`` (a digit ID of any length), ``alphanumeric`` (letters, NATO words, digits,
dashes), ``email``, ``phone``, ``date`` (ISO ``YYYY-MM-DD``), ``name`` (a person's name) and
``text`` (free text). A value is ``ok`` (complete), ``partial`` (cut off, too short: wait for the
rest, or ask again) or ``none``. Names and free text are only taken when the agent asked for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from harness.agent.profile import SlotSpec
from harness.agent.repairs import (
    bridged,
    find_readbacks,
    first_digit_words,
    joined_spelling,
    normalize_value,
    spoken_to_compact,
    undoubled,
    unglued,
)
from harness.spoken import to_spoken


@dataclass
class Extracted:
    """A slot value found in an utterance."""

    status: Literal["ok", "partial", "none"]
    value: str | None = None


_ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "sixth": 5,
             "seventh": 6, "eighth": 7, "ninth": 8, "tenth": 9, "last": -1}
_POSITIONAL = re.compile(
    r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last)\s+"
    r"(?:digit|number|letter|character|one)?\s*(?:is|should be|was|'s)\s+(?:an?\s+)?([\w]+)")
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december"]
_MONTH_ALIASES = {m[:3]: i + 1 for i, m in enumerate(_MONTHS)} | {
    m: i + 1 for i, m in enumerate(_MONTHS)} | {"sept": 9}
_DAY_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}
_DATE_FILLERS = {"the", "of", "on", "in"}
_NAME_CUE = re.compile(
    r"\b(?:my name is|my name's|name is|the name is|this is|it's|it is|i am|i'm|patient is|"
    r"under|for)\s+(.+)$", re.IGNORECASE)
_NAME_STOP = {"um", "uh", "er", "erm", "please", "thanks", "thank", "you", "yes", "yeah", "and",
              "the", "a", "an", "it", "is", "that", "that's", "my", "name", "calling", "speaking",
              "here", "ok", "okay", "so", "well", "hi", "hello"}
_TEXT_CUE = re.compile(r"^(?:\W*(?:um|uh|er|well|so|yes|yeah|okay|ok)\b\W*)+", re.IGNORECASE)


def _alnum_len(value: str) -> int:
    return sum(c.isalnum() for c in value)


def default_pattern(spec: SlotSpec) -> str:
    """The pattern a complete value of ``spec`` matches when the profile gives none."""
    low, high = spec.min_length or 1, spec.max_length or ""
    if spec.kind == "digits":
        return rf"^\d{{{low},{high}}}$"
    if spec.kind == "phone":
        return rf"^\+?\d{{{spec.min_length or 7},{spec.max_length or 15}}}$"
    if spec.kind == "alphanumeric":
        return r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
    if spec.kind == "email":
        return r"^[a-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$"
    return r"^.+$"


def _fits(spec: SlotSpec, value: str) -> bool:
    if not re.fullmatch(spec.pattern or default_pattern(spec), value):
        return False
    n = _alnum_len(value)
    return (spec.min_length is None or n >= spec.min_length) and (
        spec.max_length is None or n <= spec.max_length)


def _variants(spec: SlotSpec, value: str) -> list[str]:
    """``value`` and its rewrites, compared case-folded against the slot pattern."""
    value = value.lower()
    if spec.kind in ("digits", "phone"):
        plus = "+" if value.startswith("+") else ""
        value = plus + re.sub(r"\D", "", value)
    out = [value]
    if spec.kind == "alphanumeric":
        # A recogniser's punctuation inside a spelled code ("BH-0-8", "835.21") is not the
        # caller's: the characters alone are a variant too, for the rewrites to shape.
        compact = re.sub(r"(?<=[a-z0-9])[\s.\-]+(?=[a-z0-9])", "", value)
        if compact != value:
            out.append(compact)
    for base in list(out):
        for regex, replacement in spec.rewrites:
            rewritten = re.sub(regex, replacement, base)
            if rewritten not in out:
                out.append(rewritten)
    return out


def _code_values(spec: SlotSpec, text: str, fresh: str | None) -> list[str]:
    values = [r for r in find_readbacks(text, min_chars=1) if "@" not in r]
    if fresh and text.endswith(fresh):
        # A caller who starts a value over after a held fragment ("eight, three" ...
        # "eight, three, five, two, one"): the joined digits run together, the new ones alone
        # are the value.
        values[:0] = [r for r in find_readbacks(fresh, min_chars=1) if "@" not in r]
    if spec.kind in ("digits", "phone"):
        # "oh" written as the letter ("2, 7, 9, 3, 8, o."): among digits it is a zero
        values = [re.sub(r"[oO]", "0", v) if re.search(r"\d", v) else v for v in values]
        values = [v for v in values if re.fullmatch(r"\+?[\d\s.\-/]+", v)]
    return values


def extract(spec: SlotSpec, text: str, *, asked: bool, fresh: str | None = None) -> Extracted:
    """The slot's value in ``text``: complete, partial (cut off, too short) or none.

    ``asked``: the agent's last question asked for this slot (names and free text are taken only
    then). ``fresh``: the caller's latest words when they were joined to held ones.
    """
    if spec.kind == "email":
        return _email(spec, text)
    if spec.kind == "date":
        return _date(spec, text)
    if spec.kind == "name":
        return _name(text) if asked else Extracted("none")
    if spec.kind == "text":
        said = _TEXT_CUE.sub("", text).strip().rstrip(".!?,;: ")
        return Extracted("ok", said) if asked and said else Extracted("none")
    values = _code_values(spec, text, fresh)
    found = _first_fit(spec, values)
    # no value fits: a digit the recogniser wrote as a word at the run's start ("It's a
    # 3-1-025" for eight, three, one, oh, two, five) may be the one missing, letters may be
    # joined to the digits ("RE-7-9-8-2453"), or a word between two breaths of the value may
    # have split it ("8, 7, 4. The 0, 1.")
    readings = [first_digit_words(text), unglued(text)] if spec.kind == "digits" else []
    readings += [bridged(text)]
    for reading in dict.fromkeys(readings):
        if found is None and reading != text:
            found = _first_fit(spec, _code_values(spec, reading, None))
    if spec.kind == "digits":
        found = _undoubled(spec, text, values, found)
    if found is not None:
        return Extracted("ok", found)
    if values:
        return Extracted("partial", values[-1])
    return Extracted("none")


def _undoubled(spec: SlotSpec, text: str, values: list[str], found: str | None) -> str | None:
    """``found``, or the digits with one the recogniser wrote twice written once
    (:func:`undoubled`): when no value fits as heard, or when a digit word right before
    digits that fit makes them one too long with a digit written twice ("It's account file
    922860" for five, nine, two, eight, six, oh; "It said 372400" for "it's eight, three, seven,
    two, four, oh")."""
    if found is None:
        return _first_fit(spec, [u for v in values if (u := undoubled(v))])
    reading = first_digit_words(text, only_unlike_words=True)
    if reading == text:
        return found
    longer = [u for v in _code_values(spec, reading, None)
              if found in re.sub(r"\D", "", v) and (u := undoubled(v))]
    return _first_fit(spec, longer) or found


def _first_fit(spec: SlotSpec, values: list[str]) -> str | None:
    """The last of ``values`` that fits the slot (in one of its rewrites), as the slot keeps it."""
    for value in reversed(values):
        for variant in _variants(spec, value):
            if _fits(spec, variant):
                return variant.upper() if spec.upper else variant
    return None


# A mail provider's name as a recogniser may write it from speech (over a telephone line
# "at mail dot com" comes out as "at male.com"): the provider is what a caller means.
_MAIL_PROVIDER_SOUNDALIKES = {"male": "mail", "gmale": "gmail", "g-male": "gmail",
                              "g-mail": "gmail", "hotmale": "hotmail", "hot-male": "hotmail"}


def _provider(email: str) -> str:
    """``email`` with a sound-alike of a well-known mail provider's name as its domain's first
    label replaced by the provider's (``john@male.com`` → ``john@mail.com``)."""
    local, _, domain = email.partition("@")
    first, dot, rest = domain.partition(".")
    return f"{local}@{_MAIL_PROVIDER_SOUNDALIKES.get(first, first)}{dot}{rest}"


def _email(spec: SlotSpec, text: str) -> Extracted:
    text = joined_spelling(text)
    readbacks = find_readbacks(text)
    emails = [_provider(r) for r in readbacks if "@" in r]
    for value in reversed(emails):
        if _fits(spec, value):
            return Extracted("ok", value)
    # spelled characters with "at", "dot" or a domain written as one ("mail.com"): part of an
    # address ("j-o-h-n-f-mail.com": its "at" heard as "f"), worth the recogniser's runners-up
    spelled = bool(readbacks) and bool(re.search(r"\b(at|dot)\b|@|\w\.[a-z]{2,}\b", text,
                                                 re.IGNORECASE))
    if emails or spelled:
        return Extracted("partial", emails[-1] if emails else None)
    return Extracted("none")


def _name(text: str) -> Extracted:
    """A person's name: after a cue ("my name is ..."), else the words said; spelled letters
    ("S, M, I, T, H") join into one word."""
    cued = _NAME_CUE.search(text)
    said = cued.group(1) if cued else text
    words: list[str] = []
    spelled: list[str] = []
    for raw in re.findall(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", said):
        word = raw.lower()
        if len(word) == 1:
            spelled.append(word)
            continue
        if spelled:
            words.append("".join(spelled))
            spelled = []
        if word in _NAME_STOP:
            if words:
                break
            continue
        words.append(word)
    if spelled:
        words.append("".join(spelled))
    words = [w for w in words if len(w) > 1][:4]
    if not words:
        return Extracted("none")
    return Extracted("ok", " ".join(w[:1].upper() + w[1:] for w in words))


def _number(words: list[str]) -> int | None:
    if not words:
        return None
    compact = spoken_to_compact(" ".join(words))
    return int(compact) if compact.isdigit() else None


def _year(tokens: list[str]) -> int | None:
    """A year at the start of ``tokens``: "1985", "nineteen eighty five", "two thousand and
    three", "nineteen oh five"."""
    if tokens and re.fullmatch(r"\d{4}", tokens[0]):
        return int(tokens[0])
    words: list[str] = []
    for token in tokens[:6]:
        if not re.fullmatch(r"[a-z]+", token) or token in _MONTH_ALIASES:
            break
        words.append(token)
    if not words:
        return None
    if words[0] in ("two",) and len(words) > 1 and words[1] == "thousand":
        value = _number(words)
        return value if value and 2000 <= value <= 2099 else None
    # "nineteen eighty five": a century said as a number, then the rest of the year
    for split in range(1, len(words)):
        century = _number(words[:split])
        rest = _number(words[split:])
        if century in range(10, 21) and rest is not None and rest < 100:
            return century * 100 + rest
    return None


def _day(token: str) -> int | None:
    m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?", token)
    if m:
        return int(m.group(1))
    return _DAY_WORDS.get(token)


def _date(spec: SlotSpec, text: str) -> Extracted:
    """A calendar date → ISO ``YYYY-MM-DD`` (``MM-DD`` stays partial when a year is needed)."""
    lowered = text.lower().replace(",", " ").replace(".", " ")
    iso = re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", lowered)
    if iso:
        return _date_value(spec, int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    tokens = lowered.replace("-", " ").split()
    for i, token in enumerate(tokens):
        month = _MONTH_ALIASES.get(token)
        if month is None:
            continue
        # "the fourth of March", "4th on March" (a recogniser's "of"), "March the 4th"
        before = [t for t in tokens[max(0, i - 3):i] if t not in _DATE_FILLERS]
        after = [t for t in tokens[i + 1:] if t not in _DATE_FILLERS]
        day = _day(before[-1]) if before else None
        # "twenty first" / "thirty first" said as two words
        if day is not None and len(before) >= 2 and before[-2] in ("twenty", "thirty") \
                and day < 10:
            day += 20 if before[-2] == "twenty" else 30
        rest = after
        if day is None and after:
            day = _day(after[0])
            rest = after[1:]
            if day is not None and day in (20, 30) and rest and _day(rest[0]) in range(1, 10):
                day += _day(rest[0]) or 0
                rest = rest[1:]
        year = _year(rest)
        if day is None:
            return Extracted("partial", None)
        if year is None:
            if spec.year_required:
                return Extracted("partial", None)
            return Extracted("ok", f"{month:02d}-{day:02d}")
        return _date_value(spec, year, month, day)
    return Extracted("none")


def _date_value(spec: SlotSpec, year: int, month: int, day: int) -> Extracted:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return Extracted("partial", None)
    return Extracted("ok", f"{year:04d}-{month:02d}-{day:02d}")


def correction(spec: SlotSpec, current: str, lowered: str, text: str,
               fresh: str | None = None) -> Extracted:
    """A new value for a read-back: said in full, or one position changed."""
    m = _POSITIONAL.search(lowered)
    if m and current and spec.kind in ("digits", "alphanumeric", "phone"):
        replacement = normalize_value(m.group(2))
        index = _ORDINALS[m.group(1)]
        chars = list(current)
        positions = [i for i, c in enumerate(chars) if c.isalnum()]
        if len(replacement) == 1 and -len(positions) <= index < len(positions):
            chars[positions[index]] = replacement
            value = "".join(chars)
            return Extracted("ok", value.upper() if spec.upper else value)
    return extract(spec, text, asked=True, fresh=fresh)


def spoken_value(spec: SlotSpec, value: str) -> str:
    """How the agent says a value in a read-back: codes character by character, dates and
    names as words."""
    if spec.kind == "date":
        m = re.fullmatch(r"(?:(\d{4})-)?(\d{2})-(\d{2})", value)
        if m is None or not 1 <= int(m.group(2)) <= 12:
            return value  # not a date this agent wrote (a misread one): said as it is
        said = f"{_MONTHS[int(m.group(2)) - 1].title()} {int(m.group(3))}"
        return f"{said}, {m.group(1)}" if m.group(1) else said
    if spec.kind in ("name", "text"):
        return value
    return to_spoken(value, numerals=spec.numerals, spell_local_part=spec.spell_local_part)


def part_of_one_taken(value: str, taken: list[str], text: str) -> bool:
    """Whether ``value``, found in ``text`` for a slot, is part of a value ``taken`` from the
    same words for another and the words hold too few digits for both: "My account number is
    all 8, 2, 3, 1, 6." is the account number 082316 (the "all" an "oh"), and its last five
    digits would fit a meter reading too."""
    if not taken:
        return False
    digits = sum(c.isdigit() for c in spoken_to_compact(first_digit_words(text)))
    return any(value in other and digits < len(other) + len(value) for other in taken)
