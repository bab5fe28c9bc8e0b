"""The soak's wire: the one transport under every visitor's client, recording each function call
as it goes (latency, status, error code, the ids each sync answer carried)."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import orjson

from toolkit.protocol import CHAT_VISITOR_SYNC, HANDLE_CHAT_MESSAGE

__all__ = ["ENDPOINTS", "Wire"]

ENDPOINTS = {CHAT_VISITOR_SYNC: "sync", HANDLE_CHAT_MESSAGE: "message"}
"""The functions the soak calls, by the short names its figures use."""


class Wire(httpx.AsyncBaseTransport):
    """Times every function call (connection-pool wait included, as a visitor feels it) and
    keeps the ids each sync answer carried, overlap included.

    Shared by every visitor's client; closing a client leaves it open, `close` ends it.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.latency_ms: dict[str, list[float]] = {"sync": [], "message": []}
        self.outcomes: Counter[str] = Counter()
        """Answers by status ("200", "503", ...) and failures by exception ("ReadTimeout")."""
        self.codes: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.raw: dict[str, list[str]] = {}
        self.timing = True
        """Latency is recorded during the timed phase only, not for the final syncs' burst."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = ENDPOINTS.get(request.url.path.rsplit("/", 1)[-1], "other")
        self.calls[endpoint] += 1
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
            try:
                body = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            self.outcomes[type(exc).__name__] += 1
            raise
        if self.timing:
            self.latency_ms.setdefault(endpoint, []).append((time.perf_counter() - started) * 1000)
        self.outcomes[str(response.status_code)] += 1
        self._inspect(endpoint, request, response.status_code, body)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=body,
            request=request,
            extensions=response.extensions,
        )

    def _inspect(self, endpoint: str, request: httpx.Request, status: int, body: bytes) -> None:
        try:
            answer = orjson.loads(body)
            if status != 200:
                code = answer.get("code") if isinstance(answer, dict) else None
                self.codes[code if isinstance(code, str) else "(no code)"] += 1
            elif endpoint == "sync":
                conversation = orjson.loads(request.content)["conversationId"]
                ids = [m["id"] for m in answer["messages"]]
                self.raw.setdefault(conversation, []).extend(ids)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            if status != 200:
                self.codes["(not JSON)"] += 1

    async def aclose(self) -> None:
        """Left open for the other visitors' clients."""

    async def close(self) -> None:
        await self._inner.aclose()

    def requests(self) -> int:
        return sum(self.outcomes.values())

    def failures(self) -> dict[str, int]:
        """`outcomes` other than 200, sorted by status or exception name."""
        return {k: n for k, n in sorted(self.outcomes.items()) if k != "200"}
