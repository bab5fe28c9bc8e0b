"""The sync's opaque values: cursor v2 (sealed), cursor v1, ISO-8601 `since`, `before`."""

from __future__ import annotations

import base64
import re
import string
import uuid
from datetime import UTC, datetime

import pytest

from toolkit.functions.cursor import (
    BEFORE_PATTERN,
    CURSOR_PATTERN,
    Cursor,
    CursorSeal,
    Position,
    Since,
    decode_before,
    decode_since,
    encode_before,
)
from toolkit.functions.snapshot import MAX_IN_PROGRESS, Marker, Snapshot

CONVERSATION = "6f1c2a4e-0d3b-4c5a-9e8f-7a6b5c4d3e2f"
OTHER_CONVERSATION = "00000000-0000-4000-8000-000000000002"
EPOCH = "1326fe9e-fb9b-4b21-80ce-20f503afa41d"
SEAL = CursorSeal("a-server-side-secret-of-at-least-32-characters")

_BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def v1(xid: int | str) -> str:
    """A cursor as the functions handed them out before cursor v2."""
    return base64.urlsafe_b64encode(f"v1:{xid}".encode()).decode().rstrip("=")


def cursor(**changes: object) -> Cursor:
    fields: dict[str, object] = {
        "epoch": EPOCH,
        "snapshot": Snapshot(7_000_000_123, 7_000_000_200, (7_000_000_123, 7_000_000_150)),
        "marker": None,
        "state": bytes(range(8)),
    }
    return Cursor(**(fields | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        cursor(),
        cursor(marker=Marker(7_000_000_150, "ffffffff-0000-4000-8000-000000000001")),
        cursor(snapshot=Snapshot(3, 3)),
        cursor(
            snapshot=Snapshot(10, 10 + MAX_IN_PROGRESS, tuple(range(10, 10 + MAX_IN_PROGRESS))),
            marker=Marker(12, "00000000-0000-4000-8000-000000000003"),
        ),
    ],
    ids=["plain", "marker", "empty-snapshot", "largest"],
)
def test_sealed_cursor_opens_to_the_same_value_and_matches_the_pattern(value: Cursor) -> None:
    """Seal then open gives back snapshot, marker, epoch and state; the text matches the
    published pattern, smallest and largest alike."""
    sealed = SEAL.seal(value, CONVERSATION)
    assert re.fullmatch(CURSOR_PATTERN, sealed)
    assert SEAL.open(sealed, CONVERSATION) == value
    assert decode_since(sealed) == Since(sealed=sealed)


def test_sealed_cursor_shows_no_transaction_id() -> None:
    """Neither the digits nor the binary forms of any id in it appear, and sealing the same
    cursor twice gives two different texts (a random nonce)."""
    value = cursor()
    sealed = SEAL.seal(value, CONVERSATION)
    raw = base64.urlsafe_b64decode(sealed[3:] + "=" * (-len(sealed[3:]) % 4))
    for xid in (value.snapshot.xmin, value.snapshot.xmax, *value.snapshot.xip):
        assert str(xid) not in sealed
        for size in (4, 8):
            for order in ("big", "little"):
                assert (xid % 2 ** (8 * size)).to_bytes(size, order) not in raw
    assert uuid.UUID(EPOCH).bytes not in raw
    assert SEAL.seal(value, CONVERSATION) != sealed


def test_cursor_does_not_open_for_another_conversation_key_or_after_tampering() -> None:
    """Bound to its conversation and key; any changed character makes it unreadable."""
    sealed = SEAL.seal(cursor(), CONVERSATION)
    assert SEAL.open(sealed, OTHER_CONVERSATION) is None
    assert (
        CursorSeal("another-server-side-secret-of-32-characters").open(sealed, CONVERSATION) is None
    )
    for at in (3, len(sealed) // 2, len(sealed) - 1):
        # Flip the character's top bit: the last character's low bits may be padding, which
        # decoding ignores, so an A/B swap there would leave the bytes unchanged.
        changed = _BASE64URL[_BASE64URL.index(sealed[at]) ^ 0b100000]
        flipped = sealed[:at] + changed + sealed[at + 1 :]
        assert SEAL.open(flipped, CONVERSATION) is None
    assert SEAL.open("v2." + "A" * 101, CONVERSATION) is None  # not valid base64 at all
    assert SEAL.open("v2.", CONVERSATION) is None


@pytest.mark.parametrize("xid", [3, 735, 2**32 + 5, 2**63 - 1])
def test_cursor_v1_is_still_read(xid: int) -> None:
    """A cursor v1 gives back its transaction id and no timestamp."""
    assert decode_since(v1(xid)) == Since(after_xid=xid)


@pytest.mark.parametrize(
    ("xid", "read"), [(0, 3), (2**32, 2**32 + 3), (2**62 + 1, 2**62 + 3), (2**64 - 1, 2**63 - 1)]
)
def test_cursor_v1_outside_the_id_range_is_made_assignable(xid: int, read: int) -> None:
    """Reserved ids (0-2 in each epoch) move to the next assignable one and ids beyond 63
    bits to the largest: an id from the future is answered with a resync by the database,
    never sent to it unreadable."""
    assert decode_since(v1(xid)) == Since(after_xid=read)


def test_raw_digits_are_not_a_cursor() -> None:
    """Plain digits are neither a cursor nor an ISO timestamp."""
    with pytest.raises(ValueError, match=r"^since must be the cursor"):
        decode_since("123456789")


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 27, 5, 40, 0, 123456, tzinfo=UTC),
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
    ],
)
def test_before_round_trips_to_the_microsecond(at: datetime) -> None:
    """A position becomes a `before` matching its pattern and comes back unchanged."""
    position = Position(at, "7a281d69-33be-452b-9cd7-7fc22f3c1083")
    text = encode_before(position)
    assert re.fullmatch(BEFORE_PATTERN, text)
    assert decode_before(text) == position


@pytest.mark.parametrize("text", ["p1." + "_" * 32, "p1." + "A" * 32, "p1." + "-" * 32])
def test_every_before_matching_the_pattern_is_a_position(text: str) -> None:
    """A `before` the schema allows always decodes (times out of range are clamped)."""
    assert re.fullmatch(BEFORE_PATTERN, text)
    assert isinstance(decode_before(text), Position)


@pytest.mark.parametrize("text", ["", "p1.", "p1." + "A" * 31, "p2." + "A" * 32, "A" * 35])
def test_before_not_from_a_sync_is_refused(text: str) -> None:
    """Anything else raises ValueError naming what `before` must be."""
    with pytest.raises(ValueError, match=r"^before must be the value returned by a previous sync"):
        decode_before(text)


def test_iso_with_z_is_utc() -> None:
    """An ISO timestamp ending in Z is read as that UTC instant."""
    since = decode_since("2026-03-27T05:40:00.123456Z")
    assert since == Since(timestamp=datetime(2026, 3, 27, 5, 40, 0, 123456, tzinfo=UTC))


def test_iso_with_offset_keeps_the_instant_in_utc() -> None:
    """An ISO timestamp with an offset keeps its instant, normalised to UTC for Postgres."""
    since = decode_since("2026-03-27T07:40:00+02:00")
    assert since.after_xid is None
    assert since.timestamp == datetime(2026, 3, 27, 5, 40, tzinfo=UTC)
    assert since.timestamp is not None
    assert since.timestamp.tzinfo == UTC


def test_iso_with_offset_beyond_postgres_range_is_normalised() -> None:
    """+16:00 is valid ISO 8601 but not a Postgres offset; it is sent as the UTC instant."""
    since = decode_since("2026-03-27T21:40:00+16:00")
    assert since.timestamp == datetime(2026, 3, 27, 5, 40, tzinfo=UTC)


def test_naive_iso_is_taken_as_utc() -> None:
    """An ISO timestamp without an offset is taken as UTC."""
    since = decode_since("2026-03-27T05:40:00")
    assert since == Since(timestamp=datetime(2026, 3, 27, 5, 40, tzinfo=UTC))
    assert since.timestamp is not None
    assert since.timestamp.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "not a cursor",
        "2026-13-45T99:00:00Z",
        base64.urlsafe_b64encode(b"v3:123").decode(),
        base64.urlsafe_b64encode(b"v1:").decode(),
        base64.urlsafe_b64encode(b"v1:-5").decode(),
        base64.urlsafe_b64encode(b"v1:12a").decode(),
        base64.urlsafe_b64encode(b"v1:" + b"9" * 21).decode(),
        "!!!!",
    ],
)
def test_garbage_raises_value_error(value: str) -> None:
    """Anything that is neither a cursor nor an ISO-8601 timestamp raises ValueError."""
    with pytest.raises(ValueError) as info:
        decode_since(value)
    assert str(info.value) == (
        "since must be the cursor returned by the previous sync or an ISO-8601 timestamp"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-12-31T23:59:60Z", datetime(2017, 1, 1, tzinfo=UTC)),
        ("0001-01-01T00:00:00+01:00", datetime.min.replace(tzinfo=UTC)),
        ("9999-12-31T23:59:59-01:00", datetime.max.replace(tzinfo=UTC)),
    ],
    ids=["leap-second", "before-year-1", "after-year-9999"],
)
def test_rfc3339_edges_are_read_not_refused(text: str, expected: datetime) -> None:
    """A leap second is the next second; instants beyond Python's range clamp to its edge."""
    assert decode_since(text) == Since(timestamp=expected)
