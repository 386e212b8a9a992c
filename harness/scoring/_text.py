"""Text helpers shared by scorers: words, sentences, phrase matching, questions and WER."""

from __future__ import annotations

import functools
import re

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# Spoken questions whose transcript lost the question mark still start or contain these.
_QUESTION_OPENERS = re.compile(
    r"^(is|are|am|do|does|did|can|could|shall|should|would|will|may|have|has|was|were|what|"
    r"which|who|when|where|how|why)\b", re.IGNORECASE)
_QUESTION_PHRASES = re.compile(
    r"\b(is that (right|correct)|shall i|should i|do you want|would you like|can you confirm|"
    r"could you confirm|please confirm|ok(ay)? to proceed|go ahead\?)", re.IGNORECASE)


def words(text: str) -> list[str]:
    """The words of a text (numbers count as words; punctuation does not)."""
    return _WORD.findall(text or "")


def sentences(text: str) -> list[str]:
    """The sentences of a text (pieces ending in . ! ? or …, holding at least one word)."""
    return [s.strip() for s in _SENTENCE_END.split((text or "").strip()) if words(s)]


@functools.lru_cache(maxsize=16384)
def normalize_text(text: str) -> str:
    """Lower-case words separated by single spaces: the form phrases are matched in (memoised:
    scorers match many phrases against the same few lines)."""
    return " ".join(w.casefold().replace("’", "'") for w in words(text))


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` on word boundaries, ignoring case and punctuation."""
    hay, needle = normalize_text(text), normalize_text(phrase)
    if not needle:
        return False
    return f" {needle} " in f" {hay} "


def questions(text: str) -> list[str]:
    """The sentences of a text that ask something."""
    return [s for s in sentences(text)
            if s.rstrip().endswith("?") or _QUESTION_OPENERS.match(s)
            or _QUESTION_PHRASES.search(s)]


def excerpt(text: str, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def wer_normalize(text: str) -> str:
    """Text as compared for WER: lower-case words, each digit said as its word."""
    out: list[str] = []
    for w in normalize_text(text).split():
        if w.isdigit():
            out.extend(_DIGIT_WORDS[int(c)] for c in w)
        else:
            out.append(w)
    return " ".join(out)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER (jiwer) of ``hypothesis`` against ``reference`` after ``wer_normalize``."""
    import jiwer  # noqa: PLC0415 - only two scorers need it

    ref, hyp = wer_normalize(reference), wer_normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp))
