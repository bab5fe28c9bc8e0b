"""The visitor client and `chat-toolkit chat` against the functions, as the widget uses them."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import (
    URL_SAFE,
    auth_headers,
    legacy_conversation,
    one_row,
    open_conversation,
    set_typing,
    stored_hash,
    team_message,
)
from toolkit.client import Session, SessionStore, Update, VisitorClient
from toolkit.config import Target
from toolkit.errors import TokenRequired

pytestmark = pytest.mark.writes

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
CLOCK = re.compile(r"^\[\d\d:\d\d\] ")


def using_client(
    target: Target,
    store: SessionStore,
    steps: Callable[[VisitorClient], Awaitable[T]],
    *,
    url: str | None = None,
) -> T:
    """Run `steps` with a VisitorClient on a real AsyncClient that is always closed."""

    async def scenario() -> T:
        async with httpx.AsyncClient(timeout=10.0) as http:
            client = VisitorClient(
                url or target.functions_url, target.visitor_key, store, http=http
            )
            return await steps(client)

    return asyncio.run(scenario())


def new_store(
    tmp_path: Path, session: Session | None = None, visitor: str | None = None
) -> SessionStore:
    store = SessionStore(tmp_path / "session.json")
    if visitor is not None:
        store.save_visitor_id(visitor)
    if session is not None:
        store.save(session)
    return store


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_send_starts_a_conversation_and_stores_its_token(
    tmp_path: Path, target: Target, db: psycopg.Connection
) -> None:
    """A first send creates a conversation whose token, stored 0600, hashes to the stored hash."""
    store = new_store(tmp_path)

    async def steps(client: VisitorClient) -> tuple[Any, Update]:
        return await client.send("Hello"), await client.sync()

    sent, update = using_client(target, store, steps)
    session = store.load()
    assert session is not None and session.token is not None
    assert session.conversation_id == sent.conversation_id
    assert URL_SAFE.match(session.token)
    assert stored_hash(db, sent.conversation_id) == sha256(session.token)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert (sent.new_conversation, sent.status, sent.escalated) == (True, "active", False)
    assert [(m["senderType"], m["text"]) for m in update.messages] == [
        ("visitor", "Hello"),
        ("ai", sent.reply),
    ]
    assert update.messages[0]["id"] == sent.message_id


def test_team_message_arrives_exactly_once(
    tmp_path: Path, target: Target, http: httpx.Client
) -> None:
    """A team reply shows in the next sync only, and a full overlapping re-sync adds nothing."""
    store = new_store(tmp_path)

    async def steps(client: VisitorClient) -> tuple[list[Update], list[str], str]:
        sent = await client.send("Anyone there?")
        first = await client.sync()
        team_id = team_message(http, target, sent.conversation_id, "Dana here, how can I help?")
        second = await client.sync()
        third = await client.sync()
        client._cursor = None  # force the overlap the contract allows: everything again
        overlap = await client.sync()
        return [first, second, third, overlap], [m["id"] for m in client.messages], team_id

    updates, ids, team_id = using_client(target, store, steps)
    first, second, third, overlap = updates
    assert [m["senderType"] for m in first.messages] == ["visitor", "ai"]
    assert [(m["id"], m["text"]) for m in second.messages] == [
        (team_id, "Dana here, how can I help?")
    ]
    assert third.messages == [] and overlap.messages == []
    assert ids == [first.messages[0]["id"], first.messages[1]["id"], team_id]


def test_typing_indicator_shows_and_clears(
    tmp_path: Path, target: Target, http: httpx.Client
) -> None:
    """The team's typing row shows up in the client's typing state, with the name, then clears."""
    store = new_store(tmp_path)

    async def steps(client: VisitorClient) -> list[dict[str, Any]]:
        sent = await client.send("Hello")
        set_typing(http, target, sent.conversation_id, True)
        on = (await client.sync()).typing
        seen = dict(client.typing)
        set_typing(http, target, sent.conversation_id, False)
        off = (await client.sync()).typing
        return [on, seen, off]

    assert using_client(target, store, steps) == [
        {"isTyping": True, "name": "Dana"},
        {"isTyping": True, "name": "Dana"},
        {"isTyping": False, "name": None},
    ]


def test_load_older_reaches_back_to_the_first_message(
    tmp_path: Path, target: Target, http: httpx.Client
) -> None:
    """With 152 messages the first sync holds the newest 100 and says older ones exist;
    load_older brings the other 52, after which nothing older is left."""
    store = new_store(tmp_path)

    async def steps(client: VisitorClient) -> tuple[int, bool, int, bool, list[Any]]:
        sent = await client.send("Hello")
        team_messages(http, target, sent.conversation_id, 150)
        first = await client.sync()
        older = await client.load_older()
        return (
            len(first.messages),
            first.has_older,
            len(older),
            client.has_older,
            [m["id"] for m in client.messages],
        )

    newest, had_older, older, has_older, ids = using_client(target, store, steps)
    assert (newest, had_older, older, has_older) == (100, True, 52, False)
    assert len(ids) == len(set(ids)) == 152


def team_messages(http: httpx.Client, target: Target, cid: str, count: int) -> None:
    """`count` team messages in one request."""
    response = http.post(
        f"{target.url}/rest/v1/chat_messages",
        json=[
            {"conversation_id": cid, "sender_type": "team", "message_text": f"old {i}"}
            for i in range(count)
        ],
        headers=auth_headers(target.server_key),
    )
    assert response.status_code == 201, response.text


def test_wrong_token_403_clears_the_session_and_next_send_starts_anew(
    tmp_path: Path, target: Target
) -> None:
    """A corrupted stored token: sync reports a 403 reset, clears it, and a send starts anew."""
    store = new_store(tmp_path)

    async def steps(client: VisitorClient) -> tuple[str, Update, Session | None, Any]:
        first = await client.send("Hello")
        store.save(Session(first.conversation_id, "x" * 43))
        update = await client.sync()
        after_reset = store.load()
        return first.conversation_id, update, after_reset, await client.send("Hello again")

    old_id, update, after_reset, again = using_client(target, store, steps)
    assert update.reset is not None
    assert (update.reset.status, update.reset.code) == (403, "forbidden")
    assert update.messages == []
    assert after_reset is None
    assert again.new_conversation is True and again.conversation_id != old_id
    session = store.load()
    assert session is not None and session.conversation_id == again.conversation_id
    assert session.token is not None and URL_SAFE.match(session.token)


def test_enforced_401_clears_a_tokenless_session(
    tmp_path: Path,
    target: Target,
    serve: Callable[..., str],
    db: psycopg.Connection,
    http: httpx.Client,
) -> None:
    """With tokens enforced, a tokenless session gets 401 token_required and is cleared."""
    enforced = serve(ENFORCE_VISITOR_CONVERSATION_TOKEN="true")
    cid, visitor = legacy_conversation(db)
    store = new_store(tmp_path, Session(cid), visitor)

    async def steps(client: VisitorClient) -> tuple[Session | None, Any]:
        with pytest.raises(TokenRequired, match="conversationToken is required"):
            await client.send("hi")
        cleared = store.load()
        return cleared, await client.send("hi again")

    cleared, again = using_client(target, store, steps, url=enforced)
    assert cleared is None
    assert stored_hash(db, cid) is None
    assert again.new_conversation is True and again.conversation_id != cid
    hashed = open_conversation(http, target)
    tokenless = new_store(
        tmp_path / "other", Session(hashed["conversationId"]), hashed["visitorId"]
    )
    update = using_client(target, tokenless, lambda c: c.sync(), url=enforced)
    assert update.reset is not None
    assert (update.reset.status, update.reset.code) == (401, "token_required")
    assert tokenless.load() is None


def test_legacy_session_resumes_through_bootstrap(
    tmp_path: Path, target: Target, db: psycopg.Connection
) -> None:
    """conversationId + visitorId only: sync bootstraps, stores the token, and shows the history."""
    cid, visitor = legacy_conversation(db)
    store = new_store(tmp_path, Session(cid), visitor)

    async def steps(client: VisitorClient) -> tuple[Update, Session | None, Any, Update]:
        update = await client.sync()
        session = store.load()
        sent = await client.send("I am back")
        return update, session, sent, await client.sync()

    update, session, sent, later = using_client(target, store, steps)
    assert update.token_issued is True
    assert session is not None and session.conversation_id == cid and session.token is not None
    assert stored_hash(db, cid) == sha256(session.token)
    assert [m["text"] for m in update.messages] == ["from before the cutover"]
    assert (sent.conversation_id, sent.new_conversation) == (cid, False)
    assert store.load() == session
    assert [(m["senderType"], m["text"]) for m in later.messages] == [
        ("visitor", "I am back"),
        ("ai", sent.reply),
    ]


def test_retry_with_the_same_client_message_id_stores_one_message(
    tmp_path: Path, target: Target, db: psycopg.Connection
) -> None:
    """Sending twice with one clientMessageId returns one message id and stores one row."""
    store = new_store(tmp_path)

    async def steps(client: VisitorClient) -> list[Any]:
        await client.send("Hello")
        return [await client.send("retry me", "cm-1"), await client.send("retry me", "cm-1")]

    one, two = using_client(target, store, steps)
    assert one.message_id == two.message_id and one.client_message_id == "cm-1"
    assert two.reply is None
    (count,) = one_row(
        db,
        "select count(*) from chat_messages where conversation_id = %s and message_text = %s",
        (one.conversation_id, "retry me"),
    )
    assert count == 1


def test_run_loop_delivers_a_team_message_once(
    tmp_path: Path, target: Target, http: httpx.Client
) -> None:
    """The polling loop delivers a team message written while it runs, exactly once."""
    store = new_store(tmp_path)
    delivered: list[str] = []

    async def steps(client: VisitorClient) -> str:
        client.interval = 0.05
        sent = await client.send("Hello")
        stop = asyncio.Event()
        team_id = ""

        def on_update(update: Update) -> None:
            nonlocal team_id
            assert update.error is None and update.reset is None
            delivered.extend(m["id"] for m in update.messages)
            if not team_id and len(delivered) == 2:
                team_id = team_message(http, target, sent.conversation_id, "Hi from the team")
            elif team_id in delivered:
                stop.set()

        await asyncio.wait_for(client.run(on_update, stop), timeout=15)
        return team_id

    team_id = using_client(target, store, steps)
    assert len(delivered) == 3 and len(set(delivered)) == 3
    assert delivered[-1] == team_id


# -- the `chat` command -----------------------------------------------------------------


def chat_env(target: Target) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
    return {
        **env,
        "SUPABASE_URL": target.url,
        # The terminal is a visitor: the publishable key alone (no secret or service-role
        # key, no legacy key) is all it needs.
        target.visitor_key_name: target.visitor_key,
        "SUPABASE_FUNCTIONS_URL": target.functions_url,
        "PYTHONPATH": str(REPO),
    }


def run_chat(
    target: Target, cwd: Path, session: Path, text: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            "chat",
            "--session",
            str(session),
            "--interval",
            "0.2",
        ],
        input=text,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=chat_env(target),
        timeout=60,
    )


def lines(stdout: str) -> list[str]:
    return [CLOCK.sub("", line) for line in stdout.splitlines()]


def test_chat_command_sends_shows_the_reply_and_resumes(
    tmp_path: Path, target: Target, http: httpx.Client
) -> None:
    """`chat` sends a stdin line, prints the reply, exits 0 at EOF, and resumes next time."""
    session_file = tmp_path / "chat.json"
    first = run_chat(target, tmp_path, session_file, "hello\n")
    assert (first.returncode, first.stderr) == (0, "")
    session = SessionStore(session_file).load()
    assert session is not None and session.token is not None
    cid = session.conversation_id
    body = http.post(
        f"{target.functions_url}/chat-visitor-sync",
        json={"conversationId": cid, "conversationToken": session.token},
        headers={"apikey": target.visitor_key, "Authorization": f"Bearer {target.visitor_key}"},
    ).json()
    reply = body["messages"][1]["text"]
    assert lines(first.stdout) == [
        f"chat: {target.functions_url}",
        "* new visitor: type a message and press Enter to start a conversation",
        f"* session file: {session_file}; Ctrl-D or Ctrl-C quits",
        f"* started conversation {cid}",
        "You: hello",
        f"Assistant: {reply}",
        f"* bye; conversation {cid} resumes on the next start",
    ]
    assert session.token not in first.stdout

    second = run_chat(target, tmp_path, session_file, "again\n")
    assert (second.returncode, second.stderr) == (0, "")
    assert lines(second.stdout) == [
        f"chat: {target.functions_url}",
        f"* resuming conversation {cid}",
        f"* session file: {session_file}; Ctrl-D or Ctrl-C quits",
        "You: hello",
        f"Assistant: {reply}",
        "You: again",
        f"Assistant: {reply}",
        f"* bye; conversation {cid} resumes on the next start",
    ]
    assert SessionStore(session_file).load() == session
    assert session.token not in second.stdout


def test_chat_command_loads_older_history_on_request(
    tmp_path: Path, target: Target, http: httpx.Client
) -> None:
    """Resuming a conversation of 152 messages shows the newest 100 and a hint; `/older`
    prints the other 52 and is never sent as a message."""
    conv = open_conversation(http, target)
    team_messages(http, target, conv["conversationId"], 150)
    session_file = tmp_path / "chat.json"
    SessionStore(session_file).save(Session(conv["conversationId"], conv["conversationToken"]))
    result = run_chat(target, tmp_path, session_file, "/older\n")
    assert (result.returncode, result.stderr) == (0, "")
    out = lines(result.stdout)
    hint = out.index("* older messages are not shown; type /older to load them")
    header = out.index("* 52 older messages:")
    assert hint < header
    assert sum(1 for line in out if line.startswith("Team: old ")) == 150
    assert sum(1 for line in out if line.startswith("You: ")) == 1
    assert "* type /older for more" not in out
    sent = http.get(
        f"{target.url}/rest/v1/chat_messages",
        params={"conversation_id": f"eq.{conv['conversationId']}", "message_text": "eq./older"},
        headers=auth_headers(target.server_key),
    )
    assert sent.json() == []


def test_chat_command_ctrl_c_exits_cleanly(tmp_path: Path, target: Target) -> None:
    """SIGINT while waiting for input ends `chat` with status 0, a goodbye and no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolkit.cli", "chat", "--session", str(tmp_path / "s.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=chat_env(target),
    )
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(3)]
        assert banner[0] == f"chat: {target.functions_url}\n"
        assert banner[2].startswith("* session file:")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, err) == (0, "")
    assert out == "\n* bye\n"


def test_chat_command_prints_control_characters_escaped(
    tmp_path: Path, target: Target, http: httpx.Client
) -> None:
    """Escape sequences in message text and sender names (ESC, CSI as ESC [ and as U+009B,
    BEL, CR, tab) are printed as \\xNN and a bidi override as \\u202e, so they cannot act on
    the developer's terminal; newlines still break lines."""
    session_file = tmp_path / "chat.json"
    first = run_chat(target, tmp_path, session_file, "wipe \x1b[2J\x1b[3J here\n")
    assert first.returncode == 0
    session = SessionStore(session_file).load()
    assert session is not None
    http.post(
        f"{target.url}/rest/v1/chat_messages",
        json={
            "conversation_id": session.conversation_id,
            "sender_type": "team",
            "sender_name": "\x1b]0;owned\x07Dana",
            "message_text": "\x9b31mred\rover\ttab\u202eevil\nsecond line",
        },
        headers={
            "apikey": target.server_key,
            "Authorization": f"Bearer {target.server_key}",
        },
    ).raise_for_status()
    second = run_chat(target, tmp_path, session_file, "")
    assert second.returncode == 0
    for out in (first.stdout, second.stdout):
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", out)
    assert "You: wipe \\x1b[2J\\x1b[3J here" in lines(first.stdout)
    assert "\\x1b]0;owned\\x07Dana (team): \\x9b31mred\\x0dover\\x09tab\\u202eevil" in lines(
        second.stdout
    )
    assert "        second line" in lines(second.stdout)
