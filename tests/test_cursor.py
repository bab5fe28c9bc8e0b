"""The sync cursor and the `since` parameter: opaque cursors and ISO-8601 timestamps."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from toolkit.functions.cursor import Since, decode_since, encode_cursor


@pytest.mark.parametrize("xid", [0, 1, 735, 2**32 + 5, 2**63 - 1])
def test_cursor_round_trips(xid: int) -> None:
    """Decoding an encoded cursor gives back the same transaction id and no timestamp."""
    assert decode_since(encode_cursor(xid)) == Since(after_xid=xid, timestamp=None)


def test_cursor_accepts_the_digits_as_text() -> None:
    """PostgREST returns xids as text; encoding "735" equals encoding 735."""
    assert encode_cursor("735") == encode_cursor(735)


def test_cursor_is_opaque() -> None:
    """A cursor is URL-safe text without padding that does not show the raw digits."""
    cursor = encode_cursor(123456789)
    assert "123456789" not in cursor
    assert cursor == base64.urlsafe_b64encode(b"v1:123456789").decode().rstrip("=")
    assert "=" not in cursor


def test_raw_digits_are_not_a_cursor() -> None:
    """Plain digits are neither a cursor nor an ISO timestamp."""
    with pytest.raises(ValueError, match=r"^since must be the cursor"):
        decode_since("123456789")


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
        base64.urlsafe_b64encode(b"v2:123").decode(),
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
