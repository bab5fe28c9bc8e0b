"""Idempotent first messages (CONTRACT §4): the same visitorId + clientMessageId without a
conversationId opens one conversation and stores one message however often and however
concurrently it is sent, and every answer carries the one token that works."""

from __future__ import annotations

import concurrent.futures
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import FORBIDDEN, call, one_row
from toolkit.config import Target

pytestmark = pytest.mark.writes


def _first(target: Target, visitor: str, cmid: str, message: str = "Hello") -> httpx.Response:
    with httpx.Client(timeout=10.0) as http:
        body = {"visitorId": visitor, "message": message, "clientMessageId": cmid}
        return call(http, target.functions_url, "handle-chat-message", body, target.visitor_key)


def _counts(db: psycopg.Connection, visitor: str) -> tuple[int, int]:
    (conversations, messages) = one_row(
        db,
        "select count(distinct c.id), count(m.id) filter (where m.sender_type = 'visitor') "
        "from chat_conversations c left join chat_messages m on m.conversation_id = c.id "
        "where c.visitor_id = %s",
        (visitor,),
    )
    return int(conversations), int(messages)


def _sync(http: httpx.Client, target: Target, cid: str, token: str) -> httpx.Response:
    body = {"conversationId": cid, "conversationToken": token}
    return call(http, target.functions_url, "chat-visitor-sync", body, target.visitor_key)


def _assert_one_working_token(
    http: httpx.Client, target: Target, db: psycopg.Connection, visitor: str, bodies: list[Any]
) -> None:
    assert _counts(db, visitor) == (1, 1)
    assert len({b["conversationId"] for b in bodies}) == 1
    assert len({b["messageId"] for b in bodies}) == 1
    for body in bodies:
        response = _sync(http, target, body["conversationId"], body["conversationToken"])
        assert response.status_code == 200, response.text
        assert [m["text"] for m in response.json()["messages"]][:1] == ["Hello"]


def test_two_sequential_sends_open_one_conversation_with_a_working_token(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """A retry after a lost answer: same conversation, same message, a token that syncs."""
    visitor, cmid = f"visitor-{uuid.uuid4()}", str(uuid.uuid4())
    answers = [_first(target, visitor, cmid) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    bodies = [a.json() for a in answers]
    assert bodies[1]["reply"] is None  # the retry stored nothing, so nothing is answered
    _assert_one_working_token(http, target, db, visitor, bodies)


def test_five_concurrent_sends_open_one_conversation(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """Five tries at once: one conversation, one message, five answers with a working token."""
    visitor, cmid = f"visitor-{uuid.uuid4()}", str(uuid.uuid4())
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: _first(target, visitor, cmid), range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    _assert_one_working_token(http, target, db, visitor, [a.json() for a in answers])


def test_visitor_id_with_a_guessed_client_message_id_opens_nothing_of_the_victim(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """An attacker who knows the visitorId but not the clientMessageId gets a conversation
    of their own, whose token is refused on the victim's; the victim's retry still works."""
    visitor, cmid = f"visitor-{uuid.uuid4()}", str(uuid.uuid4())
    victim = _first(target, visitor, cmid).json()
    attacker = _first(target, visitor, str(uuid.uuid4())).json()
    assert attacker["conversationId"] != victim["conversationId"]
    stolen = _sync(http, target, victim["conversationId"], attacker["conversationToken"])
    assert (stolen.status_code, stolen.json()) == (403, FORBIDDEN)
    retry = _first(target, visitor, cmid).json()
    assert retry["conversationToken"] == victim["conversationToken"]
    assert _sync(http, target, victim["conversationId"], retry["conversationToken"]).is_success


def test_another_visitor_with_the_same_client_message_id_gets_its_own_conversation(
    http: httpx.Client, target: Target
) -> None:
    """The key is per visitor: the same clientMessageId under another visitorId neither
    finds the first visitor's conversation nor derives its token."""
    cmid = str(uuid.uuid4())
    one = _first(target, f"visitor-{uuid.uuid4()}", cmid).json()
    two = _first(target, f"visitor-{uuid.uuid4()}", cmid).json()
    assert one["conversationId"] != two["conversationId"]
    assert one["conversationToken"] != two["conversationToken"]
    stolen = _sync(http, target, one["conversationId"], two["conversationToken"])
    assert (stolen.status_code, stolen.json()) == (403, FORBIDDEN)


def test_a_short_client_message_id_is_no_creation_key(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """Under 32 characters the key is guessable: such a first message is not deduplicated
    and its token is random, so a resend under the visitorId never gets the first token."""
    visitor = f"visitor-{uuid.uuid4()}"
    one, two = (_first(target, visitor, "msg-1").json() for _ in range(2))
    assert one["conversationId"] != two["conversationId"]
    assert one["conversationToken"] != two["conversationToken"]
    assert _counts(db, visitor) == (2, 2)
    stolen = _sync(http, target, one["conversationId"], two["conversationToken"])
    assert (stolen.status_code, stolen.json()) == (403, FORBIDDEN)
