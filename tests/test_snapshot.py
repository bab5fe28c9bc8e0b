"""Snapshot arithmetic of the exact cursor, against a model of PostgreSQL's transactions.

The model runs transactions that start, insert messages, and commit or abort in random
order while a reader syncs with bounded pages, selecting exactly as chat_visitor_sync_v2
does; every message must be delivered once, and none twice.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

import pytest

from toolkit.functions.snapshot import (
    MAX_IN_PROGRESS,
    Cut,
    Marker,
    Snapshot,
    advance,
    normal_xid,
)


def test_parse_and_text_round_trip() -> None:
    """pg_snapshot's text form is read and written back unchanged."""
    assert str(Snapshot.parse("742:760:742,750")) == "742:760:742,750"
    assert Snapshot.parse("742:742:") == Snapshot(742, 742, ())


@pytest.mark.parametrize("text", ["", "1:2", "5:4:", "5:9:3", "5:9:9", "x:9:", "0:0:"])
def test_malformed_snapshots_are_refused(text: str) -> None:
    """Anything but xmin <= xip < xmax with xmin >= 1 raises ValueError."""
    with pytest.raises(ValueError):
        Snapshot.parse(text)


def test_visible_follows_pg_visible_in_snapshot() -> None:
    """Below xmin visible; in [xmin, xmax) unless in progress; from xmax on invisible."""
    snapshot = Snapshot(10, 20, (10, 15))
    visible = [x for x in range(8, 22) if snapshot.visible(x)]
    assert visible == [8, 9, 11, 12, 13, 14, 16, 17, 18, 19]


@pytest.mark.parametrize(
    ("xid", "normal"), [(0, 3), (2, 3), (3, 3), (2**32 - 1, 2**32 - 1), (2**32, 2**32 + 3)]
)
def test_normal_xid_skips_the_reserved_ids_of_each_epoch(xid: int, normal: int) -> None:
    """0-2 of every epoch are never assigned, so an xmax never lands on them."""
    assert normal_xid(xid) == normal


def test_cut_at_the_end_of_an_epoch_gives_an_assignable_xmax() -> None:
    """A complete cut at id 2**32 - 1 moves xmax past the reserved ids to 2**32 + 3."""
    seen = Snapshot(2**32 - 10, 2**32 - 10)
    reader = Snapshot(2**32 + 5, 2**32 + 5)
    snapshot, marker = advance(seen, None, reader, Cut(2**32 - 1, "m", complete=True))
    assert (snapshot.xmax, marker) == (2**32 + 3, None)


def test_trimming_only_hides_more() -> None:
    """A snapshot trimmed to k in-progress ids sees a subset of what it saw."""
    snapshot = Snapshot(10, 100, tuple(range(10, 90, 2)))
    trimmed = snapshot.trimmed(8)
    assert len(trimmed.xip) == 8
    assert all(snapshot.visible(x) for x in range(0, 120) if trimmed.visible(x))


def test_uncut_answer_moves_the_cursor_to_the_reader() -> None:
    """An answer that held everything leaves the reader's snapshot and no marker."""
    reader = Snapshot(50, 60, (50, 55))
    assert advance(Snapshot(40, 45, (40,)), None, reader, None) == (reader, None)


def test_cut_inside_a_transaction_leaves_a_marker() -> None:
    """A page that ends inside transaction 45 sees everything below it and marks 45."""
    seen = Snapshot(40, 41, (40,))
    reader = Snapshot(40, 50, (40,))
    snapshot, marker = advance(seen, None, reader, Cut(45, "m5", complete=False))
    assert marker == Marker(45, "m5")
    assert [x for x in range(38, 52) if snapshot.visible(x)] == [38, 39, 41, 42, 43, 44]


# -- the model -----------------------------------------------------------------------------


@dataclass
class Database:
    """Transactions and message rows as PostgreSQL keeps them, in miniature."""

    rng: random.Random
    next_xid: int = 100
    latest_completed: int = 99
    running: dict[int, list[str]] = field(default_factory=dict)
    committed: dict[str, int] = field(default_factory=dict)  # message id -> xid

    def begin(self) -> None:
        self.running[self.next_xid] = []
        self.next_xid += 1

    def insert(self) -> None:
        if self.running:
            xid = self.rng.choice(list(self.running))
            self.running[xid] += [str(uuid.UUID(int=self.rng.getrandbits(128)))]

    def end(self) -> None:
        if self.running:
            xid = self.rng.choice(list(self.running))
            rows = self.running.pop(xid)
            self.latest_completed = max(self.latest_completed, xid)
            if self.rng.random() < 0.9:
                self.committed.update(dict.fromkeys(rows, xid))

    def snapshot(self) -> Snapshot:
        """As GetSnapshotData: xmax is the latest completed id + 1, so ids still running
        may lie beyond it."""
        xmax = self.latest_completed + 1
        xip = tuple(sorted(x for x in self.running if x < xmax))
        return Snapshot(xip[0] if xip else xmax, xmax, xip)

    def read(
        self, seen: Snapshot | None, marker: Marker | None, limit: int
    ) -> tuple[list[str], Snapshot, Cut | None]:
        """One chat_visitor_sync_v2 read: the page, the reader's snapshot and the cut."""
        reader = self.snapshot()
        rows = [(x, i) for i, x in self.committed.items() if reader.visible(x)]
        if seen is not None:
            rows = [
                (x, i)
                for x, i in rows
                if x >= seen.xmin
                and not seen.visible(x)
                and (marker is None or x != marker.xid or i > marker.message_id)
            ]
        rows.sort(key=lambda r: (not (marker is not None and r[0] == marker.xid), r[0], r[1]))
        page, rest = rows[:limit], rows[limit:]
        cut = None
        if rest:
            cut = Cut(page[-1][0], page[-1][1], complete=rest[0][0] != page[-1][0])
        return [i for _, i in page], reader, cut


def _run(seed: int, concurrency: int) -> tuple[list[str], set[str]]:
    rng = random.Random(seed)
    db = Database(rng)
    delivered: list[str] = []
    seen: Snapshot | None = None
    marker: Marker | None = None
    for _ in range(400):
        action = rng.random()
        if action < 0.2 and len(db.running) < concurrency:
            db.begin()
        elif action < 0.6:
            db.insert()
        elif action < 0.75:
            db.end()
        else:
            if seen is None:  # the first sync: everything (older pages come by `before`)
                page, seen, _ = db.read(None, None, len(db.committed))
            else:
                page, reader, cut = db.read(seen, marker, rng.randint(1, 4))
                seen, marker = advance(seen, marker, reader, cut)
            delivered += page
    while db.running:
        db.end()
    assert seen is not None
    while True:
        page, reader, cut = db.read(seen, marker, 3)
        delivered += page
        seen, marker = advance(seen, marker, reader, cut)
        if cut is None:
            return delivered, set(db.committed)


@pytest.mark.parametrize("seed", range(300))
def test_bounded_pages_deliver_every_message_exactly_once(seed: int) -> None:
    """With up to MAX_IN_PROGRESS transactions open, each committed message is delivered
    once: nothing skipped, nothing repeated, whatever the page sizes."""
    delivered, committed = _run(seed, concurrency=MAX_IN_PROGRESS)
    assert sorted(delivered) == sorted(committed)


@pytest.mark.parametrize("seed", range(50))
def test_more_open_transactions_than_a_cursor_keeps_never_skip(seed: int) -> None:
    """With more transactions open than a cursor keeps, a message may come twice but every
    committed one comes."""
    delivered, committed = _run(seed, concurrency=3 * MAX_IN_PROGRESS)
    assert set(delivered) == committed
