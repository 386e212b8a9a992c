"""The fault tables' shares (``fault_table.shares``), checked before any call is made: the slow
tests run one share each, so together the shares must hold every row of their table once, and
the WebRTC table a row for every fault of the WebSocket table. And when a latency failure in a
fault's row is put down to load."""

from __future__ import annotations

import json

import pytest
import test_e2e_sip_faults
import test_e2e_suite
import test_e2e_webrtc_faults
from fault_table import LONG_NOISE, shares


@pytest.mark.parametrize(("shared", "table"), [
    (test_e2e_suite.SHARES, test_e2e_suite.MUTATIONS),
    (test_e2e_sip_faults.SHARES, test_e2e_sip_faults.SIP_TABLE),
    (test_e2e_webrtc_faults.SHARES, test_e2e_webrtc_faults.WEBRTC_TABLE),
], ids=["websocket", "sip", "webrtc"])
def test_the_shares_hold_every_row_of_their_table_once(shared, table) -> None:
    assert all(shared)
    assert sorted(fault for share in shared for fault in share) == sorted(table)
    assert all(share[fault] == table[fault] for share in shared for fault in share)


def test_every_fault_of_the_table_runs_over_webrtc() -> None:
    assert set(test_e2e_webrtc_faults.SHORTEST) | set(LONG_NOISE) == \
        set(test_e2e_suite.MUTATIONS), "a fault of the table is not run over WebRTC"


def test_rows_are_dealt_in_turn() -> None:
    rows = {name: {name: {"kind"}} for name in "abcde"}
    assert [list(share) for share in shares(rows, 2)] == [["a", "c", "e"], ["b", "d"]]


def _trial(tmp_path, name: str, gaps_ms: list[float], latency: str, dead_air: str = "pass",
           answers_ms: list[float] | None = None):
    """A trial folder whose turns' transcripts came ``gaps_ms`` after speech stopped, the
    agent's sound ``answers_ms`` after each transcript (none when not given), and whose latency
    and dead-air verdicts have statuses ``latency`` and ``dead_air``."""
    from types import SimpleNamespace  # noqa: PLC0415

    folder = tmp_path / name
    folder.mkdir()
    lines, t = [], 1000.0
    for i, gap in enumerate(gaps_ms):
        frames = [(t, "input_audio_buffer.speech_stopped"),
                  (t + gap, "conversation.item.input_audio_transcription.completed")]
        if answers_ms is not None:
            frames.append((t + gap + answers_ms[i], "harness.playback.audible"))
        for at, kind in frames:
            lines.append({"seq": len(lines), "t_ms": at, "dir": "received", "type": kind})
        t += 5000
    (folder / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return SimpleNamespace(scenario=name, path=folder, verdicts=[
        SimpleNamespace(kind="latency", status=latency),
        SimpleNamespace(kind="dead_air", status=dead_air),
        SimpleNamespace(kind="integrity.server_error", status="fail")])


def test_a_latency_failure_is_put_down_to_load_only_where_the_recogniser_was_late(tmp_path
                                                                                 ) -> None:
    from types import SimpleNamespace  # noqa: PLC0415

    from fault_table import latency_from_load  # noqa: PLC0415

    outcome = SimpleNamespace(trials=[
        _trial(tmp_path, "late", [300, 2636], "fail"),       # the CI run's order-status
        _trial(tmp_path, "on-time", [300, 400], "fail"),     # slow replies: the agent's own
        _trial(tmp_path, "passed", [2636], "pass"),
        _trial(tmp_path, "expected", [2636], "fail")])
    expected = {"late": {"integrity.server_error"}, "on-time": {"integrity.server_error"},
                "passed": set(), "expected": {"latency"}}
    excused = latency_from_load(outcome, expected)  # type: ignore[arg-type]
    assert list(excused) == ["late"] and round(excused["late"]) == 2636


def test_a_voice_slow_after_the_transcript_is_load_unless_the_fault_delays_the_answer(tmp_path
                                                                                      ) -> None:
    """The wait from the transcript to the agent's first sound counts with the recogniser's
    (idle, tens of ms: its voice and the line queued behind other calls), except in a row that
    expects ``latency``, whose fault delays exactly that."""
    from types import SimpleNamespace  # noqa: PLC0415

    from fault_table import LATE_ANSWER_MS, failed_beyond_load, late_answer_ms  # noqa: PLC0415

    slow = _trial(tmp_path, "slow-voice", [300, 400], "fail", "fail", answers_ms=[30, 1700])
    assert round(late_answer_ms(slow)) == 2100 > LATE_ANSWER_MS
    assert round(late_answer_ms(slow, answer=False)) == 400 < LATE_ANSWER_MS
    quick = _trial(tmp_path, "quick", [300, 400], "fail", answers_ms=[30, 40])
    assert round(late_answer_ms(quick)) == 440 < LATE_ANSWER_MS
    outcome = SimpleNamespace(trials=[slow, quick])
    server_error = {"integrity.server_error"}
    assert failed_beyond_load(outcome, {"slow-voice": server_error, "quick": server_error}
                              ) == {"slow-voice": server_error,  # type: ignore[arg-type]
                                    "quick": {"latency", *server_error}}
    # the row's fault delays the answer: the slow voice is its doing, dead air is not excused
    assert failed_beyond_load(outcome, {"slow-voice": {"latency", *server_error},
                                        "quick": server_error}  # type: ignore[arg-type]
                              )["slow-voice"] == {"latency", "dead_air", *server_error}


def test_a_turn_the_caller_went_on_from_counts_only_its_transcript(tmp_path) -> None:
    """A breath the agent did not answer (the caller spoke again first) counts its
    transcript's wait, not the wait until the answer to the next breath."""
    from types import SimpleNamespace  # noqa: PLC0415

    from fault_table import late_answer_ms  # noqa: PLC0415

    folder = tmp_path / "breaths"
    folder.mkdir()
    frames = [(1000, "input_audio_buffer.speech_stopped"), (1300, "conversation.item."
              "input_audio_transcription.completed"), (4000, "input_audio_buffer.speech_stopped"),
              (4200, "conversation.item.input_audio_transcription.completed"),
              (4250, "harness.playback.audible")]
    (folder / "events.jsonl").write_text("".join(json.dumps(
        {"seq": i, "t_ms": at, "dir": "received", "type": kind}) + "\n"
        for i, (at, kind) in enumerate(frames)))
    assert round(late_answer_ms(SimpleNamespace(path=folder))) == 300


def test_a_row_keyed_without_the_domain_prefix_drops_only_the_latency_load_explains(tmp_path
                                                                                   ) -> None:
    from types import SimpleNamespace  # noqa: PLC0415

    from fault_table import failed_beyond_load  # noqa: PLC0415

    outcome = SimpleNamespace(trials=[
        _trial(tmp_path, "clinic-late", [300, 2636], "fail"),
        _trial(tmp_path, "clinic-on-time", [300, 400], "fail"),
        _trial(tmp_path, "clinic-expected", [2636], "fail")])
    row = {"late": {"integrity.server_error"}, "on-time": {"integrity.server_error"},
           "expected": {"latency", "integrity.server_error"}}
    failed = failed_beyond_load(outcome, row, prefix="clinic-")  # type: ignore[arg-type]
    assert failed == {"late": {"integrity.server_error"},
                      "on-time": {"latency", "integrity.server_error"},
                      "expected": {"latency", "integrity.server_error"}}


def test_dead_air_is_put_down_to_load_like_latency_and_only_where_the_row_does_not_expect_it(
        tmp_path) -> None:
    from types import SimpleNamespace  # noqa: PLC0415

    from fault_table import failed_beyond_load  # noqa: PLC0415

    outcome = SimpleNamespace(trials=[
        _trial(tmp_path, "late", [300, 7800], "pass", "fail"),   # the CI run's cancel-confirmed
        _trial(tmp_path, "on-time", [300, 400], "pass", "fail"),
        _trial(tmp_path, "expected", [7800], "fail", "fail")])
    row = {"late": {"integrity.server_error"}, "on-time": {"integrity.server_error"},
           "expected": {"dead_air", "integrity.server_error"}}
    failed = failed_beyond_load(outcome, row)  # type: ignore[arg-type]
    assert failed == {"late": {"integrity.server_error"},
                      "on-time": {"dead_air", "integrity.server_error"},
                      "expected": {"dead_air", "integrity.server_error"}}


def test_a_sideband_recordings_lateness_is_counted_from_the_turns_end_less_the_vads_silence(
        tmp_path) -> None:
    """No ``speech_stopped`` on a SIP call followed on its sideband: a transcript is late by
    how long after the caller's turn ended it came, less the agent's VAD silence."""
    from types import SimpleNamespace  # noqa: PLC0415

    from fault_table import LATE_ANSWER_MS, late_answer_ms  # noqa: PLC0415

    def trial(name: str, turns: list[tuple[float, list[float]]]) -> SimpleNamespace:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "meta.json").write_text(json.dumps(
            {"agent_config": {"turn_detection": {"silence_duration_ms": 600}}}))
        lines: list[dict] = []
        for ended, heard in turns:
            lines.append({"seq": len(lines), "t_ms": ended, "dir": "received",
                          "type": "harness.turn.ended", "event": {"turn_index": len(lines)}})
            lines += [{"seq": len(lines) + i, "t_ms": at, "dir": "received",
                       "type": "conversation.item.input_audio_transcription.completed",
                       "source": "sideband"} for i, at in enumerate(heard)]
        (folder / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        return SimpleNamespace(path=folder)

    # the CI run's accepted sideband call: the number's two transcripts 2,910 ms after its turn
    loaded = trial("loaded", [(3231, [4161]), (10890, [13800, 13800]), (21013, [21280])])
    assert round(late_answer_ms(loaded)) == 2310 > LATE_ANSWER_MS
    idle = trial("idle", [(3231, [4161]), (10890, [11700]), (21013, [21280])])
    assert round(late_answer_ms(idle)) == 330 < LATE_ANSWER_MS
