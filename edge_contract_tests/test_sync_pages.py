"""chat-visitor-sync at scale (CONTRACT §5, issue 14): bounded pages and older history, the
exact cursor v2 under a held transaction, its opacity, resync for cursors this database
cannot have issued, and typing time from the database's clock."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import (
    auth_headers,
    call,
    one_row,
    open_conversation,
    set_typing,
    sync,
    team_message,
)
from toolkit import stack
from toolkit.config import Target
from toolkit.tokens import hash_token

pytestmark = pytest.mark.writes

SYNC = "chat-visitor-sync"
CURSOR_KEY = "a-cursor-key-shared-by-two-stacks-for-this-test"


def team_messages(http: httpx.Client, target: Target, cid: str, texts: list[str]) -> list[str]:
    """Team messages written in one request, hence one transaction; their ids in order."""
    response = http.post(
        f"{target.url}/rest/v1/chat_messages",
        json=[{"conversation_id": cid, "sender_type": "team", "message_text": t} for t in texts],
        headers={**auth_headers(target.server_key), "Prefer": "return=representation"},
    )
    assert response.status_code == 201, response.text
    return [row["id"] for row in response.json()]


def visible_ids(http: httpx.Client, target: Target, cid: str) -> set[str]:
    """Every message of the conversation a visitor may see, read with the service role."""
    response = http.get(
        f"{target.url}/rest/v1/chat_messages",
        params={"select": "id", "conversation_id": f"eq.{cid}", "is_internal": "is.false"},
        headers=auth_headers(target.server_key),
    )
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()}


def test_full_sync_is_the_newest_page_and_before_walks_back_through_history(
    http: httpx.Client, target: Target
) -> None:
    """A full sync of 252 messages answers the newest 100 (oldest first) with hasMore and
    `before`; `before` pages reach back to the first message without overlap; a `before`
    page has no cursor and the last one no `before`."""
    conv = open_conversation(http, target)
    cid = conv["conversationId"]
    team_messages(http, target, cid, [f"history {i}" for i in range(250)])
    newest = sync(http, target, conv)
    assert (len(newest["messages"]), newest["hasMore"]) == (100, True)
    assert all(m["text"].startswith("history ") for m in newest["messages"])
    assert isinstance(newest["before"], str) and newest["cursor"]
    pages, before = [newest], newest["before"]
    while before is not None:
        page = sync(http, target, conv, before=before)
        assert page["cursor"] is None
        pages.append(page)
        before = page["before"]
        assert page["hasMore"] is (before is not None)
    assert [len(p["messages"]) for p in pages] == [100, 100, 52]
    ids = [m["id"] for p in reversed(pages) for m in p["messages"]]
    assert len(ids) == len(set(ids)) == 252
    assert set(ids) == visible_ids(http, target, cid)
    assert pages[-1]["messages"][0]["id"] == conv["messageId"]


def test_limit_sets_the_page_size(http: httpx.Client, target: Target) -> None:
    """`limit` 7 answers the newest 7; 500 answers everything in one page."""
    conv = open_conversation(http, target)
    for i in range(20):
        team_message(http, target, conv["conversationId"], f"m{i}")
    assert [m["text"] for m in sync(http, target, conv, limit=7)["messages"]] == [
        f"m{i}" for i in range(13, 20)
    ]
    everything = sync(http, target, conv, limit=500)
    assert (len(everything["messages"]), everything["hasMore"], everything["before"]) == (
        22,
        False,
        None,
    )


def test_answers_are_bounded_in_bytes(http: httpx.Client, target: Target) -> None:
    """Forty 4,000-character messages of control characters (24 KB of JSON each) come
    ten to a page: the answer stays under 256 KB and says more is waiting."""
    conv = open_conversation(http, target)
    team_messages(http, target, conv["conversationId"], ["\x01" * 4000] * 40)
    response = call(
        http,
        target.functions_url,
        SYNC,
        {"conversationId": conv["conversationId"], "conversationToken": conv["conversationToken"]},
        target.visitor_key,
    )
    body = response.json()
    assert len(response.content) < 256 * 1024 + 2048
    assert body["hasMore"] is True and 1 <= len(body["messages"]) < 40


def test_incremental_sync_is_bounded_and_continues_where_it_stopped(
    http: httpx.Client, target: Target
) -> None:
    """250 messages written in one transaction after a cursor come 100, 100, 50 with
    hasMore on the first two (and no `before`): each exactly once, nothing missing."""
    conv = open_conversation(http, target)
    cursor = sync(http, target, conv)["cursor"]
    written = team_messages(http, target, conv["conversationId"], [f"n{i}" for i in range(250)])
    sizes, seen = [], []
    while True:
        page = sync(http, target, conv, cursor)
        assert page["before"] is None
        sizes.append(len(page["messages"]))
        seen += [m["id"] for m in page["messages"]]
        cursor = page["cursor"]
        if not page["hasMore"]:
            break
    assert sizes == [100, 100, 50]
    assert sorted(seen) == sorted(written)
    assert sync(http, target, conv, cursor)["messages"] == []


def test_small_pages_across_many_transactions_lose_and_repeat_nothing(
    http: httpx.Client, target: Target
) -> None:
    """Pages of 3 over 12 transactions of 1 to 4 messages, written between syncs: each
    message exactly once."""
    conv = open_conversation(http, target)
    cursor = sync(http, target, conv)["cursor"]
    written, seen = [], []
    for i in range(12):
        written += team_messages(
            http, target, conv["conversationId"], [f"t{i}.{j}" for j in range(i % 4 + 1)]
        )
        page = sync(http, target, conv, cursor, limit=3)
        seen += [m["id"] for m in page["messages"]]
        cursor = page["cursor"]
    while (page := sync(http, target, conv, cursor, limit=3))["messages"]:
        seen += [m["id"] for m in page["messages"]]
        cursor = page["cursor"]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(written)


@pytest.fixture()
def held_transaction(target: Target) -> Iterator[None]:
    """An unrelated session, idle in a transaction that holds an id (a stalled xmin)."""
    if target.db_url is None:
        pytest.skip("holding a transaction needs SUPABASE_DB_URL")
    with psycopg.connect(target.db_url) as conn:
        conn.execute("select pg_current_xact_id()")
        yield
        conn.rollback()


def test_exact_cursor_under_a_held_transaction(
    http: httpx.Client, target: Target, held_transaction: None
) -> None:
    """While another session holds a transaction id, 40 team messages arrive one per sync:
    every sync returns exactly the one new message (none the previous sync returned)."""
    conv = open_conversation(http, target)
    cursor = sync(http, target, conv)["cursor"]
    answers = []
    for i in range(40):
        new_id = team_message(http, target, conv["conversationId"], f"while stalled {i}")
        page = sync(http, target, conv, cursor)
        answers.append([m["id"] for m in page["messages"]])
        assert answers[-1] == [new_id]
        cursor = page["cursor"]
    assert max(len(a) for a in answers) == 1


def test_cursor_v1_repeats_everything_under_a_held_transaction(
    http: httpx.Client, target: Target, held_transaction: None, db: psycopg.Connection
) -> None:
    """The old cursor (the snapshot's xmin) stands still behind the held transaction, so
    each answer repeats everything since: the failure the exact cursor removes."""
    conv = open_conversation(http, target)
    (xmin,) = one_row(db, "select pg_snapshot_xmin(pg_current_snapshot())::text")
    cursor_v1 = base64.urlsafe_b64encode(f"v1:{xmin}".encode()).decode().rstrip("=")
    sizes = []
    for i in range(5):
        team_message(http, target, conv["conversationId"], f"v1 stalled {i}")
        sizes.append(len(sync(http, target, conv, cursor_v1)["messages"]))
    assert sizes == [3, 4, 5, 6, 7]  # the opening pair, then one more each time


def test_cursor_shows_no_transaction_id(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """The cursor holds no transaction id of this database in any decodable form (digits,
    4- or 8-byte integers), and the same state gives a different cursor each time."""
    conv = open_conversation(http, target)
    before = _xmax(db)
    first = sync(http, target, conv)["cursor"]
    second = sync(http, target, conv)["cursor"]
    after = _xmax(db)
    assert first != second and first.startswith("v2.")
    for cursor in (first, second):
        body = cursor.removeprefix("v2.")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        for xid in range(before - 50, after + 1):
            assert str(xid).encode() not in raw
            for size in (4, 8):
                for order in ("big", "little"):
                    assert xid.to_bytes(size, order) not in raw


def test_altered_cursor_and_another_conversations_cursor_are_answered_with_a_resync(
    http: httpx.Client, target: Target
) -> None:
    """A cursor with one character changed, or one from another conversation, gets 200 with
    `resync: true` and the newest page; the unaltered cursor gets an ordinary answer."""
    conv, other = open_conversation(http, target), open_conversation(http, target)
    cursor = sync(http, target, conv)["cursor"]
    ordinary = sync(http, target, conv, cursor)
    assert "resync" not in ordinary and ordinary["messages"] == []
    at = len(cursor) // 2
    altered = cursor[:at] + ("A" if cursor[at] != "A" else "B") + cursor[at + 1 :]
    foreign = sync(http, target, other)["cursor"]
    for bad in (altered, foreign):
        answer = sync(http, target, conv, bad)
        assert answer["resync"] is True
        assert answer["messages"][0]["text"] == "Hello"
        assert answer["cursor"] != bad


def test_cursor_v1_still_works_and_one_from_the_future_resyncs(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """A v1 cursor (from an older widget) answers what came after it; a v1 cursor beyond
    the database's transaction counter is answered with a resync."""
    conv = open_conversation(http, target)
    (xmin,) = one_row(db, "select pg_snapshot_xmin(pg_current_snapshot())::text")
    cursor_v1 = base64.urlsafe_b64encode(f"v1:{xmin}".encode()).decode().rstrip("=")
    new_id = team_message(http, target, conv["conversationId"], "after the v1 cursor")
    answer = sync(http, target, conv, cursor_v1)
    assert [m["id"] for m in answer["messages"]] == [new_id] and "resync" not in answer
    assert answer["cursor"].startswith("v2.")
    future = base64.urlsafe_b64encode(f"v1:{2**62}".encode()).decode().rstrip("=")
    assert sync(http, target, conv, future)["resync"] is True


def test_typing_time_comes_from_the_database_clock(
    http: httpx.Client, target: Target, db: psycopg.Connection, serve: Callable[..., str]
) -> None:
    """A typing row written with a clock an hour fast is stored with the database's time,
    so with a 1 s TTL the visitor sees the typing, and then not, once the TTL has passed."""
    url = serve(CHAT_TYPING_TTL_SECONDS="1")
    conv = open_conversation(http, target)
    set_typing(http, target, conv["conversationId"], True, skew_s=3600)
    (ahead,) = one_row(
        db,
        "select max(updated_at) > now() from team_typing_indicators where conversation_id = %s",
        (conv["conversationId"],),
    )
    assert ahead is False
    deadline = time.monotonic() + 10
    while sync(http, target, conv, url=url)["typing"]["isTyping"]:
        assert time.monotonic() < deadline, "typing still shown 10 s after a 1 s TTL"
        time.sleep(0.2)


@pytest.mark.embedded
def test_cursor_from_another_database_is_answered_with_a_resync(
    http: httpx.Client, target: Target, db: psycopg.Connection, serve: Callable[..., str]
) -> None:
    """Two stacks share a cursor key and a conversation (same id and token). A cursor from
    the other stack is answered with a resync here; so is one from a database whose epoch
    matches but whose transaction counter is ahead of this one's (a restore from before)."""
    url = serve(CHAT_CURSOR_KEY=CURSOR_KEY)
    cid, token = str(uuid.uuid4()), f"shared-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    conv = {"conversationId": cid, "conversationToken": token}

    def add(conn: psycopg.Connection) -> None:
        conn.execute(
            "insert into chat_conversations (id, visitor_id, access_token_hash) "
            "values (%s, 'x', %s)",
            (cid, hash_token(token)),
        )
        conn.execute(
            "insert into chat_messages (conversation_id, sender_type, message_text) "
            "values (%s, 'team', 'Hello')",
            (cid,),
        )

    add(db)
    with (
        stack.temporary(functions_env={"CHAT_CURSOR_KEY": CURSOR_KEY}) as other,
        psycopg.connect(other.db_url, autocommit=True) as other_db,
    ):
        add(other_db)
        # The other counter ends well ahead of this one, as an older backup's would be
        # behind: either way the cursor's ids mean nothing here.
        for _ in range(max(0, _xmax(db) - _xmax(other_db)) + 1000):
            other_db.execute("select pg_current_xact_id()")
        other_key = Target.from_env(other.env()).visitor_key
        answer = call(http, f"{other.api_url}/functions/v1", SYNC, conv, other_key)
        foreign = answer.json()["cursor"]
        (other_epoch,) = one_row(other_db, "select id::text from chat_sync_epoch")
    own = sync(http, target, conv, url=url)["cursor"]
    assert "resync" not in sync(http, target, conv, own, url=url)
    assert sync(http, target, conv, foreign, url=url)["resync"] is True
    (epoch,) = one_row(db, "select id::text from chat_sync_epoch")
    db.execute("update chat_sync_epoch set id = %s", (other_epoch,))
    try:
        assert sync(http, target, conv, foreign, url=url)["resync"] is True
    finally:
        db.execute("update chat_sync_epoch set id = %s", (epoch,))


def _xmax(conn: psycopg.Connection) -> int:
    """The database's next transaction id."""
    (xmax,) = one_row(conn, "select pg_snapshot_xmax(pg_current_snapshot())::text")
    return int(xmax)


def test_both_ways_of_reading_keep_their_index_in_a_generic_plan(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """Planned generically (as a cached plpgsql plan is), the incremental read is bounded by
    `sync_xid >=` in the (conversation_id, sync_xid) index and the page read by created_at
    in (conversation_id, created_at, id): cost stays independent of history length."""
    conv = open_conversation(http, target)
    team_messages(http, target, conv["conversationId"], [f"h{i}" for i in range(200)])
    db.execute("analyze chat_messages")  # planner statistics, as autovacuum keeps them
    notices: list[str] = []
    db.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    db.execute("load 'auto_explain'")
    for setting, value in (
        ("auto_explain.log_min_duration", "0"),
        ("auto_explain.log_nested_statements", "on"),
        ("auto_explain.log_level", "notice"),
        ("plan_cache_mode", "force_generic_plan"),
        ("enable_seqscan", "off"),
    ):
        db.execute(f"set {setting} = {value}")
    args = (conv["conversationId"], hash_token(conv["conversationToken"]))
    try:
        db.execute("select chat_visitor_sync_v2(%s, %s, p_snapshot => '3:3:')", args)
        incremental = [n for n in notices if "pg_visible_in_snapshot(m.sync_xid" in n]
        notices.clear()
        db.execute("select chat_visitor_sync_v2(%s, %s)", args)
        newest = [n for n in notices if "m.created_at desc, m.id desc" in n]
    finally:
        db.execute("reset all")
    assert len(incremental) == 1 and len(newest) == 1, notices
    assert "idx_chat_messages_conversation_sync_xid" in incremental[0]
    assert _index_cond(incremental[0]).count("sync_xid >=") == 1
    assert "idx_chat_messages_conversation_created_at" in newest[0]
    assert "created_at >=" in _index_cond(newest[0])


def _index_cond(plan: str) -> str:
    return " ".join(line for line in plan.splitlines() if "Index Cond" in line)
