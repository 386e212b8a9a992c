"""Calendar dates as a caller says them, found in a sentence and said again for another date.

A date of birth is labelled and passed to tools as ISO ``1985-03-14`` but said as "March
fourteenth, nineteen eighty-five", "the fourteenth of March", "14 March 1985" or "03/14/1985".
The loader needs to know that such a sentence says the labelled date, and ``harness vary`` needs
to say another date in the very form the caller used, so each found date remembers how its day,
month and year were written and renders a new date the same way.

Forms read (case-insensitive; the year is optional in the spoken forms):

- month first: "March fourteenth, nineteen eighty-five", "March the 14th", "March 14, 1985";
- day first: "the fourteenth of March, 1985", "14 March 1985", "fourteenth of March";
- numeric: "03/14/1985", "3/14/85" (month first) or "14/03/1985" (day first), and ISO
  "1985-03-14".

Days are ordinal words ("twenty-first", "twenty first"), numerals ("14") or numerals with a
suffix ("14th"); years are four digits or words ("nineteen eighty five", "nineteen oh five",
"two thousand and three", "twenty twelve").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

__all__ = ["SaidDate", "iso_date", "said_dates", "says_date", "year_words", "ordinal_words"]

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
_MONTH_OF = {m: i + 1 for i, m in enumerate(MONTHS)}

_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_UNITS = ("", "first", "second", "third", "fourth", "fifth", "sixth", "seventh",
                  "eighth", "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth",
                  "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def cardinal_words(n: int, joiner: str = "-") -> str:
    """0-99 in words; ``joiner`` joins tens and units ("eighty-five" or "eighty five")."""
    if n < 20:
        return _UNITS[n]
    tens, unit = divmod(n, 10)
    return _TENS[tens] + (joiner + _UNITS[unit] if unit else "")


def ordinal_words(n: int, joiner: str = "-") -> str:
    """1-31 as an ordinal in words ("fourth", "twentieth", "twenty-first")."""
    if n < 20:
        return _ORDINAL_UNITS[n]
    tens, unit = divmod(n, 10)
    if not unit:
        return _TENS[tens][:-1] + "ieth"
    return _TENS[tens] + joiner + _ORDINAL_UNITS[unit]


def year_words(year: int, joiner: str = "-", *, thousand: bool = False, and_: bool = False) -> str:
    """A year as people say it: in pairs ("nineteen eighty-five", "nineteen oh five", "nineteen
    hundred", "twenty twelve") or, with ``thousand``, "two thousand [and] three" for 2000-2099."""
    high, low = divmod(year, 100)
    if (thousand and high == 20) or year == 2000:
        return "two thousand" + (f" {'and ' if and_ else ''}{cardinal_words(low, joiner)}"
                                 if low else "")
    if low == 0:
        return f"{cardinal_words(high, joiner)} hundred"
    if low < 10:
        return f"{cardinal_words(high, joiner)} oh {_UNITS[low]}"
    return f"{cardinal_words(high, joiner)} {cardinal_words(low, joiner)}"


# word → value tables the patterns are built from (both joiners of a compound)
_J = "[ -]"
_ORDINAL_OF = {ordinal_words(n, j): n for n in range(1, 32) for j in ("-", " ")}
_CARDINAL_OF = {cardinal_words(n, j): n for n in range(1, 100) for j in ("-", " ")}


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", _J).replace(r"\-", _J)
                    for w in sorted(set(words), key=len, reverse=True))


_TWO = _alternation(_CARDINAL_OF)
_CENTURY = _alternation(w for w, n in _CARDINAL_OF.items() if 10 <= n <= 20)
_DAY = rf"(?P<day>{_alternation(_ORDINAL_OF)}|\d{{1,2}}(?:st|nd|rd|th)?)"
_MONTH = rf"(?P<month>{'|'.join(MONTHS)})"
_YEAR = (rf"(?P<year>\d{{4}}|two{_J}thousand(?:{_J}and)?(?:{_J}(?:{_TWO}))?"
         rf"|(?:{_CENTURY}){_J}(?:hundred|oh{_J}(?:{'|'.join(_UNITS[1:10])})|{_TWO}))")
_TAIL = rf"(?:,?\s+{_YEAR})?"
_PATTERNS = (
    re.compile(rf"\b{_MONTH}\s+(?:the\s+)?{_DAY}{_TAIL}\b", re.IGNORECASE),
    re.compile(rf"(?<![\w-])(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}{_TAIL}\b", re.IGNORECASE),
    re.compile(r"\b(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})\b"),
    re.compile(r"\b(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4}|\d{2})\b"),
    re.compile(r"\b(?P<day>\d{1,2})/(?P<month>\d{1,2})/(?P<year>\d{4}|\d{2})\b"),
)


def _number(words: str) -> int:
    w = re.sub(r"[ -]+", " ", words.casefold())
    return _ORDINAL_OF.get(w) or _CARDINAL_OF[w]


def _year_of(text: str) -> int:
    if text.isdigit():
        return int(text)
    words = re.split(r"[ -]+", text.casefold())
    if words[:2] == ["two", "thousand"]:
        rest = [w for w in words[2:] if w != "and"]
        return 2000 + (_number(" ".join(rest)) if rest else 0)
    # "nineteen eighty five", "nineteen oh five", "nineteen hundred": the century, then the rest
    low = [w for w in words[1:] if w != "oh"]
    return _CARDINAL_OF[words[0]] * 100 + (0 if low == ["hundred"] else _number(" ".join(low)))


def _styled(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


@dataclass(frozen=True)
class SaidDate:
    """One date said in a text: where, which date, and the written form of each part."""

    start: int
    end: int
    year: int | None
    month: int
    day: int
    parts: tuple[tuple[str, int, int, str], ...]
    """(part, start, end, text) of the day, month and year, in the text's coordinates."""

    def is_date(self, when: date) -> bool:
        """Whether this says ``when`` (a date said without a year says any year's)."""
        return (self.month, self.day) == (when.month, when.day) and self.year in (None, when.year)

    def render(self, text: str, when: date) -> str:
        """This span of ``text`` saying ``when`` instead, each part written as it was."""
        said = text[self.start:self.end]
        joiner = "-" if re.search(r"[a-z]-[a-z]", said, re.IGNORECASE) else " "
        out, at = [], self.start
        for part, start, end, old in self.parts:
            out.append(text[at:start])
            out.append(_styled(_part(part, old, when, joiner), old))
            at = end
        out.append(text[at:self.end])
        return "".join(out)


def _part(part: str, old: str, when: date, joiner: str) -> str:
    if part == "month":
        if old.isdigit():
            return f"{when.month:0{len(old)}d}"
        return MONTHS[when.month - 1]
    if part == "day":
        m = re.fullmatch(r"(\d+)(st|nd|rd|th)?", old, re.IGNORECASE)
        if m is None:
            return ordinal_words(when.day, joiner)
        digits = f"{when.day:0{len(m.group(1))}d}"
        if m.group(2) is None:
            return digits
        suffix = "th" if when.day in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(
            when.day % 10, "th")
        return digits + suffix
    if old.isdigit():
        return f"{when.year % 100:02d}" if len(old) == 2 else f"{when.year:04d}"
    lowered = old.casefold()
    return year_words(when.year, joiner, thousand=lowered.startswith("two thousand"),
                      and_=bool(re.search(r"\band\b", lowered)))


def _said(m: re.Match[str]) -> SaidDate | None:
    day_text, month_text, year_text = m.group("day"), m.group("month"), m.group("year")
    day_digits = re.match(r"\d+", day_text)
    day = int(day_digits.group()) if day_digits else _number(day_text)
    month = int(month_text) if month_text.isdigit() else _MONTH_OF[month_text.casefold()]
    year = None
    if year_text is not None:
        year = _year_of(year_text)
        if len(year_text) == 2 and year_text.isdigit():
            year += 1900 if year > 30 else 2000  # "3/14/85"
    try:
        date(year or 2000, month, day)  # a leap year, so a said 29 February stays a date
    except ValueError:
        return None
    parts = tuple(sorted(((name, m.start(name), m.end(name), m.group(name))
                          for name in ("day", "month", "year") if m.group(name) is not None),
                         key=lambda p: p[1]))
    return SaidDate(m.start(), m.end(), year, month, day, parts)


def said_dates(text: str) -> list[SaidDate]:
    """The dates said in ``text``, in order. A numeric date that reads both ways ("03/04/1985")
    is listed month first, then day first, over the same span."""
    candidates = [said for pattern in _PATTERNS for m in pattern.finditer(text)
                  if (said := _said(m)) is not None]
    return sorted((s for s in candidates if not any(
        o.start < s.end and s.start < o.end and o.end - o.start > s.end - s.start
        for o in candidates)), key=lambda s: s.start)


def iso_date(value: object) -> date | None:
    """``value`` as a date when it is one written ``YYYY-MM-DD``, else None."""
    if not isinstance(value, str) or not _ISO.fullmatch(value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def says_date(text: str, value: object) -> bool:
    """Whether ``text`` says the ISO date ``value`` with its year ("March fourteenth, nineteen
    eighty-five" says "1985-03-14")."""
    when = iso_date(value)
    return when is not None and any(s.is_date(when) and s.year is not None
                                    for s in said_dates(text))
