"""The pre-cutover schema leaks: the same probes that pass after the migrations fail here.

This is the proof that test_anon_reads.py and test_team_access.py can fail: against a
`--baseline-only` stack, anyone with the anon key reads every visitor's conversations and
messages, and so does any signed-in user of the project (role authenticated, any `sub`),
who can also write as the team. Migrated up to 20260327060000 the anon leak is closed, but a
signed-in user still reads and overwrites every `access_token_hash`.
"""

from __future__ import annotations

import secrets
import uuid

import httpx
import pytest

from edge_contract_tests.helpers import auth_headers, user_headers, user_jwt
from toolkit.config import Target
from toolkit.tokens import hash_token

pytestmark = pytest.mark.embedded


def test_baseline_anon_key_reads_other_visitors_conversations(
    http: httpx.Client, baseline_target: Target
) -> None:
    """Before the cutover, anon GET chat_conversations is 200 with two visitors' rows and emails."""
    response = http.get(
        f"{baseline_target.url}/rest/v1/chat_conversations",
        params={"select": "visitor_id,visitor_email"},
        headers=auth_headers(baseline_target.visitor_key),
    )
    assert response.status_code == 200
    rows = response.json()
    assert {r["visitor_id"] for r in rows} >= {"seed-visitor-alice", "seed-visitor-bob"}
    assert any(r["visitor_email"] for r in rows)


def test_baseline_anon_key_reads_other_visitors_messages(
    http: httpx.Client, baseline_target: Target
) -> None:
    """Before the cutover, anon GET chat_messages is 200 with both conversations' messages."""
    response = http.get(
        f"{baseline_target.url}/rest/v1/chat_messages",
        params={"select": "conversation_id,message_text"},
        headers=auth_headers(baseline_target.visitor_key),
    )
    assert response.status_code == 200
    assert len({r["conversation_id"] for r in response.json()}) >= 2


@pytest.mark.parametrize("table", ["chat_conversations", "chat_messages"])
def test_baseline_fails_the_anon_read_contract(
    http: httpx.Client, baseline_target: Target, table: str
) -> None:
    """The post-cutover assertion (401 42501) does not hold on the baseline."""
    response = http.get(
        f"{baseline_target.url}/rest/v1/{table}", headers=auth_headers(baseline_target.visitor_key)
    )
    assert response.status_code != 401


def _stranger(target: Target) -> dict[str, str]:
    """Headers of a signed-in user who is on no team: any sign-up gets such a JWT."""
    assert target.jwt_secret is not None
    return user_headers(target, user_jwt(target.jwt_secret))


def test_baseline_any_signed_in_user_reads_every_conversation(
    http: httpx.Client, baseline_target: Target
) -> None:
    """Before the cutover, a random authenticated user reads every conversation's emails,
    metadata and internal notes: the baseline's `using (true)` team policies let them in."""
    conversations = http.get(
        f"{baseline_target.url}/rest/v1/chat_conversations",
        params={"select": "*"},
        headers=_stranger(baseline_target),
    )
    assert conversations.status_code == 200
    rows = conversations.json()
    assert {r["visitor_id"] for r in rows} >= {"seed-visitor-alice", "seed-visitor-bob"}
    assert {r["visitor_email"] for r in rows} >= {"alice@example.com", "bob@example.com"}
    assert any(r["metadata"] for r in rows)
    notes = http.get(
        f"{baseline_target.url}/rest/v1/chat_messages",
        params={"select": "message_text", "is_internal": "is.true"},
        headers=_stranger(baseline_target),
    )
    assert notes.status_code == 200
    assert "Refund approved, VIP customer." in {r["message_text"] for r in notes.json()}


def test_baseline_any_signed_in_user_writes_as_the_team(
    http: httpx.Client, baseline_target: Target
) -> None:
    """Before the cutover, a random authenticated user posts a team message and fakes the
    "team is typing" indicator in someone else's conversation: both 201."""
    bob = "00000000-0000-4000-8000-00000000b001"
    rest, service = f"{baseline_target.url}/rest/v1", auth_headers(baseline_target.server_key)
    posted = http.post(
        f"{rest}/chat_messages",
        params={"select": "id"},
        json={
            "conversation_id": bob,
            "sender_type": "team",
            "sender_name": "Support",
            "message_text": "Please confirm your card number here.",
        },
        headers={**_stranger(baseline_target), "Prefer": "return=representation"},
    )
    user_id = str(uuid.uuid4())
    typing = http.post(
        f"{rest}/team_typing_indicators",
        json={"conversation_id": bob, "user_id": user_id, "is_typing": True},
        headers={**_stranger(baseline_target), "Prefer": "return=minimal"},
    )
    # The session's baseline stack is shared: leave its seed rows as they were.
    if posted.status_code == 201:
        http.delete(
            f"{rest}/chat_messages", params={"id": f"eq.{posted.json()[0]['id']}"}, headers=service
        )
    http.delete(
        f"{rest}/team_typing_indicators", params={"user_id": f"eq.{user_id}"}, headers=service
    )
    assert posted.status_code == 201
    assert typing.status_code == 201


def test_before_team_access_a_signed_in_user_reads_and_replaces_token_hashes(
    http: httpx.Client, pre_team_access_target: Target
) -> None:
    """Migrated up to 20260327060000, anon is shut out, but a random authenticated user
    still reads every access_token_hash and overwrites one, locking its visitor out."""
    target = pre_team_access_target
    token = secrets.token_urlsafe(32)
    created = http.post(
        f"{target.url}/rest/v1/chat_conversations",
        params={"select": "id"},
        json={"visitor_id": f"leak-{uuid.uuid4()}", "access_token_hash": hash_token(token)},
        headers={**auth_headers(target.server_key), "Prefer": "return=representation"},
    )
    assert created.status_code == 201, created.text
    cid = created.json()[0]["id"]
    anon = http.get(
        f"{target.url}/rest/v1/chat_conversations", headers=auth_headers(target.visitor_key)
    )
    assert anon.status_code == 401
    read = http.get(
        f"{target.url}/rest/v1/chat_conversations",
        params={"select": "id,access_token_hash"},
        headers=_stranger(target),
    )
    assert read.status_code == 200
    assert {"id": cid, "access_token_hash": hash_token(token)} in read.json()
    replaced = http.patch(
        f"{target.url}/rest/v1/chat_conversations",
        params={"id": f"eq.{cid}", "select": "access_token_hash"},
        json={"access_token_hash": "0" * 64},
        headers={**_stranger(target), "Prefer": "return=representation"},
    )
    http.delete(  # the stack is shared with test_verify.py, which counts its rows
        f"{target.url}/rest/v1/chat_conversations",
        params={"id": f"eq.{cid}"},
        headers=auth_headers(target.server_key),
    )
    assert replaced.status_code == 200
    assert replaced.json() == [{"access_token_hash": "0" * 64}]
