"""The error verdict of `rollout status` (pure): thresholds 1% 5xx, 10% 401/403."""

from __future__ import annotations

from toolkit.ops.request_report import RequestReport


def test_no_answers_and_no_table() -> None:
    """Nothing recorded and a database without the table each say so."""
    assert RequestReport().verdict() == "errors: no function answers recorded in the window"
    assert RequestReport(recorded=False).verdict().startswith("errors: not recorded")


def test_shares_at_the_thresholds_are_normal() -> None:
    """1 5xx and 10 401/403 in 100 answers: exactly at the thresholds, still normal."""
    report = RequestReport({"chat-visitor-sync": {200: 89, 403: 6, 401: 4, 503: 1}})
    assert report.verdict() == "errors: normal (5xx 1.0%, 401/403 10.0% of 100 answers)"


def test_server_errors_above_one_percent_are_abnormal() -> None:
    """2 5xx in 100 answers, across functions: ABNORMAL, naming what crossed."""
    report = RequestReport(
        {"chat-visitor-sync": {200: 49, 503: 1}, "handle-chat-message": {200: 49, 500: 1}}
    )
    assert report.verdict() == (
        "errors: ABNORMAL: 5xx above 1% (5xx 2.0%, 401/403 0.0% of 100 answers)"
    )
    assert report.lines()[0] == f"  {'chat-visitor-sync requests':<38} 50 (errors: 503 x1)"
