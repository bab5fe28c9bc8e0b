"""handle-chat-message (CONTRACT §4): create or continue a conversation, store the
visitor's message, and answer it (or leave it to the team)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolkit.errors import Forbidden, TokenRequired
from toolkit.functions.bodies import MessageRequest
from toolkit.functions.ratelimit import Limiter
from toolkit.functions.responders import Reply, Responder
from toolkit.functions.store import ChatStore, Conversation
from toolkit.tokens import (
    first_message_token,
    hash_token,
    mint_token,
    token_expired,
    token_matches,
)

__all__ = ["MessagePolicy", "handle_chat_message"]

AI_NAME = "Assistant"
ESCALATION_NOTICE = (
    "Thanks for waiting. A member of our team has been notified and will reply here."
)
# A visitor message into a resolved or closed conversation reopens it in place (README,
# "Reopen"): assigned, it goes back to the team as escalated; unassigned, to active.
CLOSED_STATUSES = ("resolved", "closed")
# A first message's clientMessageId keys its conversation (and its token) only when it is
# as hard to guess as a random UUID (36 characters, 122 random bits) or token_urlsafe(24).
MIN_FIRST_MESSAGE_KEY_CHARS = 32
REOPEN_NOTICE = "The visitor wrote again: this conversation is open again."
REOPEN_REASON = "visitor wrote again after the conversation was closed"


@dataclass(frozen=True)
class MessagePolicy:
    """The rollout flags (CONTRACT §4, §8): `allow_bootstrap` is CHAT_SYNC_ALLOW_BOOTSTRAP,
    `enforce_token` is ENFORCE_VISITOR_CONVERSATION_TOKEN."""

    enforce_token: bool
    allow_bootstrap: bool = True
    # Keys first_message_token (rest_key): a retried first message's token.
    first_message_secret: str = ""
    token_max_age_days: float | None = None  # CHAT_TOKEN_MAX_AGE_DAYS


async def handle_chat_message(
    request: MessageRequest,
    store: ChatStore,
    responder: Responder,
    policy: MessagePolicy,
    limiter: Limiter | None = None,
) -> dict[str, Any]:
    """Store the message and answer it; a continued conversation spends its rate-limit
    bucket only once the token check is passed (before anything is stored)."""
    token: str | None
    if request.conversation_id is None:
        conversation, token, events = await _create(request, store, policy)
    else:
        conversation, token, events = await _continue(request, store, policy, limiter)

    message_id, stored = await store.add_visitor_message(
        conversation.id, request.visitor_name, request.message, request.client_message_id
    )
    await store.record_events(conversation.id, events)
    reply = Reply()
    status = conversation.status
    if stored:
        reopened = conversation.status in CLOSED_STATUSES
        if not conversation.human_handled:
            reply = await responder.reply(request.message)
        rows = [("system", "System", REOPEN_NOTICE)] if reopened else []
        if reply.text:
            rows.append(("ai", AI_NAME, reply.text))
        escalation = reply.escalation_reason
        if reopened and conversation.assigned_to is not None:
            # Its owner must hear of it: back into the team's escalated queue.
            escalation = escalation or REOPEN_REASON
        elif reply.escalation_reason:
            rows.append(("system", "System", ESCALATION_NOTICE))
        if rows:
            await store.add_messages(conversation.id, rows)
        status = await store.touch(
            conversation.id, escalation, reopen=reopened and escalation is None
        )

    body: dict[str, Any] = {
        "success": True,
        "conversationId": conversation.id,
        "messageId": message_id,
        "reply": reply.text,
        "status": status,
        "escalated": status == "escalated",
    }
    if token is not None:
        body["conversationToken"] = token
    return body


async def _create(
    request: MessageRequest, store: ChatStore, policy: MessagePolicy
) -> tuple[Conversation, str, list[str]]:
    """A new conversation, or the one an earlier try of this first message created.

    With a clientMessageId the token is derived (tokens.first_message_token), so every try
    carries the same one; a conversation whose hash no longer matches it (revoked) is the
    same 403 as a wrong token. Without one, or with one shorter than
    MIN_FIRST_MESSAGE_KEY_CHARS, a random token and no deduplication.
    """
    cmid = request.client_message_id
    if cmid is not None and len(cmid) < MIN_FIRST_MESSAGE_KEY_CHARS:
        # Guessable: as a creation key it would make visitorId + a guess a way to a token.
        cmid = None
    token = (
        mint_token()
        if cmid is None
        else first_message_token(policy.first_message_secret, request.visitor_id, cmid)
    )
    conversation, created = await store.create_conversation(
        request.visitor_id, request.visitor_name, request.visitor_email, hash_token(token), cmid
    )
    if created:
        return conversation, token, ["token_issued"]
    if not _valid(token, conversation, policy):
        raise Forbidden("conversation not found or token invalid")
    return conversation, token, []


async def _continue(
    request: MessageRequest, store: ChatStore, policy: MessagePolicy, limiter: Limiter | None
) -> tuple[Conversation, str | None, list[str]]:
    """Look the conversation up by id *and* visitor and apply the token rules (CONTRACT §4).

    Without a token: refused before any lookup when enforced, so the answer cannot tell
    whether id and visitorId belong together; a token is minted only while bootstrap is
    allowed and the conversation has none (the id + visitorId pairs were public before the
    cutover); a revoked conversation is 401; otherwise the message is accepted and nothing
    is issued.
    """
    assert request.conversation_id is not None
    if request.token is None and policy.enforce_token:
        raise TokenRequired("conversationToken is required for this conversation")
    conversation = await store.find_conversation(request.conversation_id, request.visitor_id)
    if request.token is not None:
        # Unknown conversation and wrong token are one and the same answer.
        if conversation is None or not _valid(request.token, conversation, policy):
            raise Forbidden("conversation not found or token invalid")
        if limiter is not None:
            await limiter.message(conversation.id, verified=True)
        return conversation, request.token, []
    if conversation is None:
        raise Forbidden("conversation not found or token invalid")
    if conversation.token_revoked_at is not None:
        # Revoked (`tokens revoke`): no token will ever open it again, so nothing without
        # one is accepted either; the visitor starts a new conversation.
        raise TokenRequired("conversationToken is required for this conversation")
    if limiter is not None:  # before a mint, so that a 429 never swallows a new token
        await limiter.message(conversation.id, verified=False)
    if policy.allow_bootstrap and conversation.access_token_hash is None:
        token = mint_token()
        if await store.claim_token(conversation.id, hash_token(token)):
            return conversation, token, ["tokenless_accepted", "token_bootstrapped"]
    # Rollout compatibility: accept the message, but never hand out or replace a token.
    return conversation, None, ["tokenless_accepted"]


def _valid(token: str, conversation: Conversation, policy: MessagePolicy) -> bool:
    """The token matches the stored hash and is not older than the maximum age: an expired
    token is refused exactly like a wrong one (CONTRACT §3)."""
    return token_matches(token, conversation.access_token_hash) and not token_expired(
        conversation.access_token_issued_at, policy.token_max_age_days
    )
