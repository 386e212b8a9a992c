"""What the recogniser counts as busy: its jobs until their threads are done with them, and the
machine's other processes; speculative transcripts wait for room on both."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from harness.agent import asr
from harness.agent.responder import Responder


def _recogniser() -> asr.SpeechRecognizer:
    """A recogniser's job accounting without a model (the jobs here are plain functions)."""
    recogniser = object.__new__(asr.SpeechRecognizer)
    recogniser._executor = ThreadPoolExecutor(max_workers=2)
    recogniser._count_lock = threading.Lock()
    recogniser.in_flight = 0
    return recogniser


def test_a_job_is_counted_until_its_thread_is_done_not_until_its_waiter_gives_up() -> None:
    recogniser = _recogniser()
    release = threading.Event()
    began = threading.Event()

    def decode() -> str:
        began.set()
        release.wait(5)
        return "three, five"

    async def main() -> None:
        waiter = asyncio.ensure_future(recogniser._in_worker(decode))
        await asyncio.to_thread(began.wait, 5)
        waiter.cancel()  # the caller went on: nobody reads this transcript
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert recogniser.in_flight == 1  # the thread still decodes
        assert not recogniser.spare
        release.set()
        for _ in range(100):
            if recogniser.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert recogniser.in_flight == 0

    asyncio.run(main())


def test_a_queued_job_whose_waiter_gives_up_is_not_run_and_not_counted() -> None:
    recogniser = _recogniser()
    recogniser._executor = ThreadPoolExecutor(max_workers=1)
    release = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        first = asyncio.ensure_future(recogniser._in_worker(lambda: release.wait(5)))
        queued = asyncio.ensure_future(recogniser._in_worker(lambda: ran.append("queued")))
        await asyncio.sleep(0.05)
        assert recogniser.in_flight == 2
        queued.cancel()
        await asyncio.sleep(0.05)
        assert recogniser.in_flight == 1
        release.set()
        await first

    asyncio.run(main())
    assert ran == []
    assert recogniser.in_flight == 0


def test_speculation_waits_for_no_job_in_flight_and_room_among_other_processes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    recogniser = _recogniser()
    monkeypatch.setattr(asr, "others_busy", lambda: 0.1)
    assert recogniser.spare and recogniser.idle
    recogniser.in_flight = 1  # one decode uses every core
    assert not recogniser.spare and recogniser.idle
    recogniser.in_flight = 0
    monkeypatch.setattr(asr, "others_busy", lambda: asr.OTHERS_BUSY_MAX)
    assert not recogniser.spare


def test_others_busy_leaves_out_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readings of the machine (all cores' seconds, busy seconds) and of this process."""
    readings = iter([(100.0, 20.0, 5.0), (102.0, 21.5, 6.0), (104.0, 23.5, 8.0)])
    current = next(readings)
    monkeypatch.setattr(asr, "machine_cpu_seconds", lambda: current[:2])
    monkeypatch.setattr(asr.os, "times", lambda: (current[2], 0.0, 0.0, 0.0, 0.0))
    monkeypatch.setattr(asr, "_load", {})
    clock = iter([0.0, 1.5, 3.0])
    monkeypatch.setattr(asr.time, "monotonic", lambda: next(clock))
    assert asr.others_busy() == 0.0  # a first reading: nothing to compare with
    current = next(readings)
    # 2 s of the machine's CPU, 1.5 s busy, 1 s of it this process's: 0.5 s others'
    assert asr.others_busy() == pytest.approx(0.25)
    current = next(readings)
    # 2 s, 2 s busy, all of it this process's
    assert asr.others_busy() == pytest.approx(0.0)


def test_a_busy_process_beside_this_one_is_seen() -> None:
    asr.others_busy()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(asr._LOAD_WINDOW_S + 0.5)
        seen = asr.others_busy()
    finally:
        spinner.kill()
        spinner.wait()
    cores = asr.os.cpu_count() or 1
    assert seen >= 0.5 / cores  # one core spinning, shared with whatever else runs here


def test_turns_heard_as_one_are_heard_beside_the_last_turns_own_hearing() -> None:
    """The held turn and the next are heard as one while the next one's own hearing (a search
    for a value's runners-up, say) is still going: the response waits for the longer of the
    two, not for both one after the other (told by the order of events, not by a clock)."""
    log: list[str] = []

    class Hearing:
        async def transcript(self, item: object) -> str:
            log.append(f"own hearing of {item.name} begins")
            await asyncio.sleep(0.2)
            log.append(f"own hearing of {item.name} ends")
            return "3 5 2 1"

        async def heard_as_one(self, items: list[object]) -> str:
            log.append("as one begins")
            await asyncio.sleep(0.1)
            log.append("as one ends")
            return "The order number is 8, 3, 5, 2, 1."

    class Policy:
        hold_ms = 800

        def __init__(self) -> None:
            self.heard: tuple[str, str | None] | None = None

        def on_user_turn(self, transcript: str, addressed: bool = True, *,
                         heard_as_one: str | None = None) -> list[object]:
            self.heard = (transcript, heard_as_one)
            return [object()]

    held = SimpleNamespace(type="message", role="user", addressed=True, no_input=False,
                           audio=None, consumed=False, audio_ms=0, name="held")
    turn = SimpleNamespace(**{**vars(held), "name": "turn"})
    policy = Policy()
    responder = object.__new__(Responder)
    responder.listener = SimpleNamespace(hearing=Hearing())
    responder._policy = policy
    responder.policy = lambda: policy
    responder._held_items = [held]
    responder._interrupted = None
    responder._before = {}
    responder.protocol = SimpleNamespace(items=[])
    class Response(SimpleNamespace):
        __hash__ = object.__hash__

    response = Response(instructions=None, in_conversation=True, consumed_items=[turn],
                        input_items=None, tool_choice="auto")

    asyncio.run(responder._decide(response))
    # the two hearings overlap: the one as one ends while the last turn's own is still going
    assert log.index("as one begins") < log.index("as one ends") \
        < log.index("own hearing of turn ends")
    assert policy.heard == ("3 5 2 1", "The order number is 8, 3, 5, 2, 1.")
