"""`chat-toolkit visitor forget` (right to erasure): one visitor's conversations, messages,
typing rows and events go, nobody else's; counted, dry-run first, safe to repeat."""

from __future__ import annotations

import subprocess
import sys
import uuid

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import call, one_row, open_conversation, set_typing
from toolkit.config import Target

pytestmark = pytest.mark.writes

CLI = [sys.executable, "-m", "toolkit.cli", "visitor", "forget"]


def _forget(target: Target, *args: str) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", "SUPABASE_DB_URL": target.db_url or ""}
    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=60, check=False, cwd="/"
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _rows(db: psycopg.Connection, visitor: str) -> tuple[int, ...]:
    return one_row(
        db,
        "select (select count(*) from team_typing_indicators t join chat_conversations c "
        "          on c.id = t.conversation_id where c.visitor_id = %(v)s),"
        "       (select count(*) from chat_access_events e join chat_conversations c "
        "          on c.id = e.conversation_id where c.visitor_id = %(v)s),"
        "       (select count(*) from chat_messages m join chat_conversations c "
        "          on c.id = m.conversation_id where c.visitor_id = %(v)s),"
        "       (select count(*) from chat_conversations where visitor_id = %(v)s)",
        {"v": visitor},  # type: ignore[arg-type]
    )


def test_forget_deletes_one_visitors_rows_and_prints_the_counts(
    http: httpx.Client, target: Target, db: psycopg.Connection
) -> None:
    """Two conversations (one with a typing row): --dry-run counts and keeps them; the run
    deletes exactly those counts; a second run prints zeros; another visitor keeps all."""
    visitor = f"visitor-{uuid.uuid4()}"
    first = call(
        http,
        target.functions_url,
        "handle-chat-message",
        {"visitorId": visitor, "message": "one"},
        target.visitor_key,
    ).json()
    call(
        http,
        target.functions_url,
        "handle-chat-message",
        {"visitorId": visitor, "message": "two"},
        target.visitor_key,
    )
    set_typing(http, target, first["conversationId"], True)
    other = open_conversation(http, target)
    expected = _rows(db, visitor)
    other_before = _rows(db, other["visitorId"])
    assert expected == (1, 2, 4, 2)  # 2 x (visitor + reply), 2 token_issued events

    dry = _forget(target, visitor, "--dry-run")
    assert dry[0].startswith("visitor forget: postgresql://") and "***" in dry[0]
    assert dry[0].endswith("(dry run: nothing is deleted)")
    assert dry[1:] == [
        "  team_typing_indicators   1",
        "  chat_access_events       2",
        "  chat_messages            4",
        "  chat_conversations       2",
        "would delete 9 row(s)",
    ]
    assert _rows(db, visitor) == expected

    done = _forget(target, visitor)
    assert done[1:-1] == dry[1:-1] and done[-1] == "deleted 9 row(s)"
    assert _rows(db, visitor) == (0, 0, 0, 0)
    assert _rows(db, other["visitorId"]) == other_before

    again = _forget(target, visitor)
    assert [line.split()[-1] for line in again[1:-1]] == ["0", "0", "0", "0"]
    assert again[-1] == "deleted 0 row(s)"
