"""Shared rate limits (CHAT_RATE_LIMIT_REDIS_URL): with Redis, N processes share one limit;
without it each keeps its own; with Redis gone the functions keep answering and limiting."""

from __future__ import annotations

import concurrent.futures
import itertools
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import auth_headers, one_row, open_conversation
from toolkit.config import Target
from toolkit.stack import testing

pytestmark = pytest.mark.writes

LIMIT = 12  # messages per conversation per minute


@pytest.fixture()
def redis_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real redis-server on a free port, always stopped at the end."""
    port = testing.free_port()
    proc = testing.start_redis(port, tmp_path / "redis.log")
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        testing.stop_redis(proc)


@pytest.fixture()
def servers(target: Target, tmp_path: Path) -> Iterator[Callable[..., list[str]]]:
    """Start `instances` x `serve --workers N` with these settings; always stopped."""
    started: list[subprocess.Popen[bytes]] = []

    def start(instances: int, workers: int, **settings: str) -> list[str]:
        urls = []
        for _ in range(instances):
            port = testing.free_port()
            env = {
                "SUPABASE_URL": target.url,
                "SUPABASE_PUBLISHABLE_KEY": target.publishable_key,
                "SUPABASE_SECRET_KEY": target.secret_key,
                "SUPABASE_SERVICE_ROLE_KEY": target.service_role_key,
                "SUPABASE_JWT_SECRET": target.jwt_secret or "",
                "SUPABASE_JWKS_URL": target.jwks_url or "",
                "CHAT_RATE_LIMITS": "on",
                **settings,
            }
            log = tmp_path / f"serve-{port}.log"
            started.append(testing.serve_functions(env, port, log, workers=workers))
            urls.append(f"http://127.0.0.1:{port}/functions/v1")
        return urls

    yield start
    for proc in started:
        testing.stop_functions(proc)


def _send(url: str, target: Target, conv: dict[str, Any], text: str) -> int:
    body = {
        "visitorId": conv["visitorId"],
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
        "message": text,
    }
    with httpx.Client(timeout=20.0) as http:
        answer = http.post(
            f"{url}/handle-chat-message", json=body, headers=auth_headers(target.visitor_key)
        )
    return answer.status_code


def _burst(urls: list[str], target: Target, conv: dict[str, Any], count: int) -> list[int]:
    """`count` messages, round-robin over the instances, eight at a time."""
    pairs = list(zip(itertools.cycle(urls), range(count), strict=False))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda p: _send(p[0], target, conv, f"burst {p[1]}"), pairs))


def _stored(db: psycopg.Connection, cid: str) -> int:
    (count,) = one_row(
        db,
        "select count(*) from chat_messages where conversation_id = %s and sender_type = 'visitor'",
        (cid,),
    )
    return int(count)


def test_two_instances_of_two_workers_share_one_limit(
    http: httpx.Client,
    target: Target,
    db: psycopg.Connection,
    redis_server: tuple[str, Any],
    servers: Callable[..., list[str]],
) -> None:
    """Acceptance: 2 x `serve --workers 2` on one Redis accept LIMIT ± 1 of 3 x LIMIT
    messages to one conversation (the bucket refills one message every 5 s), and every
    refused one is 429 and unstored."""
    urls = servers(2, 2, CHAT_RATE_MESSAGE=f"{LIMIT}/60", CHAT_RATE_LIMIT_REDIS_URL=redis_server[0])
    conv = open_conversation(http, target)
    statuses = _burst(urls, target, conv, 3 * LIMIT)
    accepted = statuses.count(200)
    assert set(statuses) == {200, 429}
    assert LIMIT - 1 <= accepted <= LIMIT + 1, statuses
    assert _stored(db, conv["conversationId"]) == accepted + 1  # + the opening message


def test_without_redis_each_process_keeps_its_own_limit(
    http: httpx.Client, target: Target, servers: Callable[..., list[str]]
) -> None:
    """The twin: the same two instances without Redis accept a limit per process, at least
    one per instance, so well over LIMIT + 1 (what the shared store fixes)."""
    urls = servers(2, 2, CHAT_RATE_MESSAGE=f"{LIMIT}/60")
    conv = open_conversation(http, target)
    assert _burst(urls, target, conv, 3 * LIMIT).count(200) >= 2 * LIMIT


def test_redis_stopped_mid_run_falls_back_to_in_process_limits(
    http: httpx.Client,
    target: Target,
    redis_server: tuple[str, subprocess.Popen[bytes]],
    servers: Callable[..., list[str]],
    tmp_path: Path,
) -> None:
    """Redis stops: requests are still answered (200, not 5xx), now limited by the
    process's own buckets, and the server log says why."""
    url, proc = redis_server
    (functions,) = servers(1, 1, CHAT_RATE_MESSAGE="3/600", CHAT_RATE_LIMIT_REDIS_URL=url)
    conv = open_conversation(http, target)
    before = [_send(functions, target, conv, f"before {i}") for i in range(4)]
    testing.stop_redis(proc)
    after = [_send(functions, target, conv, f"after {i}") for i in range(4)]
    assert (before, after) == ([200, 200, 200, 429], [200, 200, 200, 429])
    log = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
    assert "rate_limit_redis_unavailable ConnectionError" in log
