"""Runs gathered in one process are graded once none of its calls is live."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from scripted import Behaviour, FakeScript, ScriptedServer, scenario

from harness import api
from harness.runner import live
from harness.runner import suite as suite_module


def test_until_quiet_waits_for_the_last_live_call_and_no_longer_than_told() -> None:
    async def go() -> tuple[float, float, float]:
        ended = asyncio.Event()

        async def call(seconds: float) -> None:
            with live.live_call():
                await asyncio.sleep(seconds)
            ended.set()

        task = asyncio.create_task(call(0.6))
        await asyncio.sleep(0.05)
        assert live.live_calls() == 1
        waited = await live.until_quiet()
        assert ended.is_set() and live.live_calls() == 0
        quiet = await live.until_quiet()
        await task
        with live.live_call():
            capped = await live.until_quiet(longest_s=0.3)
        return waited, quiet, capped

    waited, quiet, capped = asyncio.run(go())
    assert 0.45 <= waited < 1.5, waited
    assert quiet < 0.01, quiet
    assert 0.3 <= capped < 1.0, capped
    assert live.live_calls() == 0


def test_a_run_that_ends_first_is_graded_after_the_other_runs_call(tmp_path: Path,
                                                                   monkeypatch) -> None:
    async def render(sc):
        return FakeScript(sc, speech_ms=300)
    monkeypatch.setattr(suite_module, "render_script", render)
    calls_ended: list[float] = []  # when each call stopped being live (wall clock)

    @contextlib.contextmanager
    def noted_call():
        with live.live_call():
            yield
        calls_ended.append(time.time())
    monkeypatch.setattr(suite_module, "live_call", noted_call)
    short = scenario([{"say": "hello"}], name="short")
    long = scenario([{"say": f"line {i}"} for i in range(6)], name="long")

    async def go():
        async with ScriptedServer(Behaviour(reply_ms=300)) as srv:
            return await asyncio.gather(
                api.run_async([short], target=srv.url, out_dir=tmp_path / "short"),
                api.run_async([long], target=srv.url, out_dir=tmp_path / "long"))

    first, second = asyncio.run(go())
    (short_trial,), (long_trial,) = first.trials, second.trials
    short_dir, long_dir = first.run_dir / short_trial.path, second.run_dir / long_trial.path
    short_ended = (short_dir / "agent.wav").stat().st_mtime
    long_ended = (long_dir / "agent.wav").stat().st_mtime
    assert long_ended - short_ended > 1.0, "the long call did not outlast the short one"
    # the short run's verdicts were written after the long call ended, not beside it (after it
    # stopped being live: its tracks are written after that, off the loop, and may come later)
    assert len(calls_ended) == 2
    assert (short_dir / "verdicts.json").stat().st_mtime >= max(calls_ended)
