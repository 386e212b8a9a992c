"""Variants of a scenario: the same call with other values, voices, noise and pauses.

A variant keeps what the call means and changes what it sounds like:

- **values**: each value the caller gives — a spelled ID, a phone number, a date, a name — gets
  a new value of its kind, the same in the ``say`` lines, the ``entity`` labels, the tool mocks
  and the expectations (``harness.scenario.values`` says how each kind is told apart and drawn).
- **voices**: another voice of the caller's engine — a Kokoro caller another American or British
  Kokoro voice, an English espeak-ng caller another English espeak-ng voice — and its speaking
  rate (and each turn's own rate) scaled by one factor in [0.85, 1.15]; a turn in another
  language keeps its voice, and so does a caller given by accent or by a rotation of voices.
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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError
from harness.kokoro import VOICES as KOKORO_VOICES
from harness.scenario.values import vary_values

ASPECTS = ("values", "voices", "noise", "pauses")
"""What a variant may change; ``harness vary --only`` picks some."""

ENGLISH_VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-gb+f2", "en-029",
                  "en-gb-scotland", "en-us+m3")
"""espeak-ng voices a varied English espeak-ng caller speaks with."""

KOKORO_ENGLISH_VOICES = ("af_heart", "af_bella", "af_sarah", "af_kore", "am_michael", "am_fenrir",
                         "am_puck", "bf_emma", "bm_george")
"""Kokoro voices a varied Kokoro caller speaks with: American and British women and men.
``bm_fable`` is left out: its clips end in 0.3-1.2 s of noise at about -42 dBFS that the
caller's speech end takes for speech, so an agent that answers on time seems to answer while
the caller still speaks (generated calls of the example suite failed ``turn_answered`` so)."""

_BROADBAND = ("white", "pink", "brown")
_MIN_SNR_DB = 10.0


def _is_english(voice: Any) -> bool:
    """An English voice: espeak-ng's ``en…``, any Kokoro voice (they all speak English), or none
    given (espeak-ng's ``en-us``)."""
    return (not isinstance(voice, str) or voice.casefold().startswith("en")
            or voice in KOKORO_VOICES)


def _vary_voices(data: dict[str, Any], rng: random.Random) -> None:
    caller = data.setdefault("caller", {})
    kokoro = caller.get("voice") in KOKORO_VOICES or caller.get("engine") == "kokoro"
    voice = rng.choice(KOKORO_ENGLISH_VOICES if kokoro else ENGLISH_VOICES)
    factor = rng.uniform(0.85, 1.15)
    # A rotation of voices or an accent is kept: it is the scenario's point.
    if not {"voices", "accent"} & caller.keys() and caller.get("engine") != "openai" \
            and _is_english(caller.get("voice")):
        caller["voice"] = voice
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


_ASPECT_FUNCTIONS = {"values": vary_values, "voices": _vary_voices, "noise": _vary_noise,
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
