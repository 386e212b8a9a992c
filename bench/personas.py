"""Persona calls measured: what a caller model costs per call in tokens, and what a rerun costs.

Usage: ``.venv/bin/python bench/personas.py [--runs 2] [--price-in 0.40 --price-out 1.60]``

Runs the persona library (``examples/personas``) against the fault-free local agent with the
scripted caller model (a chat-completions server on loopback that counts one token per four
characters), three calls at a time, ``--runs`` times over one fresh cache. Prints per persona the
lines spoken, the requests the caller model answered and their prompt and completion tokens,
whether the goal was met; per run the totals, the tokens per call and what that costs at the
given prices (US dollars per million input and output tokens: pass your model's). A second run
of an unchanged conversation makes no request.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness import api
from harness.persona.scripted import ScriptedCallerModel, load_scripts
from harness.recording import Recording

LIBRARY = Path(__file__).resolve().parents[1] / "examples" / "personas"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--price-in", type=float, default=0.40,
                        help="US$ per million prompt tokens (default: gpt-4.1-mini's list price)")
    parser.add_argument("--price-out", type=float, default=1.60,
                        help="US$ per million completion tokens")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HARNESS_CALLER_CACHE"] = str(Path(tmp) / "cache")
        with ScriptedCallerModel(load_scripts([LIBRARY / "scripts"])) as server:
            for run in range(1, args.runs + 1):
                started = time.perf_counter()
                outcome = api.run([LIBRARY], caller_model="scripted", caller_url=server.url,
                                  out_dir=Path(tmp) / "runs", concurrency=3)
                wall = time.perf_counter() - started
                print(f"\nrun {run}: {len(outcome.trials)} calls in {wall:.0f} s, "
                      f"load average {os.getloadavg()[0]:.2f}")
                print(f"{'persona':<24} {'lines':>5} {'asked':>5} {'prompt':>7} {'compl.':>6} "
                      f"{'goal':>5} outcome")
                prompts, completions, asked = [], [], 0
                for t in sorted(outcome.trials, key=lambda t: t.scenario):
                    recording = Recording.load(t.path)
                    ended = [e for _f, e in recording.annotations("harness.persona.ended")]
                    lines = recording.annotations("harness.persona.line")
                    e = ended[0] if ended else None
                    requests = e.requests if e else 0
                    prompt = e.prompt_tokens if e else 0
                    completion = e.completion_tokens if e else 0
                    asked += requests
                    prompts.append(prompt)
                    completions.append(completion)
                    print(f"{t.scenario:<24} {len(lines):>5} {requests:>5} {prompt:>7} "
                          f"{completion:>6} {'met' if e and e.goal_met else 'no':>5} "
                          f"{t.outcome}")
                per_call_in = statistics.mean(prompts)
                per_call_out = statistics.mean(completions)
                cost = (per_call_in * args.price_in + per_call_out * args.price_out) / 1e6
                print(f"requests {asked}; per call {per_call_in:.0f} prompt + {per_call_out:.0f} "
                      f"completion tokens (max {max(prompts)} + {max(completions)}); "
                      f"US$ {cost:.5f} a call at ${args.price_in}/${args.price_out} per M")


if __name__ == "__main__":
    main()
