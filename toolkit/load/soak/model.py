"""The soak's shared shapes: its options, one simulated visitor, and what a run's tasks share.

Kept apart from the simulation so the report can name them without importing the run.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.client import Update, VisitorClient
from toolkit.errors import UsageError
from toolkit.load.soak.accounting import View

__all__ = ["Run", "SoakOptions", "Visitor"]


@dataclass(frozen=True)
class SoakOptions:
    """How many visitors, for how long, and how they behave."""

    visitors: int = 300
    duration: float = 60.0
    interval: float = 2.0
    wait: float = 0.0
    """Long-poll seconds per sync (0: poll every `interval`, as widgets did before)."""
    message_every: float = 20.0
    """Mean seconds between one visitor's messages (exponentially distributed)."""
    team_agents: int = 0
    """Concurrent team members replying; 0 means one per 50 visitors, at least 2."""
    internal_share: float = 0.1
    """Share of team writes that are internal notes, which no visitor may ever see."""
    request_timeout: float = 10.0
    final_timeout: float = 30.0
    """Bound on the closing phase: the final syncs and reading the database."""
    ramp: float | None = None
    """Visitors arrive spread over this many seconds; None: a quarter of the run, at most 10."""
    seed: int | None = None
    session_dir: Path | None = None
    """Where the visitors' session files live (kept); None: a temporary folder, removed."""

    def __post_init__(self) -> None:
        if self.visitors < 1:
            raise UsageError(f"--visitors must be at least 1, not {self.visitors}")
        if not self.duration > 0:
            raise UsageError(f"--duration must be positive, not {self.duration}")
        if not self.interval >= 0.1 or not self.message_every > 0:
            raise UsageError("the poll interval and message spacing must be positive")
        if not 0 <= self.wait <= 25:
            raise UsageError(f"--wait must be from 0 to 25 seconds, not {self.wait:g}")

    @property
    def ramp_seconds(self) -> float:
        return min(10.0, self.duration / 4) if self.ramp is None else self.ramp

    @property
    def agents(self) -> int:
        return self.team_agents or max(2, self.visitors // 50)


@dataclass
class Visitor:
    """One simulated visitor: its client and what it was told."""

    index: int
    client: VisitorClient
    conversations: list[str] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    sends: Counter[str] = field(default_factory=Counter)
    typing_seen: bool = False
    failure: str | None = None

    def on_update(self, update: Update) -> None:
        self.delivered.extend(m["id"] for m in update.messages)
        if update.typing.get("isTyping") is True:
            self.typing_seen = True

    def view(self, raw: Mapping[str, list[str]]) -> View | None:
        session = self.client.session
        if session is None:
            return None
        earlier = [c for c in self.conversations if c != session.conversation_id]
        return View(
            conversation_id=session.conversation_id,
            seen=[m["id"] for m in self.client.messages],
            delivered=self.delivered,
            raw=[i for c in (*earlier, session.conversation_id) for i in raw.get(c, [])],
            acked=self.acked,
            earlier=earlier,
        )


@dataclass
class Run:
    """What the tasks of one soak share."""

    options: SoakOptions
    rng: random.Random
    stop: asyncio.Event
    conversations: list[str] = field(default_factory=list)
    team: Counter[str] = field(default_factory=Counter)
