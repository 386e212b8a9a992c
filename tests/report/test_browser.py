"""The report in headless Chromium (the system browser through Playwright): tables, timeline,
audio player with a cursor that follows it, and no console errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_factory import three_trial_run

from harness.report import render_report

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _page(browser, problems: list[str]):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # A media request cancelled by leaving the page is not a problem; a missing file is.
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}")
            if "ERR_ABORTED" not in (r.failure or "") else None)
    return page


def test_report_in_chromium(browser, tmp_path: Path) -> None:
    out = render_report(three_trial_run(tmp_path / "run"))
    problems: list[str] = []
    page = _page(browser, problems)

    page.goto(out.index_html.as_uri())
    rows = page.locator("#trials tbody tr")
    assert rows.count() == 3
    assert rows.nth(1).locator(".badge").inner_text() == "failed"
    assert "confirmation_before_write" in rows.nth(1).inner_text()
    assert rows.nth(2).locator(".badge").inner_text() == "errored"
    assert page.locator("#totals .card.passed .n").inner_text() == "1"
    page.wait_for_selector("#pass-rate-plot .main-svg")
    page.wait_for_selector("#latency-plot .main-svg")
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    page.select_option("#trial-filter", "failed errored")
    assert page.locator("#trials tbody tr:visible").count() == 2
    page.select_option("#trial-filter", "")

    rows.nth(1).locator("a").click()
    page.wait_for_url("**/pages/cancel-order-trial-0.html")
    page.wait_for_selector("#timeline .main-svg")
    # Plotly drew the timeline's rows and bars.
    ticks = page.locator("#timeline .ytick text").all_text_contents()
    assert ticks == ["caller", "VAD", "agent", "tools", "verdicts"]
    assert page.locator("#timeline .barlayer .point").count() >= 7
    audio = page.locator("#call-audio")
    page.wait_for_function("document.getElementById('call-audio').readyState >= 1")
    assert audio.evaluate("a => a.duration") == pytest.approx(9.0, abs=0.05)

    # An evidence link seeks the player and moves the timeline cursor to its moment.
    page.locator('#verdict-0 button[data-seek="3.300"]').click()
    page.wait_for_function("Math.abs(window.harnessReport.cursor() - 3.3) < 1e-6")
    assert audio.evaluate("a => a.currentTime") == pytest.approx(3.3, abs=0.01)
    shape_x = page.evaluate("document.getElementById('timeline').layout.shapes[0].x0")
    assert shape_x == pytest.approx(3.3)

    # Playback drives the cursor: after playing a little, it sits at offset + currentTime.
    audio.evaluate("a => { a.currentTime = 1.0; return a.play(); }")
    page.wait_for_timeout(600)
    audio.evaluate("a => a.pause()")
    now = audio.evaluate("a => a.currentTime")
    assert now > 1.2
    page.wait_for_function(
        f"Math.abs(window.harnessReport.cursor() - {now}) < 0.05")
    page.screenshot(path=str(tmp_path / "trial.png"), full_page=True)
    assert (tmp_path / "trial.png").stat().st_size > 10_000

    page.goto((out.run_dir / "pages" / "unreachable-target-trial-0.html").as_uri())
    assert "connection refused" in page.locator("#trial-error").inner_text()
    page.wait_for_selector("#timeline .main-svg")
    assert problems == []


def test_a_webrtc_trial_page_shows_jitter_loss_and_rtt(browser, tmp_path: Path) -> None:
    import json

    from harness.recording import RecordingMeta, RtpDirection, RtpSample, RtpStats

    run_dir = three_trial_run(tmp_path / "run")
    meta_path = run_dir / "order-status" / "trial-0" / "meta.json"
    meta = RecordingMeta.model_validate_json(meta_path.read_text(encoding="utf-8"))
    samples = [RtpSample(t_ms=1000.0 * k, received=50 * k, received_lost=5 * k,
                         received_jitter_ms=6.5, sent=50 * k, sent_lost=4 * k,
                         sent_jitter_ms=7.25, rtt_ms=212.0) for k in range(1, 4)]
    meta.transport, meta.network = "webrtc", "delay=100ms,jitter=10ms,loss=10%"
    meta.rtp = RtpStats(
        received=RtpDirection(packets=150, lost=15, loss=15 / 165, jitter_ms=6.5,
                              jitter_ms_max=9.0),
        sent=None, rtt_ms=212.0, rtt_ms_max=230.4, interval_ms=1000.0, samples=samples)
    meta_path.write_text(meta.model_dump_json(indent=2), encoding="utf-8")
    out = render_report(run_dir)
    problems: list[str] = []
    page = _page(browser, problems)

    page.goto((out.run_dir / "pages" / "order-status-trial-0.html").as_uri())
    received = page.locator("#rtp tr.rtp-1 td").all_text_contents()
    assert received[1:] == ["150", "15", "9.1 %", "6.5 ms", "9.0 ms"]
    assert "no RTCP receiver report" in page.locator("#rtp tr.rtp-2").inner_text()
    rtt = page.locator("#rtp-rtt").inner_text()
    assert "212 ms at the end, 230 ms at most" in rtt and "3 samples" in rtt
    assert "delay=100ms,jitter=10ms,loss=10%" in rtt
    # a WebSocket trial has no such section
    page.goto((out.run_dir / "pages" / "cancel-order-trial-0.html").as_uri())
    assert page.locator("#rtp").count() == 0
    assert json.loads(meta_path.read_text(encoding="utf-8"))["rtp"]["rtt_ms"] == 212.0
    assert problems == []
