"""The report of a hand-made run: pages, JUnit XML and summary.json agree with the trials."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_factory import ERRORED_MESSAGE, passing_trial, three_trial_run, write_run

from harness.errors import InputError
from harness.report import latency_text, render_report


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory):
    return render_report(three_trial_run(tmp_path_factory.mktemp("run") / "run-1"))


def test_outcomes_and_exit_code(outcome) -> None:
    by = {t.scenario: t for t in outcome.trials}
    assert by["order-status"].outcome == "passed"
    assert by["cancel-order"].outcome == "failed"
    assert [v.kind for v in by["cancel-order"].failing] == ["confirmation_before_write", "barge_in"]
    assert by["unreachable-target"].outcome == "errored"
    assert by["unreachable-target"].error == ERRORED_MESSAGE
    assert outcome.totals == {"trials": 3, "passed": 1, "failed": 1, "errored": 1,
                              "pass_rate": pytest.approx(1 / 3)}
    assert outcome.exit_code == 3


def test_voice_to_voice_from_the_timeline(outcome) -> None:
    # The factory's agent becomes audible 40 ms after playback starts at 2900 and 6300 ms;
    # the caller's speech ends at 2100 and 5200 ms.
    cancel = next(t for t in outcome.trials if t.scenario == "cancel-order")
    assert cancel.voice_to_voice_ms == [pytest.approx(840.0), pytest.approx(1140.0)]
    # Two values cannot support a median: the table lists them instead.
    assert latency_text(cancel.voice_to_voice_ms) == "840 · 1,140 ms"


def test_junit_counts_match_the_run(outcome) -> None:
    root = ET.parse(outcome.junit_xml).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"order-status[trial-0]", "cancel-order[trial-0]",
                          "unreachable-target[trial-0]"}
    assert cases["cancel-order[trial-0]"].get("classname") == "scenarios.cancel_order"
    assert [c.tag for c in cases["order-status[trial-0]"]] == ["system-out"]
    failure = cases["cancel-order[trial-0]"].find("failure")
    assert failure is not None and "confirmation_before_write" in failure.get("message", "")
    # The failure carries the verdicts' evidence: times, labels and excerpts.
    assert "3.30 s tool call cancel_order" in failure.text
    assert '"I need to cancel order eight three five"' in failure.text
    error = cases["unreachable-target[trial-0]"].find("error")
    assert error is not None and error.get("message") == ERRORED_MESSAGE
    assert cases["unreachable-target[trial-0]"].find("failure") is None


def test_summary_json(outcome) -> None:
    doc = json.loads(outcome.summary_json.read_text())
    assert doc["schema_version"] == 2
    assert doc["totals"]["trials"] == 3 and doc["totals"]["errored"] == 1
    trials = {t["scenario"]: t for t in doc["trials"]}
    assert trials["cancel-order"]["status"] == "failed"
    assert [t["voice_to_voice_ms"] for t in trials["cancel-order"]["turns"]] == [840.0, 1140.0]
    # Four answered turns over the run: too few for a p50, which is not shown, with its n.
    assert doc["latency"]["voice_to_voice_ms"]["p50"] == {
        "value": None, "n": 4, "n_clusters": 2, "low": None, "high": None, "note": None}
    assert doc["latency"] is not None and doc["statistics"]["suite"]["k"] == 1
    assert [v["status"] for v in trials["cancel-order"]["verdicts"]] == ["fail", "fail", "pass"]
    assert trials["cancel-order"]["verdicts"][0]["evidence"][1]["t_ms"] == 3300
    kinds = {k["kind"]: k for k in doc["expectations"]}
    assert kinds["latency"]["pass"] == 2 and kinds["latency"]["rate"] == 100.0
    assert kinds["barge_in"]["fail"] == 1 and kinds["barge_in"]["rate"] == 0.0
    assert (outcome.run_dir / trials["order-status"]["page"]).is_file()


def test_pages_are_self_contained(outcome) -> None:
    run_dir = outcome.run_dir
    assert (run_dir / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    for page in [outcome.index_html, *outcome.pages]:
        html = page.read_text()
        assert "http://" not in html and "https://" not in html, page
        assert "../assets/plotly.min.js" in html or 'src="assets/plotly.min.js"' in html
    cancel = (run_dir / "pages" / "cancel-order-trial-0.html").read_text()
    # The audio is referenced, not copied; call.wav is on the session clock from 0.
    assert 'src="../cancel-order/trial-0/call.wav"' in cancel
    assert 'data-audio-offset="0.000"' in cancel
    assert 'data-seek="3.300"' in cancel
    errored = (run_dir / "pages" / "unreachable-target-trial-0.html").read_text()
    assert ERRORED_MESSAGE in errored and "<audio" not in errored


def test_timeline_figure_has_every_row(outcome) -> None:
    page = (outcome.run_dir / "pages" / "cancel-order-trial-0.html").read_text()
    raw = page.split('id="fig-timeline">', 1)[1].split("</script>", 1)[0]
    fig = json.loads(raw)
    traces = {t["name"]: t for t in fig["data"]}
    assert {"caller speech", "VAD speech", "agent played", "agent dropped", "tool call",
            "barge-in", "verdict evidence"} <= set(traces)
    assert traces["agent dropped"]["base"] == [4.1] and traces["agent dropped"]["x"] == [1.8]
    assert traces["tool call"]["text"] == ["cancel_order 1200 ms"]
    assert traces["barge-in"]["x"] == [3.8, 4.1]
    assert sorted(traces["verdict evidence"]["x"]) == [2.1, 3.3, 3.8]
    assert fig["layout"]["shapes"][0]["type"] == "line"


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no run.json"):
        render_report(tmp_path)


def test_unscored_trial_is_errored(tmp_path: Path) -> None:

    entry = passing_trial(tmp_path, "order-status/trial-0")
    (tmp_path / "order-status/trial-0/verdicts.json").unlink()
    out = render_report(write_run(tmp_path, [entry]))
    assert out.trials[0].outcome == "errored"
    assert "not scored" in (out.trials[0].error or "")
    assert out.exit_code == 3


def test_stopped_trial_says_why(tmp_path: Path) -> None:
    entry = passing_trial(tmp_path, "order-status/trial-0")
    meta_path = tmp_path / "order-status/trial-0/meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(status="incomplete", error="the run was stopped")
    meta_path.write_text(json.dumps(meta))
    entry.update(status="incomplete", error="not run")
    out = render_report(write_run(tmp_path, [entry]))
    assert (out.trials[0].outcome, out.trials[0].error) == ("errored", "the run was stopped")


def test_hostile_text_stays_inside_its_containers(tmp_path: Path) -> None:
    from report_factory import failing_trial

    from harness.scoring.verdict import Evidence, Verdict

    entry = failing_trial(tmp_path, "cancel-order/trial-0")
    nasty = "said </script><!-- <b>bold</b> \x07bell"
    verdicts = [Verdict(kind="transcript", status="fail", summary=nasty,
                        evidence=[Evidence(t_ms=1000, label=nasty, excerpt=nasty)]).model_dump()]
    (tmp_path / "cancel-order/trial-0/verdicts.json").write_text(json.dumps(verdicts))
    out = render_report(write_run(tmp_path, [entry]))
    page = out.pages[0].read_text()
    fig = json.loads(page.split('id="fig-timeline">', 1)[1].split("</script>", 1)[0])
    assert fig["data"][-1]["hovertext"] == ["transcript fail: " + nasty]
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    failure = ET.parse(out.junit_xml).getroot().find("testsuite/testcase/failure")
    assert failure is not None and "said </script><!-- <b>bold</b> \ufffdbell" in failure.text


def test_a_trial_that_errored_before_its_session_started_renders(tmp_path: Path) -> None:
    # No trial folder at all: the agent profile could not be read, so no session was opened.
    run_dir = write_run(tmp_path / "run", [{
        "scenario": "s", "scenario_file": "s.yaml", "variant": None, "trial": 0,
        "path": "s/trial-0", "status": "errored",
        "error": "unknown agent profile 'nope'; expected a YAML file or one of: support_desk"}])
    out = render_report(run_dir)
    [trial] = out.trials
    assert trial.outcome == "errored" and out.exit_code == 3
    page = next(p for p in out.pages)
    assert "unknown agent profile" in page.read_text() and "target ?" in page.read_text()
    root = ET.parse(out.junit_xml).getroot()
    error = root.find("testsuite/testcase/error")
    assert error is not None and "unknown agent profile" in error.get("message", "")
    assert json.loads(out.summary_json.read_text())["trials"][0]["status"] == "errored"


def test_verdicts_an_older_harness_called_not_applicable_do_not_pass(tmp_path: Path) -> None:
    entry = passing_trial(tmp_path, "order-status/trial-0")
    verdicts = tmp_path / "order-status/trial-0/verdicts.json"
    doc = json.loads(verdicts.read_text())
    for v in doc["verdicts"] if isinstance(doc, dict) else doc:
        v["status"] = "not_applicable"
    verdicts.write_text(json.dumps(doc))
    [trial] = render_report(write_run(tmp_path, [entry])).trials
    assert trial.outcome == "failed"
    assert all(v.status == "fail" and v.summary.startswith("not graded: ")
               for v in trial.verdicts)
