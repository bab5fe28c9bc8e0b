"""Conversation tokens: minted with a CSPRNG, stored only as their SHA-256 hex digest."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["hash_token", "mint_token", "token_matches"]


def mint_token() -> str:
    """256 random bits as URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The lowercase hex SHA-256 stored in chat_conversations.access_token_hash."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    """Constant-time check of a presented token against a stored hash (None never matches)."""
    return hmac.compare_digest(hash_token(token), stored_hash or "")
