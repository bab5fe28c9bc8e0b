"""The sync cursor: an opaque string that carries the reader's snapshot xmin.

See sql/migrations/20260327056000_chat_messages_sync_cursor.sql for why a transaction id,
not a timestamp, is what makes incremental sync lossless.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Since", "decode_since", "encode_cursor"]

_PREFIX = "v1:"


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
        moment = datetime.fromisoformat(value)
        # Normalised to UTC: Postgres rejects offsets beyond ±15:59 that Python accepts.
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ValueError(
            "since must be the cursor returned by the previous sync or an ISO-8601 timestamp"
        ) from None
    return Since(timestamp=moment)


def _decode_cursor(value: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    digits = raw.removeprefix(_PREFIX)
    if not raw.startswith(_PREFIX) or not digits.isdigit() or len(digits) > 20:
        return None
    return int(digits)
