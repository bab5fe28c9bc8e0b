"""The visitor client: the chat widget's logic (seed §1, CONTRACT §4-5) as an async library.

It keeps the widget's local session (`tradeitm_chat_session_v1`), sends through
handle-chat-message, keeps up with chat-visitor-sync by long-poll (or polling), loads older
history on demand, merges messages by id, resumes legacy sessions through bootstrap, and
drops a session the functions no longer accept.

Every failure reaching the caller is a ToolkitError: the functions' answers become the
FunctionError subclass named by their `code`; a network failure is UpstreamUnavailable.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from toolkit.client.answers import Message, error_for, field_of, merge_messages, text_of
from toolkit.client.retry import MIN_DELAY, backoff_delay, parse_retry_after
from toolkit.client.session import Session, SessionStore
from toolkit.errors import (
    ConfigError,
    Forbidden,
    FunctionError,
    RateLimited,
    TokenRequired,
    UpstreamUnavailable,
)
from toolkit.protocol import CHAT_VISITOR_SYNC, HANDLE_CHAT_MESSAGE, RETRY_AFTER, api_key_headers

__all__ = ["DEFAULT_WAIT", "Sent", "Update", "VisitorClient", "merge_messages"]

DEFAULT_WAIT = 25.0
"""Seconds of long-poll per sync (the most the server allows): an idle visitor costs about
2.4 requests a minute instead of polling's 30."""
MAX_WAIT = 25.0  # what chat-visitor-sync accepts


# The answers that mean "this session is dead", as the widget treats 401/403. A 401
# `unauthorized` is a bad API key, not a bad session, so it does not clear anything.
_SESSION_ERRORS = (Forbidden, TokenRequired)
_TRANSIENT_ERRORS = (RateLimited, UpstreamUnavailable)


# -- the client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """handle-chat-message's answer to one send, without the token."""

    conversation_id: str
    message_id: str
    client_message_id: str
    reply: str | None
    status: str
    escalated: bool
    new_conversation: bool


@dataclass(frozen=True)
class Update:
    """What one sync (or one failed attempt inside `run`) changed.

    `messages` holds only messages not seen before. `pending`: the answer was cut short
    and newer messages wait (`run` syncs again at once). `has_older`: older history can be
    loaded with `load_older`. `reset` is the error that made the client drop the stored
    session; `error` and `retry_in` describe a transient failure that `run` will retry.
    """

    messages: list[Message] = field(default_factory=list)
    typing: dict[str, Any] = field(default_factory=dict)
    conversation: dict[str, Any] | None = None
    token_issued: bool = False
    pending: bool = False
    has_older: bool = False
    reset: FunctionError | None = None
    error: FunctionError | None = None
    retry_in: float | None = None


OnUpdate = Callable[[Update], Awaitable[None] | None]


class VisitorClient:
    """One visitor's view of the chat, as the widget keeps it.

    `wait` (seconds, 0-25) is the long-poll `run` asks for: each sync is held by the server
    until something changes or `wait` passes (the http client's timeout must be longer).
    0 polls every `interval` seconds instead, as does `run` when a server answers at once.
    """

    def __init__(
        self,
        functions_url: str,
        api_key: str,
        store: SessionStore,
        *,
        http: httpx.AsyncClient,
        visitor_id: str | None = None,
        interval: float = 2.0,
        wait: float = DEFAULT_WAIT,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not interval > 0:
            raise ConfigError(f"interval must be a positive number of seconds, not {interval}")
        if not 0 <= wait <= MAX_WAIT:
            raise ConfigError(f"wait must be from 0 to {MAX_WAIT:g} seconds, not {wait}")
        self.functions_url = functions_url.rstrip("/")
        self.store = store
        self.interval = interval
        self.wait = wait
        self._api_key = api_key
        self._http = http
        self._rng = rng
        stored = store.visitor_id()
        if visitor_id is not None and stored is not None and visitor_id != stored:
            # The stored conversation belongs to the other visitor and would only answer 403.
            store.clear()
        self.visitor_id = visitor_id or stored or f"visitor-{uuid.uuid4()}"
        if self.visitor_id != stored:
            store.save_visitor_id(self.visitor_id)
        self.messages: list[Message] = []
        self.typing: dict[str, Any] = {"isTyping": False, "name": None}
        self.conversation: dict[str, Any] | None = None
        self.has_older = False
        self._conversation_id: str | None = None
        self._cursor: str | None = None
        self._before: str | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    @property
    def session(self) -> Session | None:
        return self.store.load()

    async def send(self, text: str, client_message_id: str | None = None) -> Sent:
        """Send one message; without a session this starts a new conversation.

        A retry with the same `client_message_id` stores the message once. When the
        functions refuse the stored session (403, or 401 token_required) it is cleared and
        the error raised: the next send starts a new conversation.
        """
        client_message_id = client_message_id or str(uuid.uuid4())
        async with self._lock:
            session = self.store.load()
            body: dict[str, Any] = {
                "visitorId": self.visitor_id,
                "message": text,
                "clientMessageId": client_message_id,
            }
            if session is not None:
                body["conversationId"] = session.conversation_id
                if session.token is not None:
                    body["conversationToken"] = session.token
            try:
                answer = await self._post(HANDLE_CHAT_MESSAGE, body)
            except _SESSION_ERRORS:
                if session is not None:
                    self._drop_session()
                raise
            conversation_id = field_of(answer, "conversationId", str)
            token = answer.get("conversationToken")
            if not isinstance(token, str) or not token:
                # Rollout compatibility: a tokenless continue may be accepted without a token.
                token = session.token if session is not None else None
            if session != Session(conversation_id, token):
                self.store.save(Session(conversation_id, token))
            self._adopt(conversation_id)
        self.wake()
        return Sent(
            conversation_id=conversation_id,
            message_id=field_of(answer, "messageId", str),
            client_message_id=client_message_id,
            reply=answer.get("reply") if isinstance(answer.get("reply"), str) else None,
            status=str(answer.get("status", "")),
            escalated=answer.get("escalated") is True,
            new_conversation=session is None or session.conversation_id != conversation_id,
        )

    async def sync(self, wait: float = 0.0) -> Update:
        """One chat-visitor-sync: merge new messages, advance the cursor, note typing.

        With `wait` > 0 and a cursor, the server may hold the answer up to `wait` seconds
        until something changes. The lock is not held meanwhile: a send goes out at once
        (and wakes the held sync on the server). A legacy session (no token) resumes
        through bootstrap and stores the minted token. A refused session is cleared and
        reported as `Update.reset`. Without a session the update is empty.
        """
        async with self._lock:
            session = self.store.load()
            self._adopt(session.conversation_id if session is not None else None)
            if session is None:
                return Update(typing=dict(self.typing))
            body = self._body(session)
            cursor = self._cursor
            if cursor is not None:
                body["since"] = cursor
                if wait > 0:
                    body["wait"] = wait
        try:
            answer = await self._post(CHAT_VISITOR_SYNC, body)
        except _SESSION_ERRORS as exc:
            async with self._lock:
                if self.store.load() == session:
                    self._drop_session()
            return Update(reset=exc)
        async with self._lock:
            if self._conversation_id != session.conversation_id:
                return Update(typing=dict(self.typing))  # the session changed meanwhile
            minted = answer.get("conversationToken")
            token_issued = session.token is None and isinstance(minted, str) and bool(minted)
            if token_issued:
                self.store.save(Session(session.conversation_id, minted))
            fresh = self._merge(answer)
            full = cursor is None or answer.get("resync") is True
            if self._cursor == cursor:  # a sync that overtook this one moved it further
                self._cursor = text_of(answer, "cursor") or self._cursor
            if full:  # a newest page: older history is reached from here
                self._before = text_of(answer, "before")
                self.has_older = self._before is not None
            typing = answer.get("typing")
            self.typing = typing if isinstance(typing, dict) else {"isTyping": False, "name": None}
            conversation = answer.get("conversation")
            self.conversation = conversation if isinstance(conversation, dict) else None
            return Update(
                messages=fresh,
                typing=dict(self.typing),
                conversation=self.conversation,
                token_issued=token_issued,
                pending=not full and answer.get("hasMore") is True,
                has_older=self.has_older,
            )

    async def load_older(self, limit: int | None = None) -> list[Message]:
        """One page of older history (up to `limit` messages, the server's default 100):
        the messages not seen before, oldest first; [] when there is nothing older or no
        synced conversation. A refused session is cleared and the error raised."""
        async with self._lock:
            session = self.store.load()
            if session is None or self._before is None:
                return []
            body = self._body(session) | {"before": self._before}
            if limit is not None:
                body["limit"] = limit
            try:
                answer = await self._post(CHAT_VISITOR_SYNC, body)
            except _SESSION_ERRORS:
                self._drop_session()
                raise
            fresh = self._merge(answer)
            self._before = text_of(answer, "before")
            self.has_older = self._before is not None
            return fresh

    def wake(self) -> None:
        """Make a running `run` loop sync now instead of at the end of its interval."""
        self._wake.set()

    async def run(self, on_update: OnUpdate, stop_event: asyncio.Event) -> None:
        """Sync every `interval` seconds until `stop_event` is set, calling `on_update`.

        Rate limits, 5xx answers and network errors are retried with jittered exponential
        backoff (Retry-After honoured) and reported as `Update.error`; any other error ends
        the loop by propagating.
        """
        failures = 0
        while not stop_event.is_set():
            self._wake.clear()
            delay = max(self.interval, MIN_DELAY)
            shown = (dict(self.typing), (self.conversation or {}).get("status"))
            started = time.monotonic()
            try:
                update = await self.sync(self.wait)
            except _TRANSIENT_ERRORS as exc:
                delay = backoff_delay(
                    failures,
                    rng=self._rng,
                    retry_after=parse_retry_after(exc.headers.get(RETRY_AFTER)),
                )
                failures += 1
                update = Update(typing=dict(self.typing), error=exc, retry_in=delay)
            else:
                failures = 0
            result = on_update(update)
            if inspect.isawaitable(result):
                await result
            if update.error is None and (update.pending or self._wake.is_set()):
                continue
            # Long-poll: ask again at once after news or a held answer; a server that
            # answered at once with nothing new (no listener) is polled every `interval`.
            news = bool(update.messages) or shown != (
                update.typing,
                (update.conversation or {}).get("status"),
            )
            held = time.monotonic() - started >= self.interval
            if update.error is None and self.wait > 0 and (news or held):
                continue
            await _first_of(stop_event, self._wake, timeout=delay)

    def _adopt(self, conversation_id: str | None) -> None:
        """Start from scratch when the conversation changed (a reset, or another session)."""
        if conversation_id != self._conversation_id:
            self._conversation_id = conversation_id
            self.messages, self._cursor, self.conversation = [], None, None
            self._before, self.has_older = None, False
            self.typing = {"isTyping": False, "name": None}

    def _body(self, session: Session) -> dict[str, Any]:
        body: dict[str, Any] = {"conversationId": session.conversation_id}
        if session.token is not None:
            body["conversationToken"] = session.token
        else:
            body["visitorId"] = self.visitor_id
        return body

    def _merge(self, answer: dict[str, Any]) -> list[Message]:
        """Merge an answer's messages; returns those not seen before, in order."""
        incoming = answer.get("messages")
        if not isinstance(incoming, list):
            raise UpstreamUnavailable("chat-visitor-sync answered without a message list")
        known = {m["id"] for m in self.messages}
        self.messages = merge_messages(self.messages, incoming)
        return [m for m in merge_messages([], incoming) if m["id"] not in known]

    def _drop_session(self) -> None:
        self.store.clear()
        self._adopt(None)

    async def _post(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to a function as supabase-js does; the one place HTTP failures are translated."""
        url = f"{self.functions_url}/{name}"
        headers = api_key_headers(self._api_key)
        try:
            response = await self._http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(
                f"cannot reach {url} ({type(exc).__name__}{': ' if str(exc) else ''}{exc})"
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code == 200 and isinstance(answer, dict):
            return answer
        raise error_for(name, response.status_code, answer, response.headers)


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    """Wait until any of the events is set, or `timeout` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
