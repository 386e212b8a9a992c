"""``language``: the agent answers in the expected language, switching only when told to."""

from __future__ import annotations

import functools
import threading
from typing import Any, NotRequired, TypedDict

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import contains_phrase, excerpt, questions, words
from harness.scoring.scorers._common import utterance_evidence

LANGUAGE_NAMES = {
    "en": ["English"], "es": ["Spanish", "español"], "de": ["German", "Deutsch"],
    "fr": ["French", "français"], "it": ["Italian", "italiano"],
    "pt": ["Portuguese", "português"], "nl": ["Dutch", "Nederlands"], "pl": ["Polish", "polski"],
    "tr": ["Turkish", "Türkçe"], "sv": ["Swedish", "svenska"], "ja": ["Japanese"],
    "zh": ["Chinese"], "ko": ["Korean"], "ru": ["Russian"], "ar": ["Arabic"], "hi": ["Hindi"],
}
"""How an agent names a language when it asks which one to continue in."""

_LOCK = threading.Lock()


@functools.cache
def _identifier() -> Any:
    """The py3langid identifier, loaded once per process (its model ships in the package)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # noqa: PLC0415 - heavy load

    with _LOCK:
        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@functools.lru_cache(maxsize=8192)
def detect_language(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of a text, by py3langid."""
    code, probability = _identifier().classify(text)
    return str(code), float(probability)


class LanguageParams(ExpectationParams):
    """The agent answers in the expected language; it switches (or asks) only after the turns
    the scenario names, never on an accent, a name, a filler or an isolated foreign word."""

    expected: str = Field("en", min_length=2, max_length=3,
                          description="ISO 639-1 code of the language answers are in")
    switch_at: dict[int, str] = Field(
        default_factory=dict,
        description="caller turn number (1 = the first turn) → language: from that turn on (a "
                    "substantive utterance in it) the agent answers in it, or asks which language "
                    "to continue in")
    min_words: int = Field(4, ge=1, description="shorter answers are too short to classify")
    min_confidence: float = Field(0.6, ge=0.0, le=1.0,
                                  description="less certain detections are not counted")

    def check(self, checks: ExpectationCheck) -> None:
        for index in self.switch_at:
            checks.turns(index, "switch_at", index, addressed=True)


def _asks_language(text: str, language: str) -> bool:
    """Whether the agent asked which language to continue in, naming ``language``."""
    names = [language, *LANGUAGE_NAMES.get(language, [])]
    return any(any(contains_phrase(q, n) for n in names) for q in questions(text))


class _Utterance(TypedDict):
    """One agent utterance and its detected language (``measured["utterances"]``)."""

    turn: int | None
    said: str
    language: str
    confidence: float
    expected: str
    counted: NotRequired[bool]
    written_only_in: NotRequired[str]


@scorer("language", "Each agent utterance of at least min_words words is detected (py3langid "
        "on the transcript) as the expected language, or, from a turn listed in switch_at on, "
        "as that turn's language or a question naming it; fails when no answer was long enough "
        "to classify; not applicable when the agent's words were written by a recogniser that "
        "writes one language whatever was spoken (the offline recogniser on a SIP or "
        "production call).",
        params=LanguageParams)
def score_language(ctx: ScoringContext, p: LanguageParams) -> Outcome:
    tl = ctx.timeline
    switches = sorted(p.switch_at.items())
    problems: list[str] = []
    evidence = []
    rows: list[_Utterance] = []
    fixed: set[str] = set()
    for u in tl.utterances():
        if u.written_only_in is not None and words(u.transcript):
            # its words' language was chosen before anything was heard, whatever their number
            fixed.add(u.written_only_in)
        if len(words(u.transcript)) < p.min_words:
            continue
        want = p.expected
        for index, language in switches:
            if u.turn_index is not None and u.turn_index >= index:
                want = language
        code, probability = detect_language(u.transcript)
        row: _Utterance = {"turn": u.turn_index, "said": u.transcript, "language": code,
                           "confidence": round(probability, 3), "expected": want}
        if u.written_only_in is not None:
            row["counted"], row["written_only_in"] = False, u.written_only_in
            rows.append(row)
            continue
        if probability < p.min_confidence:
            row["counted"] = False
            rows.append(row)
            continue
        rows.append(row)
        if code == want or (want != p.expected and _asks_language(u.transcript, want)):
            continue
        problems.append(f"turn {u.turn_index}: the agent spoke {code} ({probability:.2f}) where "
                        f"{want} was expected: {excerpt(u.transcript, 60)!r}")
        evidence.append(utterance_evidence(u, f"agent speech in {code}"))
    counted = [r for r in rows if r.get("counted", True)]
    for index, language in switches:
        answers = [r for r in counted if r["turn"] is not None and r["turn"] >= index]
        if not answers:
            problems.append(f"no classifiable answer after turn {index}, so the switch to "
                            f"{language} could not be graded")
    measured: dict[str, Any] = {"utterances": rows, "expected": p.expected,
                                "switch_at": p.switch_at}
    if fixed and not counted:
        reason = (f"the agent's words were written by a recogniser that writes only "
                  f"{', '.join(sorted(fixed))} whatever was spoken, so they cannot tell which "
                  "language the agent spoke; a transcriber that writes the language spoken (a "
                  "transcription endpoint) can")
        return Outcome("not_applicable", f"not applicable: {reason}",
                       {**measured, "not_applicable": reason})
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    if not counted:
        return Outcome("fail", f"no agent utterance had {p.min_words} words or more with a "
                       "confident detection, so its language could not be graded", measured)
    languages = sorted({r["language"] for r in counted})
    return Outcome("pass", f"{len(counted)} agent utterance(s) in the expected language "
                   f"({', '.join(languages)})", measured,
                   [utterance_evidence(u) for u in tl.utterances()
                    if len(words(u.transcript)) >= p.min_words][:3])
