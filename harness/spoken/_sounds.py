"""Values that sound the same: for read-backs the harness heard with its own recogniser.

A recogniser writes what it hears, and where two words sound the same it picks a spelling: an
agent that says "john at mail dot com" may come out as "john at male dot com". A caller hearing
the read-back cannot tell the two apart either, so the spelling is the recogniser's choice, not
the agent's. When the harness transcribed the agent's audio itself (a SIP call, a production
call), a heard value counts as the expected one when it differs only in words of two or more
letters that eSpeak NG pronounces the same (its English lexicon, ``espeak-ng -x``): "male" and
"mail" (m'eIl); never "made" and "eight", nor one digit or spelled letter for another. A
transcript the agent sent itself is graded as written.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

_PARTS = re.compile(r"([@._\-/+])")
_WORD = re.compile(r"[a-z]{2,}")


@functools.lru_cache(maxsize=1024)
def pronunciation(word: str) -> str | None:
    """eSpeak NG's phonemes of one English word (``espeak-ng -q -x -v en-us``), or None when
    eSpeak NG is not installed."""
    program = shutil.which("espeak-ng")
    if program is None:
        return None
    done = subprocess.run([program, "-q", "-x", "-v", "en-us", word], capture_output=True,
                          text=True, timeout=10, check=False)
    phonemes = done.stdout.strip()
    return phonemes if done.returncode == 0 and phonemes else None


def _homophones(a: str, b: str) -> bool:
    if not (_WORD.fullmatch(a) and _WORD.fullmatch(b)):
        return False
    sound = pronunciation(a)
    return sound is not None and sound == pronunciation(b)


def sound_alike(heard: str, expected: str) -> bool:
    """Whether two compact values (``normalize_value``) sound the same: equal, or equal but for
    words that are homophones ("john@male.com", "john@mail.com")."""
    if heard == expected:
        return True
    a, b = _PARTS.split(heard), _PARTS.split(expected)
    return len(a) == len(b) and all(x == y or _homophones(x, y) for x, y in zip(a, b, strict=True))
