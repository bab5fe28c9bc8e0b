"""The soak's account and command, without a stack: the account catches each kind of broken
delivery, and `chat-toolkit soak` exits by the invariants."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.cli import main
from toolkit.load import soak
from toolkit.load.soak import TruthRow, View, account

CONVERSATION = [
    TruthRow("m1", "c1", "visitor"),
    TruthRow("m2", "c1", "ai"),
    TruthRow("m3", "c1", "team"),
    TruthRow("n1", "c1", "team", is_internal=True),
]
OTHER = [TruthRow("x1", "c2", "visitor"), TruthRow("x2", "c2", "ai")]


def test_account_of_a_complete_view_is_clean() -> None:
    """A visitor who saw every visible message of its conversation breaks nothing."""
    view = View("c1", seen=["m1", "m2", "m3"], delivered=["m1", "m2", "m3"], acked=["m1"])
    result = account(CONVERSATION, [view])
    assert (result.lost, result.duplicated, result.leaked) == (0, 0, 0)
    assert (result.internal_seen, result.acked_missing, result.overlap) == (0, 0, 0)
    assert result.written == {"ai": 1, "team": 1, "visitor": 1}
    assert (result.internal_written, result.visible, result.seen) == (1, 3, 3)
    assert result.examples == {}


def test_account_counts_a_message_the_visitor_never_saw_as_lost() -> None:
    """One visible message missing from the visitor's merged view is exactly one lost."""
    view = View("c1", seen=["m1", "m2"], delivered=["m1", "m2"])
    result = account(CONVERSATION, [view])
    assert (result.lost, result.duplicated, result.leaked) == (1, 0, 0)
    assert result.examples == {"lost": ["m3"]}


def test_account_counts_each_repeat_as_a_duplicate_and_overlap_apart() -> None:
    """An id twice in the merged list and once reported new twice are two duplicates; raw
    re-deliveries in overlapping sync answers are only overlap."""
    view = View(
        "c1",
        seen=["m1", "m2", "m3", "m3"],
        delivered=["m1", "m2", "m2", "m3"],
        raw=["m1", "m2", "m2", "m3", "m3", "m3"],
    )
    result = account(CONVERSATION, [view])
    assert (result.lost, result.duplicated, result.overlap) == (0, 2, 3)
    assert result.examples == {"duplicated": ["m3", "m2"]}


def test_account_counts_another_conversations_message_as_leaked() -> None:
    """An id of conversation c2, or of no conversation at all, seen by c1's visitor leaks."""
    view = View("c1", seen=["m1", "m2", "m3", "x1"], raw=["m1", "m2", "m3", "x1", "ghost"])
    clean = View("c2", seen=["x1", "x2"])
    result = account([*CONVERSATION, *OTHER], [view, clean])
    assert (result.lost, result.duplicated, result.leaked) == (0, 0, 2)
    assert result.examples == {"leaked": ["ghost", "x1"]}


def test_account_counts_a_seen_internal_note() -> None:
    """A team-only note that reached the visitor is internal_seen, and never owed as lost."""
    seen = View("c1", seen=["m1", "m2", "m3", "n1"])
    unseen = View("c1", seen=["m1", "m2", "m3"])
    assert account(CONVERSATION, [seen]).internal_seen == 1
    assert account(CONVERSATION, [unseen]).internal_seen == 0
    assert account(CONVERSATION, [unseen]).lost == 0


def test_account_attributes_late_rows_and_catches_missing_acks() -> None:
    """A message committed after the database was read is attributed through `late`, not
    called foreign; an acknowledged id the database lacks is acked_missing."""
    view = View("c1", seen=["m1", "m2", "m3", "m4"], acked=["m1", "m4", "gone"])
    late = [TruthRow("m4", "c1", "visitor")]
    result = account(CONVERSATION, [view], late)
    assert (result.leaked, result.lost, result.acked_missing) == (0, 0, 1)
    assert result.written == {"ai": 1, "team": 1, "visitor": 2}
    assert account(CONVERSATION, [view]).leaked == 1


def test_account_of_a_reset_visitor_keeps_its_earlier_conversation_its_own() -> None:
    """Messages of the conversation a visitor held before a reset are its own, not leaked."""
    view = View("c2", seen=["x1", "x2"], delivered=["m1", "x1", "x2"], earlier=["c1"])
    result = account([*CONVERSATION, *OTHER], [view])
    assert (result.leaked, result.lost) == (0, 0)


def report_with(**changes: Any) -> dict[str, Any]:
    """A complete, passing soak report with some figures changed."""
    report: dict[str, Any] = {k: 0 for k in soak.INVARIANTS}
    report |= {
        "visitors": 1,
        "duration_s": 1.0,
        "interval_s": 2.0,
        "target": "a test",
        "requests": 2,
        "requests_by_endpoint": {"message": 1, "sync": 1},
        "errors_by_status": {},
        "latency_ms": {
            "sync": {"count": 1, "p50": 1.0, "p95": 1.0, "p99": 1.0, "max": 1.0},
            "message": {"count": 1, "p50": 2.0, "p95": 2.0, "p99": 2.0, "max": 2.0},
        },
        "messages_written": 2,
        "written_by_sender": {"ai": 1, "visitor": 1},
        "internal_notes_written": 0,
        "conversations": 1,
        "messages_seen": 2,
        "messages_visible": 2,
        "seen_per_visitor": {"min": 2, "median": 2, "max": 2},
        "overlap_redelivered": 0,
        "team": {},
        "typing_seen_by": 0,
        "rss_mb_start": None,
        "rss_mb_end": None,
        "rss_mb_peak": None,
        "cpu_percent": {
            "load_generator": 1.0,
            "functions_server": None,
            "cores": 2,
            "load_average_1m": 0.1,
        },
        "loop_lag_ms": {"p99": 0.1, "max": 0.1},
        "server_ms": None,
        "examples": {},
        "crashes": [],
    }
    report |= changes
    report["violations"] = {k: report[k] for k in soak.INVARIANTS if report[k]}
    report["ok"] = not report["violations"]
    return report


@pytest.mark.parametrize(("changes", "code"), [({}, 0), ({"lost": 1}, 1), ({"leaked": 2}, 1)])
def test_exit_code_follows_the_invariants(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, int],
    code: int,
) -> None:
    """`chat-toolkit soak` exits 0 when every invariant holds and 1 when one breaks, saying
    which on stderr."""
    monkeypatch.setattr(soak.command, "run_soak", lambda *_a, **_k: report_with(**changes))
    assert main(["soak", "--visitors", "1", "--duration", "1"]) == code
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1]
    broken = ", ".join(f"{k}={v}" for k, v in changes.items())
    assert last == (
        "result     PASS: every invariant holds" if not code else f"result     FAIL: {broken}"
    )
    assert err == ("" if not code else f"chat-toolkit: soak: an invariant broke: {broken}\n")


def test_unusable_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A nonsensical option is a one-line error and exit code 2, before anything starts."""
    assert main(["soak", "--visitors", "0"]) == 2
    assert capsys.readouterr().err == "chat-toolkit: --visitors must be at least 1, not 0\n"
