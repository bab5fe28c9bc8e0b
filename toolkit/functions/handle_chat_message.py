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
from toolkit.tokens import hash_token, mint_token, token_matches

__all__ = ["MessagePolicy", "handle_chat_message"]

AI_NAME = "Assistant"
ESCALATION_NOTICE = (
    "Thanks for waiting. A member of our team has been notified and will reply here."
)


@dataclass(frozen=True)
class MessagePolicy:
    """The rollout flags (CONTRACT §4, §8): `allow_bootstrap` is CHAT_SYNC_ALLOW_BOOTSTRAP,
    `enforce_token` is ENFORCE_VISITOR_CONVERSATION_TOKEN."""

    enforce_token: bool
    allow_bootstrap: bool = True


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
        token = mint_token()
        conversation = await store.create_conversation(
            request.visitor_id, request.visitor_name, request.visitor_email, hash_token(token)
        )
        events = ["token_issued"]
    else:
        conversation, token, events = await _continue(request, store, policy, limiter)

    message_id, stored = await store.add_visitor_message(
        conversation.id, request.visitor_name, request.message, request.client_message_id
    )
    await store.record_events(conversation.id, events)
    reply = Reply()
    status = conversation.status
    if stored:
        if not conversation.human_handled:
            reply = await responder.reply(request.message)
        rows = [("ai", AI_NAME, reply.text)] if reply.text else []
        if reply.escalation_reason:
            rows.append(("system", "System", ESCALATION_NOTICE))
        if rows:
            await store.add_messages(conversation.id, rows)
        status = await store.touch(conversation.id, reply.escalation_reason)

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


async def _continue(
    request: MessageRequest, store: ChatStore, policy: MessagePolicy, limiter: Limiter | None
) -> tuple[Conversation, str | None, list[str]]:
    """Look the conversation up by id *and* visitor and apply the token rules (CONTRACT §4).

    Without a token: refused before any lookup when enforced, so the answer cannot tell
    whether id and visitorId belong together; a token is minted only while bootstrap is
    allowed and the conversation has none (the id + visitorId pairs were public before the
    cutover); otherwise the message is accepted and nothing is issued.
    """
    assert request.conversation_id is not None
    if request.token is None and policy.enforce_token:
        raise TokenRequired("conversationToken is required for this conversation")
    conversation = await store.find_conversation(request.conversation_id, request.visitor_id)
    if request.token is not None:
        # Unknown conversation and wrong token are one and the same answer.
        if conversation is None or not token_matches(request.token, conversation.access_token_hash):
            raise Forbidden("conversation not found or token invalid")
        if limiter is not None:
            limiter.message(conversation.id, verified=True)
        return conversation, request.token, []
    if conversation is None:
        raise Forbidden("conversation not found or token invalid")
    if limiter is not None:  # before a mint, so that a 429 never swallows a new token
        limiter.message(conversation.id, verified=False)
    if policy.allow_bootstrap and conversation.access_token_hash is None:
        token = mint_token()
        if await store.claim_token(conversation.id, hash_token(token)):
            return conversation, token, ["tokenless_accepted", "token_bootstrapped"]
    # Rollout compatibility: accept the message, but never hand out or replace a token.
    return conversation, None, ["tokenless_accepted"]
