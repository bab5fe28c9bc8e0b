"""Tokens and access (CONTRACT §3, §4, §5): who may send to and read which conversation.

Runs against a `--keys new` and a `--keys legacy` stack (KEY_MODES, conftest.py): the widget
calls with the publishable key there, with the legacy anon key here."""

from __future__ import annotations

import concurrent.futures
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import (
    FORBIDDEN,
    URL_SAFE,
    call,
    legacy_conversation,
    one_row,
    open_conversation,
    stored_hash,
)
from toolkit.config import Target
from toolkit.stack.processes import free_port

pytestmark = pytest.mark.writes
KEY_MODES = ("new", "legacy")


def test_new_conversation_issues_a_token_stored_only_as_its_hash(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """A new conversation returns a 43+ char URL-safe token whose sha256 is the stored hash."""
    body = open_conversation(http, target)
    token = body["conversationToken"]
    assert URL_SAFE.match(token)
    assert body["success"] is True and body["status"] == "active" and body["escalated"] is False
    assert stored_hash(db, body["conversationId"]) == hashlib.sha256(token.encode()).hexdigest()


def test_raw_token_is_in_no_column_of_any_table(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """The raw token appears nowhere in the public or migration-history tables."""
    token = open_conversation(http, target)["conversationToken"]
    tables = db.execute(
        "select format('%I.%I', table_schema, table_name) from information_schema.tables "
        "where table_schema in ('public', 'supabase_migrations') and table_type = 'BASE TABLE'"
    ).fetchall()
    assert len(tables) >= 4
    for (table,) in tables:
        (hits,) = one_row(
            db, f"select count(*) from {table} t where strpos(t::text, %s) > 0", (token,)
        )
        assert hits == 0, table


def test_resume_with_token_continues_the_same_conversation(
    http: httpx.Client, target: Target
) -> None:
    """A second message with the token is 200 on the same conversation and echoes the token."""
    first = open_conversation(http, target)
    response = call(
        http,
        target.functions_url,
        "handle-chat-message",
        {
            "visitorId": first["visitorId"],
            "message": "Still there?",
            "conversationId": first["conversationId"],
            "conversationToken": first["conversationToken"],
        },
        target.visitor_key,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["conversationId"] == first["conversationId"]
    assert body["conversationToken"] == first["conversationToken"]
    assert body["messageId"] != first["messageId"]


def test_wrong_token_other_visitor_and_unknown_id_are_one_identical_403(
    http: httpx.Client, target: Target
) -> None:
    """Wrong token, another visitor's conversation and an unknown id give byte-identical 403s."""
    mine, theirs = open_conversation(http, target), open_conversation(http, target)
    attempts = [
        {**_continue(mine), "conversationToken": "x" * 43},
        {**_continue(mine), "conversationId": theirs["conversationId"]},
        {
            **_continue(theirs),
            "visitorId": mine["visitorId"],
            "conversationToken": theirs["conversationToken"],
        },
        {**_continue(mine), "conversationId": str(uuid.uuid4())},
    ]
    responses = [
        call(http, target.functions_url, "handle-chat-message", a, target.visitor_key)
        for a in attempts
    ]
    for response in responses:
        assert response.status_code == 403
        assert response.json() == FORBIDDEN
    assert len({r.content for r in responses}) == 1


def test_token_of_conversation_a_never_opens_b(http: httpx.Client, target: Target) -> None:
    """Conversation A's token on conversation B is 403 for sync and for messages."""
    a, b = open_conversation(http, target), open_conversation(http, target)
    sync = call(
        http,
        target.functions_url,
        "chat-visitor-sync",
        {
            "conversationId": b["conversationId"],
            "conversationToken": a["conversationToken"],
        },
        target.visitor_key,
    )
    assert (sync.status_code, sync.json()) == (403, FORBIDDEN)
    send = call(
        http,
        target.functions_url,
        "handle-chat-message",
        {
            "visitorId": b["visitorId"],
            "message": "hi",
            "conversationId": b["conversationId"],
            "conversationToken": a["conversationToken"],
        },
        target.visitor_key,
    )
    assert (send.status_code, send.json()) == (403, FORBIDDEN)


def test_sync_unknown_and_wrong_token_are_identical(http: httpx.Client, target: Target) -> None:
    """chat-visitor-sync answers an unknown id and a wrong token with the same 403 bytes."""
    mine = open_conversation(http, target)
    wrong = call(
        http,
        target.functions_url,
        "chat-visitor-sync",
        {
            "conversationId": mine["conversationId"],
            "conversationToken": "y" * 43,
        },
        target.visitor_key,
    )
    unknown = call(
        http,
        target.functions_url,
        "chat-visitor-sync",
        {
            "conversationId": str(uuid.uuid4()),
            "conversationToken": mine["conversationToken"],
        },
        target.visitor_key,
    )
    assert wrong.status_code == unknown.status_code == 403
    assert wrong.content == unknown.content
    assert wrong.json() == FORBIDDEN


def test_missing_token_on_legacy_conversation_auto_issues_one(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """Not enforced, bootstrap allowed, no hash yet: the message is accepted and a token is
    minted, stored and recorded as a bootstrap mint."""
    cid, visitor = legacy_conversation(db)
    response = call(
        http,
        target.functions_url,
        "handle-chat-message",
        {"visitorId": visitor, "message": "back again", "conversationId": cid},
        target.visitor_key,
    )
    assert response.status_code == 200
    token = response.json()["conversationToken"]
    assert stored_hash(db, cid) == hashlib.sha256(token.encode()).hexdigest()
    events = [
        e
        for (e,) in db.execute(
            "select event from chat_access_events where conversation_id = %s order by id", (cid,)
        )
    ]
    assert sorted(events) == ["token_bootstrapped", "tokenless_accepted"]


def test_missing_token_on_hashed_conversation_is_accepted_without_a_token(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """Not enforced, hash present: 200, no token in the body, and the stored hash unchanged."""
    first = open_conversation(http, target)
    before = stored_hash(db, first["conversationId"])
    response = call(
        http,
        target.functions_url,
        "handle-chat-message",
        {
            "visitorId": first["visitorId"],
            "message": "no token this time",
            "conversationId": first["conversationId"],
        },
        target.visitor_key,
    )
    assert response.status_code == 200
    assert "conversationToken" not in response.json()
    assert stored_hash(db, first["conversationId"]) == before


def test_missing_token_when_enforced_is_401(
    http: httpx.Client, target: Target, serve: Callable[..., str], db: psycopg.Connection
) -> None:
    """ENFORCE_VISITOR_CONVERSATION_TOKEN=true: a tokenless continue is 401 token_required."""
    enforced = serve(ENFORCE_VISITOR_CONVERSATION_TOKEN="true")
    first = open_conversation(http, target)
    cid, visitor = legacy_conversation(db)
    for conversation_id, visitor_id in (
        (first["conversationId"], first["visitorId"]),
        (cid, visitor),
    ):
        response = call(
            http,
            enforced,
            "handle-chat-message",
            {"visitorId": visitor_id, "message": "hi", "conversationId": conversation_id},
            target.visitor_key,
        )
        assert response.status_code == 401
        assert response.json()["code"] == "token_required"
    assert stored_hash(db, cid) is None
    with_token = call(
        http,
        enforced,
        "handle-chat-message",
        {**_continue(first), "message": "with token"},
        target.visitor_key,
    )
    assert with_token.status_code == 200


def test_bootstrap_off_message_is_accepted_but_mints_nothing(
    http: httpx.Client, target: Target, serve: Callable[..., str], db: psycopg.Connection
) -> None:
    """CHAT_SYNC_ALLOW_BOOTSTRAP=false: a tokenless message with a legacy conversation's
    (public before the cutover) id and visitorId is stored, but no token is issued: 200
    without conversationToken, the hash still empty, only tokenless_accepted recorded."""
    strict = serve(CHAT_SYNC_ALLOW_BOOTSTRAP="false")
    cid, visitor = legacy_conversation(db)
    response = call(
        http,
        strict,
        "handle-chat-message",
        {"visitorId": visitor, "message": "leaked pair", "conversationId": cid},
        target.visitor_key,
    )
    assert response.status_code == 200
    assert "conversationToken" not in response.json()
    assert stored_hash(db, cid) is None
    events = [
        e
        for (e,) in db.execute(
            "select event from chat_access_events where conversation_id = %s", (cid,)
        )
    ]
    assert events == ["tokenless_accepted"]
    (stored,) = one_row(
        db,
        "select count(*) from chat_messages where conversation_id = %s and message_text = %s",
        (cid, "leaked pair"),
    )
    assert stored == 1


def test_enforced_tokenless_answer_is_the_same_for_every_pair(
    http: httpx.Client, target: Target, serve: Callable[..., str], db: psycopg.Connection
) -> None:
    """ENFORCE_VISITOR_CONVERSATION_TOKEN=true: a tokenless message is 401 token_required,
    byte for byte the same whether id and visitorId belong together, do not, or the id is
    unknown: the answer cannot be used to test leaked pairs."""
    enforced = serve(ENFORCE_VISITOR_CONVERSATION_TOKEN="true")
    cid, visitor = legacy_conversation(db)
    answers = [
        call(
            http,
            enforced,
            "handle-chat-message",
            {"visitorId": visitor_id, "message": "hi", "conversationId": conversation_id},
            target.visitor_key,
        )
        for conversation_id, visitor_id in (
            (cid, visitor),
            (cid, "someone-else"),
            (str(uuid.uuid4()), visitor),
        )
    ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert answers[0].json()["code"] == "token_required"
    assert answers[0].content == answers[1].content == answers[2].content


def test_enforced_tokenless_message_is_refused_before_any_lookup(
    http: httpx.Client, target: Target, serve: Callable[..., str]
) -> None:
    """With enforcement on and Supabase REST unreachable, a tokenless message is still a
    clean 401 token_required (no lookup was tried), while a message with a token, which
    needs the database, is 503: the twin that shows the REST layer really is down."""
    dead_rest = f"http://127.0.0.1:{free_port()}"
    enforced = serve(ENFORCE_VISITOR_CONVERSATION_TOKEN="true", SUPABASE_URL=dead_rest)
    body = {"visitorId": "v", "message": "hi", "conversationId": str(uuid.uuid4())}
    tokenless = call(http, enforced, "handle-chat-message", body, target.visitor_key)
    assert (tokenless.status_code, tokenless.json()["code"]) == (401, "token_required")
    tokened = call(
        http,
        enforced,
        "handle-chat-message",
        {**body, "conversationToken": "t" * 43},
        target.visitor_key,
    )
    assert (tokened.status_code, tokened.json()["code"]) == (503, "upstream_unavailable")


def test_bootstrap_mints_a_token_for_a_legacy_conversation(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """Sync without a token, matching visitorId, no hash: a token is minted, stored, returned."""
    cid, visitor = legacy_conversation(db)
    response = call(
        http,
        target.functions_url,
        "chat-visitor-sync",
        {"conversationId": cid, "visitorId": visitor},
        target.visitor_key,
    )
    assert response.status_code == 200
    body = response.json()
    token = body["conversationToken"]
    assert URL_SAFE.match(token)
    assert stored_hash(db, cid) == hashlib.sha256(token.encode()).hexdigest()
    assert [m["text"] for m in body["messages"]] == ["from before the cutover"]
    again = call(
        http,
        target.functions_url,
        "chat-visitor-sync",
        {"conversationId": cid, "conversationToken": token},
        target.visitor_key,
    )
    assert again.status_code == 200 and "conversationToken" not in again.json()


def test_bootstrap_never_replaces_an_existing_token(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """Knowing the visitorId of a hashed conversation mints nothing: 401 and the hash unchanged."""
    first = open_conversation(http, target)
    before = stored_hash(db, first["conversationId"])
    response = call(
        http,
        target.functions_url,
        "chat-visitor-sync",
        {"conversationId": first["conversationId"], "visitorId": first["visitorId"]},
        target.visitor_key,
    )
    assert response.status_code == 401
    assert response.json()["code"] == "token_required"
    assert stored_hash(db, first["conversationId"]) == before


def test_bootstrap_with_wrong_visitor_is_403(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """A visitorId that does not own the legacy conversation is 403 and mints nothing."""
    cid, _visitor = legacy_conversation(db)
    response = call(
        http,
        target.functions_url,
        "chat-visitor-sync",
        {"conversationId": cid, "visitorId": "someone-else"},
        target.visitor_key,
    )
    assert (response.status_code, response.json()) == (403, FORBIDDEN)
    assert stored_hash(db, cid) is None


def test_bootstrap_off_is_401(
    http: httpx.Client, target: Target, serve: Callable[..., str], db: psycopg.Connection
) -> None:
    """CHAT_SYNC_ALLOW_BOOTSTRAP=false: a tokenless sync is 401 token_required, nothing minted."""
    strict = serve(CHAT_SYNC_ALLOW_BOOTSTRAP="false")
    cid, visitor = legacy_conversation(db)
    response = call(
        http,
        strict,
        "chat-visitor-sync",
        {"conversationId": cid, "visitorId": visitor},
        target.visitor_key,
    )
    assert response.status_code == 401
    assert response.json()["code"] == "token_required"
    assert stored_hash(db, cid) is None


def test_sync_without_token_or_visitor_is_401(http: httpx.Client, target: Target) -> None:
    """A sync with neither token nor visitorId is 401 token_required."""
    response = call(
        http,
        target.functions_url,
        "chat-visitor-sync",
        {"conversationId": str(uuid.uuid4())},
        target.visitor_key,
    )
    assert response.status_code == 401
    assert response.json()["code"] == "token_required"


def test_concurrent_bootstraps_mint_exactly_one_token(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """Eight simultaneous bootstraps of one legacy conversation: exactly one gets a token."""
    cid, visitor = legacy_conversation(db)

    def bootstrap(_: int) -> httpx.Response:
        with httpx.Client(timeout=10) as client:
            return call(
                client,
                target.functions_url,
                "chat-visitor-sync",
                {"conversationId": cid, "visitorId": visitor},
                target.visitor_key,
            )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(bootstrap, range(8)))
    tokens = [r.json()["conversationToken"] for r in responses if r.status_code == 200]
    assert len(tokens) == 1
    assert sorted(r.status_code for r in responses) == [200] + [401] * 7
    assert stored_hash(db, cid) == hashlib.sha256(tokens[0].encode()).hexdigest()
    (mints,) = one_row(
        db,
        "select count(*) from chat_access_events where conversation_id = %s "
        "and event = 'token_bootstrapped'",
        (cid,),
    )
    assert mints == 1


def test_client_message_id_sent_twice_stores_one_message(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """The same clientMessageId twice stores one message and returns its id both times."""
    first = open_conversation(http, target)
    body = {**_continue(first), "message": "retry me", "clientMessageId": "client-msg-1"}
    one = call(http, target.functions_url, "handle-chat-message", body, target.visitor_key)
    two = call(http, target.functions_url, "handle-chat-message", body, target.visitor_key)
    assert one.status_code == two.status_code == 200
    assert one.json()["messageId"] == two.json()["messageId"]
    assert two.json()["reply"] is None
    (count,) = one_row(
        db,
        "select count(*) from chat_messages where conversation_id = %s and message_text = %s",
        (first["conversationId"], "retry me"),
    )
    (replies,) = one_row(
        db,
        "select count(*) from chat_messages where conversation_id = %s and sender_type = 'ai'",
        (first["conversationId"],),
    )
    assert (count, replies) == (1, 2)


def _continue(conversation: dict[str, Any]) -> dict[str, Any]:
    return {
        "visitorId": conversation["visitorId"],
        "message": "next",
        "conversationId": conversation["conversationId"],
        "conversationToken": conversation["conversationToken"],
    }
