"""What the local agent hears of the values callers give, on generated calls, offline.

Each domain's scenarios (the example suite, the clinic, the utility line) are varied with
``harness vary`` (fixed seeds: new values, voices, rates, noise beds). Every caller turn that
labels an ``entity`` the domain's profile has a slot for is rendered with its bed under it and
heard as the agent hears a turn in the dialogue the earlier turns' words lead to: the
profile's prompt (the turn heard again without it where the recogniser writes it back), the
greedy transcript, and, where the agent searches for a whole value
(``harness.agent.hearing.where_to_search``: part of one heard), the recogniser's runners-up
(``--runner-ups``: their beam, 0 for none), or, on a line with a slow recogniser (``base``),
the agent's second opinion (``harness.agent.asr.SECOND_OPINION``). ``--own-runner-ups`` hears
as an agent told ``HARNESS_ASR_RUNNER_UPS=1`` does: every recogniser searches its own
runners-up, for part of a value or a transcript that reads short. A value counts as heard when
the agent's slot extraction gets exactly the label from the chosen transcript. Nothing runs in
real time, so the figures do not depend on the machine's load: they isolate hearing from
turn-taking. Where no search found a whole value, the turn is heard again slowed down, as the
agent does (``harness.agent.hearing.wants_slowed``; ``--no-slowed``: not), a "4" the
recogniser likely wrote for an "oh" is read as a zero (``OH_AS_FOUR_MARGIN``; a "for" that
begins a number, ``FOR_AS_OH_MARGIN``), and a "0" it
likely wrote for a letter "o" spelled in an email as the letter (``O_AS_ZERO_MARGIN``; both in
``harness.agent.weighing``; ``--no-ohs``: neither). The recogniser is each profile's
(``--models`` names others to compare).
Printed per domain and recogniser: values heard with a 95 % Wilson interval (n),
the misses with what was heard, and the wall time per turn.

    .venv/bin/python bench/hearing.py [--variants 3] [--seed 1] [--models tiny.en,base]
        [--domains suite,clinic,utility] [--runner-ups 5] [--own-runner-ups] [--no-slowed]
        [--no-ohs]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from harness import audio
from harness.agent.actions import CallTool
from harness.agent.asr import SECOND_OPINION, SpeechRecognizer
from harness.agent.dialogue import ToolFlags
from harness.agent.faults import Faults
from harness.agent.hearing import (
    cheap_search,
    is_prompt_echo,
    slowed,
    wants_slowed,
    where_to_search,
    wideband_runner_ups,
)
from harness.agent.policy import Policy
from harness.agent.profile import Profile, load_profile
from harness.agent.server import tool_flags
from harness.agent.slots import extract
from harness.agent.weighing import heard_sync
from harness.runner.tools import answer_call
from harness.scenario import Scenario, load_scenario
from harness.scenario.vary import write_variants
from harness.spoken import normalize_value
from harness.stats import wilson

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = {
    "suite": (ROOT / "scenarios", "support_desk"),
    "clinic": (ROOT / "examples" / "clinic" / "scenarios",
               ROOT / "examples" / "clinic" / "clinic.profile.yaml"),
    "utility": (ROOT / "examples" / "utility" / "scenarios",
                ROOT / "examples" / "utility" / "utility.profile.yaml"),
}


def _policy_before(scenario: Scenario, profile: Profile, index: int) -> Policy:
    """The agent's dialogue as it stands when turn ``index`` begins: the earlier turns' words
    (as written) told to a fresh policy with the agent config's tools, each tool call answered
    from the scenario's mocks. A value's turn is heard for what the dialogue then listens for."""
    config = scenario.agent_config
    tools = [] if config is None else [
        {"type": "function", **t.model_dump(exclude_none=True)} for t in config.tools]
    flags = ToolFlags() if config is None else tool_flags(config)
    policy = Policy(profile, tools, Faults(), flags)
    calls: dict[str, int] = defaultdict(int)
    for turn in scenario.turns[:index]:
        if not isinstance(turn.say, str):
            continue
        actions = policy.on_user_turn(turn.say)
        if not actions and policy.hold_ms is not None:
            # held for the caller to go on (a number at the end of a turn may have more
            # digits): the next turn comes after the hold, as in a call
            actions = policy.on_hold_expired()
        while actions and isinstance(actions[-1], CallTool) and config is not None:
            call = actions[-1]
            answer = answer_call(call.name, json.dumps(call.arguments), config=config,
                                 mocks=scenario.tools, call_index=calls[call.name])
            calls[call.name] += 1
            actions = policy.on_tool_output(call.name, call.arguments, answer.output)
    return policy


def turns_with_values(files: list[Path], profile: Profile
                      ) -> list[tuple[str, int, str, str, np.ndarray, Policy]]:
    """(scenario, turn, slot, value, 24 kHz int16 audio with its bed, the dialogue then) of each
    turn that labels a value the profile has a slot for."""
    out = []
    for path in files:
        scenario = load_scenario(path)
        script = audio.render_scenario(scenario)
        offset = 0
        for turn, rendered in zip(scenario.turns, script.turns, strict=True):
            samples = rendered.samples.astype(np.int32)
            bed = script.bed(rendered.index)
            if not bed.silent:
                samples = samples + bed.chunk(offset, samples.size)
            offset += samples.size
            for slot, value in (turn.entity or {}).items():
                if slot in profile.slots and rendered.speech_onset_sample is not None:
                    out.append((scenario.name, rendered.index, slot, value,
                                np.clip(samples, -32768, 32767).astype(np.int16),
                                _policy_before(scenario, profile, rendered.index)))
    return out


def heard(recognizer: SpeechRecognizer, model: str, policy: Policy, pcm: np.ndarray,
          runner_ups: int, second: SpeechRecognizer, *, slowed_too: bool = True,
          ohs: bool = True) -> str:
    """The transcript the agent takes for a turn: the greedy one, or, where the agent searches
    (``harness.agent.hearing.where_to_search``), the first transcript that holds a whole value:
    the recogniser's runners-up, or ``second``'s transcript and then its runners-up; where
    none does (``wants_slowed``, and ``slowed_too``), the turn slowed down and heard by
    ``second``, then by the recogniser. Then (``ohs``) the transcript is weighed as the agent
    weighs it (``harness.agent.weighing.WEIGHINGS``): an "oh" lost at a number's start read
    back in, a "for" and the "4"s the recogniser likely wrote for an "oh" read as zeros, and
    the "0"s it
    likely wrote for a letter "o" of an email as the letter."""
    text = _heard(recognizer, model, policy, pcm, runner_ups, second, slowed_too=slowed_too)
    if not ohs or not text:
        return text
    return heard_sync(recognizer, model, pcm, 24_000, text, policy.transcription_prompt,
                      policy=policy)


def _heard(recognizer: SpeechRecognizer, model: str, policy: Policy, pcm: np.ndarray,
           runner_ups: int, second: SpeechRecognizer, *, slowed_too: bool) -> str:
    prompt = policy.transcription_prompt
    text = recognizer.transcribe_sync(pcm, 24_000, prompt=prompt)
    if is_prompt_echo(text, prompt):  # heard again without the prompt, as the agent does
        text = recognizer.transcribe_sync(pcm, 24_000, prompt=None, sure=True)
        if is_prompt_echo(text, prompt):
            return ""  # no speech, as the agent takes it: nothing searched
    where = where_to_search(policy, text, len(pcm) / 24_000, wideband=True, recogniser=model)
    if not runner_ups:
        return text
    if where is not None:
        searched = recognizer if where == "own" else second
        others = [] if where == "own" else [second.transcribe_sync(pcm, 24_000, prompt=prompt)]
        if not any(policy.holds_a_value(t) for t in others):
            others += searched.alternatives_sync(
                pcm, 24_000, prompt=prompt, beam_size=runner_ups,
                enough=lambda texts: any(policy.holds_a_value(t) for t in texts))
        text = policy.choose_transcript([text, *(h for h in others if h != text)])
    if not slowed_too or not wants_slowed(policy, text, len(pcm) / 24_000):
        return text
    slow = slowed(pcm, 24_000)
    for hearer in dict.fromkeys([second, recognizer]):  # as the agent: the second opinion first
        again = hearer.transcribe_sync(slow, 24_000, prompt=prompt)
        if policy.holds_a_value(again):
            return again
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--models", default="profile",
                        help="recognisers to compare (default: each domain's profile's)")
    parser.add_argument("--domains", default=",".join(DOMAINS))
    parser.add_argument("--runner-ups", type=int, default=5,
                        help="beam for the runners-up of a partial value (0: none)")
    parser.add_argument("--own-runner-ups", action="store_true",
                        help="hear as the agent does with HARNESS_ASR_RUNNER_UPS=1: its own "
                        "runners-up, for part of a value or a transcript that reads short")
    parser.add_argument("--no-ohs", action="store_true",
                        help="without weighing: no oh lost at a number's start read back in, no 4 "
                        "the recogniser likely wrote for an oh read as one, no 0 it likely "
                        "wrote for an email's letter o read as the letter")
    parser.add_argument("--no-slowed", action="store_true",
                        help="without hearing a turn again slowed where no search found its value")
    args = parser.parse_args()
    if args.own_runner_ups:
        os.environ["HARNESS_ASR_RUNNER_UPS"] = "1"  # as the agent is told to
    print(f"cores {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}")
    loaded: dict[str, SpeechRecognizer] = {}

    def recogniser(model: str) -> SpeechRecognizer:
        if model not in loaded:
            loaded[model] = SpeechRecognizer(audio.asr_model_path(model))
        return loaded[model]

    with tempfile.TemporaryDirectory() as tmp:
        for domain in args.domains.split(","):
            folder, profile_name = DOMAINS[domain]
            profile = load_profile(profile_name)
            files = write_variants([folder], Path(tmp) / domain, n=args.variants,
                                   seed=args.seed, aspects=("values", "voices", "noise"))
            cases = turns_with_values(files, profile)
            models = [profile.recogniser or "tiny.en"] if args.models == "profile" \
                else args.models.split(",")
            for model in models:
                recognizer = recogniser(model)
                second = recogniser(SECOND_OPINION)
                hits: list[bool] = []
                by_slot: dict[str, list[bool]] = defaultdict(list)
                misses = []
                started = time.perf_counter()
                for scenario, index, slot, value, pcm, policy in cases:
                    text = heard(recognizer, model, policy, pcm, args.runner_ups, second,
                                 slowed_too=not args.no_slowed, ohs=not args.no_ohs)
                    got = extract(profile.slots[slot], text, asked=True)
                    ok = got.status == "ok" and normalize_value(got.value) == \
                        normalize_value(value)
                    hits.append(ok)
                    by_slot[slot].append(ok)
                    if not ok:
                        misses.append(f"    {scenario} turn {index} {slot}={value!r}: {text!r}")
                seconds = (time.perf_counter() - started) / max(len(cases), 1)
                est = wilson(sum(hits), len(hits))
                slots = ", ".join(f"{s} {sum(v)}/{len(v)}" for s, v in sorted(by_slot.items()))
                how = "none" if not args.runner_ups else "own" \
                    if wideband_runner_ups() or cheap_search(model) else f"from {SECOND_OPINION}"
                print(f"\n{domain} {model} runner-ups {args.runner_ups} ({how}): "
                      f"{sum(hits)}/{len(hits)} values heard = {100 * est.value:.1f} % "
                      f"(95 % Wilson {100 * est.interval.low:.1f}-"
                      f"{100 * est.interval.high:.1f} %); {slots}; {seconds:.2f} s a turn",
                      flush=True)
                print("\n".join(misses))
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
