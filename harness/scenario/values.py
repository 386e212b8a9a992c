"""The values a caller gives, and the new values ``harness vary`` gives them.

Each value the caller gives gets a new value of its kind, the same in the ``say`` lines, a
cut-off's ``after_text``, the ``entity`` labels, the tool mocks and the expectations, so a
cut-off still cuts the ID after the same characters, a correction still changes the same digit,
and the mock that answered the old value answers the new one. Kinds, told apart by the value's
shape and the key it is held under:

- *spelled IDs*: every identifier the caller spells — digits said one by one, letters, NATO
  words, numerals of three or more digits — goes through one seeded substitution of digits for
  digits and letters for letters (an email changes its local part when it was spelled);
- *phone numbers*: a spelled value under a key with ``phone``, ``mobile`` or ``cell`` in it is
  substituted as an ID, which keeps its length and grouping, but the draw also keeps it
  dialable: a group that started with 2-9 (an area code, an exchange) does not start with 0 or
  1 after, and a ``+`` country code keeps its digits;
- *dates*: an ISO ``YYYY-MM-DD`` value (under any key) that a ``say`` line says, in a form
  ``harness.spoken.dates`` reads ("March fourteenth, nineteen eighty-five", "the fourteenth of
  March", "03/14/1985"), becomes another valid date in the same century, written ISO where
  it was ISO and said in each line as that line said it;
- *names*: a value under a key with ``name`` in it, shaped like a person's name ("Maria
  Lopez", "Lopez"), that a ``say`` line says or spells becomes names from ``FIRST_NAMES`` and
  ``LAST_NAMES``, word by word (the last word of several is the surname, a lone word is a
  surname when its key says ``last``, ``sur`` or ``family``), spelled letter by letter where
  the old name was.

A said date or name is never read as a spelled ID, so its digits and letters do not go through
the substitution. Dates and names that are no such value, and everything else, stay as written.
"""

from __future__ import annotations

import calendar
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from typing import Any

from harness.spoken import normalize_value, spoken_to_compact
from harness.spoken.dates import iso_date, said_dates

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DIGIT_OF = {w: i for i, w in enumerate(_DIGIT_WORDS)} | {"oh": 0, "nought": 0, "niner": 9}
_NATO_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
               "india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa",
               "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray",
               "yankee", "zulu")
_NATO_OF = {w: chr(ord("a") + i) for i, w in enumerate(_NATO_WORDS)} | {
    "alfa": "a", "juliet": "j", "whisky": "w"}
_SEPARATOR_WORDS = {"dash", "hyphen"}
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[^A-Za-z0-9]+")

FIRST_NAMES = ("Anna", "Emma", "Laura", "Sarah", "Helen", "Julia", "Claire", "Lucy", "Susan",
               "Karen", "David", "James", "Peter", "Daniel", "Thomas", "Robert", "Michael",
               "Paul", "Simon", "Andrew")
"""First names a varied caller gives: common, and said plainly by the offline English voices."""
LAST_NAMES = ("Walker", "Turner", "Parker", "Miller", "Carter", "Baker", "Morgan", "Foster",
              "Harris", "Palmer", "Fisher", "Porter", "Webster", "Fletcher", "Dixon", "Barnes",
              "Holland", "Lambert", "Norton", "Spencer")
"""Surnames a varied caller gives, chosen as ``FIRST_NAMES`` are."""

_NAME_WORD = r"[A-Z][a-z]*(?:['’-][A-Z]?[a-z]+)*"
_NAME_VALUE = re.compile(rf"{_NAME_WORD}(?: {_NAME_WORD}){{0,2}}")
_PHONE_KEY = re.compile(r"phone|mobile|cell", re.IGNORECASE)
_LETTER_SEPARATOR = r"[ ,.\-]+"


# --------------------------------------------------------------------------- substitution


@dataclass(frozen=True)
class Substitution:
    """One bijection of digits onto digits and letters onto letters."""

    digits: dict[str, str]
    letters: dict[str, str]
    zero_word: str = "zero"

    @classmethod
    def draw(cls, rng: random.Random, zero_word: str) -> Substitution:
        digits = list("0123456789")
        letters = [chr(ord("a") + i) for i in range(26)]
        shuffled_digits, shuffled_letters = digits[:], letters[:]
        rng.shuffle(shuffled_digits)
        rng.shuffle(shuffled_letters)
        return cls(dict(zip(digits, shuffled_digits, strict=True)),
                   dict(zip(letters, shuffled_letters, strict=True)), zero_word)

    @classmethod
    def identity(cls) -> Substitution:
        """The substitution that changes nothing: a scenario whose only values are dates or
        names keeps its spelled characters."""
        digits, letters = "0123456789", "abcdefghijklmnopqrstuvwxyz"
        return cls(dict(zip(digits, digits, strict=True)), dict(zip(letters, letters, strict=True)))

    def fixing(self, digits: Iterable[str]) -> Substitution:
        """This substitution with ``digits`` mapped onto themselves (their images swapped with
        the digits that had them), so a phone number's country code is kept."""
        mapping = dict(self.digits)
        for d in digits:
            holder = next(k for k, v in mapping.items() if v == d)
            mapping[holder], mapping[d] = mapping[d], d
        return replace(self, digits=mapping)

    def char(self, c: str) -> str:
        if c.isdigit():
            return self.digits[c]
        if c.isascii() and c.isalpha():
            mapped = self.letters[c.lower()]
            return mapped.upper() if c.isupper() else mapped
        return c

    def chars(self, text: str) -> str:
        return "".join(self.char(c) for c in text)

    def value(self, text: str) -> str:
        """A value as written in YAML: an email changes only its local part."""
        if "@" in text:
            local, _, domain = text.partition("@")
            return self.chars(local) + "@" + domain
        return self.chars(text)


def _styled(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _spelled(word: str) -> str | None:
    """What one spelled token stands for ("eight" → "8", "B" → "b", "bravo" → "b"), or None."""
    w = word.casefold()
    if w in _DIGIT_OF:
        return str(_DIGIT_OF[w])
    if w.isdigit():
        return w
    if len(w) == 1 and w.isascii() and w.isalpha():
        return w
    if w in _NATO_OF:
        return _NATO_OF[w]
    return None


@dataclass
class _Piece:
    text: str
    word: bool
    start: int = 0
    stands_for: str | None = None
    separator: bool = False
    in_run: bool = False


def _pieces(text: str) -> list[_Piece]:
    out = []
    for m in _TOKEN.finditer(text):
        t = m.group()
        if not (t[0].isascii() and t[0].isalnum()):
            out.append(_Piece(t, word=False, start=m.start()))
            continue
        out.append(_Piece(t, word=True, start=m.start(), stands_for=_spelled(t),
                          separator=t.casefold() in _SEPARATOR_WORDS))
    return out


def _mark_runs(pieces: list[_Piece]) -> list[str]:
    """Mark the spelled tokens that belong to a spelled value: at least two spelled tokens in a
    row (separated by punctuation or a spoken dash), or one numeral of three or more digits.
    Returns the values, in order, each read from its span's text as the loader reads an entity
    ("555-0142" keeps its dash, "five five five, zero one" is "55501")."""
    run: list[int] = []
    found: list[str] = []

    def close() -> None:
        spelled = [i for i in run if pieces[i].stands_for is not None]
        if len(spelled) >= 2 or any(len(pieces[i].stands_for or "") >= 3 for i in spelled):
            for i in spelled:
                pieces[i].in_run = True
            raw = "".join(p.text for p in pieces[spelled[0]:spelled[-1] + 1])
            found.append(spoken_to_compact(raw))
        run.clear()

    for i, p in enumerate(pieces):
        if not p.word:
            continue
        if p.stands_for is not None or (p.separator and run):
            run.append(i)
        else:
            close()
    close()
    return found


def _say(p: _Piece, sub: Substitution) -> str:
    w = p.text.casefold()
    if p.text.isdigit():
        return sub.chars(p.text)
    if w in _DIGIT_OF:
        mapped = sub.digits[str(_DIGIT_OF[w])]
        word = sub.zero_word if mapped == "0" else _DIGIT_WORDS[int(mapped)]
        return _styled(word, p.text)
    if w in _NATO_OF:
        return _styled(_NATO_WORDS[ord(sub.letters[_NATO_OF[w]]) - ord("a")], p.text)
    return sub.char(p.text)


class _Text:
    """A caller turn's words (one string, or the strings of a turn with pauses) with its spelled
    values found across the pieces. Words inside a ``kept`` span (a said date, a name) are never
    part of a spelled identifier: their digits and letters are rewritten as a whole, not one by
    one."""

    def __init__(self, texts: list[str], kept: Callable[[str], list[tuple[int, int]]]):
        self.parts = [_pieces(t) for t in texts]
        for text, part in zip(texts, self.parts, strict=True):
            spans = kept(text)
            for p in part:
                if any(start <= p.start < end for start, end in spans):
                    p.stands_for = None
        self.values = _mark_runs([p for part in self.parts
                                  for p in (*part, _Piece(" ", word=False))])
        """The compact values spelled in the text, in order."""

    def render(self, index: int, sub: Substitution) -> str:
        return "".join(_say(p, sub) if p.in_run else p.text for p in self.parts[index])

    def render_prefix(self, prefix: str, sub: Substitution) -> str:
        """A prefix of this text (a cut-off's ``after_text``) rewritten as the whole text is."""
        words = [p for part in self.parts for p in part if p.word]
        out, i = [], 0
        for p in _pieces(prefix):
            if p.word and i < len(words) and words[i].text.casefold() == p.text.casefold():
                out.append(_say(p, sub) if words[i].in_run else p.text)
                i += 1
            else:
                out.append(p.text)
        return "".join(out)


def _say_texts(turn: dict[str, Any]) -> list[str]:
    say = turn.get("say")
    if isinstance(say, str):
        return [say]
    if isinstance(say, list):
        return [s for s in say if isinstance(s, str)]
    return []


def _walk_strings(data: Any, change: Callable[[str], str]) -> Any:
    if isinstance(data, str):
        return change(data)
    if isinstance(data, list):
        return [_walk_strings(v, change) for v in data]
    if isinstance(data, dict):
        return {k: _walk_strings(v, change) for k, v in data.items()}
    return data


def _strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        data = list(data.values())
    return [s for v in data for s in _strings(v)] if isinstance(data, list) else []


def _compact(value: str) -> str:
    return normalize_value(value)


def _keyed_strings(data: Any) -> Iterator[tuple[str, str]]:
    """(key, value) of every string held under a mapping's key, at any depth."""
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, str):
                yield str(k), v
            else:
                yield from _keyed_strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from _keyed_strings(v)


def _words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"[A-Za-z]+", text)}


def _spelling(name: str) -> re.Pattern[str]:
    """``name`` spelled letter by letter or in NATO words ("L, O, P, E, Z", "Lima Oscar ...")."""
    letters = []
    for c in name.casefold():
        nato = [w for w, letter in _NATO_OF.items() if letter == c]
        letters.append("(?:" + "|".join([c, *nato]) + ")")
    first, *rest = letters
    return re.compile(rf"\b(?P<first>{first})(?P<sep>{_LETTER_SEPARATOR})"
                      + _LETTER_SEPARATOR.join(rest) + r"\b", re.IGNORECASE)


class _Names:
    """The names the caller gives (a value under a key with ``name`` in it, shaped like a
    person's name, that a ``say`` line holds) and their replacements, word by word: "Maria
    Lopez" → "Emma Walker" also turns a spelled "L, O, P, E, Z" into "W, A, L, K, E, R"."""

    def __init__(self, keyed: list[tuple[str, str]], said: list[str]):
        self.roles: dict[str, str] = {}
        for key, value in keyed:
            k = key.casefold()
            if "name" not in k or not _NAME_VALUE.fullmatch(value):
                continue
            words = value.split()
            if not all(self._said(w, said) for w in words):
                continue
            if len(words) == 1:
                role = "last" if any(w in k for w in ("last", "sur", "family")) else "first"
                self.roles.setdefault(words[0], role)
            else:
                for w in words[:-1]:
                    self.roles.setdefault(w, "first")
                self.roles.setdefault(words[-1], "last")
        self.new: dict[str, str] = {}

    @staticmethod
    def _whole(name: str) -> re.Pattern[str]:
        return re.compile(rf"\b(?:{re.escape(name)}|{re.escape(name.upper())})\b")

    def _said(self, name: str, said: list[str]) -> bool:
        return any(self._whole(name).search(t) or _spelling(name).search(t) for t in said)

    def draw(self, rng: random.Random, avoid: set[str]) -> None:
        """A new first name or surname for each name word, none of them a word the scenario
        already uses."""
        used = avoid | {n.casefold() for n in self.roles}
        for name, role in self.roles.items():
            pool = [n for n in (FIRST_NAMES if role == "first" else LAST_NAMES)
                    if n.casefold() not in used]
            self.new[name] = rng.choice(pool)
            used.add(self.new[name].casefold())

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for name in self.roles
                for pattern in (self._whole(name), _spelling(name)) for m in pattern.finditer(text)]

    def rewrite(self, text: str) -> str:
        for old, new in self.new.items():
            text = _spelling(old).sub(partial(_spell, new), text)
            text = self._whole(old).sub(partial(_said_like, new), text)
            if text == old.casefold():
                text = new.casefold()  # a mock written in lower case
        return text


def _said_like(name: str, m: re.Match[str]) -> str:
    return _styled(name, m.group())


def _spell(name: str, m: re.Match[str]) -> str:
    """``name`` spelled as the match spelled the old one: its letters or NATO words, its case,
    its separator."""
    first = m.group("first")
    if len(first) > 1:
        return m.group("sep").join(_styled(_NATO_WORDS[ord(c) - ord("a")], first)
                                   for c in name.casefold())
    return m.group("sep").join(c.upper() if first.isupper() else c for c in name.casefold())


class _Dates:
    """The dates the caller gives: an ISO ``YYYY-MM-DD`` value (a label, a mock's or an
    expectation's argument) that a ``say`` line says, in any form ``harness.spoken.dates``
    reads. Each gets a new valid date in the same century, said in the form each place used."""

    def __init__(self, keyed: list[tuple[str, str]], said: list[str]):
        isos = {d for _, v in keyed if (d := iso_date(v)) is not None}
        spoken = [s for t in said for s in said_dates(t)]
        self.old = sorted(d for d in isos if any(s.is_date(d) for s in spoken))
        self.new: dict[date, date] = {}

    def draw(self, rng: random.Random) -> None:
        for old in self.old:
            century = old.year // 100 * 100
            while True:
                year = min(max(old.year + rng.randint(-12, 12), century), century + 99)
                month = rng.randint(1, 12)
                new = date(year, month, rng.randint(1, calendar.monthrange(year, month)[1]))
                if new not in self.old and new not in self.new.values():
                    break
            self.new[old] = new

    def rewrite(self, text: str) -> str:
        out, at = [], 0
        for said in said_dates(text):
            if said.start < at:
                continue  # the other reading of a numeric date already rewritten
            old = next((d for d in self.new if said.is_date(d)), None)
            if old is not None:
                out.append(text[at:said.start] + said.render(text, self.new[old]))
                at = said.end
        return "".join(out) + text[at:]


class _Values:
    """The values the caller gives and how one draw rewrites them everywhere: spelled
    identifiers through one substitution, dates and names through their own new values."""

    def __init__(self, data: dict[str, Any]):
        turns = [t for t in data.get("turns") or [] if isinstance(t, dict)]
        said = [s for t in turns for s in _say_texts(t)]
        keyed = list(_keyed_strings([[t.get("entity") for t in turns], data.get("tools"),
                                     data.get("expect")]))
        self.dates = _Dates(keyed, said)
        self.names = _Names(keyed, said)

        def kept(text: str) -> list[tuple[int, int]]:
            return [(s.start, s.end) for s in said_dates(text)] + self.names.spans(text)

        self.texts = {i: _Text(_say_texts(t), kept) for i, t in enumerate(data.get("turns") or [])
                      if isinstance(t, dict) and _say_texts(t)}
        self.spelled = {v for text in self.texts.values() for v in text.values}
        zero_as_oh = any(p.text.casefold() == "oh" and p.in_run for text in self.texts.values()
                         for part in text.parts for p in part)
        self.zero_word = "oh" if zero_as_oh else "zero"
        self.phones = [v for k, v in keyed if _PHONE_KEY.search(k) and self.changes(v)]
        self.avoid = {w for s in [*said, *_strings(data.get("tools") or {}),
                                  *_strings(data.get("expect") or [])] for w in _words(s)}

    def changes(self, value: str) -> bool:
        c = _compact(value)
        return c in self.spelled or ("@" in c and c.partition("@")[0] in self.spelled)

    def country_codes(self) -> set[str]:
        """The digits of the country codes ("+1 415 ...") of the phone numbers: kept as they
        are, since a variant calls from the same country."""
        return {d for phone in self.phones if phone.strip().startswith("+")
                and len(groups := re.findall(r"\d+", phone)) > 1 for d in groups[0]}

    def fits(self, sub: Substitution) -> bool:
        """Whether ``sub`` keeps every phone number's groups dialable: a group that did not
        start with 0 or 1 (an area code, an exchange) does not start with one after."""
        for phone in self.phones:
            groups = re.findall(r"\d+", phone)
            if phone.strip().startswith("+") and len(groups) > 1:
                groups = groups[1:]
            if any(g[0] not in "01" and sub.digits[g[0]] in "01" for g in groups):
                return False
        return True

    def words(self, text: str) -> str:
        """``text`` with the dates and names said in it replaced."""
        return self.names.rewrite(self.dates.rewrite(text))

    def rewrite(self, data: Any, sub: Substitution) -> Any:
        return _walk_strings(data, lambda s: sub.value(s) if self.changes(s) else self.words(s))

    def others(self, data: dict[str, Any]) -> set[str]:
        """Values in the tool mocks that this substitution leaves as they are."""
        return {_compact(s) for s in _strings(data.get("tools") or {}) if not self.changes(s)}


def vary_values(data: dict[str, Any], rng: random.Random) -> None:
    """Give the values of a scenario's merged data new values, in place."""
    values = _Values(data)
    if not (values.spelled or values.dates.old or values.names.roles):
        return
    sub = Substitution.identity()
    if values.spelled:
        kept, fixed = values.others(data), values.country_codes()
        for _ in range(100):
            sub = Substitution.draw(rng, values.zero_word).fixing(fixed)
            new = {_compact(sub.value(v)) for v in values.spelled}
            if not (new & values.spelled) and not (new & kept) and values.fits(sub):
                break
        else:  # pragma: no cover - 100 draws of 10! permutations
            raise RuntimeError("no substitution keeps the scenario's values apart")
    values.dates.draw(rng)
    values.names.draw(rng, values.avoid)
    for i, turn in enumerate(data["turns"]):
        text = values.texts.get(i)
        if text is not None:
            say = turn["say"]
            if isinstance(say, str):
                turn["say"] = values.words(text.render(0, sub))
            else:
                k = 0
                for j, segment in enumerate(say):
                    if isinstance(segment, str):
                        say[j] = values.words(text.render(k, sub))
                        k += 1
            cut = turn.get("cut_off")
            if isinstance(cut, dict) and isinstance(cut.get("after_text"), str):
                cut["after_text"] = values.words(text.render_prefix(cut["after_text"], sub))
        if isinstance(turn.get("entity"), dict):
            turn["entity"] = values.rewrite(turn["entity"], sub)
    for key in ("tools", "expect"):
        if key in data:
            data[key] = values.rewrite(data[key], sub)
