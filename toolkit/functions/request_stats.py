"""Per-request outcomes for error monitoring: counted in the worker, appended in batches to
chat_function_requests (migration 20260327071000), read by `chat-toolkit rollout status`.

A batch is one row per function and status code that had answers since the last one; it is
written every FLUSH_SECONDS and once more when the worker stops, so a clean shutdown loses
nothing. A failed write keeps the counts for the next try (they are bounded: a few functions
times a few status codes) and is logged once per failure streak; answering never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator

from toolkit.errors import UpstreamUnavailable
from toolkit.functions.store import ChatStore

__all__ = ["FLUSH_SECONDS", "RequestStats"]

log = logging.getLogger("toolkit.functions")

FLUSH_SECONDS = 10.0


class RequestStats:
    """Answers per (function, status) since the last batch."""

    def __init__(self, store: ChatStore) -> None:
        self._store = store
        self._counts: Counter[tuple[str, int]] = Counter()
        self._failing = False

    def count(self, function: str, status: int) -> None:
        self._counts[(function, status)] += 1

    async def flush(self) -> None:
        """Append the counts as one batch; on failure keep them for the next one."""
        if not self._counts:
            return
        batch, self._counts = self._counts, Counter()
        try:
            await self._store.record_requests(
                [(function, status, n) for (function, status), n in batch.items()]
            )
        except UpstreamUnavailable:
            self._counts.update(batch)
            if not self._failing:
                log.warning("request_stats_unrecorded: chat_function_requests cannot be written")
            self._failing = True
            return
        self._failing = False

    @contextlib.asynccontextmanager
    async def running(self, every: float = FLUSH_SECONDS) -> AsyncIterator[None]:
        """Flush every `every` seconds while the block runs, and once more at its end."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                await self.flush()

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.flush()
