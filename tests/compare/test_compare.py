"""Comparisons without calls: the statistics wiring against hand-computed values, trial pairing,
comparison files and options, the command's exit codes and outputs on hand-made run folders."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.agent.server import agent_config_options
from harness.cli import main
from harness.compare import (
    Side,
    TrialMetrics,
    compare_pair,
    compare_runs,
    comparison_schema_text,
    load_comparison,
    spec_from_options,
)
from harness.compare._analysis import order_effect
from harness.compare._compare import resolve_variants
from harness.compare._metrics import kind_outcomes
from harness.compare._spec import ComparisonSpec, VariantSpec
from harness.errors import InputError, InputErrors
from harness.runner.interleave import interleaved_order
from harness.runner.suite import plan_trials
from harness.scenario.loader import load_scenario, load_suite
from harness.scoring.verdict import Verdict

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "report"))

from report_factory import failing_trial, passing_trial, write_run  # noqa: E402


def trial(scenario: str, variant: str, k: int, passed: bool, **values: float) -> TrialMetrics:
    return TrialMetrics(scenario=scenario, variant=variant, trial=k, run_dir=Path("."),
                        path=f"{scenario}/{variant}/trial-{k}",
                        outcome="passed" if passed else "failed",
                        kinds={"preamble": passed}, values=dict(values))


def side(name: str, table: dict[str, list[bool]], latency: dict[str, list[float]]) -> Side:
    return Side(name, [trial(s, name, k, ok, voice_to_voice_ms=latency[s][k])
                       for s, outcomes in table.items() for k, ok in enumerate(outcomes)])


def test_statistics_match_hand_computed_values() -> None:
    # Discordant pairs: A-only passes 6 (s1: 3, s2: 2, s3: 1), B-only passes 1 (s3).
    a = side("A", {"s1": [True, True, True, True], "s2": [True, True, False, True],
                   "s3": [True, False, True, True]},
             {"s1": [1000, 1000, 1000, 1000], "s2": [900, 900, 900, 900],
              "s3": [800, 800, 800, 800]})
    b = side("B", {"s1": [False, False, False, True], "s2": [False, True, False, False],
                   "s3": [False, True, True, True]},
             {"s1": [1100, 1300, 1100, 1300], "s2": [1000, 1000, 1000, 1000],
              "s3": [850, 850, 850, 850]})
    pair = compare_pair(a, b)
    assert pair.paired_trials
    passed = next(m for m in pair.metrics if m.metric == "passed")
    # exact McNemar: 1 of 7 discordant pairs went B's way; two-sided binomial(7, 1/2)
    assert passed.test.startswith("McNemar exact")
    assert passed.p_value == pytest.approx(2 * (1 + 7) / 2**7)
    assert passed.n_scenarios == 3 and passed.n_pairs == 12 and passed.n_movable == 7
    assert passed.mean_a == pytest.approx((1 + 0.75 + 0.75) / 3)
    assert passed.mean_b == pytest.approx((0.25 + 0.25 + 0.75) / 3)
    assert passed.difference == pytest.approx(((0.25 - 1) + (0.25 - 0.75) + 0) / 3)
    assert (passed.wins, passed.ties, passed.losses) == (0, 1, 2)
    latency = next(m for m in pair.metrics if m.metric == "voice_to_voice_ms")
    # 12 trial pairs, every one slower in B: of the 2^12 relabellings only the observed one and
    # its mirror image are as extreme
    assert latency.difference == pytest.approx(350 / 3)
    assert latency.test == "label permutation, exact"
    assert latency.p_value == pytest.approx(2 / 2**12)
    assert (latency.wins, latency.ties, latency.losses) == (0, 0, 3)
    # t interval with scenario effects: only s1's pairs spread (100, 300, 100, 300): pooled sd
    # √(40000 / 9), standard error sd · √(3 · 1/4) / 3; 9 degrees of freedom pooled, but all the
    # spread is one scenario's 3 (Satterthwaite), so halfway: 6
    sd = math.sqrt(40000 / 9)
    half = 2.446911851144969 * sd * math.sqrt(3 / 4) / 3
    assert latency.noise_sd == pytest.approx(sd)
    assert (latency.interval.low, latency.interval.high) == pytest.approx(
        (350 / 3 - half, 350 / 3 + half))
    # Holm over the two primary metrics; preamble is exploratory (Benjamini–Hochberg)
    assert {m.metric: m.family for m in pair.metrics} == {
        "passed": "primary", "preamble": "secondary", "voice_to_voice_ms": "primary"}
    assert latency.p_adjusted == pytest.approx(min(1.0, 2 * latency.p_value))
    assert passed.p_adjusted == pytest.approx(max(passed.p_value, latency.p_adjusted))
    # at a 62.5 % pass rate, 12 pairs cannot show even a fall to 0 in 80 % of comparisons at
    # the level Holm's first step asks (0.025); preamble, alone in its family, is tested at 0.05
    assert {m.metric: m.verdict for m in pair.metrics} == {
        "passed": "cannot be detected", "preamble": "no detectable difference",
        "voice_to_voice_ms": "worse"}
    assert passed.min_detectable is None and passed.base_rate == pytest.approx(0.625)


def test_a_clear_difference_is_declared_worse_and_a_gate_sees_it(tmp_path: Path) -> None:
    names = [f"s{i}" for i in range(12)]
    a = side("A", {s: [True, True] for s in names}, {s: [1000.0, 1010.0] for s in names})
    b = side("B", {s: [False, False] for s in names}, {s: [1300.0, 1320.0] for s in names})
    pair = compare_pair(a, b)
    verdicts = {m.metric: m.verdict for m in pair.metrics}
    assert verdicts == {"passed": "worse", "preamble": "worse", "voice_to_voice_ms": "worse"}
    latency = next(m for m in pair.metrics if m.metric == "voice_to_voice_ms")
    # pairs +300 and +310 in every scenario: pooled sd √(12 · 50 / 12), 12 degrees of freedom
    half = 2.178812829663418 * math.sqrt(50) * math.sqrt(12 / 2) / 12
    assert (latency.interval.low, latency.interval.high) == pytest.approx((305 - half,
                                                                           305 + half))
    assert [m.metric for m in pair.worse(["voice_to_voice_ms"])] == ["voice_to_voice_ms"]


def test_errored_trials_and_unequal_trials_change_the_pairing() -> None:
    a = side("A", {"s1": [True, True, True], "s2": [True, True, True]},
             {"s1": [1, 1, 1], "s2": [1, 1, 1]})
    b = side("B", {"s1": [False, True, True], "s2": [True, True, True]},
             {"s1": [1, 1, 1], "s2": [1, 1, 1]})
    b.trials[0].outcome = "errored"  # s1 trial 0: the pair is dropped
    pair = compare_pair(a, b)
    passed = next(m for m in pair.metrics if m.metric == "passed")
    assert pair.paired_trials and passed.n_pairs == 5 and passed.p_value == 1.0
    shorter = Side("B", [t for t in b.trials if not (t.scenario == "s2" and t.trial == 2)])
    unpaired = compare_pair(a, shorter)
    assert not unpaired.paired_trials  # s2 ran trials 0-2 in A, 0-1 in B: those pair by index
    assert next(m for m in unpaired.metrics if m.metric == "passed").n_pairs == 4
    renumbered = Side("B", [type(t)(**{**t.__dict__, "trial": t.trial + 10}) for t in b.trials])
    by_order = compare_pair(a, renumbered)
    assert not by_order.paired_trials  # no index in common: trials pair up in their order
    assert next(m for m in by_order.metrics if m.metric == "passed").n_pairs == 5


def test_kind_outcomes_fail_on_any_failure_or_error() -> None:
    def v(kind: str, status: str) -> Verdict:
        return Verdict(kind=kind, status=status, summary="x")

    got = kind_outcomes([v("latency", "pass"), v("latency", "fail"), v("preamble", "pass"),
                         v("barge_in", "not_applicable"), v("escalation", "error")])
    # "not_applicable" is an older harness's word for "not graded": read back, it fails.
    assert got == {"latency": False, "preamble": True, "barge_in": False, "escalation": False}


# --------------------------------------------------------------------------- files and options


def test_comparison_file_builds_variants_from_a_base_with_overrides(tmp_path: Path) -> None:
    (tmp_path / "new.md").write_text("Be brief.")
    path = tmp_path / "ab.yaml"
    path.write_text(f"""
scenarios: [{ROOT / 'scenarios' / 'order-status.yaml'}]
base: {ROOT / 'agents' / 'support.yaml'}
trials: 3
variants:
  current: {{}}
  patient:
    turn_detection: {{silence_duration_ms: 1200}}
    instructions_file: new.md
    faults: no_preamble
  terse:
    agent: {ROOT / 'agents' / 'support-terse.yaml'}
""")
    spec = load_comparison(path)
    assert spec.trials == 3 and list(spec.variants) == ["current", "patient", "terse"]
    configs, faults = resolve_variants(spec, [])
    assert configs["patient"].turn_detection.silence_duration_ms == 1200
    assert configs["patient"].turn_detection.prefix_padding_ms == 300  # kept from the base
    assert configs["patient"].instructions == "Be brief."
    assert configs["current"].turn_detection.silence_duration_ms == 600
    assert configs["terse"].local_profile.endswith("agents/profiles/support_desk_terse.yaml")
    assert faults == {"current": [], "patient": ["no_preamble"], "terse": []}
    assert {c.name for c in configs.values()} == {"current", "patient", "terse"}


def test_overrides_of_model_tools_and_local_profile(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    profile = tmp_path / "profiles" / "mine.yaml"
    profile.write_text((ROOT / "agents" / "profiles" / "support_desk_terse.yaml").read_text())
    path = tmp_path / "ab.yaml"
    path.write_text(f"""
base: {ROOT / 'agents' / 'support.yaml'}
variants:
  current: {{}}
  other:
    model: gpt-realtime-mini
    local_profile: profiles/mine.yaml
    tools:
      - name: lookup_order
        description: Look an order up.
        parameters: {{type: object, properties: {{order_id: {{type: string}}}}}}
      - name: hand_over
        description: Hand the call to a person.
        escalation: true
        parameters: {{type: object, properties: {{}}}}
""")
    spec = load_comparison(path)
    configs, _ = resolve_variants(spec, [])
    other, current = configs["other"], configs["current"]
    assert other.model == "gpt-realtime-mini" and current.model == "gpt-realtime"
    # the profile file is read relative to the comparison file
    assert other.local_profile == str(profile) and current.local_profile == "support_desk"
    assert [t.name for t in other.tools] == ["lookup_order", "hand_over"]
    assert other.escalation_tools == ["hand_over"] and other.write_tools == []
    assert "cancel_order" in current.write_tools
    assert other.instructions == current.instructions  # untouched fields come from the base
    # the local agent serves each variant's own profile and tool flags
    assert agent_config_options(other)["profile"] == str(profile)
    assert agent_config_options(other)["escalation_tools"] == ["hand_over"]

    # a profile file that is not there: file:line of the field, before anything runs
    path.write_text(path.read_text().replace("profiles/mine.yaml", "profiles/gone.yaml"))
    with pytest.raises(InputErrors) as caught:
        load_comparison(path)
    assert f"{path}:7:" in str(caught.value)
    assert "variants.other.local_profile" in str(caught.value)
    assert "gone.yaml" in str(caught.value)
    # on the command line, a built-in name is checked too
    spec = spec_from_options(variants=["A"], overrides=["B.local_profile=no_such_desk"],
                             base=ROOT / "agents" / "support.yaml", scenarios=[], trials=1,
                             file_spec=None)
    with pytest.raises(InputError, match="unknown agent profile 'no_such_desk'"):
        resolve_variants(spec, [])


def test_without_a_base_each_scenario_keeps_its_own_config_with_the_variants_changes() -> None:
    # the example suite mixes configs: one scenario's agent has no cancel tool
    scenarios = [load_scenario(ROOT / "scenarios" / name)
                 for name in ("order-status.yaml", "cancel-unavailable.yaml")]
    assert scenarios[0].agent_config != scenarios[1].agent_config
    spec = ComparisonSpec(scenarios=[], trials=1, variants={
        "current": VariantSpec(), "patient": VariantSpec(
            turn_detection={"silence_duration_ms": 1200}),
        "terse": VariantSpec(agent=ROOT / "agents" / "support-terse.yaml")})
    configs, _ = resolve_variants(spec, scenarios)
    for name in ("current", "patient"):
        assert set(configs[name]) == {"order-status", "cancel-unavailable"}
        for scenario in scenarios:
            own, config = scenario.agent_config, configs[name][scenario.name]
            assert [t.name for t in config.tools] == [t.name for t in own.tools]
    assert configs["current"]["order-status"].turn_detection.silence_duration_ms == 600
    assert all(c.turn_detection.silence_duration_ms == 1200 for c in configs["patient"].values())
    assert configs["terse"].local_profile.endswith("support_desk_terse.yaml")  # its own file
    plan = plan_trials(scenarios, variants=configs)
    cancel_tools = {v: {t.name for t in c.tools} for s, v, c, _ in plan
                    if s.name == "cancel-unavailable"}
    assert "cancel_order" not in cancel_tools["patient"]


def test_a_telephone_variant_puts_each_scenarios_own_config_on_the_line() -> None:
    scenarios = [load_scenario(ROOT / "scenarios" / name)
                 for name in ("order-status.yaml", "cancel-unavailable.yaml")]
    spec = spec_from_options(variants=["wideband"], overrides=["phone.audio_format=g711_ulaw"],
                             base=None, scenarios=[], trials=1, file_spec=None)
    assert spec.variants["phone"].audio_format == "audio/pcmu"  # the beta name, as GA
    configs, _ = resolve_variants(spec, scenarios)
    for scenario in scenarios:
        wide, phone = configs["wideband"][scenario.name], configs["phone"][scenario.name]
        assert (wide.input_audio_format, wide.output_audio_format) == ("audio/pcm",) * 2
        assert (phone.input_audio_format, phone.output_audio_format) == ("audio/pcmu",) * 2
        assert [t.name for t in phone.tools] == [t.name for t in scenario.agent_config.tools]
    with pytest.raises(InputError, match="audio_format"):
        spec_from_options(variants=["A"], overrides=["B.audio_format=mp3"], base=None,
                          scenarios=[], trials=None, file_spec=None)


def test_bad_comparison_file_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("variants:\n  a: {}\n  b:\n    voise: cedar\n")
    with pytest.raises(InputErrors) as caught:
        load_comparison(path)
    text = str(caught.value)
    assert f"{path}:4:5" in text and "variants.b.voise" in text


def test_command_line_variants(tmp_path: Path) -> None:
    spec = spec_from_options(variants=["A"], overrides=["B.faults=[no_preamble]",
                                                       "B.voice=cedar"],
                             base=ROOT / "agents" / "support.yaml", scenarios=[], trials=2,
                             file_spec=None)
    assert list(spec.variants) == ["A", "B"] and spec.trials == 2
    assert spec.variants["B"].faults == ["no_preamble"] and spec.variants["B"].voice == "cedar"
    with pytest.raises(InputError, match="expected NAME.KEY=VALUE"):
        spec_from_options(variants=["A"], overrides=["B=1"], base=None, scenarios=[],
                          trials=None, file_spec=None)
    with pytest.raises(InputError, match="unknown override 'colour'"):
        spec_from_options(variants=["A"], overrides=["B.colour=red"], base=None, scenarios=[],
                          trials=None, file_spec=None)
    with pytest.raises(InputError, match="at least two variants"):
        spec_from_options(variants=["A"], overrides=[], base=None, scenarios=[], trials=None,
                          file_spec=None)


@pytest.mark.parametrize("path", sorted((ROOT / "comparisons").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_committed_comparison_files_load(path: Path) -> None:
    spec = load_comparison(path)
    assert len(spec.variants) >= 2
    scenarios = load_suite(spec.scenarios or [ROOT / "scenarios"])
    configs, _ = resolve_variants(spec, scenarios)
    assert list(configs) == list(spec.variants)


def test_committed_comparison_schema_is_current() -> None:
    assert (ROOT / "schemas" / "comparison.schema.json").read_text() == comparison_schema_text()


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


@pytest.mark.parametrize("args, message", [
    # The example suite mixes agent configs, so variants without their own file need a base.
    (["compare", "--variant", "A", "--set", "B.faults=no_such_fault", "--trials", "1",
      "--base", "agents/support.yaml"],
     "unknown fault 'no_such_fault'"),
    (["compare", "--variant", "A", "--set", "B.voice=x", "--trials", "0"],
     "trials must be at least 1"),
    (["compare", "--variant", "A=/nowhere/agent.yaml", "--variant", "B", "--base",
      "agents/support.yaml"], "file not found"),
    (["compare", "RUN", "--fail-if-worse-on", "loudness"], "unknown metric 'loudness'"),
    (["compare", "/nowhere/run"], "not a run folder"),
    (["compare", "--variant", "A", "--set", "B.faults=no_preamble", "--target", "openai",
      "--base", "agents/support.yaml"],
     "faults apply to the local reference agent only"),
])
def test_bad_options_exit_2_with_one_message(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, _out, err = run_cli(args, capsys)
    assert code == 2 and message in err and "Traceback" not in err, err


def variant_run(run_dir: Path) -> Path:
    """Two scenarios × variants A and B × 2 trials: ``flip`` passes under A and fails under B."""
    entries = []
    for scenario in ("flip", "steady"):
        for variant in ("A", "B"):
            for k in range(2):
                rel = f"{scenario}/{variant}/trial-{k}"
                make = failing_trial if (scenario, variant) == ("flip", "B") else passing_trial
                entry = make(run_dir, rel, k)
                entries.append({**entry, "scenario": scenario, "variant": variant})
    return write_run(run_dir, entries)


def test_compare_finished_run_and_gate(tmp_path: Path, capsys) -> None:
    run_dir = variant_run(tmp_path / "run")
    code, out, _ = run_cli(["compare", str(run_dir), "--fail-if-worse"], capsys)
    assert code == 0, out  # 2 discordant pairs cannot show a difference
    doc = json.loads((run_dir / "compare.json").read_text())
    assert doc["baseline"] == "A" and [v["name"] for v in doc["variants"]] == ["A", "B"]
    metrics = {m["metric"]: m for m in doc["comparisons"][0]["metrics"]}
    assert metrics["passed"]["mean_a"] == 1.0 and metrics["passed"]["mean_b"] == 0.5
    assert metrics["passed"]["n_pairs"] == 4 and metrics["passed"]["p_value"] == 0.5
    assert metrics["passed"]["family"] == "excluded"
    assert metrics["passed"]["verdict"] == "cannot be detected"
    assert "only 2 pairs of 4 differ" in metrics["passed"]["note"]
    assert "B vs A" in out and "cannot be detected" in out
    assert doc["gate"] == {"metrics": None, "passed": True, "worse": []}
    rows = {r["scenario"]: r for r in doc["scenarios"]}
    assert rows["flip"]["flipped"] == {"B": True} and rows["steady"]["flipped"] == {"B": False}
    assert rows["flip"]["cells"]["B"]["discordant"] == ["0", "1"]
    junit = (run_dir / "compare-junit.xml").read_text()
    assert 'name="passed"' in junit and "<failure" not in junit
    # RUN#VARIANT twice: the same statistics, a report in its own folder
    out_dir = tmp_path / "again"
    again = compare_runs([f"{run_dir}#A", f"{run_dir}#B"], out_dir=out_dir)
    assert again.document["comparisons"] == doc["comparisons"]
    assert (out_dir / "compare.html").is_file()
    with pytest.raises(InputError, match="several variants"):
        compare_runs([str(run_dir), str(run_dir)], out_dir=out_dir)


def test_gate_fails_when_the_candidate_is_worse(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    entries = []
    for s in range(8):
        for variant in ("A", "B"):
            rel = f"s{s}/{variant}/trial-0"
            make = failing_trial if variant == "B" else passing_trial
            entries.append({**make(run_dir, rel, 0), "scenario": f"s{s}", "variant": variant})
    write_run(run_dir, entries)
    code, out, _ = run_cli(["compare", str(run_dir), "--fail-if-worse-on", "passed"], capsys)
    assert code == 1 and "gate failed" in out
    junit = (run_dir / "compare-junit.xml").read_text()
    assert junit.count("<failure") == 1 and 'name="passed"' in junit


def test_stored_runs_give_the_statistics_of_their_folders(tmp_path: Path, capsys) -> None:
    import shutil

    from harness.api import report
    from harness.store import open_store

    run_dir = variant_run(tmp_path / "run")
    report(run_dir)
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with open_store(url) as store:
        store.record_run(run_dir, label="ab")
    code, out, _ = run_cli(["compare", "ab", "--store", url, "-o", str(tmp_path / "cmp")],
                           capsys)
    assert code == 0, out
    stored = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    folder = compare_runs([str(run_dir)], out_dir=tmp_path / "folder").document
    assert stored["comparisons"] == folder["comparisons"]
    assert stored["variants"][0]["source"].startswith("stored run")
    # the same run, its folder gone: compared on what the database keeps
    shutil.rmtree(run_dir)
    offline = compare_runs(["ab#A", "ab#B"], store=url, out_dir=tmp_path / "db").document
    metrics = {m["metric"]: m for m in offline["comparisons"][0]["metrics"]}
    expected = {m["metric"]: m for m in folder["comparisons"][0]["metrics"]}
    for name in ("passed", "preamble", "voice_to_voice_ms"):
        assert metrics[name]["mean_a"] == pytest.approx(expected[name]["mean_a"])
        assert metrics[name]["mean_b"] == pytest.approx(expected[name]["mean_b"])
        assert metrics[name]["p_value"] == pytest.approx(expected[name]["p_value"])
    with pytest.raises(InputError, match="no stored run"):
        compare_runs(["nothing", "ab#A"], store=url)


def test_plan_and_primary_from_the_command_line(tmp_path: Path, capsys) -> None:
    run_dir = variant_run(tmp_path / "run")
    code, out, _ = run_cli(["compare", str(run_dir), "--primary", "passed",
                            "--plan", "passed:-50%", "--plan", "voice_to_voice_ms:+200"], capsys)
    assert code == 0, out
    doc = json.loads((run_dir / "compare.json").read_text())
    assert doc["primary"] == ["passed"]
    [plan_rate, plan_latency] = doc["comparisons"][0]["plans"]
    assert plan_rate["metric"] == "passed" and plan_rate["difference"] == -0.5
    k = plan_rate["trials_per_scenario"]
    assert k is not None and k > 2  # two scenarios × two trials did not detect it
    assert f"{k} trials per scenario" in plan_rate["text"] and "plan:" in out
    # the synthetic calls' latency does not vary: the permutation test's own floor decides,
    # the smallest k whose 2 × k pairs can give 2 · 2^-(2k) ≤ α over the family's size
    latency = next(m for m in doc["comparisons"][0]["metrics"]
                   if m["metric"] == "voice_to_voice_ms")
    level = 0.05 / latency["family_size"]
    assert plan_latency["trials_per_scenario"] == next(
        k for k in range(1, 20) if 2 * 0.5 ** (2 * k) <= level)
    code, out, err = run_cli(["compare", str(run_dir), "--plan", "voice_to_voice_ms"], capsys)
    assert code == 2 and "METRIC:DIFFERENCE" in out + err
    code, out, err = run_cli(["compare", str(run_dir), "--primary", "no_such_metric"], capsys)
    assert code == 2 and "unknown metric 'no_such_metric'" in out + err


@pytest.mark.parametrize("start_first_ms", [-60.0, 0.0])
def test_the_start_order_effect_is_measured_with_the_variants_own_effects_taken_out(
        start_first_ms: float) -> None:
    """Starting first is a real effect on a busy machine (calls that start together queue for
    the agent's recogniser in their start order); the comparison rotates the order and reports
    what starting first did, with the variants' effects (here a variant 800 ms slower, first in
    four blocks and last in three) removed."""
    names = ["A", "same", "slow"]
    scenarios = [SimpleNamespace(name=f"s{i}") for i in range(5)]
    _positions, blocks = interleaved_order(scenarios, names, 2)  # type: ignore[arg-type]
    rng = random.Random(7)
    position_ms = [start_first_ms, start_first_ms / 3, 0.0]
    trials: dict[str, list[TrialMetrics]] = {v: [] for v in names}
    for block in blocks:
        base = 800.0 + 100 * int(block["scenario"][1:]) + 40 * block["trial"]
        for place, v in enumerate(block["order"]):
            ms = base + (800.0 if v == "slow" else 0.0) + position_ms[place] + rng.gauss(0, 8)
            trials[v].append(trial(block["scenario"], v, block["trial"], True,
                                   voice_to_voice_ms=ms))
    firsts = [b["order"][0] for b in blocks]
    lasts = [b["order"][-1] for b in blocks]
    assert firsts.count("slow") != lasts.count("slow")  # the variant's effect would leak in
    effect = order_effect([Side(v, trials[v]) for v in names], blocks)
    assert effect is not None and effect["blocks"] == 10
    low, high = effect["interval"]["low"], effect["interval"]["high"]
    assert low <= effect["first_minus_last"] <= high
    assert abs(effect["first_minus_last"] - start_first_ms) < 15
    assert low <= start_first_ms <= high
    if start_first_ms:
        assert high < 0 and effect["p_value"] < 0.01
    else:
        assert effect["p_value"] > 0.05
