"""The bench's sync-at-scale figures (issue 14): how fast a team message reaches a visitor
by polling and by long-poll with many visitors connected, what an idle visitor costs in
requests, and how many messages a sync returns while an unrelated transaction stays open.

The visitors are one asyncio client (aiohttp) holding a connection each; the team writes
straight into the database. Figures are measured, never asserted.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import psycopg

from toolkit.protocol import CHAT_VISITOR_SYNC, api_key_headers
from toolkit.tokens import hash_token

__all__ = ["Delivery", "measure_delivery", "measure_stall", "percentile", "seed_visitors"]


@dataclass(frozen=True)
class Visitor:
    conversation_id: str
    token: str
    cursor: str


@dataclass
class Delivery:
    """One mode's run: delivery latencies (ms) and request starts per visitor."""

    mode: str
    visitors: int
    latencies_ms: list[float] = field(default_factory=list)
    idle_requests: int = 0
    idle_visitors: int = 0
    window_s: float = 0.0
    errors: int = 0
    written: int = 0
    insert_ms: list[float] = field(default_factory=list)
    """How long each team insert took to commit: the database's share of latency."""
    loop_lag_ms: list[float] = field(default_factory=list)
    """How late this client's event loop woke up (50 ms ticks): its own share of latency."""

    def summary(self) -> dict[str, Any]:
        idle_minutes = self.idle_visitors * self.window_s / 60
        return {
            "p50": _round(percentile(self.latencies_ms, 50)),
            "p99": _round(percentile(self.latencies_ms, 99)),
            "delivered": len(self.latencies_ms),
            "written": self.written,
            "errors": self.errors,
            "insert_ms_p99": _round(percentile(self.insert_ms, 99)),
            "loadgen_loop_lag_ms_p99": _round(percentile(self.loop_lag_ms, 99)),
            "idle_requests_per_visitor_minute": (
                round(self.idle_requests / idle_minutes, 2) if idle_minutes else None
            ),
        }


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def seed_visitors(
    db_url: str, functions_url: str, visitor_key: str, count: int
) -> list[Visitor]:
    """`count` conversations with two messages each, and each one's cursor after a full sync."""
    tokens = {str(uuid.uuid4()): secrets.token_urlsafe(32) for _ in range(count)}
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        async with conn.cursor() as cur:
            await cur.executemany(
                "insert into chat_conversations (id, visitor_id, access_token_hash) "
                "values (%s, %s, %s)",
                [(cid, f"scale-{cid}", hash_token(t)) for cid, t in tokens.items()],
            )
        await conn.execute(
            "insert into chat_messages (conversation_id, sender_type, message_text) "
            "select c, 'visitor', 'hello ' || g from unnest(%s::uuid[]) c, generate_series(1, 2) g",
            (list(tokens),),
        )
    gate = asyncio.Semaphore(32)
    async with _session(64) as session:

        async def first(cid: str, token: str) -> Visitor:
            async with gate:
                body = {"conversationId": cid, "conversationToken": token}
                answer = await _post(session, functions_url, visitor_key, body)
                return Visitor(cid, token, answer["cursor"])

        return list(await asyncio.gather(*(first(c, t) for c, t in tokens.items())))


async def measure_delivery(
    visitors: list[Visitor],
    *,
    functions_url: str,
    visitor_key: str,
    db_url: str,
    mode: str,
    wait: float,
    interval: float,
    window: float,
    every: float,
) -> Delivery:
    """Every visitor syncs in a loop (`mode` "poll": every `interval` s; "longpoll": held up
    to `wait` s), starting at a random moment within the first `ramp` (the longer of the
    two) seconds. Then, for `window` seconds, the team writes to a random visitor every
    `every` seconds; a delivery lasts from just before the insert to the answer carrying
    it. Request starts in the window are counted for visitors who were written nothing."""
    result = Delivery(mode, len(visitors))
    ramp = max(wait, interval)
    loop = asyncio.get_running_loop()
    written: dict[str, float] = {}
    starts: list[list[float]] = [[] for _ in visitors]
    addressed: set[int] = set()
    stop = asyncio.Event()
    rng = random.Random(7)
    async with _session(len(visitors) + 16, timeout=wait + 30) as session:

        async def visitor(i: int, offset: float) -> None:
            await asyncio.sleep(offset)
            cursor = visitors[i].cursor
            while not stop.is_set():
                started = loop.time()
                starts[i].append(started)
                body: dict[str, Any] = {
                    "conversationId": visitors[i].conversation_id,
                    "conversationToken": visitors[i].token,
                    "since": cursor,
                }
                if mode == "longpoll":
                    body["wait"] = wait
                try:
                    answer = await _post(session, functions_url, visitor_key, body)
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    result.errors += 1
                    await asyncio.sleep(interval)
                    continue
                now = loop.time()
                for message in answer["messages"]:
                    sent = written.get(message["id"])
                    if sent is not None:
                        result.latencies_ms.append((now - sent) * 1000)
                cursor = answer["cursor"]
                if mode == "poll":
                    await asyncio.sleep(interval)

        async def lag() -> None:
            while not stop.is_set():
                expected = loop.time() + 0.05
                await asyncio.sleep(0.05)
                result.loop_lag_ms.append(max(0.0, loop.time() - expected) * 1000)

        tasks = [
            asyncio.create_task(visitor(i, rng.uniform(0, ramp))) for i in range(len(visitors))
        ]
        tasks.append(asyncio.create_task(lag()))
        await asyncio.sleep(ramp + 1)
        opened = loop.time()
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as team:
            while loop.time() < opened + window:
                i = rng.randrange(len(visitors))
                addressed.add(i)
                message_id = str(uuid.uuid4())
                written[message_id] = loop.time()
                await team.execute(
                    "insert into chat_messages (id, conversation_id, sender_type, message_text) "
                    "values (%s, %s, 'team', 'scale delivery')",
                    (message_id, visitors[i].conversation_id),
                )
                result.insert_ms.append((loop.time() - written[message_id]) * 1000)
                await asyncio.sleep(max(0.0, every - (loop.time() - written[message_id])))
        closed = loop.time()
        await asyncio.sleep(min(2.0, wait) if mode == "longpoll" else interval + 1)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    result.written = len(written)
    result.window_s = closed - opened
    quiet = [i for i in range(len(visitors)) if i not in addressed]
    result.idle_visitors = len(quiet)
    result.idle_requests = sum(1 for i in quiet for t in starts[i] if opened <= t < closed)
    return result


def measure_stall(
    db_url: str, functions_url: str, visitor_key: str, new_messages: int = 40
) -> dict[str, int]:
    """While another session holds a transaction id, `new_messages` team messages arrive
    one per sync: the most messages any one of those syncs returned."""
    cid, token = str(uuid.uuid4()), secrets.token_urlsafe(32)
    headers = api_key_headers(visitor_key)
    most = 0
    with (
        psycopg.connect(db_url, autocommit=True) as team,
        psycopg.connect(db_url) as holder,
        httpx.Client(timeout=30) as http,
    ):
        team.execute(
            "insert into chat_conversations (id, visitor_id, access_token_hash) "
            "values (%s, 'stall', %s)",
            (cid, hash_token(token)),
        )
        body: dict[str, Any] = {"conversationId": cid, "conversationToken": token}
        cursor = http.post(
            f"{functions_url}/{CHAT_VISITOR_SYNC}", json=body, headers=headers
        ).json()["cursor"]
        holder.execute("select pg_current_xact_id()")  # idle in transaction from here on
        for i in range(new_messages):
            team.execute(
                "insert into chat_messages (conversation_id, sender_type, message_text) "
                "values (%s, 'team', %s)",
                (cid, f"stalled {i}"),
            )
            answer = http.post(
                f"{functions_url}/{CHAT_VISITOR_SYNC}",
                json=body | {"since": cursor},
                headers=headers,
            ).json()
            most = max(most, len(answer["messages"]))
            cursor = answer["cursor"]
        holder.rollback()
    return {"new_messages": new_messages, "max_messages_per_sync": most}


def _session(connections: int, timeout: float = 30.0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout),
    )


async def _post(
    session: aiohttp.ClientSession, functions_url: str, visitor_key: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with session.post(
        f"{functions_url}/{CHAT_VISITOR_SYNC}",
        json=body,
        headers=api_key_headers(visitor_key),
    ) as response:
        if response.status != 200:
            raise ValueError(f"{CHAT_VISITOR_SYNC} answered {response.status}")
        answer: dict[str, Any] = await response.json()
        return answer
