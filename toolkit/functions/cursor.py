"""chat-visitor-sync's opaque values: `since` (cursor v2, cursor v1 or an ISO-8601 time),
the sealed cursor v2 itself, and `before` (a place in older history).

Cursor v2 (issue 14) carries the reader's whole snapshot (toolkit/functions/snapshot.py),
the database it came from (`chat_sync_epoch`) and a digest of what the visitor was shown
(for long-poll). It is sealed with AES-256-GCM under a server-side key and bound to its
conversation (associated data), so a visitor learns nothing from it, not even the
database's transaction counter, and cannot alter it; one that does not open is answered
with a full resync. Cursor v1 (base64 of "v1:" and the snapshot xmin) and ISO timestamps
from older widgets are still read.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from toolkit.functions.snapshot import MAX_IN_PROGRESS, Marker, Snapshot, normal_xid

__all__ = [
    "BEFORE_PATTERN",
    "CURSOR_PATTERN",
    "Cursor",
    "CursorSeal",
    "Position",
    "Since",
    "decode_before",
    "decode_since",
    "encode_before",
]

_V1 = "v1:"
_V2 = "v2."
_BEFORE = "p1."
_LEAP_SECOND = re.compile(r"^(.*T\d\d:\d\d:)60(.*)$")
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Cursor v2 plaintext: epoch, xmin, xmax - xmin, in-progress count; each in-progress id as an
# offset from xmin; the state digest; then, when a transaction was cut, the marker.
_HEAD = struct.Struct("!16sQIB")
_XIP = struct.Struct("!I")
_STATE = struct.Struct("!8s")
_MARKER = struct.Struct("!I16s")
_NONCE, _TAG = 12, 16
_SEALED_MIN = _NONCE + _HEAD.size + _STATE.size + _TAG
_SEALED_MAX = _SEALED_MIN + MAX_IN_PROGRESS * _XIP.size + _MARKER.size
_POSITION = struct.Struct("!q16s")
CURSOR_PATTERN = rf"^v2\.[A-Za-z0-9_-]{{{-(-_SEALED_MIN * 4 // 3)},{-(-_SEALED_MAX * 4 // 3)}}}$"
"""Every cursor v2 matches this (base64url, no padding)."""
BEFORE_PATTERN = rf"^p1\.[A-Za-z0-9_-]{{{_POSITION.size * 4 // 3}}}$"
"""Every `before` value matches this, and every string that matches it is a valid one."""


@dataclass(frozen=True)
class Since:
    """Where an incremental sync starts: a sealed cursor v2, a cursor v1's transaction id,
    or an ISO timestamp."""

    after_xid: int | None = None
    timestamp: datetime | None = None
    sealed: str | None = None


@dataclass(frozen=True)
class Cursor:
    """What a cursor v2 holds: `snapshot` and `marker` as in snapshot.py, the database's
    `epoch` (a UUID), and `state`, a digest of the conversation and typing state shown."""

    epoch: str
    snapshot: Snapshot
    marker: Marker | None
    state: bytes


@dataclass(frozen=True)
class Position:
    """A message's place in history, (createdAt, id): `before` asks for older ones."""

    at: datetime
    message_id: str


class CursorSeal:
    """Seals and opens cursors v2 with AES-256-GCM, the key derived from `secret` (HKDF).

    Every functions worker and instance given the same secret reads the others' cursors.
    """

    def __init__(self, secret: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"chat-toolkit sync cursor v2"
        ).derive(secret.encode())
        self._aead = AESGCM(key)

    def seal(self, cursor: Cursor, conversation_id: str) -> str:
        snapshot = cursor.snapshot
        parts = [
            _HEAD.pack(
                uuid.UUID(cursor.epoch).bytes,
                snapshot.xmin,
                snapshot.xmax - snapshot.xmin,
                len(snapshot.xip),
            ),
            *(_XIP.pack(x - snapshot.xmin) for x in snapshot.xip),
            _STATE.pack(cursor.state),
        ]
        if cursor.marker is not None:
            marker = cursor.marker
            parts.append(
                _MARKER.pack(marker.xid - snapshot.xmin, uuid.UUID(marker.message_id).bytes)
            )
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, b"".join(parts), _bound_to(conversation_id))
        return _V2 + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, text: str, conversation_id: str) -> Cursor | None:
        """The cursor, or None when it was not sealed with this key for this conversation."""
        body = text.removeprefix(_V2)
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _bound_to(conversation_id))
        except (binascii.Error, ValueError, InvalidTag):
            return None
        epoch, xmin, span, count = _HEAD.unpack_from(plain)
        offset = _HEAD.size
        xip = tuple(xmin + _XIP.unpack_from(plain, offset + i * 4)[0] for i in range(count))
        offset += count * _XIP.size
        (state,) = _STATE.unpack_from(plain, offset)
        offset += _STATE.size
        marker = None
        if len(plain) > offset:
            delta, message_id = _MARKER.unpack_from(plain, offset)
            marker = Marker(xmin + delta, str(uuid.UUID(bytes=message_id)))
        return Cursor(str(uuid.UUID(bytes=epoch)), Snapshot(xmin, xmin + span, xip), marker, state)


def _bound_to(conversation_id: str) -> bytes:
    return _V2.encode() + uuid.UUID(conversation_id).bytes


def decode_since(value: str) -> Since:
    """Parse `since`: a cursor v2 (opened later, with its conversation), a cursor v1, or an
    ISO-8601 timestamp. Raises ValueError when it is none of them."""
    if value.startswith(_V2):
        return Since(sealed=value)
    xid = _decode_v1(value)
    if xid is not None:
        return Since(after_xid=xid)
    try:
        moment = _instant(value)
    except ValueError:
        raise ValueError(
            "since must be the cursor returned by the previous sync or an ISO-8601 timestamp"
        ) from None
    return Since(timestamp=moment)


def encode_before(position: Position) -> str:
    """`before` for the page older than `position`. Not sealed: it names a message of the
    visitor's own conversation by its createdAt and id, both already in the answer."""
    micros = (position.at - _EPOCH) // timedelta(microseconds=1)
    raw = _POSITION.pack(micros, uuid.UUID(position.message_id).bytes)
    return _BEFORE + base64.urlsafe_b64encode(raw).decode()


def decode_before(value: str) -> Position:
    """The position a `before` value names; ValueError when it is not one. Any string that
    matches BEFORE_PATTERN is one (times beyond Python's range are clamped)."""
    if not re.fullmatch(BEFORE_PATTERN, value):
        raise ValueError("before must be the value returned by a previous sync")
    micros, message_id = _POSITION.unpack(base64.urlsafe_b64decode(value.removeprefix(_BEFORE)))
    try:
        at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        at = _EARLIEST if micros < 0 else _LATEST
    return Position(at, str(uuid.UUID(bytes=message_id)))


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


def _decode_v1(value: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    digits = raw.removeprefix(_V1)
    if not raw.startswith(_V1) or not digits.isdigit() or len(digits) > 20:
        return None
    # An id PostgreSQL can assign, within 63 bits; one beyond the database's present counter
    # is answered with a resync.
    return normal_xid(min(int(digits), 2**63 - 1))
