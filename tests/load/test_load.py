"""Load tests against loopback servers: the curve grows with the server's delay, or stays flat."""

from __future__ import annotations

import json

import pytest
from loadservers import ServerProcess
from scripted import scenario

from harness.errors import InputError
from harness.load import parse_ramp, run_load
from harness.load.driver import Call
from harness.load.ramp import Level
from harness.load.report import build_report

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
RAMP = "3,8,14:8s"


def _callers():
    # the growing server answers the last turn up to ~0.8 s after it: the call waits for it
    return [scenario([{"say": "hello there"}, {"say": "thanks, bye"}], name=n,
                     idle_timeout_ms=3000) for n in ("alpha", "beta")]


def _p50s(outcome) -> list[float]:
    return [lv["voice_to_voice_ms"]["p50"]["value"] for lv in outcome.levels]


def _own_error_ms(outcome) -> float:
    """The harness's own timing error at its worst level: its pacing jitter p99."""
    return max(lv["jitter_ms"]["p99"]["value"] or 0.0 for lv in outcome.levels)


def test_ramp_grammar():
    assert parse_ramp("10:200:300s") == [Level(c, 60.0) for c in (10, 58, 105, 152, 200)]
    assert parse_ramp("10,50:1m") == [Level(10, 60.0), Level(50, 60.0)]
    assert parse_ramp("1:3:6s:3") == [Level(1, 2.0), Level(2, 2.0), Level(3, 2.0)]
    for bad in ("10,20", "ten:20:5s", "0,5:10s", "5:9:soon", "1:2:3:4:5"):
        with pytest.raises(InputError):
            parse_ramp(bad)


@pytest.fixture(scope="module")
def growing(tmp_path_factory):
    with ServerProcess(base_ms=50, per_session_ms=25) as url:
        yield run_load(_callers(), ramp=RAMP, target=url,
                       out_dir=tmp_path_factory.mktemp("growing"), session_timeout_s=60,
                       jitter_limit_ms=50)


def test_the_curve_shows_a_delay_that_grows_with_concurrency(growing):
    p50s = _p50s(growing)
    assert None not in p50s, growing.levels
    assert p50s == sorted(p50s), p50s
    # the server adds 25 ms per open session; 11 more calls are in flight at the top level than
    # at the first (fewer sessions are open on average: a slot hangs up between calls)
    assert p50s[-1] - p50s[0] > 100, p50s
    for lv in growing.levels:
        assert lv["calls"] >= 2 and lv["errored"] == 0
        assert lv["answered_rate"]["value"] == 1.0 and lv["answered_rate"]["interval"]
        assert lv["jitter_ms"]["n"] > 100
    data = json.loads((growing.folder / "load.json").read_text())
    assert [lv["concurrency"] for lv in data["levels"]] == [3, 8, 14]
    assert {c["scenario"] for c in data["calls"]} == {"alpha", "beta"}


def test_a_constant_delay_gives_a_flat_curve(tmp_path):
    with ServerProcess(base_ms=150) as url:
        outcome = run_load(_callers(), ramp=RAMP, target=url, out_dir=tmp_path,
                           session_timeout_s=60, jitter_limit_ms=50)
    p50s = _p50s(outcome)
    assert None not in p50s, outcome.levels
    # flat within the harness's own error (its jitter moves both ends of a measurement) plus
    # one 20 ms chunk, the grain at which the server's voice activity detector hears silence
    assert max(p50s) - min(p50s) <= 2 * _own_error_ms(outcome) + 20, p50s


def test_an_overloaded_level_is_not_trusted_and_says_why(growing):
    calls = [Call(**c) for c in json.loads((growing.folder / "load.json").read_text())["calls"]]
    strict = build_report(parse_ramp(RAMP), calls, growing.folder, jitter_limit_ms=0.0)
    assert not any(lv["trustworthy"] for lv in strict)
    assert all("not trustworthy" in lv["note"] and "nothing about the agent" in lv["note"]
               for lv in strict)


def test_the_page_shows_the_curve_in_chromium(growing):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((growing.folder / "load.html").as_uri())
            points = page.locator("#curve circle.point.p50")
            assert points.count() == 3
            shown = [int(points.nth(i).get_attribute("data-concurrency")) for i in range(3)]
            assert shown == [3, 8, 14]
            ys = [float(points.nth(i).get_attribute("cy")) for i in range(3)]
            assert ys == sorted(ys, reverse=True)  # higher latency is drawn higher up
            assert page.locator("#levels tr.level").count() == 3
            assert not errors, errors
        finally:
            browser.close()
