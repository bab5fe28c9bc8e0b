"""Token lifecycle (CONTRACT §3): `chat-toolkit tokens revoke` ends a token for good, and
nothing re-keys a revoked conversation."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import (
    FORBIDDEN,
    call,
    legacy_conversation,
    one_row,
    open_conversation,
    stored_hash,
)
from toolkit.config import Target

pytestmark = pytest.mark.writes

CLI = [sys.executable, "-m", "toolkit.cli"]
TOKEN_REQUIRED = 401


def _cli(target: Target, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "SUPABASE_DB_URL": target.db_url or ""}
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd=Path(__file__).parent,
    )


def _sync(http: httpx.Client, target: Target, body: dict[str, Any]) -> httpx.Response:
    return call(http, target.functions_url, "chat-visitor-sync", body, target.visitor_key)


def _message(http: httpx.Client, target: Target, body: dict[str, Any]) -> httpx.Response:
    return call(http, target.functions_url, "handle-chat-message", body, target.visitor_key)


def _events(db: psycopg.Connection, cid: str) -> list[str]:
    return [
        e
        for (e,) in db.execute(
            "select event from chat_access_events where conversation_id = %s order by id", (cid,)
        )
    ]


def test_revoke_conversation_ends_the_token_and_records_the_event(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """Before: the token syncs (the legitimate twin). After `tokens revoke --conversation`:
    the same request is 403 forbidden, the hash is gone, one token_revoked event; a second
    run revokes nothing and records nothing."""
    conv = open_conversation(http, target)
    body = {
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
    }
    assert _sync(http, target, body).status_code == 200
    done = _cli(target, "tokens", "revoke", "--conversation", conv["conversationId"])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("tokens revoke: postgresql://") and "***" in lines[0]
    assert lines[1:] == [f"revoked  {conv['conversationId']}", "1 token(s) revoked"]
    refused = _sync(http, target, body)
    assert (refused.status_code, refused.json()) == (403, FORBIDDEN)
    sent = _message(http, target, {**body, "visitorId": conv["visitorId"], "message": "hi"})
    assert (sent.status_code, sent.json()) == (403, FORBIDDEN)
    assert stored_hash(db, conv["conversationId"]) is None
    again = _cli(target, "tokens", "revoke", "--conversation", conv["conversationId"])
    assert again.stdout.splitlines()[1:] == ["0 token(s) revoked: none unrevoked matched"]
    assert _events(db, conv["conversationId"]) == ["token_issued", "token_revoked"]


def test_revoke_visitor_revokes_each_of_its_conversations_only(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """--visitor revokes every conversation of that visitorId and no other visitor's."""
    visitor = f"visitor-{uuid.uuid4()}"
    mine = [
        _message(http, target, {"visitorId": visitor, "message": f"hello {i}"}).json()
        for i in range(2)
    ]
    other = open_conversation(http, target)
    done = _cli(target, "tokens", "revoke", "--visitor", visitor)
    assert done.stdout.splitlines()[-1] == "2 token(s) revoked"
    assert [stored_hash(db, c["conversationId"]) for c in mine] == [None, None]
    still = {
        "conversationId": other["conversationId"],
        "conversationToken": other["conversationToken"],
    }
    assert _sync(http, target, still).status_code == 200


def test_revoked_legacy_conversation_is_never_keyed_again(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """A legacy conversation (no hash) revoked: sync bootstrap with its visitorId is 401
    token_required and a tokenless message is 401 with no token issued, where its unrevoked
    twin gets a token from each."""
    revoked_id, revoked_visitor = legacy_conversation(db)
    twin_id, twin_visitor = legacy_conversation(db)
    assert _cli(target, "tokens", "revoke", "--conversation", revoked_id).returncode == 0

    bootstrap = _sync(http, target, {"conversationId": revoked_id, "visitorId": revoked_visitor})
    assert bootstrap.status_code == TOKEN_REQUIRED
    assert bootstrap.json()["code"] == "token_required"
    tokenless = _message(
        http, target, {"conversationId": revoked_id, "visitorId": revoked_visitor, "message": "x"}
    )
    assert tokenless.status_code == TOKEN_REQUIRED and "conversationToken" not in tokenless.json()
    assert stored_hash(db, revoked_id) is None
    (stored,) = one_row(
        db, "select count(*) from chat_messages where conversation_id = %s", (revoked_id,)
    )
    assert stored == 1  # only the pre-cutover message

    twin = _sync(http, target, {"conversationId": twin_id, "visitorId": twin_visitor})
    assert twin.status_code == 200 and "conversationToken" in twin.json()


def test_revoked_first_message_retry_gets_no_token(http: httpx.Client, target: Target) -> None:
    """A retry of the first message of a revoked conversation is 403: the derived token is
    never handed out again."""
    visitor, cmid = f"visitor-{uuid.uuid4()}", str(uuid.uuid4())
    first = _message(
        http, target, {"visitorId": visitor, "message": "Hello", "clientMessageId": cmid}
    )
    assert (
        _cli(
            target, "tokens", "revoke", "--conversation", first.json()["conversationId"]
        ).returncode
        == 0
    )
    retry = _message(
        http, target, {"visitorId": visitor, "message": "Hello", "clientMessageId": cmid}
    )
    assert (retry.status_code, retry.json()) == (403, FORBIDDEN)


def test_revoke_without_a_database_url_is_one_line(target: Target) -> None:
    """No SUPABASE_DB_URL: one line naming it, exit 2, nothing else."""
    done = subprocess.run(
        [*CLI, "tokens", "revoke", "--visitor", "v"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
        cwd="/",
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "SUPABASE_DB_URL is not set; `tokens revoke` writes to the database"
    )


def test_a_token_past_its_maximum_age_is_the_same_403_as_a_wrong_one(
    http: httpx.Client, target: Target, db: psycopg.Connection, serve: Callable[..., str]
) -> None:
    """CHAT_TOKEN_MAX_AGE_DAYS=1: a token issued 2 days ago is 403 forbidden on sync and on
    messages; issued now it works, and with no maximum (the default) the old one works."""
    url = serve(CHAT_TOKEN_MAX_AGE_DAYS="1")
    conv = open_conversation(http, target, url)
    body = {
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
    }
    fresh = call(http, url, "chat-visitor-sync", body, target.visitor_key)
    assert fresh.status_code == 200
    assert set(fresh.json()["conversation"]) == {
        "id",
        "status",
        "escalated",
        "escalatedAt",
        "escalationReason",
        "updatedAt",
    }
    db.execute(
        "update chat_conversations set access_token_issued_at = now() - interval '2 days' "
        "where id = %s",
        (conv["conversationId"],),
    )
    expired = call(http, url, "chat-visitor-sync", body, target.visitor_key)
    assert (expired.status_code, expired.json()) == (403, FORBIDDEN)
    message = {**body, "visitorId": conv["visitorId"], "message": "still me"}
    sent = call(http, url, "handle-chat-message", message, target.visitor_key)
    assert (sent.status_code, sent.json()) == (403, FORBIDDEN)
    assert _sync(http, target, body).status_code == 200  # no maximum age: still valid
