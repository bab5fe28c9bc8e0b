"""Rate limits over HTTP: 429 with Retry-After, and a limited request touches no data."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import auth_headers, one_row, open_conversation
from toolkit.config import Target

pytestmark = pytest.mark.writes


def post(
    http: httpx.Client, url: str, name: str, body: dict[str, Any], key: str, ip: str
) -> httpx.Response:
    headers = {**auth_headers(key), "X-Forwarded-For": ip}
    return http.post(f"{url}/{name}", json=body, headers=headers)


def test_sync_limit_per_conversation_is_429_with_retry_after(
    http: httpx.Client, target: Target, serve: Callable[..., str]
) -> None:
    """CHAT_RATE_SYNC=3/60: the fourth sync of one conversation is 429, another still syncs."""
    url = serve(CHAT_RATE_LIMITS="on", CHAT_RATE_SYNC="3/60")
    mine, other = open_conversation(http, target), open_conversation(http, target)
    body = {
        "conversationId": mine["conversationId"],
        "conversationToken": mine["conversationToken"],
    }
    statuses = [
        post(http, url, "chat-visitor-sync", body, target.anon_key, "198.51.100.1")
        for _ in range(4)
    ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[-1].json()["code"] == "rate_limited"
    assert 1 <= int(statuses[-1].headers["retry-after"]) <= 20
    other_body = {
        "conversationId": other["conversationId"],
        "conversationToken": other["conversationToken"],
    }
    ok = post(http, url, "chat-visitor-sync", other_body, target.anon_key, "198.51.100.1")
    assert ok.status_code == 200


def test_limited_message_is_not_stored(
    http: httpx.Client, target: Target, serve: Callable[..., str], db: psycopg.Connection
) -> None:
    """CHAT_RATE_MESSAGE=2/60: the third message is 429 and never reaches the database."""
    url = serve(CHAT_RATE_LIMITS="on", CHAT_RATE_MESSAGE="2/60")
    conv = open_conversation(http, target)
    statuses = []
    for i in range(3):
        body = {
            "visitorId": conv["visitorId"],
            "conversationId": conv["conversationId"],
            "conversationToken": conv["conversationToken"],
            "message": f"limited {i}",
        }
        statuses.append(
            post(
                http, url, "handle-chat-message", body, target.anon_key, "198.51.100.2"
            ).status_code
        )
    assert statuses == [200, 200, 429]
    stored = {
        t
        for (t,) in db.execute(
            "select message_text from chat_messages where conversation_id = %s",
            (conv["conversationId"],),
        )
    }
    assert "limited 2" not in stored and {"limited 0", "limited 1"} <= stored


def test_failed_token_checks_block_the_address_before_any_lookup(
    http: httpx.Client, target: Target, serve: Callable[..., str]
) -> None:
    """After 3 wrong tokens an address gets 429 even with a valid token; others are unaffected."""
    url = serve(CHAT_RATE_LIMITS="on", CHAT_RATE_TOKEN_FAILURES="3/600")
    conv = open_conversation(http, target)
    good = {
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
    }
    for _ in range(3):
        wrong = {"conversationId": str(uuid.uuid4()), "conversationToken": "z" * 43}
        assert (
            post(http, url, "chat-visitor-sync", wrong, target.anon_key, "203.0.113.66").status_code
            == 403
        )
    blocked = post(http, url, "chat-visitor-sync", good, target.anon_key, "203.0.113.66")
    assert blocked.status_code == 429 and blocked.json()["code"] == "rate_limited"
    assert (
        post(http, url, "chat-visitor-sync", good, target.anon_key, "203.0.113.67").status_code
        == 200
    )


def test_new_conversations_are_limited_per_address(
    http: httpx.Client, target: Target, serve: Callable[..., str], db: psycopg.Connection
) -> None:
    """NEW_CONVERSATIONS=2/60: a third conversation from one address is 429 and not created."""
    url = serve(CHAT_RATE_LIMITS="on", CHAT_RATE_NEW_CONVERSATIONS="2/60")
    visitor = f"flood-{uuid.uuid4()}"
    statuses = [
        post(
            http,
            url,
            "handle-chat-message",
            {"visitorId": visitor, "message": "hi"},
            target.anon_key,
            "192.0.2.10",
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    (created,) = one_row(
        db, "select count(*) from chat_conversations where visitor_id = %s", (visitor,)
    )
    assert created == 2
    other = post(
        http,
        url,
        "handle-chat-message",
        {"visitorId": visitor, "message": "hi"},
        target.anon_key,
        "192.0.2.11",
    )
    assert other.status_code == 200
