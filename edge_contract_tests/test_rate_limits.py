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
        post(http, url, "chat-visitor-sync", body, target.visitor_key, "198.51.100.1")
        for _ in range(4)
    ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[-1].json()["code"] == "rate_limited"
    assert 1 <= int(statuses[-1].headers["retry-after"]) <= 20
    other_body = {
        "conversationId": other["conversationId"],
        "conversationToken": other["conversationToken"],
    }
    ok = post(http, url, "chat-visitor-sync", other_body, target.visitor_key, "198.51.100.1")
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
                http, url, "handle-chat-message", body, target.visitor_key, "198.51.100.2"
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


def test_wrong_tokens_for_a_known_conversation_do_not_silence_its_visitor(
    http: httpx.Client, target: Target, serve: Callable[..., str]
) -> None:
    """25 wrong-token messages and 25 wrong-token syncs for a known conversation and
    visitorId (403, then 429 from the attacker's failure bucket) spend none of the
    conversation's buckets: its visitor still sends and syncs (200) from elsewhere."""
    url = serve(
        CHAT_RATE_LIMITS="on",
        CHAT_RATE_MESSAGE="20/600",
        CHAT_RATE_SYNC="20/600",
        CHAT_RATE_TOKEN_FAILURES="20/600",
    )
    conv = open_conversation(http, target)
    known = {"conversationId": conv["conversationId"], "conversationToken": "z" * 43}
    attacks = [
        post(
            http,
            url,
            name,
            {**known, "visitorId": conv["visitorId"], "message": "spam"},
            target.visitor_key,
            "203.0.113.50",
        ).status_code
        for name in ("handle-chat-message", "chat-visitor-sync")
        for _ in range(25)
    ]
    assert attacks == [403] * 20 + [429] * 30
    real = {
        "visitorId": conv["visitorId"],
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
        "message": "still here",
    }
    sent = post(http, url, "handle-chat-message", real, target.visitor_key, "198.51.100.50")
    assert sent.status_code == 200, sent.text
    synced = post(http, url, "chat-visitor-sync", real, target.visitor_key, "198.51.100.50")
    assert synced.status_code == 200, synced.text


def test_failure_limit_refuses_failures_but_never_a_valid_token(
    http: httpx.Client, target: Target, serve: Callable[..., str]
) -> None:
    """CHAT_RATE_TOKEN_FAILURES=20/600: an address with 20 failed checks gets 429 for the
    next wrong token (the twin: the limit still bites), yet a valid token from that same
    address (a visitor behind the same NAT) is 200 for both functions."""
    url = serve(CHAT_RATE_LIMITS="on", CHAT_RATE_TOKEN_FAILURES="20/600")
    conv = open_conversation(http, target)
    wrong = {"conversationId": str(uuid.uuid4()), "conversationToken": "z" * 43}
    failures = [
        post(http, url, "chat-visitor-sync", wrong, target.visitor_key, "203.0.113.66").status_code
        for _ in range(21)
    ]
    assert failures == [403] * 20 + [429]
    limited = post(http, url, "chat-visitor-sync", wrong, target.visitor_key, "203.0.113.66")
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 30
    good = {
        "visitorId": conv["visitorId"],
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
        "message": "behind the same NAT",
    }
    synced = post(http, url, "chat-visitor-sync", good, target.visitor_key, "203.0.113.66")
    assert synced.status_code == 200, synced.text
    sent = post(http, url, "handle-chat-message", good, target.visitor_key, "203.0.113.66")
    assert sent.status_code == 200, sent.text


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
            target.visitor_key,
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
        target.visitor_key,
        "192.0.2.11",
    )
    assert other.status_code == 200
