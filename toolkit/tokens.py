"""Conversation tokens: minted with a CSPRNG, stored only as their SHA-256 hex digest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

__all__ = [
    "first_message_token",
    "hash_token",
    "mint_token",
    "token_expired",
    "token_matches",
]

_FIRST_MESSAGE_CONTEXT = b"chat-toolkit first-message token v1\0"


def mint_token() -> str:
    """256 random bits as URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The lowercase hex SHA-256 stored in chat_conversations.access_token_hash."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    """Constant-time check of a presented token against a stored hash (None never matches)."""
    return hmac.compare_digest(hash_token(token), stored_hash or "")


def first_message_token(secret: str, visitor_id: str, client_message_id: str) -> str:
    """The token of a conversation created by a first message that carried a
    clientMessageId: HMAC-SHA256 keyed by the server's REST key (ServerSettings.rest_key:
    the secret key, else the service-role key; changing it changes the token) over
    visitorId and clientMessageId, as URL-safe text (43 characters, 256 bits).

    Each retry of that first message derives the same token, so an answer lost on the way
    still leaves the visitor with a working one (CONTRACT §4); without the clientMessageId,
    which only the visitor's client holds, a visitorId yields nothing, and without the
    server's secret the stored rows yield nothing either.
    """
    key = hashlib.sha256(_FIRST_MESSAGE_CONTEXT + secret.encode("utf-8")).digest()
    message = f"{visitor_id}\0{client_message_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_expired(issued_at: str | None, max_age_days: float | None) -> bool:
    """True when CHAT_TOKEN_MAX_AGE_DAYS is set and the token was issued longer ago (or at
    an unknown time: a hash stored without `access_token_issued_at`). `issued_at` is the
    ISO-8601 timestamp PostgREST returns. Off (None): never expired."""
    if max_age_days is None:
        return False
    if issued_at is None:
        return True
    age = datetime.now(UTC) - datetime.fromisoformat(issued_at)
    return age > timedelta(days=max_age_days)
