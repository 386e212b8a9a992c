"""``harness trend`` over stored runs: the page in headless Chromium (loads, no console errors,
every chart has a point per run, a point opens its run's report), the gates' exit codes and
table, and one clear error for a bad expression or an unusable store."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from history_factory import synthetic_run

from harness.store import open_store

playwright_api = pytest.importorskip("playwright.sync_api")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
NIGHTS = 4


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *args],
                          cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(Path(__file__).parents[2]), "COLUMNS": "200",
                               "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four stored nights; the last one 600 ms slower in every scenario."""
    root = tmp_path_factory.mktemp("history")
    with open_store(root / "history.db") as store:
        for i in range(NIGHTS):
            folder = synthetic_run(root / "reports" / f"run-{i}", seed=i, scenarios=8, trials=3,
                                   started=datetime(2025, 6, 1, 2, tzinfo=UTC) + timedelta(days=i),
                                   latency_ms=1500.0 if i == NIGHTS - 1 else 900.0)
            store.record_run(folder, label="nightly")
    return root


def test_trend_page_in_chromium(history: Path) -> None:
    done = harness("trend", "--store", "history.db", "--label", "nightly", "-o", "reports",
                   cwd=history)
    assert done.returncode == 0, done.stderr
    page_path = history / "reports" / "trend.html"
    problems: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(page_path.as_uri())
        for plot in ("suite-plot", "latency-plot", "scenario-plot", "kind-plot"):
            page.wait_for_selector(f"#{plot} .main-svg")
            # one marker per stored run on each line
            counts = page.evaluate(f"""Array.from(document.querySelectorAll(
                '#{plot} .scatterlayer .trace')).map(t => t.querySelectorAll('.point').length)""")
            assert NIGHTS in counts, (plot, counts)
        page.wait_for_selector("#flaky-plot .main-svg")
        assert page.locator("#flaky-plot .barlayer .point").count() == NIGHTS
        assert page.locator("#scenario-plot .scatterlayer .trace").count() == 8
        assert page.locator("#runs tbody tr").count() == NIGHTS
        assert "+dirty" not in page.locator("#runs").inner_text()
        # The newest run's p50 point opens its report.
        link = page.evaluate("""() => {
            const gd = document.getElementById('latency-plot');
            const trace = gd.data.findIndex(t => t.name === 'voice-to-voice p50');
            const point = {curveNumber: trace, pointNumber: 3,
                           customdata: gd.data[trace].customdata[3]};
            gd.emit('plotly_click', {points: [point]});
            return point.customdata;
        }""")
        assert link == "run-3/index.html"
        page.wait_for_url("**/run-3/index.html")
        browser.close()
    assert problems == []


def test_gates_exit_codes_and_table(history: Path) -> None:
    failed = harness("trend", "--store", "history.db", "--label", "nightly", "-o", "reports",
                     "--fail-on", "latency.p50:+10%", "--fail-on", "pass_rate:-5%", cwd=history)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "regressed: latency.p50" in failed.stdout
    row = next(line for line in failed.stdout.splitlines() if "latency.p50:+10%" in line)
    assert "run-2" in row and "REGRESSED" in row and "8 scen." in row
    quiet = harness("trend", "--store", "history.db", "--label", "nightly", "--run", "run-2",
                    "-o", "reports", "--fail-on", "latency.p50:+10%", cwd=history)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "no regression" in quiet.stdout


def test_bad_expression_and_unusable_store(history: Path, tmp_path: Path) -> None:
    bad = harness("trend", "--store", "history.db", "--fail-on", "latency.p97:+10%",
                  cwd=history)
    assert bad.returncode == 2
    assert "percentile p97 in 'latency.p97:+10%'" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr
    down = harness("trend", "--store", "postgresql+psycopg://u:pw@127.0.0.1:9/x", cwd=tmp_path)
    assert down.returncode == 3
    assert "cannot be used" in down.stdout + down.stderr and "pw@" not in down.stderr
    assert "Traceback" not in down.stderr
