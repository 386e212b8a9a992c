"""Variants of a scenario: the same call with other values, voices, noise and pauses.

A variant keeps what the call means and changes what it sounds like:

- **values**: every identifier the caller spells — digits said one by one, letters, NATO words,
  numerals of three or more digits — goes through one seeded substitution of digits for digits
  and letters for letters. The same substitution rewrites the ``entity`` labels, the tool mocks
  and the expectations wherever they hold one of those values (an email's local part when it was
  spelled), so a cut-off still cuts the ID after the same characters, a correction still changes
  the same digit, and the mock that answered the old value answers the new one. Values said as
  words (a date, "nineteen eighty five") and everything else stay as written.
- **voices**: another English espeak-ng voice for the caller, its speaking rate (and each turn's
  own rate) scaled by one factor in [0.85, 1.15]; a turn in another language keeps its voice.
- **noise**: a broadband bed becomes another broadband kind, its SNR moves by up to 3 dB (never
  below 10 dB unless it was lower); TV, babble, hold music and side talk keep their kind; every
  generated sound gets a new seed.
- **pauses**: pauses inside a turn move by −20 % to +25 %, silent turns by ±10 %.

Variants are seeded: the same scenario, seed and index give the same file, byte for byte.
"""

from __future__ import annotations

import copy
import os
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError
from harness.spoken import normalize_value

ASPECTS = ("values", "voices", "noise", "pauses")
"""What a variant may change; ``harness vary --only`` picks some."""

ENGLISH_VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-gb+f2", "en-029",
                  "en-gb-scotland", "en-us+m3")
"""espeak-ng voices a varied English caller speaks with."""

_BROADBAND = ("white", "pink", "brown")
_MIN_SNR_DB = 10.0

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
    stands_for: str | None = None
    separator: bool = False
    in_run: bool = False


def _pieces(text: str) -> list[_Piece]:
    out = []
    for m in _TOKEN.finditer(text):
        t = m.group()
        if not (t[0].isascii() and t[0].isalnum()):
            out.append(_Piece(t, word=False))
            continue
        out.append(_Piece(t, word=True, stands_for=_spelled(t),
                          separator=t.casefold() in _SEPARATOR_WORDS))
    return out


def _mark_runs(pieces: list[_Piece]) -> None:
    """Mark the spelled tokens that belong to a spelled value: at least two spelled tokens in a
    row (separated by punctuation or a spoken dash), or one numeral of three or more digits."""
    run: list[_Piece] = []

    def close() -> None:
        spelled = [p for p in run if p.stands_for is not None]
        if len(spelled) >= 2 or any(len(p.stands_for) >= 3 for p in spelled):
            for p in spelled:
                p.in_run = True
        run.clear()

    for p in pieces:
        if not p.word:
            continue
        if p.stands_for is not None or (p.separator and run):
            run.append(p)
        else:
            close()
    close()


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
    values found across the pieces."""

    def __init__(self, texts: list[str]):
        self.parts = [_pieces(t) for t in texts]
        _mark_runs([p for part in self.parts for p in (*part, _Piece(" ", word=False))])

    def values(self) -> list[str]:
        """The compact values spelled in the text, in order."""
        found, current = [], []
        for part in self.parts:
            for p in part:
                if p.in_run:
                    current.append(p.stands_for)
                elif p.separator and current:
                    current.append("-")
                elif p.word and not p.separator and current:
                    found.append("".join(current))
                    current = []
        if current:
            found.append("".join(current))
        return found

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


# --------------------------------------------------------------------------- one variant


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


class _Values:
    """The spelled values of a scenario and how one substitution rewrites them everywhere."""

    def __init__(self, data: dict[str, Any]):
        turns = data.get("turns") or []
        self.texts = {i: _Text(_say_texts(t)) for i, t in enumerate(turns)
                      if isinstance(t, dict) and _say_texts(t)}
        self.spelled = {v for text in self.texts.values() for v in text.values()}
        zero_as_oh = any(p.text.casefold() == "oh" and p.in_run for text in self.texts.values()
                         for part in text.parts for p in part)
        self.zero_word = "oh" if zero_as_oh else "zero"

    def changes(self, value: str) -> bool:
        c = _compact(value)
        return c in self.spelled or ("@" in c and c.partition("@")[0] in self.spelled)

    def rewrite(self, data: Any, sub: Substitution) -> Any:
        return _walk_strings(data, lambda s: sub.value(s) if self.changes(s) else s)

    def others(self, data: dict[str, Any]) -> set[str]:
        """Values in the tool mocks that this substitution leaves as they are."""
        return {_compact(s) for s in _strings(data.get("tools") or {}) if not self.changes(s)}


def _vary_values(data: dict[str, Any], rng: random.Random) -> None:
    values = _Values(data)
    if not values.spelled:
        return
    kept = values.others(data)
    for _ in range(100):
        sub = Substitution.draw(rng, values.zero_word)
        new = {_compact(sub.value(v)) for v in values.spelled}
        if not (new & values.spelled) and not (new & kept):
            break
    else:  # pragma: no cover - 100 draws of 10! permutations
        raise RuntimeError("no substitution keeps the scenario's values apart")
    for i, turn in enumerate(data["turns"]):
        text = values.texts.get(i)
        if text is not None:
            say = turn["say"]
            if isinstance(say, str):
                turn["say"] = text.render(0, sub)
            else:
                k = 0
                for j, segment in enumerate(say):
                    if isinstance(segment, str):
                        say[j] = text.render(k, sub)
                        k += 1
            cut = turn.get("cut_off")
            if isinstance(cut, dict) and isinstance(cut.get("after_text"), str):
                cut["after_text"] = text.render_prefix(cut["after_text"], sub)
        if isinstance(turn.get("entity"), dict):
            turn["entity"] = values.rewrite(turn["entity"], sub)
    for key in ("tools", "expect"):
        if key in data:
            data[key] = values.rewrite(data[key], sub)


def _is_english(voice: Any) -> bool:
    return not isinstance(voice, str) or voice.casefold().startswith("en")


def _vary_voices(data: dict[str, Any], rng: random.Random) -> None:
    caller = data.setdefault("caller", {})
    voice = rng.choice(ENGLISH_VOICES)
    factor = rng.uniform(0.85, 1.15)
    if "voices" not in caller and _is_english(caller.get("voice")):
        caller["voice"] = voice  # a rotation of voices is kept: it is the scenario's point
    caller["words_per_minute"] = _rate(caller.get("words_per_minute", 165), factor)
    for turn in data.get("turns") or []:
        own = turn.get("voice") if isinstance(turn, dict) else None
        if not isinstance(own, dict):
            continue
        if "voice" in own and _is_english(own["voice"]):
            own["voice"] = voice
        if "words_per_minute" in own and _is_english(own.get("voice", caller.get("voice"))):
            own["words_per_minute"] = _rate(own["words_per_minute"], factor)


def _rate(wpm: Any, factor: float) -> int:
    return int(min(400, max(80, round(float(wpm) * factor))))


def _vary_bed(noise: Any, rng: random.Random) -> None:
    if not isinstance(noise, dict):
        return
    if noise.get("kind") in _BROADBAND:
        noise["kind"] = rng.choice(_BROADBAND)
    if "kind" in noise:
        noise["seed"] = rng.randrange(1, 10_000)
    snr = float(noise.get("snr_db", 20.0))
    floor = min(snr, _MIN_SNR_DB)
    noise["snr_db"] = round(max(floor, snr + rng.uniform(-3.0, 3.0)), 1)


def _vary_noise(data: dict[str, Any], rng: random.Random) -> None:
    _vary_bed(data.get("noise"), rng)
    for turn in data.get("turns") or []:
        if not isinstance(turn, dict):
            continue
        _vary_bed(turn.get("noise"), rng)
        play = turn.get("play")
        if isinstance(play, dict) and "noise" in play:
            play["seed"] = rng.randrange(1, 10_000)


def _vary_pauses(data: dict[str, Any], rng: random.Random) -> None:
    for turn in data.get("turns") or []:
        if not isinstance(turn, dict):
            continue
        if isinstance(turn.get("say"), list):
            for segment in turn["say"]:
                if isinstance(segment, dict) and "pause_ms" in segment:
                    segment["pause_ms"] = int(round(segment["pause_ms"] * rng.uniform(0.8, 1.25)))
        if isinstance(turn.get("silence_ms"), int):
            turn["silence_ms"] = int(round(turn["silence_ms"] * rng.uniform(0.9, 1.1)))


_ASPECT_FUNCTIONS = {"values": _vary_values, "voices": _vary_voices, "noise": _vary_noise,
                     "pauses": _vary_pauses}


def variant(data: dict[str, Any], *, seed: int, index: int,
            aspects: Iterable[str] = ASPECTS) -> dict[str, Any]:
    """Variant ``index`` (from 1) of a scenario's merged data (``extends`` resolved): a new
    mapping, named ``NAME-sSEED-INDEX``. Each aspect draws from its own seeded stream, so
    varying only the voices leaves the same values as varying everything."""
    chosen = set(aspects)
    out = copy.deepcopy(data)
    name = str(data.get("name", "scenario"))
    for aspect in ASPECTS:
        if aspect in chosen:
            rng = random.Random(f"{seed}:{name}:{index}:{aspect}")
            _ASPECT_FUNCTIONS[aspect](out, rng)
    out.pop("extends", None)  # the defaults are merged in
    out["name"] = f"{name}-s{seed}-{index:02d}"
    what = ", ".join(a for a in ASPECTS if a in chosen)
    out["description"] = (f"{data.get('description', '')}".rstrip()
                          + f" [variant {index} of {name}, seed {seed}: {what}]").lstrip()
    return out


# --------------------------------------------------------------------------- files

_PATH_KEYS = {("agent",), ("noise", "file")}
_TURN_PATH_KEYS = {("audio",), ("play", "file"), ("noise", "file")}


def _relative_paths(data: dict[str, Any], out_dir: Path) -> None:
    """The loader made every file path absolute; a written variant names them from its folder."""

    def fix(holder: Any, keys: tuple[str, ...]) -> None:
        for k in keys[:-1]:
            holder = holder.get(k) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and isinstance(holder.get(keys[-1]), str):
            holder[keys[-1]] = os.path.relpath(holder[keys[-1]], out_dir.resolve())

    for keys in _PATH_KEYS:
        fix(data, keys)
    for turn in data.get("turns") or []:
        for keys in _TURN_PATH_KEYS:
            fix(turn, keys)


def _merged_data(path: Path) -> dict[str, Any]:
    from harness.scenario.loader import load_scenario, merged_scenario_data  # noqa: PLC0415

    load_scenario(path)  # the source must be valid: its problems are reported as usual
    return merged_scenario_data(path)


def _dump(data: dict[str, Any], source: Path, seed: int, index: int) -> str:
    header = f"# Generated by `harness vary` from {source.name} (seed {seed}, variant {index}).\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def write_variants(paths: Iterable[Path], out_dir: Path, *, n: int, seed: int,
                   aspects: Iterable[str] = ASPECTS) -> list[Path]:
    """Write ``n`` variants of each scenario file (folders are scanned) into ``out_dir`` and
    check that each loads as a valid scenario. Returns the written files, in order."""
    from harness.scenario.loader import load_scenario, scenario_files  # noqa: PLC0415

    chosen = list(aspects)
    unknown = [a for a in chosen if a not in ASPECTS]
    if unknown:
        raise InputError(f"unknown aspect {unknown[0]!r}; expected some of {', '.join(ASPECTS)}",
                         field="only")
    if n < 1:
        raise InputError(f"expected a number of variants of at least 1, got {n}", field="n")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is a file; expected a folder for the variants",
                         field="output")
    files = scenario_files(paths)
    sources = [(f, _merged_data(f)) for f in files]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source, data in sources:
        for index in range(1, n + 1):
            varied = variant(data, seed=seed, index=index, aspects=chosen)
            _relative_paths(varied, out_dir)
            target = out_dir / f"{varied['name']}.yaml"
            target.write_text(_dump(varied, source, seed, index), encoding="utf-8")
            load_scenario(target)
            written.append(target)
    return written
