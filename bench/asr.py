"""ID capture of the offline recognisers: how often a spoken identifier comes out right.

Usage: ``.venv/bin/python bench/asr.py [--n 200] [--configs all] [--out results.json]``

A generated set of identifiers (4-10 digits, and letter-digit codes with dashes, every digit 0-9
used) is spoken by espeak-ng callers ("The number is eight, three, five, two, one.") in two
voices at two rates, clean and under babble or TV noise at 10-30 dB SNR, and sent as 24 kHz PCM
or through G.711 µ-law at 8 kHz; the conditions cycle over the set, so every configuration hears
the same utterances. Each configuration (model, recogniser prompt or hotwords, beam size, and
whether a runner-up of the beam may stand in for a best transcript that holds only part of an
ID, as the local agent's policy picks one, with or without the second search that may not write
the filler words a small recogniser puts where it barely heard a digit) transcribes them all; an
ID counts as captured when the local agent's slot extraction (the ``digits`` or ``alphanumeric``
slot kind; codes as two letters, a dash and digits) gets exactly the ID from the transcript.
``--out`` also keeps every miss with what was heard. Printed per configuration: accuracy with
its Wilson 95 % interval (n), per condition, and the wall time per utterance (mean and p90) on
this machine with 2 CPU threads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import time
from dataclasses import dataclass

import numpy as np
import soxr
from faster_whisper import WhisperModel

from harness import audio
from harness.agent.asr import SpeechRecognizer
from harness.agent.profile import SlotSpec
from harness.agent.slots import extract
from harness.audio._noise import fit_length, scale_to_level
from harness.spoken import normalize_value, to_spoken
from harness.stats import wilson

ASR_RATE = 16_000
VOICES = ("en-us", "en-gb")
RATES = (130, 165)
NOISES = (("clean", None), ("babble", 10.0), ("tv", 20.0), ("babble", 30.0), ("tv", 10.0),
          ("clean", None))
CODECS = ("pcm24k", "ulaw8k")
PROMPT = "A caller reads out a reference number, digit by digit."
HOTWORDS = "zero one two three four five six seven eight nine dash"
NATO = {c: w for c, w in zip(string.ascii_uppercase, (
    "Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliet Kilo Lima Mike November "
    "Oscar Papa Quebec Romeo Sierra Tango Uniform Victor Whiskey X-ray Yankee Zulu").split(),
    strict=True)}


@dataclass(frozen=True)
class Config:
    model: str
    beam: int
    prompt: bool = False
    hotwords: bool = False
    runner_up: bool = False
    digit_grammar: bool = False

    @property
    def label(self) -> str:
        cue = "prompt" if self.prompt else "hotwords" if self.hotwords else "no prompt"
        return (f"{self.model} beam={self.beam} {cue}"
                + (" runner-up" if self.runner_up else "")
                + ("+grammar" if self.digit_grammar else ""))


CONFIGS = [
    Config("tiny.en", 1, prompt=True), Config("base", 1, prompt=True),
    Config("tiny.en", 1), Config("tiny.en", 1, hotwords=True),
    Config("base", 1), Config("base", 1, hotwords=True),
    Config("tiny.en", 5, prompt=True), Config("base", 5, prompt=True),
    Config("tiny.en", 5, prompt=True, runner_up=True),
    Config("tiny.en", 5, prompt=True, runner_up=True, digit_grammar=True),
]


@dataclass
class Utterance:
    value: str
    kind: str
    condition: str
    pcm: np.ndarray  # float32 at 16 kHz


def identifiers(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` IDs: two thirds digit runs of 4-10 digits, one third codes like ``KX-4071``."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for i in range(n):
        if i % 3 < 2:
            length = 4 + i % 7
            out.append(("".join(rng.choice(string.digits) for _ in range(length)), "digits"))
        else:
            letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(2))
            digits = "".join(rng.choice(string.digits) for _ in range(2 + i % 5))
            out.append((f"{letters}-{digits}", "alphanumeric"))
    assert set("".join(v for v, _ in out)) >= set(string.digits)
    return out


def spoken(value: str, nato: bool) -> str:
    if nato:
        return " ".join(NATO.get(c, c) for c in value.replace("-", " dash "))
    return to_spoken(value)


def render(n: int) -> list[Utterance]:
    out = []
    for i, (value, kind) in enumerate(identifiers(n)):
        # Each condition cycles on its own period, none a multiple of the kinds' (3), so that
        # kinds, voices, rates, noises and codecs are spread over each other.
        voice, wpm = VOICES[(i // 2) % 2], RATES[(i // 4) % 2]
        noise, snr = NOISES[(i // 8) % len(NOISES)]
        codec = CODECS[(i // 48) % 2]
        text = f"The number is {spoken(value, nato=kind == 'alphanumeric' and i % 2 == 0)}."
        pcm = audio.synthesize(text, voice=voice, words_per_minute=wpm).astype(np.float32)
        if snr is not None:
            level = audio.active_speech_level(pcm.astype(np.int16), 24_000)
            loop = audio.NOISE_GENERATORS[noise](i)
            pcm = pcm + scale_to_level(fit_length(loop, len(pcm)), level - snr)
        pcm16 = audio.to_int16(pcm)
        if codec == "ulaw8k":
            pcm16 = audio.decode_g711(audio.encode_g711(pcm16, "ulaw"), "ulaw")
            rate = 8_000
        else:
            rate = 24_000
        f32 = soxr.resample(pcm16.astype(np.float32) / 32768.0, rate, ASR_RATE)
        condition = f"{codec} {noise}{'' if snr is None else f' {snr:g} dB'}"
        out.append(Utterance(value, kind, condition, f32))
    return out


def _spec(utt: Utterance) -> SlotSpec:
    return SlotSpec(kind=utt.kind, label="number", min_length=len(utt.value.replace("-", "")),
                    max_length=len(utt.value.replace("-", "")), prompt="", partial_prompt="",
                    unclear_prompt="", readback="", corrected_readback="", reask="",
                    pattern=r"^[a-z]{2}-\d+$" if utt.kind == "alphanumeric" else None,
                    rewrites=[(r"^([a-z]{2})(\d+)$", r"\1-\2")])


def captured(utt: Utterance, transcript: str) -> bool:
    got = extract(_spec(utt), transcript, asked=True)
    return got.status == "ok" and normalize_value(got.value) == normalize_value(utt.value)


def run(config: Config, utterances: list[Utterance]) -> dict:
    model = WhisperModel(audio.asr_model_path(config.model), device="cpu", compute_type="int8",
                         cpu_threads=2)
    model.transcribe(np.zeros(ASR_RATE, dtype=np.float32), language="en")
    runner_ups = None
    if config.runner_up:
        os.environ["HARNESS_ASR_BEAM_SIZE"] = str(config.beam)
        runner_ups = SpeechRecognizer(audio.asr_model_path(config.model))
    times, hits, by_condition, by_kind, misses = [], [], {}, {}, []
    for utt in utterances:
        started = time.perf_counter()
        segments, _ = model.transcribe(
            utt.pcm, language="en", beam_size=config.beam, without_timestamps=True,
            condition_on_previous_text=False, vad_filter=False,
            initial_prompt=PROMPT if config.prompt else None,
            hotwords=HOTWORDS if config.hotwords else None)
        text = " ".join(s.text.strip() for s in segments)
        if runner_ups is not None and extract(_spec(utt), text, asked=True).status == "partial":
            pcm16 = np.clip(utt.pcm * 32768.0, -32768, 32767).astype(np.int16)
            heard = runner_ups.alternatives_sync(pcm16, ASR_RATE, prompt=PROMPT,
                                                 digit_grammar=config.digit_grammar)
            text = next((h for h in heard
                         if extract(_spec(utt), h, asked=True).status == "ok"), text)
        times.append(time.perf_counter() - started)
        ok = captured(utt, text)
        hits.append(ok)
        if not ok:
            misses.append({"value": utt.value, "condition": utt.condition, "heard": text})
        by_condition.setdefault(utt.condition, []).append(ok)
        by_kind.setdefault(utt.kind, []).append(ok)
    est = wilson(sum(hits), len(hits))
    return {"config": config.label, "n": len(hits), "captured": sum(hits),
            "accuracy": est.value, "ci": [est.interval.low, est.interval.high],
            "ms_mean": 1000 * float(np.mean(times)),
            "ms_p90": 1000 * float(np.percentile(times, 90)),
            "by_condition": {k: [sum(v), len(v)] for k, v in sorted(by_condition.items())},
            "by_kind": {k: [sum(v), len(v)] for k, v in sorted(by_kind.items())},
            "misses": misses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--configs", default="all", help="comma-separated indexes into CONFIGS")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    utterances = render(args.n)
    chosen = CONFIGS if args.configs == "all" else [CONFIGS[int(i)] for i in
                                                    args.configs.split(",")]
    results = []
    print(f"{'configuration':<28} {'captured':>12} {'95% CI':>15} {'ms/utt':>8} {'p90 ms':>8}")
    for config in chosen:
        r = run(config, utterances)
        results.append(r)
        print(f"{r['config']:<28} {r['captured']:>5}/{r['n']:<3} {r['accuracy']:>5.1%}"
              f" [{r['ci'][0]:.0%}, {r['ci'][1]:.0%}] {r['ms_mean']:>8.0f} {r['ms_p90']:>8.0f}",
              flush=True)
        if args.out:  # after each configuration: a long run can be read while it goes on
            with open(args.out, "w", encoding="utf-8") as fh:
                json.dump(results, fh, indent=2)
    for r in results:
        print(r["config"], json.dumps(r["by_condition"]), json.dumps(r["by_kind"]))


if __name__ == "__main__":
    main()
