"""Verify's report: one `Check` per line, PASS / FAIL / WARN / SKIP, and the summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MIGRATE", "Check", "OnCheck", "Recorder", "Report", "Status"]

Status = Literal["PASS", "FAIL", "WARN", "SKIP"]
MIGRATE = "run `chat-toolkit migrate`"  # the fix most FAILs name


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    id: str
    status: Status
    reason: str

    def line(self) -> str:
        return f"{self.status}  {self.id}  {self.reason}"


OnCheck = Callable[[Check], None]


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when nothing FAILed (WARN and SKIP do not fail a run)."""
        return all(c.status != "FAIL" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "checks": [{"id": c.id, "status": c.status, "reason": c.reason} for c in self.checks],
            "passed": self.passed,
        }

    def summary(self) -> str:
        count = {
            s: sum(c.status == s for c in self.checks) for s in ("PASS", "FAIL", "WARN", "SKIP")
        }
        return (
            f"verify {'passed' if self.passed else 'FAILED'}: {count['PASS']} pass, "
            f"{count['FAIL']} fail, {count['WARN']} warn, {count['SKIP']} skip"
        )


@dataclass
class Recorder:
    """The checks of one run so far; `on_check` sees each as it is added."""

    on_check: OnCheck
    checks: list[Check] = field(default_factory=list)

    def add(self, check_id: str, status: Status, reason: str) -> None:
        check = Check(check_id, status, reason)
        self.checks.append(check)
        self.on_check(check)

    def judge(
        self, check_id: str, ok: bool, good: str, bad: str, *, worst: Status = "FAIL"
    ) -> None:
        """PASS with `good`, else `worst` (FAIL, or WARN for hardening) with `bad`."""
        self.add(check_id, "PASS" if ok else worst, good if ok else bad)

    def report(self) -> Report:
        return Report(tuple(self.checks))
