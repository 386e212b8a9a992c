"""A run with k = 3 trials per scenario: the repeated-trial figures in summary.json, the
flakiness section of the run report and the console, checked against hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

from report_factory import errored_trial, failing_trial, passing_trial, write_run
from rich.console import Console

from harness.report import render_report
from harness.report.console import print_summary


def _renamed(run_dir: Path, entry: dict, scenario: str) -> dict:
    """A trial of another scenario's recording, filed under ``scenario``."""
    meta_path = run_dir / entry["path"] / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["scenario"] = scenario
    meta_path.write_text(json.dumps(meta))
    return {**entry, "scenario": scenario}


def _run(run_dir: Path) -> Path:
    # order-status: pass, pass, fail → flaky. cancel-order: fail × 3 → not flaky, pass^k 0.
    # unreachable: one errored trial and two passes → rates over the 2 graded trials.
    entries = [passing_trial(run_dir, "order-status/trial-0", 0),
               passing_trial(run_dir, "order-status/trial-1", 1),
               _renamed(run_dir, failing_trial(run_dir, "order-status/trial-2", 2),
                        "order-status")]
    entries += [failing_trial(run_dir, f"cancel-order/trial-{k}", k) for k in range(3)]
    entries += [_renamed(run_dir, passing_trial(run_dir, f"lookup/trial-{k}", k), "lookup")
                for k in range(2)]
    entries.append(_renamed(run_dir, errored_trial(run_dir, "lookup/trial-2", 2), "lookup"))
    return write_run(run_dir, entries)


def test_repeated_trial_figures_everywhere(tmp_path: Path) -> None:
    outcome = render_report(_run(tmp_path / "run"))
    stats = json.loads((outcome.run_dir / "summary.json").read_text())["statistics"]
    rows = {s["scenario"]: s for s in stats["scenarios"]}
    assert stats["suite"]["k"] == 3 and stats["suite"]["scenarios"] == 3
    order, cancel, lookup = rows["order-status"], rows["cancel-order"], rows["lookup"]
    assert (order["n"], order["passed"], order["flaky"]) == (3, 2, True)
    assert order["pass_at_k"] == 1.0 and order["pass_hat_k"] == 0.0  # C(2,3) = 0 of C(3,3)
    assert round(order["pass_rate"]["value"], 4) == 0.6667
    assert (cancel["n"], cancel["passed"], cancel["flaky"]) == (3, 0, False)
    assert cancel["pass_at_k"] == 0.0 and cancel["pass_rate"]["high"] < 0.6  # Wilson, n = 3
    assert (lookup["trials"], lookup["errored"], lookup["n"], lookup["passed"]) == (3, 1, 2, 2)
    assert lookup["pass_at_k"] is None  # 2 graded trials cannot support k = 3
    assert stats["suite"]["flaky_scenarios"] == ["order-status"]
    # the suite's pass rate is the mean of the scenarios' rates: (2/3 + 0 + 1) / 3
    assert round(stats["suite"]["pass_rate"]["value"], 4) == round((2 / 3 + 0 + 1) / 3, 4)
    kinds = {k["kind"]: k for k in stats["kinds"]}
    # graded in the one failing order-status trial and the three cancel-order trials
    assert (kinds["confirmation_before_write"]["n"], kinds["confirmation_before_write"]["passed"],
            kinds["confirmation_before_write"]["flaky_scenarios"]) == (4, 0, [])

    html = (outcome.run_dir / "index.html").read_text()
    assert "k = 3 trials per scenario" in html and html.count('class="badge flaky"') == 1
    # per expectation kind too: latency passed in all 3 order-status trials → pass^k 100 %
    assert "<th>pass@k</th><th>pass^k</th><th>flaky in</th>" in html

    console = Console(record=True, width=200)
    print_summary(outcome, console)
    text = console.export_text()
    assert "Flakiness over k=3 trials per scenario" in text
    flaky_lines = [line for line in text.splitlines() if "flaky" in line and "│" in line]
    assert len(flaky_lines) == 1 and "order-status" in flaky_lines[0]
    assert "1 flaky scenario(s)" in text


def test_pass_at_k_and_pass_hat_k_per_expectation_kind() -> None:
    from types import SimpleNamespace

    from harness.report._statistics import run_statistics

    def trial(scenario: str, preamble: str, latency: str | None = None) -> SimpleNamespace:
        statuses = {"preamble": [preamble]}
        if latency:
            statuses["latency"] = [latency]
        return SimpleNamespace(scenario=scenario, variant=None, turns=[],
                               outcome="passed" if preamble == "pass" else "failed",
                               kind_statuses=statuses)

    # k = 3. preamble: a passes 2 of 3, b 3 of 3, c 0 of 3; latency graded 3 times only in a
    trials = [trial("a", "pass", "pass"), trial("a", "pass", "fail"), trial("a", "fail", "pass"),
              trial("b", "pass"), trial("b", "pass"), trial("b", "pass", "pass"),
              trial("c", "fail"), trial("c", "fail"), trial("c", "fail")]
    kinds = {k["kind"]: k for k in run_statistics(trials, resamples=500)["kinds"]}
    preamble, latency = kinds["preamble"], kinds["latency"]
    # pass@3 per scenario: 1, 1, 0 → mean 2/3; pass^3: C(2,3)/C(3,3) = 0, 1, 0 → 1/3
    assert preamble["pass_at_k"]["value"] == round(2 / 3, 4)
    assert preamble["pass_hat_k"]["value"] == round(1 / 3, 4)
    # three scenarios: no interval over them, and the figure says why
    assert preamble["pass_at_k"]["n"] == 3 and preamble["pass_at_k"]["low"] is None
    assert preamble["pass_at_k"]["note"] == "no interval below 40 scenarios (here 3)"
    # the kind's pass rate is the mean over the scenarios that graded it (2/3, 1, 0), not the
    # pooled 5 of 9
    assert preamble["pass_rate"]["value"] == round((2 / 3 + 1 + 0) / 3, 4)
    # latency: only scenario a has k graded trials (2 of 3 passed); b's single one cannot count
    assert (latency["n"], latency["passed"], latency["scenarios"]) == (4, 3, 2)
    assert latency["pass_at_k"]["value"] == 1.0 and latency["pass_at_k"]["n"] == 1
    assert latency["pass_hat_k"]["value"] == 0.0
