"""A number said in two breaths: heard in halves and joined, or heard as one.

Usage: ``.venv/bin/python bench/breaths.py [--n 48] [--model base]``

The clinic line's callers say a seven-digit patient number (every digit 0-9 used, "oh" for
zero) in two breaths: "My patient number is two, eight, oh, four," then a pause, then "four,
six, three." espeak-ng speaks them in two voices at two rates, clean and under babble or TV noise
at 20 dB SNR, split after the second, third or fourth digit. The local agent's turn detection
(800 ms of silence ends a turn, 300 ms of lead-in) cuts the two turns; the agent's recogniser
(the clinic profile's model and prompt) transcribes each, and the clinic's dialogue policy holds
the first and joins the second, with and without the two turns' audio heard as one. A number
counts as captured when the policy reads back exactly it. Printed: captured with its Wilson
95 % interval (n) each way, the calls one way got and the other missed, and the time to hear
both turns as one (mean and p90).
"""

from __future__ import annotations

import argparse
import random
import re
import string
import time
from pathlib import Path

import numpy as np

from harness import audio
from harness.agent.asr import SpeechRecognizer
from harness.agent.faults import Faults
from harness.agent.policy import Policy, Say, load_profile
from harness.agent.server import tool_flags
from harness.audio._noise import fit_length, scale_to_level
from harness.scenario.loader import load_agent_config
from harness.spoken import to_spoken
from harness.stats import wilson

ROOT = Path(__file__).resolve().parents[1]
AGENT = ROOT / "examples" / "clinic" / "agent.yaml"
RATE = 24_000
VOICES = ("en-us", "en-gb")
WPM = (130, 165)
NOISES = (("clean", None), ("babble", 20.0), ("tv", 20.0))
LEAD_IN_MS, PAUSE_MS, TURN_END_MS = 300, 1200, 800


def numbers(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    out = ["".join(rng.choice(string.digits) for _ in range(7)) for _ in range(n)]
    assert set("".join(out)) >= set(string.digits)
    return out


def spoken_digits(digits: str) -> str:
    return ", ".join("oh" if d == "0" else to_spoken(d) for d in digits)


def silence(ms: int) -> np.ndarray:
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


def turns(value: str, i: int) -> tuple[np.ndarray, np.ndarray]:
    """The two turns as the agent cuts them: lead-in, speech, the silence that ends the turn."""
    split = 2 + i % 3
    voice, wpm = VOICES[(i // 3) % 2], WPM[(i // 6) % 2]
    noise, snr = NOISES[(i // 12) % len(NOISES)]
    first = audio.synthesize(f"My patient number is {spoken_digits(value[:split])},",
                             voice=voice, words_per_minute=wpm)
    second = audio.synthesize(f"{spoken_digits(value[split:])}.", voice=voice,
                              words_per_minute=wpm)
    cut = [np.concatenate([silence(LEAD_IN_MS), first, silence(TURN_END_MS)]),
           np.concatenate([silence(LEAD_IN_MS), second, silence(TURN_END_MS)])]
    if snr is None:
        return cut[0], cut[1]
    level = audio.active_speech_level(first, RATE)
    loop = audio.NOISE_GENERATORS[noise](i)
    whole = np.concatenate(cut).astype(np.float32)
    whole += scale_to_level(fit_length(loop, len(whole)), level - snr)
    mixed = audio.to_int16(whole)
    return mixed[:len(cut[0])], mixed[len(cut[0]):]


def read_back(policy: Policy, first: str, second: str, as_one: str | None) -> str | None:
    policy.on_user_turn("Hi, when is my next appointment?")
    actions = policy.on_user_turn(first)
    if not actions:  # held: the second breath joins it
        actions = policy.on_user_turn(second, heard_as_one=as_one)
    said = " ".join(a.text for a in actions if isinstance(a, Say))
    match = re.search(r"patient number ([\d, ]+)\.", said)
    return match.group(1).replace(", ", "") if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--model", default=None, help="recogniser (default: the profile's)")
    args = parser.parse_args()
    config = load_agent_config(AGENT)
    profile = load_profile(AGENT.parent / str(config.local_profile))
    tools = [t.session_tool() for t in config.tools]
    recognizer = SpeechRecognizer(audio.asr_model_path(args.model or profile.recogniser))
    prompt = profile.transcription_prompt
    halves, whole, times = [], [], []
    for i, value in enumerate(numbers(args.n)):
        a, b = turns(value, i)
        first = recognizer.transcribe_sync(a, RATE, prompt=prompt)
        second = recognizer.transcribe_sync(b, RATE, prompt=prompt)
        started = time.perf_counter()
        both = recognizer.transcribe_sync(np.concatenate([a, b]), RATE, prompt=prompt)
        times.append(time.perf_counter() - started)
        policy = lambda: Policy(profile, tools, Faults.parse(""), tool_flags(config))  # noqa: E731
        halves.append(read_back(policy(), first, second, None) == value)
        whole.append(read_back(policy(), first, second, both) == value)
        if halves[-1] != whole[-1]:
            print(f"  {value}: halves {first!r} + {second!r} -> {halves[-1]}; "
                  f"as one {both!r} -> {whole[-1]}")
    for label, hits in (("halves joined", halves), ("heard as one too", whole)):
        est = wilson(sum(hits), len(hits))
        print(f"{label:>17}: {sum(hits)}/{len(hits)} captured ({est.value:.0%}, 95 % CI "
              f"{est.interval.low:.0%}-{est.interval.high:.0%})")
    print(f"as one: {1000 * np.mean(times):.0f} ms mean, {1000 * np.percentile(times, 90):.0f} ms "
          f"p90 per call ({recognizer.model_name.rsplit('/', 1)[-1]}, 2 CPU threads)")


if __name__ == "__main__":
    main()
