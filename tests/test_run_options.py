"""One ``RunOptions`` value carries how calls are made through ``api.run``, nightly, compare, the
CLI and the pytest plugin, and one ``check`` refuses what cannot run, with the option's name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.api import RunOptions, run_async
from harness.compare import ComparisonSpec, VariantSpec, run_comparison_async
from harness.errors import InputError
from harness.nightly import nightly

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("options", "field", "words"), [
    (RunOptions(trials=0), "--trials", "at least 1"),
    (RunOptions(concurrency=0), "--concurrency", "at least 1"),
    (RunOptions(target="ws://127.0.0.1:9/v1/realtime", faults=("no_preamble",)), "--fault",
     "local reference agent only"),
    (RunOptions(target="carrier-pigeon"), "target", "unknown target"),
    (RunOptions(audio_format="audio/mp3"), "--audio-format", "unknown audio format"),
])
def test_check_refuses_what_cannot_run_naming_the_option(options: RunOptions, field: str,
                                                         words: str) -> None:
    with pytest.raises(InputError) as raised:
        options.check()
    assert raised.value.field == field and words in raised.value.message


def test_options_are_a_value_and_keywords_change_fields() -> None:
    base = RunOptions(trials=3, faults=["no_preamble"])  # type: ignore[arg-type]
    assert base.faults == ("no_preamble",) and base.check() is base
    changed = base.replace(concurrency=2)
    assert (changed.trials, changed.concurrency, base.concurrency) == (3, 2, 4)
    with pytest.raises(TypeError):
        base.replace(trails=2)


def test_the_run_the_nightly_and_the_comparison_refuse_before_any_call(tmp_path: Path) -> None:
    scenario = REPO / "scenarios" / "order-status.yaml"
    with pytest.raises(InputError, match="trials must be at least 1"):
        asyncio.run(run_async([scenario], RunOptions(trials=0), out_dir=tmp_path))
    with pytest.raises(InputError, match="concurrency must be at least 1"):
        asyncio.run(run_async([scenario], RunOptions(), out_dir=tmp_path, concurrency=0))
    with pytest.raises(InputError, match="trials must be at least 1"):
        nightly([scenario], trials=0, store=tmp_path / "h.db", out_dir=tmp_path)
    spec = ComparisonSpec(scenarios=[scenario], trials=1,
                          variants={"A": VariantSpec(), "B": VariantSpec()})
    with pytest.raises(InputError) as raised:
        asyncio.run(run_comparison_async(spec, RunOptions(faults=("no_preamble",)),
                                         out_dir=tmp_path))
    assert raised.value.field == "--fault" and "from its variants" in raised.value.message
    assert list(tmp_path.iterdir()) == []
