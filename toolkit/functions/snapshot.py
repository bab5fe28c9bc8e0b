"""Snapshot arithmetic for the exact sync cursor (pure: no I/O).

A cursor stands for "everything the visitor has been given": every message whose writing
transaction is visible in a PostgreSQL snapshot (`pg_snapshot`: xmin, xmax, in-progress
list), except that one transaction, the `Marker`, may have been given only up to a message
id. The next sync asks for what that snapshot could not see
(sql/migrations/20260327062100_chat_visitor_sync_pages.sql). When an answer is cut short,
`advance` folds what it did deliver into a new snapshot, so the next answer starts exactly
where this one stopped: nothing twice, nothing skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MAX_IN_PROGRESS", "Cut", "Marker", "Snapshot", "advance", "normal_xid"]

MAX_IN_PROGRESS = 32
"""In-progress ids a cursor keeps; beyond them its xmax is lowered (see `Snapshot.trimmed`)."""


def normal_xid(xid: int) -> int:
    """The first transaction id at or after `xid` that PostgreSQL can assign: within each
    epoch (the low 32 bits) ids 0-2 are reserved, and pg_snapshot refuses them."""
    low = xid & 0xFFFFFFFF
    return xid if low >= 3 else xid - low + 3


@dataclass(frozen=True)
class Snapshot:
    """A `pg_snapshot`: ids below xmin and those in [xmin, xmax) outside `xip` are visible."""

    xmin: int
    xmax: int
    xip: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """`pg_snapshot`'s text form, "xmin:xmax:xip1,xip2"; ValueError when malformed."""
        xmin, xmax, xip = text.split(":")
        snapshot = cls(int(xmin), int(xmax), tuple(int(x) for x in xip.split(",") if x))
        if not 0 < snapshot.xmin <= snapshot.xmax or any(
            not snapshot.xmin <= x < snapshot.xmax for x in snapshot.xip
        ):
            raise ValueError(f"not a pg_snapshot: {text!r}")
        return snapshot

    def __str__(self) -> str:
        return f"{self.xmin}:{self.xmax}:{','.join(map(str, self.xip))}"

    def visible(self, xid: int) -> bool:
        """As pg_visible_in_snapshot: had transaction `xid` ended when the snapshot was taken?"""
        return xid < self.xmin or (xid < self.xmax and xid not in self.xip)

    def trimmed(self, keep: int = MAX_IN_PROGRESS) -> Snapshot:
        """At most `keep` in-progress ids, so that a cursor stays small.

        Lowering xmax to the first id dropped makes ids from there on invisible again: a
        message can then come twice (the client dedupes by id), never be skipped.
        """
        if len(self.xip) <= keep:
            return self
        return Snapshot(self.xmin, self.xip[keep], self.xip[:keep])


@dataclass(frozen=True)
class Marker:
    """Transaction `xid` was delivered only up to message id `message_id` (uuid order)."""

    xid: int
    message_id: str


@dataclass(frozen=True)
class Cut:
    """Where a bounded answer stopped: its last message, and whether that message's
    transaction was delivered whole (`complete`)."""

    xid: int
    message_id: str
    complete: bool


def advance(
    seen: Snapshot, marker: Marker | None, reader: Snapshot, cut: Cut | None
) -> tuple[Snapshot, Marker | None]:
    """The cursor after an answer read with snapshot `reader` from cursor (`seen`, `marker`).

    The answer held, in (marker transaction first, transaction id, message id) order, the
    messages `reader` sees and the cursor had not delivered, up to `cut` (None: all of them).
    So afterwards everything is delivered that `seen` saw, plus every transaction below the
    cut that `reader` saw, plus the cut's transaction when it was complete; a cut in the
    middle of a transaction becomes the new marker. A marker's transaction comes first, so
    a cut inside it leaves the snapshot as it was.
    """
    if cut is None:
        return reader.trimmed(), None
    resumed = {marker.xid} if marker is not None else set()
    if cut.xid in resumed:
        if not cut.complete:
            return seen, Marker(cut.xid, cut.message_id)
        return _union(seen, reader, bound=0, extra=resumed).trimmed(), None
    bound = normal_xid(cut.xid + 1) if cut.complete else cut.xid
    snapshot = _union(seen, reader, bound=bound, extra=resumed).trimmed()
    return snapshot, None if cut.complete else Marker(cut.xid, cut.message_id)


def _union(seen: Snapshot, reader: Snapshot, *, bound: int, extra: Iterable[int]) -> Snapshot:
    """The snapshot that sees what `seen` sees, what `reader` sees below `bound`, and `extra`."""
    extra = set(extra)

    def visible(xid: int) -> bool:
        return seen.visible(xid) or (xid < bound and reader.visible(xid)) or xid in extra

    xmax = max(seen.xmax, bound, *(normal_xid(x + 1) for x in extra))
    # Between seen.xmax and bound, only reader's in-progress ids are invisible; beyond both,
    # nothing is visible except `extra`, which lies at or below seen.xmax.
    candidates = {*seen.xip, *reader.xip, *range(max(seen.xmax, bound), xmax)}
    xip = tuple(sorted(x for x in candidates if x < xmax and not visible(x)))
    return Snapshot(xip[0] if xip else xmax, xmax, xip)
