"""compare.html in headless Chromium (the system browser through Playwright): the metric table,
the scenario matrix with its flipped row, and a click that opens both trials side by side."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_compare import variant_run

from harness.compare import compare_runs

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_compare_report_in_chromium(tmp_path: Path) -> None:
    run_dir = variant_run(tmp_path / "run")
    outcome = compare_runs([str(run_dir)])
    problems: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}")
                if "ERR_ABORTED" not in (r.failure or "") else None)
        page.goto(outcome.compare_html.as_uri())

        rows = page.locator("#metrics-B tr.metric")
        assert rows.count() == len(outcome.pairs[0].metrics)
        passed = page.locator('#metrics-B tr.metric[data-metric="passed"]')
        assert "100.0%" in passed.inner_text() and "50.0%" in passed.inner_text()
        decided = outcome.pairs[0].metrics[0]
        assert decided.metric == "passed"
        assert passed.locator(".verdict-badge").inner_text() == decided.verdict
        cells = [c.strip() for c in passed.locator("td").all_inner_texts()]
        family = {"primary": "primary (Holm)", "secondary": "exploratory (BH)",
                  "excluded": "not tested"}[decided.family]
        assert family in cells

        assert page.locator("#matrix tbody tr").count() == 2
        assert page.locator("#matrix tr.flipped").get_attribute("data-scenario") == "flip"
        assert page.locator('#matrix tr[data-scenario="flip"] button.discordant').count() == 2
        page.check("#only-flipped")
        assert page.locator("#matrix tbody tr:visible").count() == 1
        page.uncheck("#only-flipped")

        assert page.locator("#pair-view").is_hidden()
        page.locator('button.trial[data-scenario="flip"][data-variant="B"][data-trial="1"]'
                     ).click()
        view = page.locator("#pair-view")
        view.wait_for(state="visible")
        assert page.locator("#pair-title").inner_text() == "flip · trial 1"
        columns = view.locator(".column")
        assert [columns.nth(i).get_attribute("data-variant") for i in range(2)] == ["A", "B"]
        a, b = columns.nth(0), columns.nth(1)
        assert a.locator(".outcome").inner_text() == "passed"
        assert b.locator(".outcome").inner_text() == "failed"
        # both calls' audio plays from the run folder
        page.wait_for_function(
            "[...document.querySelectorAll('#pair-view audio')].every(a => a.readyState >= 1)")
        assert a.locator("audio").evaluate("a => a.duration") == pytest.approx(9.8, abs=0.05)
        assert b.locator("audio").evaluate("a => a.duration") == pytest.approx(9.0, abs=0.05)
        assert "preamble" in a.locator(".verdicts").inner_text()
        failing = b.locator(".verdict.fail")
        assert failing.count() == 2
        assert "confirmation_before_write" in failing.first.inner_text()
        assert "tool call cancel_order" in b.locator(".verdicts").inner_text()
        assert "cancel" in b.locator(".transcript").inner_text().lower()
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
        browser.close()
    assert problems == []
