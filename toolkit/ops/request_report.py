"""The functions' answers over the rollout window, for step 2 ("watch errors"): requests
and 4xx/5xx counts by code per function, from chat_function_requests
(functions/request_stats.py), and a verdict.

Verdict thresholds (share of all function answers in the window):

    5xx          above 1%   the functions or the REST layer fail: look at the server log
    401 and 403  above 10%  visitors are refused: widgets without tokens, revoked or
                            expired tokens, or probing; check the flags before the next step

A 401/403 share is expected to rise while enforcement is new (old widgets); the verdict says
what crossed, not what to do about the rollout.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg

__all__ = ["AUTH_FAILURE_THRESHOLD", "SERVER_ERROR_THRESHOLD", "RequestReport", "read_requests"]

SERVER_ERROR_THRESHOLD = 0.01
AUTH_FAILURE_THRESHOLD = 0.10

_REQUESTS = """
select function, status, sum(requests)::bigint from public.chat_function_requests
where recorded_at >= now() - make_interval(days => %(days)s)
group by function, status order by function, status"""


@dataclass(frozen=True)
class RequestReport:
    """{function: {status: answers}} over the window; `recorded` False without the table."""

    by_function: dict[str, dict[int, int]] = field(default_factory=dict)
    recorded: bool = True

    @property
    def total(self) -> int:
        return sum(sum(codes.values()) for codes in self.by_function.values())

    def _share(self, test: Any) -> float:
        hits = sum(n for c in self.by_function.values() for s, n in c.items() if test(s))
        return hits / self.total if self.total else 0.0

    @property
    def server_error_rate(self) -> float:
        return self._share(lambda s: s >= 500)

    @property
    def auth_failure_rate(self) -> float:
        return self._share(lambda s: s in (401, 403))

    def verdict(self) -> str:
        if not self.recorded:
            return (
                "errors: not recorded (chat_function_requests is missing; "
                "run `chat-toolkit migrate`)"
            )
        if not self.total:
            return "errors: no function answers recorded in the window"
        shares = (
            f"5xx {self.server_error_rate:.1%}, 401/403 {self.auth_failure_rate:.1%} of "
            f"{self.total} answers"
        )
        crossed = []
        if self.server_error_rate > SERVER_ERROR_THRESHOLD:
            crossed.append(f"5xx above {SERVER_ERROR_THRESHOLD:.0%}")
        if self.auth_failure_rate > AUTH_FAILURE_THRESHOLD:
            crossed.append(f"401/403 above {AUTH_FAILURE_THRESHOLD:.0%}")
        if crossed:
            return f"errors: ABNORMAL: {' and '.join(crossed)} ({shares})"
        return f"errors: normal ({shares})"

    def lines(self) -> list[str]:
        lines = []
        for function, codes in self.by_function.items():
            requests = sum(codes.values())
            errors = ", ".join(f"{s} x{n}" for s, n in codes.items() if s >= 400) or "none"
            lines.append(f"  {function + ' requests':<38} {requests} (errors: {errors})")
        return [*lines, self.verdict()]

    def to_json(self) -> dict[str, Any]:
        return {
            "recorded": self.recorded,
            "by_function": {
                f: {str(s): n for s, n in c.items()} for f, c in self.by_function.items()
            },
            "server_error_rate": self.server_error_rate,
            "auth_failure_rate": self.auth_failure_rate,
            "verdict": self.verdict(),
        }


def read_requests(conn: psycopg.Connection, days: int) -> RequestReport:
    """Sum the batches of the last `days` days (no table: `recorded` False)."""
    if conn.execute("select to_regclass('public.chat_function_requests')").fetchone() == (None,):
        return RequestReport(recorded=False)
    by_function: dict[str, dict[int, int]] = defaultdict(dict)
    for function, status, requests in conn.execute(_REQUESTS, {"days": days}):
        by_function[function][int(status)] = int(requests)
    return RequestReport(dict(by_function))
