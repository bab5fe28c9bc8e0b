"""The sync cursor: an opaque string that carries the reader's snapshot xmin.

See sql/migrations/20260327055100_chat_messages_sync_cursor.sql for why a transaction id,
not a timestamp, is what makes incremental sync lossless.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Since", "decode_since", "encode_cursor"]

_PREFIX = "v1:"
_LEAP_SECOND = re.compile(r"^(.*T\d\d:\d\d:)60(.*)$")
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Since:
    """Where an incremental sync starts: a transaction id (cursor) or a timestamp (ISO)."""

    after_xid: int | None = None
    timestamp: datetime | None = None


def encode_cursor(snapshot_xmin: int | str) -> str:
    raw = f"{_PREFIX}{int(snapshot_xmin)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_since(value: str) -> Since:
    """Parse `since`: a cursor from a previous sync, or an ISO-8601 timestamp.

    Raises ValueError when it is neither.
    """
    xid = _decode_cursor(value)
    if xid is not None:
        return Since(after_xid=xid)
    try:
        moment = _instant(value)
    except ValueError:
        raise ValueError(
            "since must be the cursor returned by the previous sync or an ISO-8601 timestamp"
        ) from None
    return Since(timestamp=moment)


def _instant(value: str) -> datetime:
    """An ISO-8601 / RFC 3339 time as an aware UTC datetime (naive means UTC).

    Normalised to UTC because Postgres rejects offsets beyond ±15:59 that Python accepts;
    clamped to Python's range (year 1 to 9999) at the edges; a leap second (:60) is read
    as the next second, as Postgres does.
    """
    leap = _LEAP_SECOND.match(value)
    moment = datetime.fromisoformat(f"{leap[1]}59{leap[2]}" if leap else value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset() or timedelta(0)
    try:
        moment = moment.astimezone(UTC) + (timedelta(seconds=1) if leap else timedelta(0))
    except OverflowError:
        return _EARLIEST if offset > timedelta(0) else _LATEST
    return moment


def _decode_cursor(value: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    digits = raw.removeprefix(_PREFIX)
    if not raw.startswith(_PREFIX) or not digits.isdigit() or len(digits) > 20:
        return None
    return int(digits)
