"""Regression gates: expressions become checks (a bad one names its bad part), a planted
regression is caught, A/A noise between stored runs of one suite is not, and the baselines
(previous, median of N, pinned) and ``consecutive`` behave as documented."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from history_factory import synthetic_run

from harness.store import open_store
from harness.store.gates import GateError, evaluate_gates, parse_gate, parse_gates

DAY0 = datetime(2025, 6, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize("text, expected", [
    ("pass_rate:-5%", ("suite", None, "pass_rate", None, None, 0.05, True)),
    ("pass_rate:5%", ("suite", None, "pass_rate", None, None, 0.05, True)),
    ("latency.p95:+10%", ("suite", None, None, "voice_to_voice_ms", 95, 0.10, True)),
    ("dead_air.p50:+250", ("suite", None, None, "dead_air_ms", 50, 250.0, False)),
    ("kind.preamble.pass_rate:-0.02", ("kind", "preamble", "pass_rate", None, None, 0.02, False)),
    ("scenario.cancel-confirmed.pass_rate:-0.2",
     ("scenario", "cancel-confirmed", "pass_rate", None, None, 0.2, False)),
    ("scenario.v1.2-order.latency.p50:+15%",
     ("scenario", "v1.2-order", None, "voice_to_voice_ms", 50, 0.15, True)),
    ("pass_hat_k:-0.1", ("suite", None, "pass_hat_k", None, None, 0.1, False)),
])
def test_expressions_become_checks(text: str, expected: tuple) -> None:
    g = parse_gate(text)
    assert (g.scope, g.subject, g.rate, g.turn_metric, g.q, g.threshold,
            g.relative) == pytest.approx(expected)


@pytest.mark.parametrize("text, names", [
    ("pass_rate", "is not METRIC:THRESHOLD"),
    ("latency.p97:+10%", "percentile p97"),
    ("latncy.p95:+10%", "unknown metric 'latncy.p95'"),
    ("pass_rate:+5%", "points the wrong way: pass_rate regresses down, so write -5%"),
    ("latency.p95:-10%", "points the wrong way: latency.p95 regresses up, so write +10%"),
    ("pass_rate:-5 percent", "threshold '-5 percent'"),
    ("kind.preamble.pass_rate:-2", "an absolute pass-rate change is a fraction"),
])
def test_a_bad_expression_names_its_bad_part(text: str, names: str) -> None:
    with pytest.raises(GateError, match=re.escape(names)) as err:
        parse_gates(["pass_rate:-5%", text])
    assert err.value.field == "--fail-on"


def _store_nights(store, tmp_path: Path, specs: list[dict], label: str = "nightly") -> list[str]:
    ids = []
    for i, spec in enumerate(specs):
        folder = synthetic_run(tmp_path / f"{label}-{i:02d}", started=DAY0 + timedelta(days=i),
                               **spec)
        ids.append(store.record_run(folder, label=label).run_id)
    return ids


GATES = parse_gates(["pass_rate:-5%", "latency.p95:+10%", "kind.preamble.pass_rate:-0.02"])


def test_a_real_regression_is_caught_and_named(tmp_path: Path) -> None:
    with open_store(tmp_path / "h.db") as store:
        ids = _store_nights(store, tmp_path, [
            {"seed": 1}, {"seed": 2, "latency_ms": 1500.0, "preamble_p": 0.3}])
        report = evaluate_gates(store, GATES, ids[1])
    by = {r.gate.metric: r for r in report.results}
    # A preamble broken in most calls fails those calls too: all three gates hold.
    assert {r.gate.metric for r in report.regressions} == {"latency.p95", "pass_rate",
                                                           "kind.preamble.pass_rate"}
    latency = by["latency.p95"]
    assert latency.baseline_id == ids[0] and latency.change is not None and latency.change > 0.3
    assert latency.comparison is not None and latency.comparison.n_scenarios == 10
    assert latency.p_adjusted is not None and latency.p_adjusted < 0.05
    # the test recomputes the pooled p95 the gate prints under each relabelling of the 50 pairs
    assert latency.comparison.test == "label permutation, Monte Carlo"
    assert latency.comparison.n_pairs == 50 and latency.comparison.interval is None
    rate = by["pass_rate"]
    assert rate.comparison.interval is not None and rate.comparison.interval.high < 0
    preamble = by["kind.preamble.pass_rate"]
    assert preamble.baseline_value is not None and preamble.value is not None
    assert preamble.change == pytest.approx(preamble.value - preamble.baseline_value)
    assert preamble.change < -0.4
    assert report.exit_code == 1


def test_aa_noise_between_stored_runs_rarely_gates(tmp_path: Path) -> None:
    """20 A/A comparisons (each night against the one before, all drawn from one suite):
    at most one false gate at α = 5 %."""
    with open_store(tmp_path / "h.db") as store:
        ids = _store_nights(store, tmp_path, [{"seed": 100 + i} for i in range(21)])
        reports = [evaluate_gates(store, GATES, run_id) for run_id in ids[1:]]
    false_gates = [r.run_id for r in reports if r.regressions]
    assert len(false_gates) <= 1, false_gates
    # The noise did move the figures past the thresholds now and then: the test is what kept
    # the gate quiet, not a threshold nobody reached.
    assert sum(res.exceeded for r in reports for res in r.results) >= 5


def test_baselines_median_and_pinned(tmp_path: Path) -> None:
    gates = parse_gates(["latency.p50:+10%"])
    with open_store(tmp_path / "h.db") as store:
        ids = _store_nights(store, tmp_path, [
            {"seed": 1}, {"seed": 2, "latency_ms": 2500.0}, {"seed": 3}, {"seed": 4},
            {"seed": 5, "latency_ms": 1500.0}])
        previous = evaluate_gates(store, gates, ids[4])
        median = evaluate_gates(store, gates, ids[4], baseline="median:4")
        pinned = evaluate_gates(store, gates, ids[4], baseline=ids[1])
        first = evaluate_gates(store, gates, ids[0])
    assert previous.results[0].baseline_id == ids[3] and previous.exit_code == 1
    # Of nights 0–3 (one of them slow), the median night is a normal one.
    assert median.results[0].baseline_id in {ids[0], ids[2], ids[3]} and median.exit_code == 1
    # Against the slow night 1, night 4 is faster: nothing regressed.
    assert pinned.results[0].baseline_id == ids[1] and pinned.exit_code == 0
    assert first.results[0].note == "no baseline yet" and first.exit_code == 0


def test_what_changed_is_against_the_baseline_the_gates_chose(tmp_path: Path) -> None:
    from harness.store.trend import render_trend

    gates = parse_gates(["latency.p50:+10%"])
    with open_store(tmp_path / "h.db") as store:
        ids = _store_nights(store, tmp_path, [
            {"seed": 1}, {"seed": 2, "latency_ms": 2500.0}, {"seed": 3}])
        pinned = evaluate_gates(store, gates, ids[2], baseline=ids[0])
        page_pinned = render_trend(store, tmp_path / "pinned", gates=pinned).read_text()
        page_plain = render_trend(store, tmp_path / "plain").read_text()
        # a gated run that is not the newest: the table shows that run, not the newest
        older = evaluate_gates(store, gates, ids[1], baseline=ids[0])
        page_older = render_trend(store, tmp_path / "older", gates=older).read_text()
    assert f"Changed since run {ids[0]}" in page_pinned
    assert f"Run {ids[2]} against the gates&#39; baseline ({ids[0]})" in page_pinned
    assert f"Changed since run {ids[1]}" in page_plain  # the run before the newest
    assert f"Run {ids[1]} against the gates&#39; baseline ({ids[0]}): run {ids[0]}" in page_older


def test_consecutive_runs(tmp_path: Path) -> None:
    gates = parse_gates(["latency.p50:+10%"])
    with open_store(tmp_path / "h.db") as store:
        ids = _store_nights(store, tmp_path, [
            {"seed": 1}, {"seed": 2}, {"seed": 3, "latency_ms": 1500.0},
            {"seed": 4, "latency_ms": 2200.0}])
        once = evaluate_gates(store, gates, ids[2], consecutive=2)
        twice = evaluate_gates(store, gates, ids[3], consecutive=2)
        single = evaluate_gates(store, gates, ids[2])
    assert single.exit_code == 1
    assert once.exit_code == 0 and once.results[0].regressed  # one night is not two in a row
    assert twice.exit_code == 1 and [r.gate.metric for r in twice.regressions] == ["latency.p50"]


def test_bad_baseline_and_consecutive(tmp_path: Path) -> None:
    with open_store(tmp_path / "h.db") as store:
        ids = _store_nights(store, tmp_path, [{"seed": 1, "scenarios": 2, "trials": 1}])
        with pytest.raises(GateError, match="median:N"):
            evaluate_gates(store, GATES, ids[0], baseline="median:x")
        with pytest.raises(GateError, match="--consecutive must be at least 1"):
            evaluate_gates(store, GATES, ids[0], consecutive=0)


def test_three_scenarios_by_two_trials_catch_a_600_ms_slowdown_on_the_p50(tmp_path: Path) -> None:
    """The smallest nightly people run: every pair slower, so the one-sided exact test of the
    pooled p50 reaches 1/64; the same night without the slowdown passes."""
    gates = parse_gates(["latency.p50:+25%"])
    small = {"scenarios": 3, "trials": 2, "latency_sd": 60.0}
    with open_store(tmp_path / "h.db") as store:
        ids = _store_nights(store, tmp_path, [
            {"seed": 1, **small}, {"seed": 2, **small},
            {"seed": 3, **small, "latency_ms": 1500.0}])
        slow = evaluate_gates(store, gates, ids[2])
        normal = evaluate_gates(store, gates, ids[1])
    [result] = slow.results
    assert result.comparison.test == "label permutation, exact"
    assert result.comparison.n_pairs == 6 and result.can_fire
    assert result.comparison.p_value == pytest.approx(1 / 64)
    assert slow.exit_code == 1 and [r.gate.metric for r in slow.regressions] == ["latency.p50"]
    assert normal.exit_code == 0 and not normal.results[0].regressed


def test_a_gate_that_cannot_fire_at_this_size_says_so(tmp_path: Path) -> None:
    # two scenarios × two trials: at most 4 pass/fail pairs differ, 1/16 > 0.05
    gates = parse_gates(["pass_rate:-5%", "latency.p50:+10%"])
    small = {"scenarios": 2, "trials": 2}
    with open_store(tmp_path / "h.db") as store:
        ids = _store_nights(store, tmp_path, [{"seed": 1, **small, "pass_p": 1.0},
                                              {"seed": 2, **small, "pass_p": 0.05}])
        report = evaluate_gates(store, gates, ids[1])
    rate, latency = report.results
    assert rate.exceeded and not rate.can_fire and not rate.regressed
    assert rate.note.startswith("cannot fire at this size") and rate.p_adjusted is None
    assert not latency.can_fire and "4 of 4 pairs differ" in latency.note  # 1/16 > 0.05
    assert report.exit_code == 0
    from harness.store.trend import gate_rows

    assert [row["verdict"] for row in gate_rows(report)] == [rate.note, latency.note]
