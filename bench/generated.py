"""The local agent on calls nobody tuned for: generated variants of three domains.

Each domain's scenarios (the example suite, the clinic, the utility line) are varied with
``harness vary`` (new spelled values, voices, rates, noise beds and pauses; fixed seeds), and
every variant is called once against the fault-free local agent. Per domain it prints the pass
rate with a 95 % Wilson interval (each generated call counts once; the source scenarios are
listed too, since variants of one scenario share its script), voice-to-voice p50 over answered
turns, and every failing call with its failed expectations. ``--faults`` also runs each fault of
the fault tables on one variant of each scenario the fault is about and prints whether its own
expectation kinds failed there, and which others failed with them (a fault can derail the rest
of a generated call: a faulted reply to a TV's words can undo the read-back the caller was about
to confirm).

    .venv/bin/python bench/generated.py [--variants 6] [--seed 1] [--concurrency 4]
        [--domains suite,clinic,utility] [--faults] [--keep DIR] [--runner-ups]
    .venv/bin/python bench/generated.py --domains "" --faults     # the fault tables alone
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from harness import api
from harness.scenario.vary import write_variants
from harness.stats import wilson

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = {
    "suite": ROOT / "scenarios",
    "clinic": ROOT / "examples" / "clinic" / "scenarios",
    "utility": ROOT / "examples" / "utility" / "scenarios",
}
sys.path.insert(0, str(ROOT / "tests"))


def _source(name: str, seed: int) -> str:
    return name.rsplit(f"-s{seed}-", 1)[0]


async def _domain(name: str, folder: Path, out: Path, *, variants: int, seed: int,
                  concurrency: int) -> None:
    files = write_variants([folder], out / "scenarios" / name, n=variants, seed=seed)
    started = time.monotonic()
    outcome = await api.run_async(files, concurrency=concurrency, out_dir=out / "runs" / name,
                                  session_timeout_s=240.0)
    minutes = (time.monotonic() - started) / 60
    calls = [t for t in outcome.trials if t.outcome != "errored"]
    passed = sum(t.outcome == "passed" for t in calls)
    est = wilson(passed, len(calls))
    v2v = [ms for t in calls for ms in t.voice_to_voice_ms]
    by_source: dict[str, list[bool]] = defaultdict(list)
    for t in calls:
        by_source[_source(t.scenario, seed)].append(t.outcome == "passed")
    p50 = f"{statistics.median(v2v):.0f} ms (n={len(v2v)})" if v2v else "-"
    print(f"\n{name}: {passed}/{len(calls)} passed = {100 * est.value:.1f} % "
          f"(95 % Wilson {100 * est.interval.low:.1f}-{100 * est.interval.high:.1f} %), "
          f"{len(outcome.trials) - len(calls)} errored; voice-to-voice p50 {p50}; "
          f"{len(by_source)} source scenarios; {minutes:.1f} min")
    for source, results in sorted(by_source.items()):
        if not all(results):
            print(f"  {source}: {sum(results)}/{len(results)}")
    for t in outcome.trials:
        if t.outcome != "passed":
            print(f"  - {t.scenario}: {t.outcome} {t.error or ''}".rstrip())
            for v in t.failing:
                print(f"      {v.kind}: {v.summary}")


async def _faults(out: Path, *, seed: int, concurrency: int) -> None:
    from fault_table import scenario_file  # noqa: PLC0415 - the fault tables
    from test_e2e_clinic import MUTATIONS as CLINIC  # noqa: PLC0415
    from test_e2e_suite import MUTATIONS as SUITE  # noqa: PLC0415

    print("\nfaults on generated calls (one variant of each scenario a fault is about):")
    tally: dict[str, int] = defaultdict(int)
    for domain, table in (("suite", SUITE), ("clinic", CLINIC)):
        for fault, expected in table.items():
            files = write_variants([scenario_file(DOMAINS[domain], s) for s in expected],
                                   out / "fault-scenarios" / domain / fault.split("=")[0],
                                   n=1, seed=seed)
            outcome = await api.run_async(files, faults=[fault], concurrency=concurrency,
                                          out_dir=out / "fault-runs" / domain,
                                          session_timeout_s=240.0)
            failed = {_source(t.scenario, seed).removeprefix("clinic-"):
                      {v.kind for v in t.verdicts if v.status in ("fail", "error")}
                      for t in outcome.trials}
            missed = {s: sorted(k - failed.get(s, set())) for s, k in expected.items()
                      if k - failed.get(s, set())}
            extra = {s: sorted(k - expected.get(s, set())) for s, k in failed.items()
                     if k - expected.get(s, set())}
            verdict = ("exactly its kinds" if not missed and not extra
                       else f"its kinds, and also {extra}" if not missed
                       else f"MISSED {missed}; failed {failed}")
            tally["exact" if not missed and not extra else "more" if not missed
                  else "missed"] += 1
            print(f"  {domain:7} {fault:24} {verdict}", flush=True)
    print(f"  {tally['exact'] + tally['more']} of {sum(tally.values())} fault rows failed their "
          f"own kinds on every scenario ({tally['more']} of them other kinds too); "
          f"{tally['missed']} missed one")


async def _main(args: argparse.Namespace, out: Path) -> None:
    for name in [n for n in args.domains.split(",") if n]:
        await _domain(name, DOMAINS[name], out, variants=args.variants, seed=args.seed,
                      concurrency=args.concurrency)
    if args.faults:
        await _faults(out, seed=args.seed, concurrency=args.concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=6, help="variants per scenario")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--domains", default=",".join(DOMAINS),
                        help="domains to call (empty: none, e.g. with --faults alone)")
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the scenarios and runs here")
    parser.add_argument("--runner-ups", action="store_true",
                        help="the agent searches runners-up of wideband audio too "
                             "(HARNESS_ASR_RUNNER_UPS=1)")
    args = parser.parse_args()
    if args.runner_ups:
        os.environ["HARNESS_ASR_RUNNER_UPS"] = "1"
    print(f"cores {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}")
    if args.keep is not None:
        asyncio.run(_main(args, args.keep))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(_main(args, Path(tmp)))
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
