"""Long-poll delivery (CONTRACT §5 `wait`, issue 14): a sync with nothing new is held until
its conversation changes (a LISTEN/NOTIFY wake-up) or the wait ends; without a listener,
or while it is down, `wait` is answered at once; the listener comes back after losing its
connection or a database restart; a server shutting down answers held syncs; a revoked
token ends the syncs held under it. Every answer says whether the server can hold syncs
(`longPoll`), which is what makes the widget send `wait`.

A held answer is recognised by its time: one that took at least its `wait` with nothing
new was held; one that came back long before the client's timeout was not stuck.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import (
    FORBIDDEN,
    auth_headers,
    call,
    one_row,
    open_conversation,
    set_typing,
    team_message,
)
from toolkit import stack
from toolkit.config import Target
from toolkit.ops import tokens
from toolkit.stack import testing
from toolkit.stack.parts import PG_BIN
from toolkit.tokens import hash_token, mint_token

pytestmark = pytest.mark.writes


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """Longer than any wait: a sync that was not woken shows as slow, not as a timeout."""
    with httpx.Client(timeout=40.0) as client:
        yield client


SYNC = "chat-visitor-sync"
LISTENER = "chat-toolkit listener"  # the listener connection's application_name


def long_poll(
    http: httpx.Client, target: Target, conv: dict[str, Any], cursor: str, wait: float, url: str
) -> tuple[dict[str, Any], float]:
    """One sync from `cursor` with `wait`: (its 200 body, seconds it took)."""
    body = {
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
        "since": cursor,
        "wait": wait,
    }
    started = time.monotonic()
    response = call(http, url, SYNC, body, target.visitor_key)
    assert response.status_code == 200, response.text
    return response.json(), time.monotonic() - started


def opened(http: httpx.Client, target: Target, url: str) -> tuple[dict[str, Any], str]:
    """A new conversation and the cursor of its first (full) sync."""
    conv = open_conversation(http, target, url)
    body = {
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
    }
    response = call(http, url, SYNC, body, target.visitor_key)
    assert response.status_code == 200, response.text
    return conv, response.json()["cursor"]


def later(seconds: float, action: Callable[[], object]) -> threading.Thread:
    """Run `action` after `seconds` on a thread (the held request runs on this one)."""

    def run() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def until_held(http: httpx.Client, target: Target, url: str) -> None:
    """Wait (up to 20 s) until the server offers long-poll again (`longPoll: true`): its
    listener is back."""
    conv, cursor = opened(http, target, url)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body, _ = long_poll(http, target, conv, cursor, 0, url)
        if body["longPoll"] is True:
            return
        time.sleep(0.2)
    pytest.fail("the functions server did not offer long-poll again within 20 s")


def test_held_sync_is_woken_by_a_team_message(http: httpx.Client, target: Target) -> None:
    """A sync held with wait 25 answers with the team's message soon after it is written,
    long before the wait ends."""
    conv, cursor = opened(http, target, target.functions_url)
    writer = later(1.0, lambda: team_message(http, target, conv["conversationId"], "wake up"))
    body, seconds = long_poll(http, target, conv, cursor, 25, target.functions_url)
    writer.join()
    assert [m["text"] for m in body["messages"]] == ["wake up"]
    assert seconds < 20
    assert body["longPoll"] is True  # what makes the widget send `wait`


@pytest.mark.parametrize("how", ["rotated", "revoked"])
def test_revoking_the_token_ends_a_held_sync_with_403(
    http: httpx.Client, target: Target, db: psycopg.Connection, how: str
) -> None:
    """A new access_token_hash (rotated) or none (`tokens revoke`) wakes the syncs held under
    the old token: they read again and are refused (an unwoken one would stand as the 200 it
    was when it was held)."""
    conv, cursor = opened(http, target, target.functions_url)
    db_url = target.db_url or ""  # the db fixture skips without one

    def revoke() -> None:
        if how == "revoked":
            revoked = tokens.revoke(db_url, conversation=conv["conversationId"], visitor=None)
            assert revoked == [conv["conversationId"]]
            return
        response = http.patch(
            f"{target.url}/rest/v1/chat_conversations",
            params={"id": f"eq.{conv['conversationId']}"},
            json={"access_token_hash": hash_token(mint_token())},
            headers=auth_headers(target.server_key),
        )
        assert response.status_code == 204, response.text

    revoker = later(1.0, revoke)
    body = {
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
        "since": cursor,
        "wait": 25,
    }
    response = call(http, target.functions_url, SYNC, body, target.visitor_key)
    revoker.join()
    assert (response.status_code, response.json()) == (403, FORBIDDEN)


def test_a_held_sync_whose_token_came_of_age_answers_403(
    http: httpx.Client, target: Target, db: psycopg.Connection, serve: Callable[..., str]
) -> None:
    """CHAT_TOKEN_MAX_AGE_DAYS=1 on a long-polling server: a sync held under a token that is
    then dated 2 days back is woken by the next team message and refused, not answered with
    the message."""
    url = serve(CHAT_TOKEN_MAX_AGE_DAYS="1", SUPABASE_DB_URL=target.db_url or "")
    until_held(http, target, url)
    conv, cursor = opened(http, target, url)

    def age_then_write() -> None:
        db.execute(
            "update chat_conversations set access_token_issued_at = now() - interval '2 days' "
            "where id = %s",
            (conv["conversationId"],),
        )
        team_message(http, target, conv["conversationId"], "too late")

    writer = later(1.0, age_then_write)
    body = {
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
        "since": cursor,
        "wait": 25,
    }
    response = call(http, url, SYNC, body, target.visitor_key)
    writer.join()
    assert (response.status_code, response.json()) == (403, FORBIDDEN)


def test_held_sync_is_woken_by_typing_and_status(http: httpx.Client, target: Target) -> None:
    """Typing starting and the conversation being escalated each end a held sync, with the
    new state in the answer."""
    url = target.functions_url
    conv, cursor = opened(http, target, url)
    cid = conv["conversationId"]
    typing = later(1.0, lambda: set_typing(http, target, cid, True))
    body, seconds = long_poll(http, target, conv, cursor, 25, url)
    typing.join()
    assert body["typing"] == {"isTyping": True, "name": "Dana"} and seconds < 20

    def escalate() -> None:
        response = http.patch(
            f"{target.url}/rest/v1/chat_conversations",
            params={"id": f"eq.{cid}"},
            json={"status": "escalated"},
            headers=auth_headers(target.server_key),
        )
        assert response.status_code == 204

    status = later(1.0, escalate)
    body, seconds = long_poll(http, target, conv, body["cursor"], 25, url)
    status.join()
    assert body["conversation"]["status"] == "escalated" and seconds < 20


def test_held_sync_with_nothing_new_answers_when_the_wait_ends(
    http: httpx.Client, target: Target
) -> None:
    """With nothing new a sync with wait 2 is held at least 2 s, then answered as a normal
    sync: no messages, a cursor that continues from the same point."""
    conv, cursor = opened(http, target, target.functions_url)
    body, seconds = long_poll(http, target, conv, cursor, 2, target.functions_url)
    assert seconds >= 2
    assert body["messages"] == [] and body["hasMore"] is False
    new_id = team_message(http, target, conv["conversationId"], "after the wait")
    after, _ = long_poll(http, target, conv, body["cursor"], 0, target.functions_url)
    assert [m["id"] for m in after["messages"]] == [new_id]


def test_a_message_written_before_the_hold_is_answered_at_once(
    http: httpx.Client, target: Target
) -> None:
    """News already there when the request arrives is answered at once, not held."""
    conv, cursor = opened(http, target, target.functions_url)
    new_id = team_message(http, target, conv["conversationId"], "already here")
    body, seconds = long_poll(http, target, conv, cursor, 25, target.functions_url)
    assert [m["id"] for m in body["messages"]] == [new_id] and seconds < 20


def test_without_a_database_url_wait_is_answered_at_once(
    http: httpx.Client, target: Target, serve: Any
) -> None:
    """A functions server without SUPABASE_DB_URL has no listener: wait 25 with nothing
    new is an ordinary immediate 200, never an error."""
    url = serve()
    conv, cursor = opened(http, target, url)
    body, seconds = long_poll(http, target, conv, cursor, 25, url)
    assert body["messages"] == [] and seconds < 20
    assert body["longPoll"] is False  # so the widget keeps polling


# -- a stack of its own: the listener lost, the database restarted, a shutdown -----------


@pytest.fixture()
def own() -> Iterator[tuple[stack.StackState, Target]]:
    """A throwaway stack whose functions server listens (it has SUPABASE_DB_URL)."""
    with stack.temporary() as state:
        try:
            yield state, Target.from_env(state.env())
        finally:
            _pg_ctl(state, "stop", "-m", "fast", "-w", check=False)


def _pg_ctl(state: stack.StackState, *args: str, check: bool = True) -> None:
    argv = [str(PG_BIN / "pg_ctl"), "-D", str(Path(state.directory) / "pgdata"), *args]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    result = subprocess.run(
        argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    assert result.returncode == 0 or not check, result.stderr


def _terminate_listener(state: stack.StackState) -> int:
    with psycopg.connect(state.db_url, autocommit=True) as conn:
        (ended,) = one_row(
            conn,
            "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity "
            "where application_name = %s",
            (LISTENER,),
        )
    return int(ended)


@pytest.mark.embedded
def test_listener_loss_answers_held_syncs_and_the_listener_comes_back(
    http: httpx.Client, own: tuple[stack.StackState, Target]
) -> None:
    """Ending the listener's database session answers a held sync at once (news may be
    missed meanwhile); the listener reconnects, syncs are held again, and a team message
    wakes them."""
    state, target = own
    url = target.functions_url
    until_held(http, target, url)
    conv, cursor = opened(http, target, url)
    ended: list[int] = []
    killer = later(1.0, lambda: ended.append(_terminate_listener(state)))
    body, seconds = long_poll(http, target, conv, cursor, 25, url)
    killer.join()
    assert ended == [1]
    assert body["messages"] == [] and seconds < 20 and body["longPoll"] is False
    until_held(http, target, url)
    writer = later(1.0, lambda: team_message(http, target, conv["conversationId"], "back"))
    body, seconds = long_poll(http, target, conv, cursor, 25, url)
    writer.join()
    assert [m["text"] for m in body["messages"]] == ["back"] and seconds < 20


@pytest.mark.embedded
def test_listener_reconnects_after_a_database_restart(
    http: httpx.Client, own: tuple[stack.StackState, Target]
) -> None:
    """PostgreSQL stopped and started again: the listener reconnects by itself, syncs are
    held again and woken by a team message."""
    state, target = own
    url = target.functions_url
    until_held(http, target, url)
    log = Path(state.directory) / "logs" / "postgres.log"
    _pg_ctl(state, "restart", "-m", "fast", "-w", "-t", "20", "-l", str(log))
    until_held(http, target, url)
    conv, cursor = opened(http, target, url)
    writer = later(1.0, lambda: team_message(http, target, conv["conversationId"], "restarted"))
    body, seconds = long_poll(http, target, conv, cursor, 25, url)
    writer.join()
    assert [m["text"] for m in body["messages"]] == ["restarted"] and seconds < 20


@pytest.mark.embedded
def test_shutdown_answers_held_syncs(http: httpx.Client) -> None:
    """SIGTERM to a functions server holding a sync for 25 s: the sync is answered with an
    ordinary 200 before the server exits, not cut off."""
    with stack.temporary(functions=False) as state:
        target = Target.from_env(state.env())
        port = testing.free_port()
        log = Path(state.directory) / "logs" / "shutdown.log"
        server = testing.serve_functions(state.env(), port, log)
        url = f"http://127.0.0.1:{port}/functions/v1"
        try:
            until_held(http, target, url)
            conv, cursor = opened(http, target, url)
            stopper = later(1.0, lambda: server.send_signal(signal.SIGTERM))
            body, seconds = long_poll(http, target, conv, cursor, 25, url)
            stopper.join()
            assert body["messages"] == [] and seconds < 20
            server.wait(timeout=20)
        finally:
            testing.stop_functions(server)
