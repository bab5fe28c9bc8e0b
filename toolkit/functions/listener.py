"""Long-poll wake-ups: one LISTEN connection per worker to the chat tables' notifications.

The triggers of sql/migrations/20260327062300_chat_visitor_notify.sql send the id of a
conversation whose visible state may have changed on the channel `chat_visitor`; a held
chat-visitor-sync watches its conversation's id here and syncs again when woken. Only
wake-ups travel this way: the data always comes through PostgREST.

While the connection is down (no SUPABASE_DB_URL, a database restart) the listener is not
`ready`, so syncs are answered at once instead of being held; losing the connection and
closing both wake every held sync, and the connection is made again with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import psycopg

__all__ = ["CHANNEL", "Listener", "Waiter", "on_shutdown_signal"]

log = logging.getLogger("toolkit.functions")

CHANNEL = "chat_visitor"
_RETRY_FIRST, _RETRY_MAX = 0.25, 5.0  # seconds between reconnection attempts


class Waiter:
    """One held sync's wake-up: set on news about its conversation, a lost connection or
    shutdown."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True when woken, False when the time ran out."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout=max(0.0, timeout))
        except TimeoutError:
            return False
        return True


class Listener:
    """LISTEN `chat_visitor` on one psycopg connection; `watch` a conversation to be woken."""

    def __init__(self, db_url: str) -> None:
        self._db_url = db_url
        self._waiters: dict[str, set[Waiter]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._closing = False

    @property
    def ready(self) -> bool:
        """Listening now, and not shutting down: a sync may be held."""
        return self._connected and not self._closing

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chat-visitor-listener")

    @contextlib.contextmanager
    def watch(self, conversation_id: str) -> Iterator[Waiter]:
        """Register before reading, so that news arriving during the read is not missed."""
        waiter = Waiter()
        self._waiters.setdefault(conversation_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(conversation_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[conversation_id]

    def close(self) -> None:
        """Stop holding syncs and wake every held one (shutdown begins)."""
        self._closing = True
        self._wake_all()

    async def aclose(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay, reported = _RETRY_FIRST, False
        while not self._closing:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._db_url,
                    autocommit=True,
                    application_name="chat-toolkit listener",
                    # Find a silently dropped connection (no FIN) within about half a minute.
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                ) as conn:
                    await conn.execute(f"listen {CHANNEL}")
                    self._connected, delay, reported = True, _RETRY_FIRST, False
                    log.info("listener: listening on %s", CHANNEL)
                    async for notify in conn.notifies():
                        for waiter in tuple(self._waiters.get(notify.payload, ())):
                            waiter.wake()
            except psycopg.Error as exc:
                if not reported:  # once per outage: held syncs are answered at once meanwhile
                    log.warning("listener: no connection (%s); retrying", _reason(exc))
                    reported = True
            finally:
                # Notifications may be missed until the next LISTEN: let every held sync read.
                if self._connected:
                    self._connected = False
                    self._wake_all()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    def _wake_all(self) -> None:
        for waiters in tuple(self._waiters.values()):
            for waiter in tuple(waiters):
                waiter.wake()


def on_shutdown_signal(callback: Callable[[], None]) -> None:
    """Call `callback` on the running loop as soon as SIGTERM or SIGINT arrives.

    uvicorn drains open requests before the app's shutdown runs and cuts them off after
    its graceful timeout; a sync held for 25 s must therefore learn of the shutdown from
    the signal itself. uvicorn's own handler still runs first.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach the main thread only (an app driven by a test client)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            if callable(previous):
                previous(signum, frame)
            loop.call_soon_threadsafe(callback)

        signal.signal(sig, handler)


def _reason(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
