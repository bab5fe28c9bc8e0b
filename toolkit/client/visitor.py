"""The visitor client: the chat widget's logic (seed §1, CONTRACT §4-5) as an async library.

It keeps the widget's local session (`tradeitm_chat_session_v1`), sends through
handle-chat-message, polls chat-visitor-sync, merges messages by id, resumes legacy
sessions through bootstrap, and drops a session the functions no longer accept.

Every failure reaching the caller is a ToolkitError: the functions' answers become the
FunctionError subclass named by their `code`; a network failure is UpstreamUnavailable.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from toolkit.client.retry import MIN_DELAY, backoff_delay, parse_retry_after
from toolkit.client.session import Session, SessionStore
from toolkit.errors import (
    FUNCTION_ERRORS_BY_CODE,
    ConfigError,
    Forbidden,
    FunctionError,
    RateLimited,
    TokenRequired,
    UpstreamUnavailable,
)
from toolkit.protocol import CHAT_VISITOR_SYNC, HANDLE_CHAT_MESSAGE, RETRY_AFTER, api_key_headers

__all__ = ["Sent", "Update", "VisitorClient", "merge_messages"]


Message = dict[str, Any]
# The answers that mean "this session is dead", as the widget treats 401/403. A 401
# `unauthorized` is a bad API key, not a bad session, so it does not clear anything.
_SESSION_ERRORS = (Forbidden, TokenRequired)
_TRANSIENT_ERRORS = (RateLimited, UpstreamUnavailable)


# -- pure helpers -------------------------------------------------------------------------


def merge_messages(existing: Iterable[Message], incoming: Iterable[Message]) -> list[Message]:
    """Both lists deduplicated by `id` (the later copy wins), ordered by (createdAt, id)."""
    by_id = {m["id"]: m for m in existing}
    by_id.update((m["id"], m) for m in incoming)
    return sorted(by_id.values(), key=lambda m: (_instant(m.get("createdAt")), str(m["id"])))


def _instant(value: Any) -> datetime:
    # Timestamps are compared as instants, not as text: offsets and precision may differ.
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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

    `messages` holds only messages not seen before. `reset` is the error that made the
    client drop the stored session; `error` and `retry_in` describe a transient failure
    that `run` will retry.
    """

    messages: list[Message] = field(default_factory=list)
    typing: dict[str, Any] = field(default_factory=dict)
    conversation: dict[str, Any] | None = None
    token_issued: bool = False
    reset: FunctionError | None = None
    error: FunctionError | None = None
    retry_in: float | None = None


OnUpdate = Callable[[Update], Awaitable[None] | None]


class VisitorClient:
    """One visitor's view of the chat, as the widget keeps it."""

    def __init__(
        self,
        functions_url: str,
        api_key: str,
        store: SessionStore,
        *,
        http: httpx.AsyncClient,
        visitor_id: str | None = None,
        interval: float = 2.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not interval > 0:
            raise ConfigError(f"interval must be a positive number of seconds, not {interval}")
        self.functions_url = functions_url.rstrip("/")
        self.store = store
        self.interval = interval
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
        self._conversation_id: str | None = None
        self._cursor: str | None = None
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
            conversation_id = _field(answer, "conversationId", str)
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
            message_id=_field(answer, "messageId", str),
            client_message_id=client_message_id,
            reply=answer.get("reply") if isinstance(answer.get("reply"), str) else None,
            status=str(answer.get("status", "")),
            escalated=answer.get("escalated") is True,
            new_conversation=session is None or session.conversation_id != conversation_id,
        )

    async def sync(self) -> Update:
        """One chat-visitor-sync: merge new messages, advance the cursor, note typing.

        A legacy session (no token) resumes through bootstrap and stores the minted token.
        A refused session is cleared and reported as `Update.reset`. Without a session
        there is nothing to sync and the update is empty.
        """
        async with self._lock:
            session = self.store.load()
            if session is None:
                self._adopt(None)
                return Update(typing=dict(self.typing))
            self._adopt(session.conversation_id)
            body: dict[str, Any] = {"conversationId": session.conversation_id}
            if session.token is not None:
                body["conversationToken"] = session.token
            else:
                body["visitorId"] = self.visitor_id
            if self._cursor is not None:
                body["since"] = self._cursor
            try:
                answer = await self._post(CHAT_VISITOR_SYNC, body)
            except _SESSION_ERRORS as exc:
                self._drop_session()
                return Update(reset=exc)
            minted = answer.get("conversationToken")
            token_issued = session.token is None and isinstance(minted, str) and bool(minted)
            if token_issued:
                self.store.save(Session(session.conversation_id, minted))
            incoming = answer.get("messages")
            if not isinstance(incoming, list):
                raise UpstreamUnavailable("chat-visitor-sync answered without a message list")
            known = {m["id"] for m in self.messages}
            fresh = [m for m in merge_messages([], incoming) if m["id"] not in known]
            self.messages = merge_messages(self.messages, incoming)
            cursor = answer.get("cursor")
            self._cursor = cursor if isinstance(cursor, str) else self._cursor
            typing = answer.get("typing")
            self.typing = typing if isinstance(typing, dict) else {"isTyping": False, "name": None}
            conversation = answer.get("conversation")
            self.conversation = conversation if isinstance(conversation, dict) else None
            return Update(
                messages=fresh,
                typing=dict(self.typing),
                conversation=self.conversation,
                token_issued=token_issued,
            )

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
            try:
                update = await self.sync()
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
            if update.error is None and self._wake.is_set():
                continue
            await _first_of(stop_event, self._wake, timeout=delay)

    def _adopt(self, conversation_id: str | None) -> None:
        """Start from scratch when the conversation changed (a reset, or another session)."""
        if conversation_id != self._conversation_id:
            self._conversation_id = conversation_id
            self.messages, self._cursor, self.conversation = [], None, None
            self.typing = {"isTyping": False, "name": None}

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
        raise _error(name, response.status_code, answer, response.headers)


def _error(
    name: str, status: int, answer: Any, headers: httpx.Headers | dict[str, str]
) -> FunctionError:
    """The FunctionError for a non-200 answer, chosen by its `code` (else by its status)."""
    answer = answer if isinstance(answer, dict) else {}
    code = answer.get("code") if isinstance(answer.get("code"), str) else None
    message = answer.get("error") if isinstance(answer.get("error"), str) else None
    cls = FUNCTION_ERRORS_BY_CODE.get(code or "")
    if cls is None:
        by_status = [c for c in FUNCTION_ERRORS_BY_CODE.values() if c.status == status]
        cls = by_status[0] if len(by_status) == 1 else None
    if cls is None and (status >= 500 or status == 200):
        cls = UpstreamUnavailable
    extra = {RETRY_AFTER: headers[RETRY_AFTER]} if RETRY_AFTER in headers else {}
    text = message or f"{name} answered HTTP {status}"
    if cls is None:
        error = FunctionError(text, headers=extra)
        error.status, error.code = status, code or "unexpected_status"
        return error
    return cls(text, headers=extra)


def _field(answer: dict[str, Any], name: str, kind: type) -> Any:
    value = answer.get(name)
    if not isinstance(value, kind):
        raise UpstreamUnavailable(f"the chat function's answer has no valid {name}")
    return value


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    """Wait until any of the events is set, or `timeout` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
