"""After the team-access migration (CONTRACT §10), a signed-in user who is not on the support
team reaches no chat row on any PostgREST path, and nobody but the service role ever sees
or changes `access_token_hash`; a team member still reads and answers chats.

Every attack is a JWT any sign-up gets (role authenticated, a random `sub`), sent as
supabase-js sends it (the anon key in `apikey`). test_baseline_leak.py shows the same
requests succeeding before the migration.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from edge_contract_tests.helpers import auth_headers, call, user_headers, user_jwt
from toolkit.config import Target
from toolkit.tokens import hash_token

pytestmark = pytest.mark.writes

DENIED = "42501"


@dataclass(frozen=True)
class Victim:
    """A visitor's conversation with a token, one visitor message and one internal note."""

    id: str
    visitor_id: str
    token: str


def _service(http: httpx.Client, target: Target, method: str, path: str, **kw: Any) -> Any:
    headers = {**auth_headers(target.server_key), "Prefer": "return=representation"}
    response = http.request(method, f"{target.url}/rest/v1/{path}", headers=headers, **kw)
    assert response.is_success, response.text
    return response.json() if response.content else None


@pytest.fixture(scope="module")
def secret(target: Target) -> str:
    if target.jwt_secret is None:
        pytest.skip("SUPABASE_JWT_SECRET is needed to mint a signed-in user's JWT")
    return target.jwt_secret


@pytest.fixture(scope="module")
def victim(http: httpx.Client, target: Target) -> Iterator[Victim]:
    token = secrets.token_urlsafe(32)
    visitor = f"team-access-{uuid.uuid4()}"
    rows = _service(
        http,
        target,
        "POST",
        "chat_conversations",
        params={"select": "id"},
        json={
            "visitor_id": visitor,
            "visitor_email": "victim@example.com",
            "access_token_hash": hash_token(token),
        },
    )
    cid = rows[0]["id"]
    _service(
        http,
        target,
        "POST",
        "chat_messages",
        json=[
            {
                "conversation_id": cid,
                "sender_type": "visitor",
                "message_text": "my address is",
                "is_internal": False,
            },
            {
                "conversation_id": cid,
                "sender_type": "team",
                "message_text": "internal: VIP",
                "is_internal": True,
            },
        ],
    )
    yield Victim(cid, visitor, token)
    _service(http, target, "DELETE", "chat_conversations", params={"id": f"eq.{cid}"})


@pytest.fixture(scope="module")
def member(http: httpx.Client, target: Target, secret: str) -> Iterator[str]:
    """A team member's JWT; the membership row is written with the service role."""
    user_id = str(uuid.uuid4())
    _service(
        http,
        target,
        "POST",
        "chat_team_members",
        json={"user_id": user_id, "display_name": "Dana"},
    )
    yield user_jwt(secret, sub=user_id)
    _service(http, target, "DELETE", "chat_team_members", params={"user_id": f"eq.{user_id}"})


def _state(http: httpx.Client, target: Target, victim: Victim) -> tuple[Any, ...]:
    """What an attack must leave unchanged: the conversation row and its messages."""
    conversation = _service(
        http, target, "GET", "chat_conversations", params={"id": f"eq.{victim.id}", "select": "*"}
    )
    messages = _service(
        http,
        target,
        "GET",
        "chat_messages",
        params={"conversation_id": f"eq.{victim.id}", "select": "id,message_text"},
    )
    return conversation, sorted(m["id"] for m in messages)


# (id, method, path, params, body, Prefer, expected status, expected code; None: 200 [])
Case = tuple[str, str, str, dict[str, str], Any, str, int, str | None]


def _cases(victim: Victim) -> list[Case]:
    cid = victim.id
    hash_ = hash_token(victim.token)
    message = {"conversation_id": cid, "sender_type": "team", "message_text": "click here"}
    rep = "return=representation"
    return [
        ("select_star", "GET", "chat_conversations", {"select": "*"}, None, "", 403, DENIED),
        (
            "select_token_hash",
            "GET",
            "chat_conversations",
            {"select": "id,access_token_hash"},
            None,
            "",
            403,
            DENIED,
        ),
        (
            "filter_on_token_hash",
            "GET",
            "chat_conversations",
            {"select": "id", "access_token_hash": f"eq.{hash_}"},
            None,
            "",
            403,
            DENIED,
        ),
        (
            "visible_columns",
            "GET",
            "chat_conversations",
            {"select": "id,visitor_id,visitor_email,metadata"},
            None,
            "",
            200,
            None,
        ),
        (
            "embed_messages",
            "GET",
            "chat_conversations",
            {"select": "id,chat_messages(*)"},
            None,
            "",
            200,
            None,
        ),
        (
            "embed_star",
            "GET",
            "chat_conversations",
            {"select": "*,chat_messages(*)"},
            None,
            "",
            403,
            DENIED,
        ),
        ("messages", "GET", "chat_messages", {"select": "*"}, None, "", 200, None),
        (
            "messages_embed_conversation",
            "GET",
            "chat_messages",
            {"select": "*,chat_conversations(id,visitor_email)"},
            None,
            "",
            200,
            None,
        ),
        (
            "messages_embed_token_hash",
            "GET",
            "chat_messages",
            {"select": "id,chat_conversations(access_token_hash)"},
            None,
            "",
            403,
            DENIED,
        ),
        ("typing", "GET", "team_typing_indicators", {"select": "*"}, None, "", 200, None),
        ("access_events", "GET", "chat_access_events", {"select": "*"}, None, "", 403, DENIED),
        ("team_list", "GET", "chat_team_members", {"select": "*"}, None, "", 403, DENIED),
        (
            "rpc_sync_post",
            "POST",
            "rpc/chat_visitor_sync",
            {},
            {"p_conversation_id": cid, "p_token_hash": hash_},
            "",
            403,
            DENIED,
        ),
        (
            "rpc_sync_get",
            "GET",
            "rpc/chat_visitor_sync",
            {"p_conversation_id": cid, "p_token_hash": hash_},
            None,
            "",
            403,
            DENIED,
        ),
        ("rpc_membership", "POST", "rpc/is_chat_team_member", {}, {}, "", 404, "PGRST202"),
        ("insert_team_message", "POST", "chat_messages", {}, message, rep, 403, DENIED),
        (
            "insert_conversation",
            "POST",
            "chat_conversations",
            {"select": "id"},
            {"visitor_id": "mallory"},
            rep,
            403,
            DENIED,
        ),
        (
            "insert_conversation_with_hash",
            "POST",
            "chat_conversations",
            {},
            {"visitor_id": "mallory", "access_token_hash": "0" * 64},
            "return=minimal",
            403,
            DENIED,
        ),
        (
            "update_token_hash",
            "PATCH",
            "chat_conversations",
            {"id": f"eq.{cid}"},
            {"access_token_hash": "0" * 64},
            "return=minimal",
            403,
            DENIED,
        ),
        (
            "update_status",
            "PATCH",
            "chat_conversations",
            {"id": f"eq.{cid}", "select": "id"},
            {"status": "closed"},
            rep,
            200,
            None,
        ),
        (
            "delete_messages",
            "DELETE",
            "chat_messages",
            {"conversation_id": f"eq.{cid}", "select": "id"},
            None,
            rep,
            200,
            None,
        ),
        (
            "delete_conversation",
            "DELETE",
            "chat_conversations",
            {"id": f"eq.{cid}", "select": "id"},
            None,
            rep,
            200,
            None,
        ),
        (
            "typing_upsert",
            "POST",
            "team_typing_indicators",
            {},
            {"conversation_id": cid, "user_id": str(uuid.uuid4()), "is_typing": True},
            "resolution=merge-duplicates,return=minimal",
            403,
            DENIED,
        ),
        (
            "insert_access_event",
            "POST",
            "chat_access_events",
            {},
            {"conversation_id": cid, "event": "token_issued"},
            "return=minimal",
            403,
            DENIED,
        ),
    ]


CASE_IDS = [c[0] for c in _cases(Victim("x", "x", "x"))]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_non_member_reaches_no_chat_row(
    http: httpx.Client, target: Target, secret: str, victim: Victim, case_id: str
) -> None:
    """A signed-in non-member gets the exact refusal (403 42501, or PGRST202 for the
    unexposed membership function) or a 200 with zero rows, never access_token_hash, and
    the victim's conversation and messages are unchanged afterwards."""
    (_, method, path, params, body, prefer, status, code) = next(
        c for c in _cases(victim) if c[0] == case_id
    )
    before = _state(http, target, victim)
    headers = user_headers(target, user_jwt(secret)) | ({"Prefer": prefer} if prefer else {})
    response = http.request(
        method, f"{target.url}/rest/v1/{path}", params=params, json=body, headers=headers
    )
    assert response.status_code == status, response.text
    if code is None:
        assert response.json() == []
    else:
        assert response.json()["code"] == code
    assert hash_token(victim.token) not in response.text
    assert _state(http, target, victim) == before


@pytest.mark.parametrize("table", ["chat_conversations", "chat_messages", "team_typing_indicators"])
def test_non_member_head_count_is_zero(
    http: httpx.Client, target: Target, secret: str, victim: Victim, table: str
) -> None:
    """HEAD with Prefer: count=exact tells a non-member that there are 0 rows."""
    response = http.head(
        f"{target.url}/rest/v1/{table}",
        params={"select": "conversation_id" if table == "team_typing_indicators" else "id"},
        headers={**user_headers(target, user_jwt(secret)), "Prefer": "count=exact"},
    )
    assert response.status_code == 200
    assert response.headers["content-range"] == "*/0"


def test_member_reads_conversations_and_messages_without_the_token_hash(
    http: httpx.Client, target: Target, victim: Victim, member: str
) -> None:
    """The legitimate twin: a team member reads the conversation (listing its columns) and
    every message, internal notes included."""
    conversation = http.get(
        f"{target.url}/rest/v1/chat_conversations",
        params={"id": f"eq.{victim.id}", "select": "id,visitor_email,status,chat_messages(*)"},
        headers=user_headers(target, member),
    )
    assert conversation.status_code == 200
    (row,) = conversation.json()
    assert row["visitor_email"] == "victim@example.com"
    assert {m["message_text"] for m in row["chat_messages"]} == {"my address is", "internal: VIP"}
    assert hash_token(victim.token) not in conversation.text


@pytest.mark.parametrize(
    "params",
    [{"select": "id,access_token_hash"}, {"select": "*"}],
    ids=["token_hash", "star"],
)
def test_member_never_reads_the_token_hash(
    http: httpx.Client, target: Target, victim: Victim, member: str, params: dict[str, str]
) -> None:
    """Even a team member is 403 42501 on access_token_hash; `select=*` names it too, so
    members list the columns they want."""
    response = http.get(
        f"{target.url}/rest/v1/chat_conversations",
        params={"id": f"eq.{victim.id}", **params},
        headers=user_headers(target, member),
    )
    assert (response.status_code, response.json()["code"]) == (403, DENIED)


def test_member_cannot_replace_the_token_hash(
    http: httpx.Client, target: Target, victim: Victim, member: str
) -> None:
    """A team member cannot lock a visitor out by overwriting access_token_hash: 403 42501."""
    before = _state(http, target, victim)
    response = http.patch(
        f"{target.url}/rest/v1/chat_conversations",
        params={"id": f"eq.{victim.id}"},
        json={"access_token_hash": None},
        headers={**user_headers(target, member), "Prefer": "return=minimal"},
    )
    assert (response.status_code, response.json()["code"]) == (403, DENIED)
    assert _state(http, target, victim) == before


def test_member_answers_and_the_visitor_sees_it(
    http: httpx.Client, target: Target, victim: Victim, member: str
) -> None:
    """The legitimate twin of the write attacks: a member posts a team reply and shows
    typing (201 each), and the visitor's token sync returns both."""
    reply = http.post(
        f"{target.url}/rest/v1/chat_messages",
        params={"select": "id"},
        json={
            "conversation_id": victim.id,
            "sender_type": "team",
            "sender_name": "Dana",
            "message_text": "We are on it.",
        },
        headers={**user_headers(target, member), "Prefer": "return=representation"},
    )
    assert reply.status_code == 201, reply.text
    user_id = jwt.decode(member, options={"verify_signature": False})["sub"]
    typing = http.post(
        f"{target.url}/rest/v1/team_typing_indicators",
        json={"conversation_id": victim.id, "user_id": user_id, "user_name": "Dana"}
        | {"is_typing": True},
        headers={
            **user_headers(target, member),
            "Prefer": "resolution=merge-duplicates,return=minimal",
        },
    )
    assert typing.status_code == 201, typing.text
    sync = call(
        http,
        target.functions_url,
        "chat-visitor-sync",
        {"conversationId": victim.id, "conversationToken": victim.token},
        target.visitor_key,
    )
    assert sync.status_code == 200
    assert reply.json()[0]["id"] in {m["id"] for m in sync.json()["messages"]}
    assert sync.json()["typing"] == {"isTyping": True, "name": "Dana"}
