"""The fault tables' shares (``fault_table.shares``), checked before any call is made: the slow
tests run one share each, so together the shares must hold every row of their table once, and
the WebRTC table a row for every fault of the WebSocket table."""

from __future__ import annotations

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
