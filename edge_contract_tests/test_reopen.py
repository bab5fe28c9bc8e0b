"""A visitor writing into a resolved or closed conversation (CONTRACT §4): it is reopened
in place, back where the team sees it; assigned, as escalated with no AI reply."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import call, one_row, open_conversation
from toolkit.config import Target

pytestmark = pytest.mark.writes

REOPEN_NOTICE = "The visitor wrote again: this conversation is open again."


def _write_again(http: httpx.Client, target: Target, conv: dict[str, Any]) -> dict[str, Any]:
    body = {
        "visitorId": conv["visitorId"],
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
        "message": "One more question",
    }
    answer = call(http, target.functions_url, "handle-chat-message", body, target.visitor_key)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _state(db: psycopg.Connection, cid: str) -> tuple[Any, ...]:
    return one_row(
        db, "select status, escalation_reason from chat_conversations where id = %s", (cid,)
    )


@pytest.mark.parametrize("closed", ["resolved", "closed"])
def test_unassigned_conversation_is_reopened_active_and_answered(
    http: httpx.Client, target: Target, db: psycopg.Connection, closed: str
) -> None:
    """Unassigned: status back to active, a system notice, and the AI answers as usual."""
    conv = open_conversation(http, target)
    db.execute(
        "update chat_conversations set status = %s where id = %s", (closed, conv["conversationId"])
    )
    answer = _write_again(http, target, conv)
    assert (answer["status"], answer["escalated"]) == ("active", False)
    assert answer["reply"]
    status, reason = _state(db, conv["conversationId"])
    assert (status, reason) == ("active", None)
    (notices,) = one_row(
        db,
        "select count(*) from chat_messages where conversation_id = %s and sender_type = "
        "'system' and message_text = %s",
        (conv["conversationId"], REOPEN_NOTICE),
    )
    assert notices == 1


@pytest.mark.parametrize("closed", ["resolved", "closed"])
def test_assigned_conversation_goes_back_to_the_team_escalated(
    http: httpx.Client, target: Target, db: psycopg.Connection, closed: str
) -> None:
    """Assigned: status escalated with a reason the team sees, a system notice the visitor
    sees through sync, and no AI reply (a human owns it)."""
    conv = open_conversation(http, target)
    db.execute(
        "update chat_conversations set status = %s, assigned_to = %s where id = %s",
        (closed, str(uuid.uuid4()), conv["conversationId"]),
    )
    answer = _write_again(http, target, conv)
    assert (answer["status"], answer["escalated"], answer["reply"]) == ("escalated", True, None)
    status, reason = _state(db, conv["conversationId"])
    assert (status, reason) == (
        "escalated",
        "visitor wrote again after the conversation was closed",
    )
    synced = call(
        http,
        target.functions_url,
        "chat-visitor-sync",
        {"conversationId": conv["conversationId"], "conversationToken": conv["conversationToken"]},
        target.visitor_key,
    ).json()
    texts = [(m["senderType"], m["text"]) for m in synced["messages"]]
    assert texts[-2:] == [("visitor", "One more question"), ("system", REOPEN_NOTICE)]
    assert ("ai", answer["reply"]) not in texts


def test_an_open_conversation_gets_no_reopen_notice(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """The twin: a message into an active conversation adds no notice."""
    conv = open_conversation(http, target)
    assert _write_again(http, target, conv)["status"] == "active"
    (notices,) = one_row(
        db,
        "select count(*) from chat_messages where conversation_id = %s and message_text = %s",
        (conv["conversationId"], REOPEN_NOTICE),
    )
    assert notices == 0
