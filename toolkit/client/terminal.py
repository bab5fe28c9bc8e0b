"""`chat-toolkit chat`: a terminal visitor for local development, built on VisitorClient.

Lines typed on stdin are sent; replies, team messages and "team is typing…" are printed
as they arrive (long-poll by default). `/older` prints the next page of older history.
The session file lets the next start resume the same conversation. Tokens are never
printed.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import sys
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from toolkit.client.retry import backoff_delay, parse_retry_after
from toolkit.client.session import Session, SessionStore
from toolkit.client.visitor import DEFAULT_WAIT, Update, VisitorClient
from toolkit.config import Target
from toolkit.errors import (
    Forbidden,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    TokenRequired,
    UpstreamUnavailable,
)
from toolkit.protocol import RETRY_AFTER

__all__ = ["run_chat"]

_SEND_ATTEMPTS = 3
_OLDER = "/older"
# Message text and names come from other people: C0 controls (but newline), DEL and C1
# controls (CSI is U+009B) are shown as \xNN, so no escape sequence reaches the terminal,
# and the bidi controls (Unicode TR9: LRM, RLM, ALM, embeddings, overrides, isolates) as
# \uNNNN, so a message cannot reorder what is printed around it (as `team` prints them).
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_CONTROLS = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c != 0x0A},
    **{c: f"\\u{c:04x}" for c in _BIDI},
}
_LABELS = {"visitor": "You", "ai": "Assistant", "team": "Team", "system": "System"}


def run_chat(
    target: Target,
    session_path: Path,
    *,
    visitor_id: str | None = None,
    interval: float = 2.0,
    wait: float = DEFAULT_WAIT,
    stdin_fd: int | None = None,
    out: TextIO | None = None,
) -> int:
    """Chat until EOF or Ctrl-C; both end cleanly with exit status 0."""
    out = out or sys.stdout
    fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
    terminal = _Terminal(out, session_path, echo_own=not os.isatty(fd))
    try:
        asyncio.run(_chat(target, session_path, visitor_id, (interval, wait), fd, terminal))
    except KeyboardInterrupt:
        out.write("\n")
    terminal.goodbye()
    return 0


async def _chat(
    target: Target,
    session_path: Path,
    visitor_id: str | None,
    timing: tuple[float, float],
    fd: int,
    terminal: _Terminal,
) -> None:
    store = SessionStore(session_path)
    interval, wait = timing
    # A held sync answers within `wait`; the margin is for a slow network or server.
    async with httpx.AsyncClient(timeout=wait + 15.0) as http:
        client = VisitorClient(
            target.functions_url,
            target.visitor_key,
            store,
            http=http,
            visitor_id=visitor_id,
            interval=interval,
            wait=wait,
        )
        terminal.store = store
        terminal.hello(store.load())
        lines = _read_lines(fd)
        stop = asyncio.Event()
        poller = asyncio.create_task(client.run(terminal.show, stop))
        try:
            while (line := await _next_line(lines, poller)) is not None:
                if line.strip() == _OLDER:
                    await terminal.older(client)
                elif line.strip():
                    await terminal.send(client, line.strip())
            if store.load() is not None:
                # EOF right after a send: show the reply before leaving.
                with contextlib.suppress(RateLimited, UpstreamUnavailable):
                    terminal.show(await client.sync())
        finally:
            stop.set()
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller


async def _next_line(lines: asyncio.Queue[str | None], poller: asyncio.Task[None]) -> str | None:
    """The next stdin line (None at EOF); a sync loop that died raises its error here."""
    getter = asyncio.ensure_future(lines.get())
    try:
        await asyncio.wait({getter, poller}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()
    if not getter.cancelled():
        return getter.result()
    poller.result()
    raise RuntimeError("the sync loop ended unexpectedly")


def _read_lines(fd: int) -> asyncio.Queue[str | None]:
    """stdin lines, read on a daemon thread so the event loop never blocks; None is EOF.

    Raw os.read, not sys.stdin: a daemon thread parked inside a buffered reader's lock
    can abort the interpreter at exit. Works for terminals, pipes and files alike.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(item: str | None) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop has closed: nobody is listening any more
            return False
        return True

    def pump() -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            pending += decoder.decode(chunk, final=not chunk)
            *complete, pending = pending.split("\n")
            for line in complete:
                if not put(line):
                    return
            if not chunk:
                if pending:
                    put(pending)
                put(None)
                return

    threading.Thread(target=pump, name="chat-stdin", daemon=True).start()
    return queue


class _Terminal:
    """What the person at the terminal sees."""

    def __init__(self, out: TextIO, session_path: Path, *, echo_own: bool) -> None:
        self.out = out
        self.session_path = session_path
        self.store: SessionStore | None = None
        self._echo_own = echo_own
        self._own_ids: set[str] = set()
        self._typing = False
        self._status: str | None = None
        self._failing = False
        self._older_hinted = False
        self._synced = asyncio.Event()

    def say(self, line: str) -> None:
        self.out.write(line.translate(_CONTROLS) + "\n")
        self.out.flush()

    def hello(self, session: Session | None) -> None:
        if session is None:
            self.say("* new visitor: type a message and press Enter to start a conversation")
        elif session.token is None:
            self.say(
                f"* resuming conversation {session.conversation_id} "
                "(a pre-cutover session without a token: one will be requested)"
            )
        else:
            self.say(f"* resuming conversation {session.conversation_id}")
        self.say(f"* session file: {self.session_path}; Ctrl-D or Ctrl-C quits")

    def goodbye(self) -> None:
        session = self.store.load() if self.store is not None else None
        if session is None:
            self.say("* bye")
        else:
            self.say(f"* bye; conversation {session.conversation_id} resumes on the next start")

    async def send(self, client: VisitorClient, text: str) -> None:
        """Send one line; transient failures are retried with the same clientMessageId."""
        client_message_id = str(uuid.uuid4())
        for attempt in range(_SEND_ATTEMPTS):
            existing = client.session is not None
            try:
                sent = await client.send(text, client_message_id)
            except (Forbidden, TokenRequired) as exc:
                self.say(
                    f"* not sent: this conversation no longer accepts the stored session ({exc}); "
                    "it was cleared, so send it again to start a new conversation"
                )
                return
            except (RateLimited, UpstreamUnavailable) as exc:
                # Only an existing conversation makes a retry idempotent (clientMessageId is
                # unique per conversation); a lost "create" answer must not open a second one.
                if not existing or attempt == _SEND_ATTEMPTS - 1:
                    self.say(f"* not sent: {exc}; type it again to retry")
                    return
                retry_after = parse_retry_after(exc.headers.get(RETRY_AFTER))
                await asyncio.sleep(backoff_delay(attempt, retry_after=retry_after))
                continue
            except (InvalidRequest, PayloadTooLarge) as exc:
                self.say(f"* not sent: {exc}")
                return
            self._own_ids.add(sent.message_id)
            if sent.new_conversation:
                self.say(f"* started conversation {sent.conversation_id}")
            return

    async def older(self, client: VisitorClient) -> None:
        """Print the next page of older history, oldest first (once the first sync has
        shown the newest page: older is relative to it)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._synced.wait(), timeout=10)
        try:
            messages = await client.load_older()
        except (Forbidden, TokenRequired) as exc:
            self.say(f"* the stored session was refused ({exc}) and cleared")
            return
        except (RateLimited, UpstreamUnavailable) as exc:
            self.say(f"* cannot load older messages: {exc}; type {_OLDER} again to retry")
            return
        if not messages:
            self.say("* no older messages")
            return
        self.say(f"* {len(messages)} older message{'s' if len(messages) != 1 else ''}:")
        for message in messages:
            self.say(_format(message))
        if client.has_older:
            self.say(f"* type {_OLDER} for more")

    def show(self, update: Update) -> None:
        if update.error is not None:
            if not self._failing:
                self.say(f"* cannot sync: {update.error}; retrying in {update.retry_in:.1f}s")
            self._failing = True
            return
        if self._failing:
            self.say("* sync is back")
            self._failing = False
        if update.reset is not None:
            self.say(
                f"* the stored session was refused ({update.reset}) and cleared; "
                "your next message starts a new conversation"
            )
            self._typing, self._status = False, None
            return
        self._synced.set()
        if update.token_issued:
            self.say("* a conversation token was issued for this pre-cutover conversation")
        if update.has_older and not self._older_hinted:
            self.say(f"* older messages are not shown; type {_OLDER} to load them")
        self._older_hinted = update.has_older
        for message in update.messages:
            if self._echo_own or message.get("id") not in self._own_ids:
                self.say(_format(message))
        typing = update.typing.get("isTyping") is True
        if typing and not self._typing:
            name = update.typing.get("name")
            self.say(f"* team is typing… ({name})" if name else "* team is typing…")
        self._typing = typing
        status = (update.conversation or {}).get("status")
        if isinstance(status, str):
            if self._status is not None and status != self._status:
                self.say(f"* conversation is now {status}")
            self._status = status


def _format(message: dict[str, Any]) -> str:
    kind = str(message.get("senderType", ""))
    name = message.get("senderName")
    if kind == "visitor":
        label = "You"
    elif kind == "team":
        label = f"{name} (team)" if name else "Team"
    else:
        label = name or _LABELS.get(kind, kind or "?")
    text = str(message.get("text", "")).replace("\n", "\n        ")
    return f"[{_clock(message.get('createdAt'))}] {label}: {text}"


def _clock(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).astimezone().strftime("%H:%M")
    except ValueError:
        return "--:--"
