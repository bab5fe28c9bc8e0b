"""Parsing and validating the two functions' JSON bodies (pure: no I/O).

Every problem is an InvalidRequest whose message names the field; values are never
echoed back, so a token sent in the wrong field cannot end up in a log or a response.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from toolkit.errors import InvalidRequest
from toolkit.functions.cursor import Position, Since, decode_before, decode_since

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_WAIT_SECONDS",
    "MessageRequest",
    "SyncRequest",
    "parse_json_object",
    "parse_message",
    "parse_sync",
]

MAX_MESSAGE_CHARS = 4000
MAX_VISITOR_ID_CHARS = 128
MAX_SINCE_CHARS = 512
DEFAULT_LIMIT, MAX_LIMIT = 100, 500  # messages per sync answer (CONTRACT §5)
MAX_WAIT_SECONDS = 25  # long-poll, well inside the gateway's 150 s read timeout
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class MessageRequest:
    visitor_id: str
    message: str
    conversation_id: str | None = None
    token: str | None = None
    visitor_name: str | None = None
    visitor_email: str | None = None
    client_message_id: str | None = None


@dataclass(frozen=True)
class SyncRequest:
    """A sync: `before` asks for the page older than that position (and wins over `since`);
    `wait` is how long, in seconds, a sync with nothing new may be held (long-poll)."""

    conversation_id: str
    token: str | None = None
    since: Since | None = None
    visitor_id: str | None = None
    limit: int = DEFAULT_LIMIT
    before: Position | None = None
    wait: float = 0.0


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest("body must be valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("body must be a JSON object")
    return data


def parse_message(data: dict[str, Any]) -> MessageRequest:
    message = _text(data, "message", required=True, max_chars=MAX_MESSAGE_CHARS, strip=True)
    email = _text(data, "visitorEmail", max_chars=254, strip=True)
    if email is not None and not _EMAIL.match(email):
        raise InvalidRequest("visitorEmail is not a valid email address")
    return MessageRequest(
        visitor_id=_visitor_id(data, required=True),  # type: ignore[arg-type]
        message=message,  # type: ignore[arg-type]
        conversation_id=_uuid(data, "conversationId"),
        token=_token(data),
        visitor_name=_text(data, "visitorName", max_chars=100, strip=True),
        visitor_email=email,
        client_message_id=_text(data, "clientMessageId", max_chars=128),
    )


def parse_sync(data: dict[str, Any]) -> SyncRequest:
    conversation_id = _uuid(data, "conversationId")
    if conversation_id is None:
        raise InvalidRequest("conversationId is required")
    since_text = _text(data, "since", max_chars=MAX_SINCE_CHARS)
    before_text = _text(data, "before", max_chars=64)
    try:
        since = decode_since(since_text) if since_text is not None else None
        before = decode_before(before_text) if before_text is not None else None
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    return SyncRequest(
        conversation_id=conversation_id,
        token=_token(data),
        since=since,
        visitor_id=_visitor_id(data, required=False),
        limit=int(_number(data, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, integer=True)),
        before=before,
        wait=float(_number(data, "wait", 0, 0, MAX_WAIT_SECONDS, integer=False)),
    )


def _number(
    data: dict[str, Any], field: str, default: int, low: int, high: int, *, integer: bool
) -> int | float:
    value = data.get(field)
    if value is None:
        return default
    # JSON Schema counts 2.0 as an integer too; a bool is never a number here.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or (integer and value != int(value)) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise InvalidRequest(f"{field} must be {kind} from {low} to {high}")
    return float(value) if not integer else int(value)


def _text(
    data: dict[str, Any], field: str, *, required: bool = False, max_chars: int, strip: bool = False
) -> str | None:
    value = data.get(field)
    if value is None:
        if required:
            raise InvalidRequest(f"{field} is required")
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be a string")
    if "\x00" in value:
        raise InvalidRequest(f"{field} must not contain NUL characters")
    if strip:
        value = value.strip()
    if not value:
        if required:
            raise InvalidRequest(f"{field} must not be empty")
        return None
    if len(value) > max_chars:
        raise InvalidRequest(f"{field} is longer than {max_chars} characters")
    return value


def _visitor_id(data: dict[str, Any], *, required: bool) -> str | None:
    return _text(data, "visitorId", required=required, max_chars=MAX_VISITOR_ID_CHARS, strip=True)


def _token(data: dict[str, Any]) -> str | None:
    return _text(data, "conversationToken", max_chars=256)


def _uuid(data: dict[str, Any], field: str) -> str | None:
    value = _text(data, field, max_chars=64)
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidRequest(f"{field} must be a UUID") from None
