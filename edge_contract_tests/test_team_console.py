"""`chat-toolkit team` against a real stack: each subcommand's effect, what it prints, and
what the visitor's own sync then shows (the reply, the typing, the status; never a note)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge_contract_tests.helpers import auth_headers, call
from toolkit.cli import main
from toolkit.config import Target

pytestmark = pytest.mark.writes

DANA = "00000000-0000-4000-8000-0000000000d1"


@pytest.fixture(params=["secret key", "service-role key"])
def key_kind(request: pytest.FixtureRequest) -> str:
    """The server key the console is given: the 2026 secret key or the legacy JWT."""
    return str(request.param)


@pytest.fixture()
def env_file(target: Target, tmp_path: Path, key_kind: str) -> Path:
    """An env with only the 2026 keys or only the legacy ones, per `key_kind`."""
    path = tmp_path / "team.env"
    if key_kind == "secret key":
        keys = (
            f"SUPABASE_PUBLISHABLE_KEY={target.publishable_key}\n"
            f"SUPABASE_SECRET_KEY={target.secret_key}\n"
        )
    else:
        keys = (
            f"SUPABASE_ANON_KEY={target.anon_key}\n"
            f"SUPABASE_SERVICE_ROLE_KEY={target.service_role_key}\n"
        )
    path.write_text(f"SUPABASE_URL={target.url}\n{keys}")
    return path


def team(capsys: pytest.CaptureFixture[str], env_file: Path, *argv: str) -> list[str]:
    """Run `chat-toolkit team ARGV...`; its stdout lines after the first, which names the URL."""
    code = main(["team", *argv, "--env-file", str(env_file)])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0].startswith("team: http") and lines[0].endswith(" key)")
    return lines[1:]


def refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def visitor(http: httpx.Client, target: Target, text: str = "Hello") -> dict[str, Any]:
    """A new conversation as a fresh visitor: handle-chat-message's body plus the visitorId."""
    visitor_id = f"visitor-{uuid.uuid4()}"
    body = {"visitorId": visitor_id, "message": text}
    answer = call(http, target.functions_url, "handle-chat-message", body, target.anon_key)
    assert answer.status_code == 200, answer.text
    return {**answer.json(), "visitorId": visitor_id}


def visitor_sync(http: httpx.Client, target: Target, conversation: dict[str, Any]) -> Any:
    body = {
        "conversationId": conversation["conversationId"],
        "conversationToken": conversation["conversationToken"],
    }
    answer = call(http, target.functions_url, "chat-visitor-sync", body, target.anon_key)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_first_line_names_the_url_the_console_acts_on(
    capsys: pytest.CaptureFixture[str], env_file: Path, target: Target, key_kind: str
) -> None:
    """Every team command starts by naming the project URL and the kind of key it uses (the
    secret key when the env has one), and never prints a key."""
    main(["team", "list", "--limit", "1", "--env-file", str(env_file)])
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"team: {target.url} ({key_kind})"
    assert target.service_role_key not in out and target.secret_key not in out


def test_reply_prints_what_the_visitor_sync_then_shows(
    capsys: pytest.CaptureFixture[str], env_file: Path, http: httpx.Client, target: Target
) -> None:
    """`reply` stores a team message; the visitor's sync returns exactly the printed message."""
    conversation = visitor(http, target)
    cid = conversation["conversationId"]
    lines = team(capsys, env_file, "reply", cid, "Hi, Dana here.", "--as", "Dana")
    message_id = lines[0].removeprefix(f"reply stored in conversation {cid} as message ")
    assert uuid.UUID(message_id)
    prefix = "the visitor's next sync shows: "
    assert lines[1].startswith(prefix) and len(lines) == 2
    printed = json.loads(lines[1].removeprefix(prefix))
    assert printed["id"] == message_id
    assert printed["senderType"] == "team" and printed["senderName"] == "Dana"
    assert printed["text"] == "Hi, Dana here."
    assert printed in visitor_sync(http, target, conversation)["messages"]


def test_note_is_stored_and_never_reaches_the_visitor(
    capsys: pytest.CaptureFixture[str], env_file: Path, http: httpx.Client, target: Target
) -> None:
    """`note` writes an internal message: `show` marks it, the visitor's sync leaves it out."""
    conversation = visitor(http, target)
    cid = conversation["conversationId"]
    lines = team(capsys, env_file, "note", cid, "VIP customer, refund approved")
    assert lines[0].startswith(f"internal note stored in conversation {cid} as message ")
    assert lines[1] == "the visitor never sees it: chat-visitor-sync leaves internal notes out"
    shown = team(capsys, env_file, "show", cid)
    assert shown[-2].endswith(
        "  team Team: VIP customer, refund approved  [internal note: the visitor does not see it]"
    )
    texts = [m["text"] for m in visitor_sync(http, target, conversation)["messages"]]
    assert "VIP customer, refund approved" not in texts and texts[0] == "Hello"


def test_typing_shows_to_the_visitor_until_stopped(
    capsys: pytest.CaptureFixture[str], env_file: Path, http: httpx.Client, target: Target
) -> None:
    """`typing` makes the visitor's sync report the name; `typing --stop` ends it."""
    conversation = visitor(http, target)
    cid = conversation["conversationId"]
    lines = team(capsys, env_file, "typing", cid, "--as", "Dana")
    assert lines[0] == f"Dana is typing in conversation {cid}"
    assert visitor_sync(http, target, conversation)["typing"] == {"isTyping": True, "name": "Dana"}
    assert team(capsys, env_file, "show", cid)[-1] == "  typing: Dana"
    lines = team(capsys, env_file, "typing", cid, "--as", "Dana", "--stop")
    assert lines == [
        f"Dana stopped typing in conversation {cid}",
        "the visitor's next sync shows nobody typing (unless another team member types)",
    ]
    assert visitor_sync(http, target, conversation)["typing"] == {"isTyping": False, "name": None}


def test_resolve_changes_the_status_the_visitor_sees(
    capsys: pytest.CaptureFixture[str], env_file: Path, http: httpx.Client, target: Target
) -> None:
    """`resolve` sets status resolved and says what it was before."""
    conversation = visitor(http, target)
    cid = conversation["conversationId"]
    assert team(capsys, env_file, "resolve", cid) == [
        f"conversation {cid}: status resolved (was active)",
        'the visitor\'s next sync shows status "resolved"',
    ]
    assert visitor_sync(http, target, conversation)["conversation"]["status"] == "resolved"


def test_assign_hands_the_conversation_to_a_human(
    capsys: pytest.CaptureFixture[str], env_file: Path, http: httpx.Client, target: Target
) -> None:
    """`assign` stores the user id; from then on the assistant gives no reply."""
    conversation = visitor(http, target)
    cid = conversation["conversationId"]
    assert team(capsys, env_file, "assign", cid, DANA) == [
        f"conversation {cid}: assigned to {DANA}",
        "the visitor sees no change; the assistant no longer replies (a human owns it)",
    ]
    body = {
        "visitorId": conversation["visitorId"],
        "conversationId": cid,
        "conversationToken": conversation["conversationToken"],
        "message": "Still there?",
    }
    answer = call(http, target.functions_url, "handle-chat-message", body, target.anon_key)
    assert answer.status_code == 200 and answer.json()["reply"] is None
    code, _out, err = refused(capsys, ["team", "assign", cid, "bob", "--env-file", str(env_file)])
    assert (code, err) == (
        2,
        "chat-toolkit: USER must be a team member's user id (a UUID), not 'bob'\n",
    )


def test_list_and_show_print_the_conversation(
    capsys: pytest.CaptureFixture[str], env_file: Path, http: httpx.Client, target: Target
) -> None:
    """`list` puts the newest conversation first with its latest message; `show` prints the
    header, every message in order, and who is typing."""
    conversation = visitor(http, target, "Where is my order?")
    cid, visitor_id = conversation["conversationId"], conversation["visitorId"]
    team(capsys, env_file, "reply", cid, "Checking now.")
    lines = team(capsys, env_file, "list", "--limit", "1")
    assert lines[0] == "1 conversation(s), newest first"
    assert lines[1].startswith(f"{cid}  active     ")
    assert lines[1].endswith(f"  {visitor_id}  team: Checking now.")
    shown = team(capsys, env_file, "show", cid)
    assert shown[0] == f"conversation {cid}  status active  visitor - ({visitor_id})"
    assert shown[1] == "  assigned to nobody"
    assert [line.split("  ", 2)[2] for line in shown[2:-1]] == [
        "visitor: Where is my order?",
        "ai Assistant: " + answer_of(conversation),
        "team Team: Checking now.",
    ]
    assert shown[-1] == "  typing: nobody"


def answer_of(conversation: dict[str, Any]) -> str:
    reply = conversation["reply"]
    assert isinstance(reply, str)
    return reply


def test_control_characters_are_printed_escaped(
    capsys: pytest.CaptureFixture[str], env_file: Path, http: httpx.Client, target: Target
) -> None:
    """A visitor's ANSI escape, newline and bidi override reach the terminal as escapes."""
    conversation = visitor(http, target, "clear\x1b[2J\nme\u202e")
    code = main(["team", "show", conversation["conversationId"], "--env-file", str(env_file)])
    out = capsys.readouterr().out
    assert code == 0
    assert "visitor: clear\\x1b[2J\\nme\\u202e" in out
    assert "\x1b" not in out and "\u202e" not in out


def test_errors_are_one_line_with_their_exit_code(
    capsys: pytest.CaptureFixture[str],
    env_file: Path,
    target: Target,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key_kind: str,
) -> None:
    """Unknown conversation: 2; a refused key: 2 naming the variable; nothing listening: 3;
    each one line."""
    unknown = str(uuid.uuid4())
    code, _out, err = refused(capsys, ["team", "show", unknown, "--env-file", str(env_file)])
    assert (code, err) == (
        2,
        f"chat-toolkit: no conversation {unknown} at {target.url}; "
        "list them with `chat-toolkit team list`\n",
    )
    names = ("URL", "ANON_KEY", "SERVICE_ROLE_KEY", "PUBLISHABLE_KEY", "SECRET_KEY")
    for name in names:
        monkeypatch.delenv(f"SUPABASE_{name}", raising=False)
    wrong = tmp_path / "wrong.env"
    if key_kind == "secret key":
        key, forged, variable = target.secret_key, "sb_secret_" + "x" * 32, "SUPABASE_SECRET_KEY"
    else:
        key, forged = target.service_role_key, target.anon_key.replace("a", "b")
        variable = "SUPABASE_SERVICE_ROLE_KEY"
    wrong.write_text(env_file.read_text().replace(key, forged))
    code, _out, err = refused(capsys, ["team", "list", "--env-file", str(wrong)])
    assert code == 2 and err.startswith(f"chat-toolkit: the REST API refused the {key_kind}")
    assert err.endswith(f"; check {variable}\n") and err.count("\n") == 1
    down = tmp_path / "down.env"
    down.write_text(env_file.read_text().replace(target.url, "http://127.0.0.1:9"))
    code, _out, err = refused(capsys, ["team", "list", "--env-file", str(down)])
    assert code == 3
    assert err == (
        "chat-toolkit: cannot reach http://127.0.0.1:9/rest/v1/chat_conversations (ConnectError); "
        "is the stack running? (`chat-toolkit stack status`)\n"
    )


def test_the_team_writes_with_the_service_role_only(http: httpx.Client, target: Target) -> None:
    """What the console does needs the service-role key: the anon key cannot write a reply."""
    conversation_id = visitor(http, target)["conversationId"]
    row = {"conversation_id": conversation_id, "sender_type": "team", "message_text": "fake"}
    anon = http.post(
        f"{target.url}/rest/v1/chat_messages", json=row, headers=auth_headers(target.anon_key)
    )
    assert (anon.status_code, anon.json()["code"]) == (401, "42501")
    service = http.post(
        f"{target.url}/rest/v1/chat_messages",
        json=row,
        headers=auth_headers(target.service_role_key),
    )
    assert service.status_code == 201
