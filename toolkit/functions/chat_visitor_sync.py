"""chat-visitor-sync (CONTRACT §5): a visitor's conversation, messages and typing state,
for the holder of its token only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolkit.errors import Forbidden, TokenRequired, UpstreamUnavailable
from toolkit.functions.bodies import SyncRequest
from toolkit.functions.cursor import encode_cursor
from toolkit.functions.ratelimit import Limiter
from toolkit.functions.store import ChatStore
from toolkit.tokens import hash_token, mint_token, token_expired

__all__ = ["SyncPolicy", "chat_visitor_sync"]


@dataclass(frozen=True)
class SyncPolicy:
    allow_bootstrap: bool
    typing_ttl_seconds: int
    token_max_age_days: float | None = None  # CHAT_TOKEN_MAX_AGE_DAYS


async def chat_visitor_sync(
    request: SyncRequest, store: ChatStore, policy: SyncPolicy, limiter: Limiter | None = None
) -> dict[str, Any]:
    """The visitor-safe snapshot; the conversation's rate-limit bucket is spent only once
    the token verified (the check and the read are one round trip)."""
    token, minted = request.token, False
    if token is None:
        token = await _bootstrap(request, store, policy)
        minted = True
    snapshot = await store.sync(
        request.conversation_id, hash_token(token), request.since, policy.typing_ttl_seconds
    )
    if snapshot is None:
        if minted:  # the conversation vanished between mint and read
            raise UpstreamUnavailable("the chat service is temporarily unavailable")
        raise Forbidden("conversation not found or token invalid")
    issued_at = snapshot["conversation"].pop("tokenIssuedAt", None)
    if not minted and token_expired(issued_at, policy.token_max_age_days):
        raise Forbidden("conversation not found or token invalid")
    if limiter is not None and not minted:  # a mint happens once; its answer must arrive
        await limiter.sync(request.conversation_id)
    snapshot["cursor"] = encode_cursor(snapshot["cursor"])
    if minted:
        snapshot["conversationToken"] = token
    return snapshot


async def _bootstrap(request: SyncRequest, store: ChatStore, policy: SyncPolicy) -> str:
    """Cutover path: mint a token for a legacy conversation whose visitorId matches."""
    if not policy.allow_bootstrap or request.visitor_id is None:
        raise TokenRequired("conversationToken is required")
    token = mint_token()
    if await store.claim_token(request.conversation_id, hash_token(token), request.visitor_id):
        await store.record_events(request.conversation_id, ["token_bootstrapped"])
        return token
    if await store.find_conversation(request.conversation_id, request.visitor_id) is not None:
        # Already has a token: knowing the visitorId must never be enough to replace it.
        raise TokenRequired("conversationToken is required")
    raise Forbidden("conversation not found or token invalid")
