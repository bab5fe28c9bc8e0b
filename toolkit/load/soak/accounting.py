"""The soak's account (pure): each visitor's final view compared with the database.

    lost          a visible message of the visitor's conversation, committed before the final
                  sync began, that the visitor never saw
    duplicated    an id shown to the visitor twice: twice in the client's merged list, or
                  reported as new by two different syncs
    leaked        an id the visitor saw that belongs to another conversation (or to none)
    internal_seen a team-only note (`is_internal`) that reached a visitor
    acked_missing a message handle-chat-message confirmed that the database does not hold

All of them must be 0. Overlap (a message that an overlapping sync delivered again and the
client deduplicated) is allowed by the contract and only reported.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Accounting", "TruthRow", "View", "account", "percentile", "rounded"]

_EXAMPLES = 5
"""Offending ids kept per broken invariant."""


@dataclass(frozen=True)
class TruthRow:
    """One message as the database holds it."""

    id: str
    conversation_id: str
    sender_type: str
    is_internal: bool = False


@dataclass(frozen=True)
class View:
    """What one visitor ended with."""

    conversation_id: str
    seen: Sequence[str]
    """Ids in the client's merged message list after the final sync."""
    delivered: Sequence[str] = ()
    """Ids each sync reported as new, in order: what a widget would append."""
    raw: Sequence[str] = ()
    """Every id of every sync answer, overlap included."""
    acked: Sequence[str] = ()
    """Message ids that handle-chat-message confirmed to this visitor."""
    earlier: Sequence[str] = ()
    """Conversations the visitor held before its current one (only after a reset)."""


@dataclass(frozen=True)
class Accounting:
    written: dict[str, int]
    internal_written: int
    visible: int
    seen_per_visitor: list[int]
    lost: int
    duplicated: int
    overlap: int
    leaked: int
    internal_seen: int
    acked_missing: int
    examples: dict[str, list[str]]
    """A few offending ids per broken invariant, for diagnosis."""

    @property
    def seen(self) -> int:
        return sum(self.seen_per_visitor)


def account(
    truth: Iterable[TruthRow], views: Iterable[View], late: Iterable[TruthRow] = ()
) -> Accounting:
    """Compare every visitor's view with the database.

    `truth` holds the messages of the visitors' conversations, read after the load stopped
    and before the final syncs began: each visible one must have been seen. `late` holds
    rows looked up afterwards for seen ids that `truth` lacks (committed in between), so
    that they are attributed to their conversation rather than called foreign.
    """
    views = list(views)
    early = list(truth)
    rows = {r.id: r for r in [*early, *late]}
    visible: dict[str, set[str]] = {}
    for row in early:
        if not row.is_internal:
            visible.setdefault(row.conversation_id, set()).add(row.id)
    ours = {c for v in views for c in (v.conversation_id, *v.earlier)}
    written: Counter[str] = Counter()
    internal_written = 0
    for row in rows.values():
        if row.conversation_id in ours:
            if row.is_internal:
                internal_written += 1
            else:
                written[row.sender_type] += 1
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}

    def note(kind: str, ids: list[str]) -> None:
        counts[kind] += len(ids)
        if ids:
            kept = examples.setdefault(kind, [])
            kept += ids[: _EXAMPLES - len(kept)]

    for view in views:
        seen = set(view.seen)
        note("lost", sorted(visible.get(view.conversation_id, set()) - seen))
        note("duplicated", _repeats(view.seen))
        note("duplicated", _repeats(view.delivered))
        counts["overlap"] += len(view.raw) - len(set(view.raw))
        own = {view.conversation_id, *view.earlier}
        shown = seen | set(view.delivered) | set(view.raw)
        note(
            "leaked",
            sorted(i for i in shown if i not in rows or rows[i].conversation_id not in own),
        )
        note("internal_seen", sorted(i for i in shown if i in rows and rows[i].is_internal))
        note(
            "acked_missing",
            [i for i in view.acked if i not in rows or rows[i].conversation_id not in own],
        )
    return Accounting(
        written=dict(sorted(written.items())),
        internal_written=internal_written,
        visible=sum(len(ids) for cid, ids in visible.items() if cid in ours),
        seen_per_visitor=[len(set(v.seen)) for v in views],
        lost=counts["lost"],
        duplicated=counts["duplicated"],
        overlap=counts["overlap"],
        leaked=counts["leaked"],
        internal_seen=counts["internal_seen"],
        acked_missing=counts["acked_missing"],
        examples=examples,
    )


def _repeats(ids: Sequence[str]) -> list[str]:
    """Each extra occurrence of an id (an id shown three times counts twice)."""
    return [i for i, n in Counter(ids).items() for _ in range(n - 1)]


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile, in the unit of `values`; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def rounded(value: float | None) -> float | None:
    """A figure to one decimal, as the report gives it; None stays None."""
    return None if value is None else round(value, 1)
