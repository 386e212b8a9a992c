"""Network conditions on the harness's own WebRTC path: the spec, each way's delay line (delay,
jitter that never reorders, seeded loss), and ``--network`` refused where it cannot apply."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.api import RunOptions
from harness.errors import InputError
from harness.realtime.netem import NetworkConditions


def test_a_spec_reads_and_writes_back():
    c = NetworkConditions.parse("delay=100ms, jitter=0.01s,loss=2%")
    assert (c.delay_ms, c.jitter_ms, c.loss, c.seed) == (100.0, 10.0, 0.02, 1)
    assert NetworkConditions.parse(c.spec) == c
    assert NetworkConditions.parse("loss=0.5,seed=7") == NetworkConditions(loss=0.5, seed=7)


@pytest.mark.parametrize(("spec", "says"), [
    ("delay=abc", "delay must be a duration like 100ms"),
    ("latency=5ms", "'latency=5ms' is not understood"),
    ("loss=100%", "loss must be a share below 100%"),
    ("delay=1ms,delay=2ms", "'delay=2ms' is repeated"),
    ("delay=11s", "over the 10 s"),
    ("", "are empty"),
])
def test_a_bad_spec_says_what_was_expected(spec, says):
    with pytest.raises(InputError) as info:
        NetworkConditions.parse(spec)
    assert info.value.field == "--network" and says in str(info.value)


def test_run_options_take_network_conditions_over_webrtc_only():
    assert RunOptions(target="webrtc+http://127.0.0.1:9/v1/realtime/calls",
                      network="delay=50ms").network_conditions() == NetworkConditions(50.0)
    with pytest.raises(InputError, match="reached over a WebSocket") as info:
        RunOptions(target="ws://127.0.0.1:9/v1/realtime", network="delay=50ms").check()
    assert info.value.field == "--network"


def _through(conditions: NetworkConditions, n: int, *, spacing_s: float = 0.0
             ) -> tuple[list[tuple[int, float]], int]:
    """Send ``n`` numbered packets down a line; (number, delay in ms) as delivered, and losses."""

    async def main() -> tuple[list[tuple[int, float]], int]:
        line = conditions.line("down-rtp", lossy=True)
        out: list[tuple[int, float]] = []
        for k in range(n):
            sent = time.perf_counter()
            line.send(lambda k=k, sent=sent: out.append((k, (time.perf_counter() - sent) * 1e3)))
            await asyncio.sleep(spacing_s)
        await asyncio.sleep(conditions.delay_ms / 1e3 + conditions.jitter_ms / 1e3 + 0.1)
        return out, line.lost

    return asyncio.run(main())


def test_delay_jitter_and_order():
    out, lost = _through(NetworkConditions(delay_ms=50, jitter_ms=15), 60, spacing_s=0.005)
    assert lost == 0 and [k for k, _ in out] == list(range(60))  # never reordered
    delays = [d for _, d in out]
    assert 35 - 1 <= min(delays) and max(delays) <= 65 + 20  # within delay ± jitter (+ the loop)
    assert max(delays) - min(delays) > 10  # and jittered


def test_loss_is_seeded_and_near_its_share():
    out, lost = _through(NetworkConditions(loss=0.2), 2000)
    again, lost_again = _through(NetworkConditions(loss=0.2), 2000)
    assert len(out) + lost == 2000 and 300 <= lost <= 500
    assert [k for k, _ in out] == [k for k, _ in again] and lost == lost_again
    # no delay asked: each packet is delivered inside its send, before the next one goes
    line = NetworkConditions(loss=0.2).line("down-rtp", lossy=True)
    delivered: list[int] = []
    for k in range(200):
        lost_before = line.lost
        line.send(lambda k=k: delivered.append(k))
        assert line.lost == lost_before + 1 or delivered[-1] == k
    assert len(delivered) + line.lost == 200


def test_harness_run_refuses_bad_network_conditions_with_exit_2(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    harness_cmd = Path(sys.executable).with_name("harness")
    for args, says in ((["--target", "local-webrtc", "--network", "delay=fast"],
                        "--network: network conditions 'delay=fast': delay must be a duration"),
                       (["--target", "local", "--network", "delay=100ms"],
                        "--network: --network imposes conditions on a WebRTC call's path")):
        proc = subprocess.run([str(harness_cmd), "run", "scenarios/order-status.yaml",
                               "-o", str(tmp_path), *args],
                              cwd=Path(__file__).resolve().parents[2], capture_output=True,
                              text=True, timeout=120)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2 and says in out and "Traceback" not in out, out
    assert not list(tmp_path.iterdir())  # no run folder was started
