"""History store speed and size: storing a 1,000-trial run, the trend report over 100 stored runs
of 200 trials, and the database's size per 1,000 trials (SQLite).

Budgets on the team's 2-core machine: storing ≤ 2 s, trend ≤ 5 s. The runs are the synthetic
run folders of the store tests (run.json and summary.json with three verdicts and three turn
metrics per trial), so what is timed is reading the summary and writing the rows.

    .venv/bin/python bench/history.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "store"))

from history_factory import synthetic_run  # noqa: E402

from harness.store import open_store  # noqa: E402
from harness.store.trend import render_trend  # noqa: E402

STORE_BUDGET_S = 2.0
TREND_BUDGET_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work here and keep the files")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-history-"))
    root.mkdir(parents=True, exist_ok=True)

    big = synthetic_run(root / "run-1000", seed=1, scenarios=100, trials=10)
    db = root / "one-run.db"
    db.unlink(missing_ok=True)
    with open_store(db) as store:
        started = time.perf_counter()
        store.record_run(big, label="bench")
        store_s = time.perf_counter() - started
    size = db.stat().st_size
    with open_store(root / "empty.db") as store:
        pass
    empty = (root / "empty.db").stat().st_size
    print(f"store a 1,000-trial run (SQLite): {store_s:.2f} s "
          f"(budget {STORE_BUDGET_S:.0f} s: {'ok' if store_s <= STORE_BUDGET_S else 'OVER'})")
    print(f"database size per 1,000 trials: {(size - empty) / 1e6:.2f} MB "
          f"(3 verdicts and 3 turn metrics per trial)")

    many = root / "hundred-runs.db"
    many.unlink(missing_ok=True)
    day0 = datetime(2025, 1, 1, 2, tzinfo=UTC)
    with open_store(many) as store:
        for i in range(100):
            folder = synthetic_run(root / "nights" / f"night-{i:03d}", seed=i, scenarios=20,
                                   trials=10, started=day0 + timedelta(days=i))
            store.record_run(folder, label="nightly")
        started = time.perf_counter()
        page = render_trend(store, root / "trend", label="nightly", last=100)
        trend_s = time.perf_counter() - started
    print(f"trend report over 100 stored runs x 200 trials: {trend_s:.2f} s "
          f"(budget {TREND_BUDGET_S:.0f} s: {'ok' if trend_s <= TREND_BUDGET_S else 'OVER'}); "
          f"{page.stat().st_size / 1e3:.0f} kB page")
    print(f"files in {root}" if args.keep else "")


if __name__ == "__main__":
    main()
