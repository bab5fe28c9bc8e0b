"""chat-visitor-sync (CONTRACT §5): a visitor's conversation, messages and typing state,
for the holder of its token only; bounded pages, an exact sealed cursor, long-poll."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from toolkit.errors import Forbidden, TokenRequired, UpstreamUnavailable
from toolkit.functions.bodies import SyncRequest
from toolkit.functions.cursor import Cursor, CursorSeal, Position, encode_before
from toolkit.functions.listener import Listener, Waiter
from toolkit.functions.ratelimit import Limiter
from toolkit.functions.snapshot import Cut, Snapshot, advance
from toolkit.functions.store import ChatStore, SyncRead
from toolkit.tokens import hash_token, mint_token

__all__ = ["MAX_PAGE_BYTES", "SyncPolicy", "chat_visitor_sync"]

MAX_PAGE_BYTES = 256 * 1024
"""Message JSON per answer; at least one message is always sent (one is at most ~24 KB)."""


@dataclass(frozen=True)
class SyncPolicy:
    allow_bootstrap: bool
    typing_ttl_seconds: int
    seal: CursorSeal
    max_bytes: int = MAX_PAGE_BYTES


@dataclass(frozen=True)
class _Start:
    """How this request reads: the RPC's inputs, the cursor it continues (if any), and
    whether its `since` had to be answered with a resync before reading."""

    read: SyncRead
    cursor: Cursor | None
    resync: bool


async def chat_visitor_sync(
    request: SyncRequest,
    store: ChatStore,
    policy: SyncPolicy,
    limiter: Limiter | None = None,
    listener: Listener | None = None,
) -> dict[str, Any]:
    """One sync. The conversation's rate-limit bucket is spent once, only after the token
    verified (the check and the read are one round trip). With `wait`, a continuing cursor
    and a listener ready, an answer with nothing new is held until the conversation changes
    (a wake-up from `listener`), its typing indicator expires, or `wait` seconds pass; then
    it is a normal sync answer."""
    token, minted = request.token, False
    if token is None:
        token = await _bootstrap(request, store, policy)
        minted = True
    token_hash = hash_token(token)
    start = _start(request, policy)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + request.wait
    verified = False
    holdable = listener is not None and start.cursor is not None and request.wait > 0
    while True:
        with _watch(listener if holdable else None, request.conversation_id) as waiter:
            raw = await store.sync(request.conversation_id, token_hash, start.read)
            if raw is None:
                if minted:  # the conversation vanished between mint and read
                    raise UpstreamUnavailable("the chat service is temporarily unavailable")
                raise Forbidden("conversation not found or token invalid")
            if limiter is not None and not minted and not verified:
                # Once per request (not per wake-up); a mint's answer must always arrive.
                limiter.sync(request.conversation_id)
            verified = True
            answer, typing_expires_in = _answer(raw, request, start, policy.seal)
            remaining = deadline - loop.time()
            if waiter is None or remaining <= 0 or _news(answer, start.cursor):
                break
            pause = min(remaining, typing_expires_in or remaining)
            if not await waiter.wait(pause) and pause == remaining:
                break  # the wait is over and nothing changed: this answer stands
    # Offered only while a listener is up: without one a `wait` is answered at once.
    answer["longPoll"] = listener is not None and listener.ready
    if minted:
        answer["conversationToken"] = token
    return answer


def _watch(
    listener: Listener | None, conversation_id: str
) -> contextlib.AbstractContextManager[Waiter | None]:
    """Watch the conversation when the sync may be held and the listener is ready."""
    if listener is None or not listener.ready:
        return contextlib.nullcontext()
    return listener.watch(conversation_id)


def _start(request: SyncRequest, policy: SyncPolicy) -> _Start:
    page = SyncRead(request.limit, policy.max_bytes, policy.typing_ttl_seconds)
    since = request.since
    if request.before is not None or since is None:
        return _Start(replace(page, before=request.before), None, False)
    if since.timestamp is not None:
        return _Start(replace(page, since=since.timestamp), None, False)
    if since.after_xid is not None:  # cursor v1: everything from its xmin on
        seen = Snapshot(since.after_xid, since.after_xid)
        return _Start(replace(page, snapshot=seen), None, False)
    assert since.sealed is not None
    cursor = policy.seal.open(since.sealed, request.conversation_id)
    if cursor is None:  # another key, another conversation, or altered: read everything
        return _Start(page, None, True)
    read = replace(page, snapshot=cursor.snapshot, epoch=cursor.epoch, marker=cursor.marker)
    return _Start(read, cursor, False)


def _answer(
    raw: dict[str, Any], request: SyncRequest, start: _Start, seal: CursorSeal
) -> tuple[dict[str, Any], float | None]:
    """The visitor's answer from the RPC's, and seconds until its typing indicator expires."""
    sync = raw.pop("sync")
    resync = start.resync or sync["resync"] is True
    answer = {**raw, "cursor": None, "before": None}
    seen = None if resync else start.read.snapshot  # None: a page of history, newest first
    if request.before is None:
        reader = Snapshot.parse(sync["snapshot"])
        if seen is not None:
            cut = sync["cut"]
            snapshot, marker = advance(
                seen,
                start.read.marker,
                reader,
                Cut(int(cut["xid"]), cut["id"], cut["complete"]) if raw["hasMore"] else None,
            )
        else:
            snapshot, marker = reader.trimmed(), None
        cursor = Cursor(sync["epoch"], snapshot, marker, _state(raw))
        answer["cursor"] = seal.seal(cursor, request.conversation_id)
    if raw["hasMore"] and seen is None:  # older messages wait before its oldest one
        oldest = raw["messages"][0]
        answer["before"] = encode_before(
            Position(datetime.fromisoformat(oldest["createdAt"]), oldest["id"])
        )
    if resync:
        answer["resync"] = True
    expires = sync["typingExpiresIn"]
    return answer, float(expires) if expires is not None else None


def _state(answer: dict[str, Any]) -> bytes:
    """A digest of what the visitor was shown besides messages (status, typing)."""
    shown = orjson.dumps([answer["conversation"], answer["typing"]], option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(shown, digest_size=8).digest()


def _news(answer: dict[str, Any], cursor: Cursor | None) -> bool:
    return bool(
        answer["messages"]
        or answer["hasMore"]
        or answer.get("resync")
        or cursor is None
        or _state(answer) != cursor.state
    )


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
