"""Security regressions: tokens, indistinguishable refusals, no anon path to chat data,
no cross-conversation writes, and no token material in any log."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from edge_contract_tests.helpers import (
    FORBIDDEN,
    auth_headers,
    call,
    legacy_conversation,
    open_conversation,
)
from toolkit import stack
from toolkit.config import Target
from toolkit.tokens import hash_token, mint_token

URL_SAFE_43 = re.compile(r"^[A-Za-z0-9_-]{43}$")
REFUSED_TABLES = (
    "chat_conversations",
    "chat_messages",
    "team_typing_indicators",
    "chat_access_events",
)
KEYED = pytest.mark.parametrize("keyed", [True, False], ids=["anon-key", "no-key"])


# -- helpers ------------------------------------------------------------------------------


def rest(target: Target) -> str:
    return f"{target.url}/rest/v1"


def service_get(http: httpx.Client, target: Target, path: str, **params: str) -> Any:
    """Read with the service role (bypasses RLS), to see what is really stored."""
    response = http.get(
        f"{rest(target)}/{path}", params=params, headers=auth_headers(target.server_key)
    )
    assert response.status_code == 200, response.text
    return response.json()


def snapshot(http: httpx.Client, target: Target, cid: str) -> dict[str, Any]:
    """Everything stored about one conversation: its row, messages and typing rows."""
    return {
        "conversation": service_get(http, target, "chat_conversations", id=f"eq.{cid}"),
        "messages": service_get(
            http, target, "chat_messages", conversation_id=f"eq.{cid}", order="created_at,id"
        ),
        "typing": service_get(
            http, target, "team_typing_indicators", conversation_id=f"eq.{cid}", order="user_id"
        ),
    }


def add_typing_row(http: httpx.Client, target: Target, cid: str, *, typing: bool) -> None:
    """A team member's typing row, written with the service role as the team app would."""
    response = http.post(
        f"{rest(target)}/team_typing_indicators",
        json={
            "conversation_id": cid,
            "user_id": str(uuid.uuid4()),
            "user_name": "Agent",
            "is_typing": typing,
        },
        headers={**auth_headers(target.server_key), "Prefer": "return=minimal"},
    )
    assert response.status_code == 201, response.text


def assert_permission_denied(response: httpx.Response, kind: str, name: str) -> None:
    """PostgREST's answer to the anon role lacking a privilege: 401, 42501, naming the object."""
    assert response.status_code == 401, response.text
    body = response.json()
    if body.get("message") == "No API key found in request":
        return  # a hosted or self-hosted gateway refuses keyless requests before PostgREST
    assert body["code"] == "42501"
    assert body["message"] == f"permission denied for {kind} {name}"


def headers_but_date(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in response.headers.multi_items() if k.lower() != "date")


# -- tokens -------------------------------------------------------------------------------


# -- one answer for "unknown" and "wrong" ------------------------------------------------------


@pytest.mark.writes
def test_message_refusals_are_byte_identical(http: httpx.Client, target: Target) -> None:
    """handle-chat-message: wrong token, unknown id, another's id: same status, body, headers."""
    mine, theirs = open_conversation(http, target), open_conversation(http, target)
    base = {"visitorId": mine["visitorId"], "message": "hello?"}
    attempts = {
        "wrong token": {
            **base,
            "conversationId": mine["conversationId"],
            "conversationToken": mint_token(),
        },
        "unknown conversation": {
            **base,
            "conversationId": str(uuid.uuid4()),
            "conversationToken": mine["conversationToken"],
        },
        "another's conversation": {
            **base,
            "conversationId": theirs["conversationId"],
            "conversationToken": mine["conversationToken"],
        },
        "unknown conversation, no token": {**base, "conversationId": str(uuid.uuid4())},
    }
    responses = {
        what: call(http, target.functions_url, "handle-chat-message", body, target.visitor_key)
        for what, body in attempts.items()
    }
    for response in responses.values():
        assert (response.status_code, response.json()) == (403, FORBIDDEN)
    assert len({r.content for r in responses.values()}) == 1
    assert len({tuple(headers_but_date(r)) for r in responses.values()}) == 1


@pytest.mark.writes
def test_sync_refusals_are_byte_identical(http: httpx.Client, target: Target) -> None:
    """chat-visitor-sync: wrong token, unknown id, another's id, failed bootstrap: one answer."""
    mine, theirs = open_conversation(http, target), open_conversation(http, target)
    attempts = {
        "wrong token": {
            "conversationId": mine["conversationId"],
            "conversationToken": mint_token(),
        },
        "unknown conversation": {
            "conversationId": str(uuid.uuid4()),
            "conversationToken": mine["conversationToken"],
        },
        "another's conversation": {
            "conversationId": theirs["conversationId"],
            "conversationToken": mine["conversationToken"],
        },
        "bootstrap of an unknown conversation": {
            "conversationId": str(uuid.uuid4()),
            "visitorId": mine["visitorId"],
        },
    }
    if target.db_url is not None:
        with psycopg.connect(target.db_url, autocommit=True) as db:
            legacy_id, _legacy_visitor = legacy_conversation(db)
        attempts["bootstrap of another visitor's legacy conversation"] = {
            "conversationId": legacy_id,
            "visitorId": mine["visitorId"],
        }
    responses = {
        what: call(http, target.functions_url, "chat-visitor-sync", body, target.visitor_key)
        for what, body in attempts.items()
    }
    for response in responses.values():
        assert (response.status_code, response.json()) == (403, FORBIDDEN)
    assert len({r.content for r in responses.values()}) == 1
    assert len({tuple(headers_but_date(r)) for r in responses.values()}) == 1


# -- no anon path to chat data -----------------------------------------------------------------


@pytest.fixture(scope="module")
def typing_row(target: Target) -> str:
    """A conversation with a team typing row, so that "no rows" below means hidden, not empty."""
    with httpx.Client(timeout=10.0) as http:
        cid = open_conversation(http, target)["conversationId"]
        add_typing_row(http, target, cid, typing=True)
        assert len(service_get(http, target, "team_typing_indicators", conversation_id=f"eq.{cid}"))
    return str(cid)


@KEYED
@pytest.mark.parametrize("table", REFUSED_TABLES)
def test_anon_table_read_is_refused(
    http: httpx.Client, target: Target, table: str, keyed: bool
) -> None:
    """GET of chat_conversations, chat_messages and chat_access_events is 401 42501."""
    key = target.visitor_key if keyed else None
    response = http.get(
        f"{rest(target)}/{table}", params={"select": "*"}, headers=auth_headers(key)
    )
    assert_permission_denied(response, "table", table)


@KEYED
@pytest.mark.parametrize("table", REFUSED_TABLES)
def test_anon_head_and_ranged_count_are_refused(
    http: httpx.Client, target: Target, table: str, keyed: bool
) -> None:
    """HEAD and a one-row GET with Prefer: count=exact are 401 and reveal no row count."""
    headers = {**auth_headers(target.visitor_key if keyed else None), "Prefer": "count=exact"}
    head = http.head(f"{rest(target)}/{table}", headers=headers)
    ranged = http.get(f"{rest(target)}/{table}", headers={**headers, "Range": "0-0"})
    assert head.status_code == 401
    assert not head.headers.get("content-range", "").split("/")[-1].isdigit()
    assert_permission_denied(ranged, "table", table)
    assert not ranged.headers.get("content-range", "").split("/")[-1].isdigit()


# (table, select): embedding, from any chat table, with or without a count. Since
# 20260327060000 anon holds no privilege on any chat table, so every one is refused.
EMBEDS = [
    ("chat_conversations", "*,chat_messages(*)"),
    ("chat_conversations", "*,team_typing_indicators(*)"),
    ("chat_messages", "*,chat_conversations(*)"),
    ("chat_access_events", "*,chat_conversations(*)"),
    ("team_typing_indicators", "*,chat_conversations(*)"),
    ("team_typing_indicators", "*,chat_conversations!inner(*,chat_messages!inner(*))"),
    ("team_typing_indicators", "conversation_id,chat_conversations(visitor_id,chat_messages(*))"),
]


@pytest.mark.writes
@pytest.mark.parametrize(("table", "select"), EMBEDS)
def test_anon_embedded_selects_reach_no_chat_rows(
    http: httpx.Client, target: Target, typing_row: str, table: str, select: str
) -> None:
    """Embedding chat tables, with or without a count, is 401 42501 for the queried table."""
    for prefer in (None, "count=exact"):
        headers = auth_headers(target.visitor_key) | ({"Prefer": prefer} if prefer else {})
        response = http.get(f"{rest(target)}/{table}", params={"select": select}, headers=headers)
        assert_permission_denied(response, "table", table)


RPCS: list[tuple[str, dict[str, Any]]] = [
    ("chat_visitor_sync", {"p_conversation_id": str(uuid.uuid4()), "p_token_hash": "0" * 64}),
    ("chat_visitor_sync_v2", {"p_conversation_id": str(uuid.uuid4()), "p_token_hash": "0" * 64}),
    ("chat_visitor_message", {"m": {"id": str(uuid.uuid4()), "message_text": "x"}}),
]


@KEYED
@pytest.mark.parametrize(("function", "args"), RPCS, ids=[name for name, _ in RPCS])
def test_anon_rpc_is_permission_denied(
    http: httpx.Client, target: Target, function: str, args: dict[str, Any], keyed: bool
) -> None:
    """POST rpc/<fn> for each function the toolkit created is 401 42501 for anon and keyless."""
    headers = auth_headers(target.visitor_key if keyed else None)
    response = http.post(f"{rest(target)}/rpc/{function}", json=args, headers=headers)
    assert_permission_denied(response, "function", function)


@KEYED
def test_anon_rpc_by_get_is_permission_denied(
    http: httpx.Client, target: Target, keyed: bool
) -> None:
    """GET rpc/chat_visitor_sync (a stable function, so GET-callable) is 401 42501 too."""
    response = http.get(
        f"{rest(target)}/rpc/chat_visitor_sync",
        params=RPCS[0][1],
        headers=auth_headers(target.visitor_key if keyed else None),
    )
    assert_permission_denied(response, "function", "chat_visitor_sync")


def test_catalog_anon_executes_no_chat_function(db: psycopg.Connection) -> None:
    """No chat_* function in schema public is executable by anon (trigger functions
    included), and RPCS lists every one that PostgREST could call."""
    rows = db.execute(
        "select p.proname, has_function_privilege('anon', p.oid, 'EXECUTE'), "
        "p.prorettype = 'trigger'::regtype from pg_proc p "
        "where p.pronamespace = 'public'::regnamespace and p.proname like 'chat\\_%' order by 1"
    ).fetchall()
    assert [(name, executable) for name, executable, _ in rows] == [
        (name, False) for name, _, _ in rows
    ]
    assert [name for name, _, trigger in rows if not trigger] == sorted(n for n, _ in RPCS)


PROFILES = [
    ("public", 401, "42501"),
    ("graphql_public", 404, None),
    ("auth", 406, "PGRST106"),
    ("extensions", 406, "PGRST106"),
    ("supabase_migrations", 406, "PGRST106"),
    ("pg_catalog", 406, "PGRST106"),
]


@pytest.mark.parametrize(("profile", "status", "code"), PROFILES, ids=[p for p, *_ in PROFILES])
def test_anon_profile_variants_reach_nothing(
    http: httpx.Client, target: Target, profile: str, status: int, code: str | None
) -> None:
    """Accept-Profile (reads) and Content-Profile (rpc) name no schema that opens chat data."""
    headers = auth_headers(target.visitor_key)
    read = http.get(
        f"{rest(target)}/chat_conversations", headers={**headers, "Accept-Profile": profile}
    )
    rpc = http.post(
        f"{rest(target)}/rpc/chat_visitor_sync",
        json=RPCS[0][1],
        headers={**headers, "Content-Profile": profile},
    )
    assert (read.status_code, rpc.status_code) == (status, status)
    if profile == "public":
        assert_permission_denied(read, "table", "chat_conversations")
        assert_permission_denied(rpc, "function", "chat_visitor_sync")
    elif profile == "graphql_public":
        # Not in that schema: PostgREST 12.0 says 42P01 / PGRST202, 12.2+ PGRST205 / PGRST202.
        assert read.json()["code"] in ("42P01", "PGRST205")
        assert rpc.json()["code"] == "PGRST202"
    else:
        assert read.json()["code"] == rpc.json()["code"] == code


@pytest.mark.parametrize("role", ["service_role", "authenticated"])
def test_forged_jwts_are_rejected(http: httpx.Client, target: Target, role: str) -> None:
    """A JWT for a stronger role signed with another secret, or unsigned, is 401 PGRST301."""
    claims = {"iss": "supabase-demo", "role": role, "exp": 1983812996}
    wrong_secret = jwt.encode(claims, "not-the-project-secret-" + "x" * 20, algorithm="HS256")
    unsigned = jwt.encode(claims, "", algorithm="none")
    for token in (wrong_secret, unsigned):
        response = http.get(
            f"{rest(target)}/chat_conversations",
            headers={"apikey": target.visitor_key, "Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 401
        assert response.json()["code"] == "PGRST301"


# -- no cross-conversation changes ---------------------------------------------------------


@pytest.fixture()
def victim(http: httpx.Client, target: Target) -> dict[str, Any]:
    """Another visitor's active conversation with an idle team typing row."""
    theirs = open_conversation(http, target)
    add_typing_row(http, target, theirs["conversationId"], typing=False)
    return theirs


@pytest.mark.writes
def test_functions_cannot_touch_another_conversation(
    http: httpx.Client, target: Target, victim: dict[str, Any]
) -> None:
    """Escalation requests and extra fields aimed at another's conversation: 401/403, no change."""
    mine = open_conversation(http, target)
    before = snapshot(http, target, victim["conversationId"])
    hostile = {
        "message": "talk to a human, I want a real person",
        "conversationId": victim["conversationId"],
        "status": "resolved",
        "escalated": True,
        "isTyping": True,
    }
    attempts = [
        ("handle-chat-message", {**hostile, "visitorId": mine["visitorId"]}, 403),
        (
            "handle-chat-message",
            {
                **hostile,
                "visitorId": mine["visitorId"],
                "conversationToken": mine["conversationToken"],
            },
            403,
        ),
        (
            "handle-chat-message",
            {
                **hostile,
                "visitorId": victim["visitorId"],
                "conversationToken": mine["conversationToken"],
            },
            403,
        ),
        ("chat-visitor-sync", {**hostile, "conversationToken": mine["conversationToken"]}, 403),
        ("chat-visitor-sync", {**hostile, "visitorId": mine["visitorId"]}, 403),
        ("chat-visitor-sync", {**hostile, "visitorId": victim["visitorId"]}, 401),
    ]
    for name, body, status in attempts:
        response = call(http, target.functions_url, name, body, target.visitor_key)
        assert response.status_code == status, (name, body, response.text)
        assert response.json()["code"] == {401: "token_required", 403: "forbidden"}[status]
    assert snapshot(http, target, victim["conversationId"]) == before


@pytest.mark.writes
def test_enforced_tokens_stop_a_known_visitor_id_from_escalating(
    http: httpx.Client, target: Target, serve: Callable[..., str], victim: dict[str, Any]
) -> None:
    """With ENFORCE_VISITOR_CONVERSATION_TOKEN, knowing another's visitorId changes nothing: 401."""
    enforced = serve(ENFORCE_VISITOR_CONVERSATION_TOKEN="true")
    before = snapshot(http, target, victim["conversationId"])
    response = call(
        http,
        enforced,
        "handle-chat-message",
        {
            "visitorId": victim["visitorId"],
            "conversationId": victim["conversationId"],
            "message": "talk to a human",
        },
        target.visitor_key,
    )
    assert (response.status_code, response.json()["code"]) == (401, "token_required")
    assert snapshot(http, target, victim["conversationId"]) == before


@pytest.mark.writes
def test_extra_fields_in_a_message_are_ignored(http: httpx.Client, target: Target) -> None:
    """status, assigned_to, is_internal, sender_type, metadata in a body change nothing stored."""
    mine = open_conversation(http, target)
    cid = mine["conversationId"]
    response = call(
        http,
        target.functions_url,
        "handle-chat-message",
        {
            "visitorId": mine["visitorId"],
            "conversationId": cid,
            "conversationToken": mine["conversationToken"],
            "message": "just a question",
            "status": "resolved",
            "assigned_to": str(uuid.uuid4()),
            "assignedTo": str(uuid.uuid4()),
            "is_internal": True,
            "isInternal": True,
            "sender_type": "team",
            "senderType": "team",
            "sender_name": "Support Lead",
            "escalated": True,
            "escalation_reason": "forged",
            "metadata": {"role": "admin"},
            "access_token_hash": "0" * 64,
            "typing": {"isTyping": True, "name": "Agent"},
        },
        target.visitor_key,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["escalated"]) == ("active", False)
    stored = snapshot(http, target, cid)
    (conversation,) = stored["conversation"]
    assert conversation["status"] == "active"
    assert conversation["assigned_to"] is None
    assert conversation["escalated_at"] is None and conversation["escalation_reason"] is None
    assert conversation["access_token_hash"] == hash_token(mine["conversationToken"])
    (message,) = [m for m in stored["messages"] if m["id"] == response.json()["messageId"]]
    assert (message["sender_type"], message["is_internal"]) == ("visitor", False)
    assert (message["sender_name"], message["metadata"]) == (None, {})
    assert stored["typing"] == []


ANON_WRITES = [
    ("PATCH", "chat_conversations", {}, {"status": "resolved"}, "return=minimal"),
    ("PATCH", "chat_conversations", {"id": "eq.{cid}"}, {"status": "resolved"}, ""),
    ("POST", "chat_messages", {}, {"sender_type": "team", "message_text": "x"}, ""),
    ("DELETE", "chat_messages", {}, None, "return=minimal"),
    ("POST", "team_typing_indicators", {}, {"is_typing": True}, ""),
    ("PATCH", "team_typing_indicators", {"conversation_id": "eq.{cid}"}, {"user_name": "x"}, ""),
    ("DELETE", "team_typing_indicators", {}, None, "return=representation"),
    ("POST", "chat_access_events", {}, {"event": "token_issued"}, ""),
]


@pytest.mark.writes
def test_anon_rest_writes_change_nothing(
    http: httpx.Client, target: Target, victim: dict[str, Any]
) -> None:
    """Anon PATCH/POST/DELETE on every chat table is 401 42501, and nothing changes."""
    cid = victim["conversationId"]
    before = snapshot(http, target, cid)
    for method, table, params, body, prefer in ANON_WRITES:
        if body is not None and method == "POST":
            body = {**body, "conversation_id": cid}
        headers = {**auth_headers(target.visitor_key), "Prefer": prefer or "return=representation"}
        response = http.request(
            method,
            f"{rest(target)}/{table}",
            params={k: v.format(cid=cid) for k, v in params.items()},
            json=body,
            headers=headers,
        )
        assert (response.status_code, response.json()["code"]) == (401, "42501"), (method, table)
    assert snapshot(http, target, cid) == before


# -- logs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedRun:
    target: Target
    logs: Path
    tokens: frozenset[str]
    hashes: frozenset[str]
    requests: int


@pytest.fixture(scope="module")
def logged_run() -> Iterator[LoggedRun]:
    """A stack of our own, driven through every token path, with its logs still on disk."""
    with stack.temporary() as state, httpx.Client(timeout=10.0) as http:
        target = Target.from_env(state.env())
        tokens: set[str] = set()
        sent = 0

        def send(name: str, body: dict[str, Any], status: int) -> dict[str, Any]:
            nonlocal sent
            response = call(http, target.functions_url, name, body, target.visitor_key)
            sent += 1
            assert response.status_code == status, (name, response.text)
            data: dict[str, Any] = response.json()
            if "conversationToken" in data:
                tokens.add(data["conversationToken"])
            return data

        with psycopg.connect(target.db_url or "", autocommit=True) as db:
            visitor = f"log-{uuid.uuid4()}"
            new = send("handle-chat-message", {"visitorId": visitor, "message": "hi"}, 200)
            resume = {
                "visitorId": visitor,
                "conversationId": new["conversationId"],
                "conversationToken": new["conversationToken"],
            }
            send("handle-chat-message", {**resume, "message": "talk to a human"}, 200)
            send(
                "handle-chat-message", {**resume, "message": "again", "clientMessageId": "c1"}, 200
            )
            send(
                "handle-chat-message", {**resume, "message": "again", "clientMessageId": "c1"}, 200
            )
            first = send("chat-visitor-sync", resume, 200)
            send("chat-visitor-sync", {**resume, "since": first["cursor"]}, 200)
            send("chat-visitor-sync", {**resume, "conversationToken": mint_token()}, 403)
            wrong = {**resume, "conversationToken": mint_token(), "message": "let me in"}
            send("handle-chat-message", wrong, 403)
            unknown = {**resume, "conversationId": str(uuid.uuid4())}
            send("chat-visitor-sync", unknown, 403)
            legacy_id, legacy_visitor = legacy_conversation(db)
            boot = send(
                "chat-visitor-sync", {"conversationId": legacy_id, "visitorId": legacy_visitor}, 200
            )
            send(
                "chat-visitor-sync",
                {"conversationId": legacy_id, "conversationToken": boot["conversationToken"]},
                200,
            )
            send(
                "chat-visitor-sync", {"conversationId": legacy_id, "visitorId": legacy_visitor}, 401
            )
            other_id, other_visitor = legacy_conversation(db)
            send(
                "handle-chat-message",
                {"visitorId": other_visitor, "conversationId": other_id, "message": "back"},
                200,
            )
            send("handle-chat-message", {"visitorId": visitor, "message": ""}, 400)
            hashes = {
                h
                for (h,) in db.execute(
                    "select access_token_hash from chat_conversations "
                    "where access_token_hash is not null"
                )
            }
        assert len(tokens) == 3
        assert {hash_token(t) for t in tokens} <= hashes
        logs = Path(state.directory) / "logs"
        yield LoggedRun(target, logs, frozenset(tokens), frozenset(hashes), sent)


@pytest.mark.embedded
def test_logs_hold_no_token_and_no_token_hash(logged_run: LoggedRun) -> None:
    """Every log of the stack (functions, gateway, PostgREST, Postgres) lacks tokens and hashes."""
    logs = {path.name: path.read_text(errors="replace") for path in logged_run.logs.glob("*.log")}
    assert {"functions.log", "nginx.log", "rest_access.log"} <= set(logs)
    functions = logs["functions.log"]
    assert functions.count('"fn":') == logged_run.requests
    assert logs["rest_access.log"].count("\n") >= logged_run.requests
    secrets = logged_run.tokens | logged_run.hashes
    leaks = sorted((name, s[:8]) for name, text in logs.items() for s in secrets if s in text)
    assert leaks == []


@pytest.mark.embedded
def test_a_token_sent_in_the_wrong_field_is_not_logged(logged_run: LoggedRun) -> None:
    """A token a client puts in conversationId by mistake is refused (400) and not logged."""
    target, token = logged_run.target, mint_token()
    with httpx.Client(timeout=10.0) as http:
        response = call(
            http,
            target.functions_url,
            "chat-visitor-sync",
            {"conversationId": token},
            target.visitor_key,
        )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert token not in (logged_run.logs / "functions.log").read_text()
