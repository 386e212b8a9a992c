"""A scenario's ``turn_timeout_ms``: a turn that waits on the agent's answer starts anyway that
long after the previous turn ended, with the trigger ``timeout`` in the recording, and an
addressed last turn keeps the call open that long for its answer (``idle_timeout_ms`` does not
hang up on an agent that is slow to answer). Against the local agent with the ``mute`` fault (it
never answers) or ``added_latency_ms``, over a WebSocket on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness import api
from harness.errors import InputErrors
from harness.recording import Recording
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
CHUNK_MS = 20


def _scenario(folder: Path, turn_timeout_ms: int | None,
              turns: tuple[str, ...] = ("I want to check an order.", "Hello?")) -> Path:
    data = {
        "name": f"waits-{turn_timeout_ms or 'default'}-{len(turns)}",
        "agent": str(ROOT / "agents" / "support.yaml"),
        "caller": {"voice": "en-us"},
        "idle_timeout_ms": 500,
        "max_duration_s": 30,
        "turns": [{"say": text} for text in turns],
        "expect": [{"turn_answered": {"turns": [1]}}],
    }
    if turn_timeout_ms is not None:
        data["turn_timeout_ms"] = turn_timeout_ms
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("turn_timeout_ms", [1500, 4000])
def test_a_turn_waiting_on_a_mute_agent_starts_at_the_scenarios_turn_timeout(
        tmp_path: Path, turn_timeout_ms: int) -> None:
    outcome = api.run([_scenario(tmp_path, turn_timeout_ms)], faults=["mute"],
                      out_dir=tmp_path / "run")
    [trial] = outcome.trials
    rec = Recording.load(trial.path)
    ended = {a.turn_index: f.t_ms for f, a in rec.annotations("harness.turn.ended")}
    started = {a.turn_index: a for _, a in rec.annotations("harness.turn.started")}
    assert started[1].trigger == "timeout"
    waited = started[1].start_ms - ended[0]
    # decided on the chunk clock: within a chunk of the timeout, never a turn early
    assert turn_timeout_ms - CHUNK_MS <= waited <= turn_timeout_ms + 3 * CHUNK_MS, waited
    # the last turn is addressed too: the call waits as long for its answer, not idle_timeout_ms
    [(end, _)] = rec.annotations("harness.trial.ended")
    held = end.t_ms - ended[1]
    assert turn_timeout_ms - CHUNK_MS <= held <= turn_timeout_ms + 5 * CHUNK_MS, held


def test_an_answer_later_than_the_idle_timeout_still_answers_the_last_turn(tmp_path: Path
                                                                           ) -> None:
    # the response opens at once and its first output leaves 2.5 s later: five times the
    # scenario's idle_timeout_ms of quiet, well within its turn_timeout_ms
    outcome = api.run([_scenario(tmp_path, None, ("I want to check an order.",))],
                      faults=["added_latency_ms=2500"], out_dir=tmp_path / "run")
    [trial] = outcome.trials
    verdicts = {v.kind: v for v in trial.verdicts}
    assert verdicts["turn_answered"].status == "pass", verdicts["turn_answered"].summary
    rec = Recording.load(trial.path)
    [(ended, _)] = rec.annotations("harness.turn.ended")
    audible = [f.t_ms for f, _ in rec.annotations("harness.playback.audible")]
    assert audible and audible[0] - ended.t_ms > 2500, audible


def test_the_turn_timeout_is_fifteen_seconds_unless_the_scenario_says(tmp_path: Path) -> None:
    assert load_scenario(_scenario(tmp_path, None)).turn_timeout_ms == 15_000
    with pytest.raises(InputErrors, match="turn_timeout_ms"):
        load_scenario(_scenario(tmp_path, 10))
