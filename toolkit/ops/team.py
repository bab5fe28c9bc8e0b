"""`chat-toolkit team`: act as the support team on the chat, for local development.

Through Supabase's REST API (`<SUPABASE_URL>/rest/v1`) with the server key (the secret
key, else the legacy service-role key: `Target.server_key`), as the team's own app would
write: list and show conversations, reply, type, leave internal notes, resolve, assign.
Each command prints what the visitor will see.

Request shaping is pure (each `*_request` function returns a `RestRequest`, testable without
a server); `TeamConsole.send` is the one place that does I/O and translates failures:
no answer is Unreachable (exit 3), a refused key a ConfigError (exit 2), an unknown
conversation a UsageError (exit 2), any other refusal a ToolkitError (exit 4).
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from toolkit.config import Target
from toolkit.errors import ConfigError, ToolkitError, Unreachable, UsageError
from toolkit.protocol import CONTENT_TYPE, PREFER, REST_PATH, api_key_headers

__all__ = [
    "DESCRIPTION",
    "HELP",
    "RestRequest",
    "TeamConsole",
    "add_arguments",
    "message_request",
    "printable",
    "run",
    "team_user_id",
    "visitor_message",
]

Progress = Callable[[str], None]

HELP = "act as the support team (local development)"
DESCRIPTION = (
    "Reply, type, leave internal notes, resolve and assign, through the REST API at "
    "SUPABASE_URL with SUPABASE_SECRET_KEY (else SUPABASE_SERVICE_ROLE_KEY); each command "
    "prints what the visitor will see. Text is printed with control characters escaped."
)

_MESSAGE_FIELDS = "id,sender_type,sender_name,message_text,is_internal,created_at"
_CONVERSATION_FIELDS = (
    "id,visitor_id,visitor_name,status,assigned_to,escalated_at,escalation_reason,"
    "created_at,updated_at,last_message_at"
)
# Where the team's typing rows get their user id: stable per display name, so that
# `typing --stop` clears the row `typing` wrote (auth.users ids do not exist locally).
_TEAM_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "chat-toolkit:team")


@dataclass(frozen=True)
class RestRequest:
    """One PostgREST call: method, path under /rest/v1, query parameters, JSON body."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    prefer: str | None = None


# -- request shaping (pure) -----------------------------------------------------------------


def list_request(limit: int, status: str | None) -> RestRequest:
    """The newest conversations, each with its latest message (internal notes included)."""
    params = {
        "select": f"{_CONVERSATION_FIELDS},chat_messages({_MESSAGE_FIELDS})",
        "order": "last_message_at.desc.nullslast,created_at.desc",
        "limit": str(limit),
        "chat_messages.order": "created_at.desc,id.desc",
        "chat_messages.limit": "1",
    }
    if status is not None:
        params["status"] = f"eq.{status}"
    return RestRequest("GET", "/chat_conversations", params)


def show_request(conversation_id: str) -> RestRequest:
    """One conversation with every message in the visitor's order, and its typing rows."""
    return RestRequest(
        "GET",
        "/chat_conversations",
        {
            "select": f"{_CONVERSATION_FIELDS},chat_messages({_MESSAGE_FIELDS}),"
            "team_typing_indicators(user_name,is_typing,updated_at)",
            "id": f"eq.{conversation_id}",
            "chat_messages.order": "created_at.asc,id.asc",
        },
    )


def message_request(conversation_id: str, name: str, text: str, *, internal: bool) -> RestRequest:
    """A team message, or an internal note (`is_internal`: never sent to the visitor)."""
    body = {
        "conversation_id": conversation_id,
        "sender_type": "team",
        "sender_name": name,
        "message_text": text,
        "is_internal": internal,
    }
    return RestRequest(
        "POST", "/chat_messages", {"select": _MESSAGE_FIELDS}, body, "return=representation"
    )


def update_request(conversation_id: str, changes: dict[str, Any], now: str) -> RestRequest:
    """Change a conversation's columns (and `updated_at`), returning the new row."""
    return RestRequest(
        "PATCH",
        "/chat_conversations",
        {"id": f"eq.{conversation_id}", "select": _CONVERSATION_FIELDS},
        {**changes, "updated_at": now},
        "return=representation",
    )


def typing_request(conversation_id: str, name: str, typing: bool, now: str) -> RestRequest:
    """Upsert the team member's row in team_typing_indicators."""
    body = {
        "conversation_id": conversation_id,
        "user_id": str(team_user_id(name)),
        "user_name": name,
        "is_typing": typing,
        "updated_at": now,
    }
    return RestRequest(
        "POST",
        "/team_typing_indicators",
        {"on_conflict": "conversation_id,user_id"},
        body,
        "resolution=merge-duplicates,return=minimal",
    )


def team_user_id(name: str) -> uuid.UUID:
    """The user id the console types as, derived from the display name."""
    return uuid.uuid5(_TEAM_NAMESPACE, name)


def visitor_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """A message row as chat-visitor-sync shows it to the visitor (CONTRACT §5)."""
    return {
        "id": row["id"],
        "senderType": row["sender_type"],
        "senderName": row["sender_name"],
        "text": row["message_text"],
        "createdAt": row["created_at"],
    }


def printable(text: str) -> str:
    """`text` with every non-printable character (ANSI escapes, newlines, bidi overrides)
    written as its Python escape, so a message cannot drive the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


# -- the one I/O place ----------------------------------------------------------------------


class TeamConsole:
    """The team's writes and reads on one project, with its server key: a secret key goes
    as `apikey` only, a legacy service-role JWT as `apikey` and Bearer (api_key_headers)."""

    def __init__(self, target: Target, http: httpx.Client) -> None:
        self.url = target.url
        self._base = f"{target.url}{REST_PATH}"
        self.key = "secret key" if target.secret_key else "service-role key"  # for messages
        self._key_name = target.server_key_name
        self._headers = {
            **api_key_headers(target.server_key),
            CONTENT_TYPE: "application/json",
        }
        self._http = http

    def send(self, request: RestRequest) -> Any:
        """Perform one request; the parsed JSON answer (None when it has no body)."""
        headers = dict(self._headers)
        if request.prefer is not None:
            headers[PREFER] = request.prefer
        url = f"{self._base}{request.path}"
        try:
            response = self._http.request(
                request.method, url, params=request.params, json=request.body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"cannot reach {url} ({type(exc).__name__}); is the stack running? "
                "(`chat-toolkit stack status`)"
            ) from exc
        answer = response.json() if response.content else None
        if response.is_success:
            return answer
        detail = answer.get("message") if isinstance(answer, dict) else None
        if response.status_code in (401, 403):
            raise ConfigError(
                f"the REST API refused the {self.key} ({response.status_code} {detail}); "
                f"check {self._key_name}"
            )
        raise ToolkitError(
            f"{request.method} {request.path} failed: {response.status_code} {detail}"
        )

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        rows = self.send(show_request(conversation_id))
        if not rows:
            raise UsageError(
                f"no conversation {conversation_id} at {self.url}; "
                "list them with `chat-toolkit team list`"
            )
        return dict(rows[0])


# -- the commands -----------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _clock(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return "-"


def _message_line(row: Mapping[str, Any]) -> str:
    who = f"{row['sender_type']} {row['sender_name'] or ''}".strip()
    note = "  [internal note: the visitor does not see it]" if row.get("is_internal") else ""
    return (
        f"  {_clock(row['created_at'])}  {printable(who)}: {printable(row['message_text'])}{note}"
    )


def _list(console: TeamConsole, args: argparse.Namespace) -> list[str]:
    rows = console.send(list_request(args.limit, args.status))
    lines = [f"{len(rows)} conversation(s), newest first"]
    for row in rows:
        latest = row["chat_messages"][0] if row["chat_messages"] else None
        said = "(no messages)"
        if latest is not None:
            internal = " (internal note)" if latest["is_internal"] else ""
            said = f"{latest['sender_type']}{internal}: {latest['message_text'][:60]}"
        visitor = row["visitor_name"] or row["visitor_id"]
        lines.append(
            f"{row['id']}  {row['status']:<9}  {_clock(row['last_message_at'])}  "
            f"{printable(visitor)}  {printable(said)}"
        )
    return lines


def _show(console: TeamConsole, args: argparse.Namespace) -> list[str]:
    row = console.conversation(args.id)
    visitor = printable(f"{row['visitor_name'] or '-'} ({row['visitor_id']})")
    lines = [
        f"conversation {row['id']}  status {row['status']}  visitor {visitor}",
        f"  assigned to {row['assigned_to'] or 'nobody'}"
        + (
            f"; escalated {_clock(row['escalated_at'])} ({printable(row['escalation_reason'])})"
            if row["escalated_at"]
            else ""
        ),
    ]
    lines += [_message_line(m) for m in row["chat_messages"]] or ["  (no messages)"]
    typing = [t["user_name"] or "?" for t in row["team_typing_indicators"] if t["is_typing"]]
    lines.append(f"  typing: {printable(', '.join(typing)) if typing else 'nobody'}")
    return lines


def _text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("TEXT is empty")
    return text


def _reply(console: TeamConsole, args: argparse.Namespace) -> list[str]:
    console.conversation(args.id)
    stored = console.send(message_request(args.id, args.as_name, args.text, internal=False))[0]
    now = _now()
    console.send(update_request(args.id, {"last_message_at": now}, now))
    view = json.dumps(visitor_message(stored), ensure_ascii=False)
    return [
        f"reply stored in conversation {args.id} as message {stored['id']}",
        f"the visitor's next sync shows: {printable(view)}",
    ]


def _note(console: TeamConsole, args: argparse.Namespace) -> list[str]:
    console.conversation(args.id)
    stored = console.send(message_request(args.id, args.as_name, args.text, internal=True))[0]
    return [
        f"internal note stored in conversation {args.id} as message {stored['id']}",
        "the visitor never sees it: chat-visitor-sync leaves internal notes out",
    ]


def _typing(console: TeamConsole, args: argparse.Namespace) -> list[str]:
    console.conversation(args.id)
    console.send(typing_request(args.id, args.as_name, not args.stop, _now()))
    name = printable(args.as_name)
    if args.stop:
        return [
            f"{name} stopped typing in conversation {args.id}",
            "the visitor's next sync shows nobody typing (unless another team member types)",
        ]
    return [
        f"{name} is typing in conversation {args.id}",
        f'the visitor sees "{name} is typing…" until `--stop`, or once the row is older than '
        "the functions' CHAT_TYPING_TTL_SECONDS (default 8 s)",
    ]


def _resolve(console: TeamConsole, args: argparse.Namespace) -> list[str]:
    before = console.conversation(args.id)
    after = console.send(update_request(args.id, {"status": "resolved"}, _now()))[0]
    return [
        f"conversation {args.id}: status {after['status']} (was {before['status']})",
        f'the visitor\'s next sync shows status "{after["status"]}"',
    ]


def _assign(console: TeamConsole, args: argparse.Namespace) -> list[str]:
    try:
        user = str(uuid.UUID(args.user))
    except ValueError:
        raise UsageError(
            f"USER must be a team member's user id (a UUID), not {args.user!r}"
        ) from None
    console.conversation(args.id)
    after = console.send(update_request(args.id, {"assigned_to": user}, _now()))[0]
    return [
        f"conversation {args.id}: assigned to {after['assigned_to']}",
        "the visitor sees no change; the assistant no longer replies (a human owns it)",
    ]


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _conversation_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a conversation id (a UUID; `chat-toolkit team list` shows them)"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `team` subcommands; each sets `team_command` for `run`."""
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", help="dotenv file to read (default: .env)")
    as_name = argparse.ArgumentParser(add_help=False, parents=[common])
    as_name.add_argument(
        "--as", dest="as_name", default="Team", metavar="NAME", help="team member name shown"
    )
    p = actions.add_parser("list", parents=[common], help="the newest conversations")
    p.add_argument("--status", choices=("active", "escalated", "resolved", "closed"))
    p.add_argument(
        "--limit", type=_positive, default=20, metavar="N", help="at most N (default 20)"
    )
    p.set_defaults(team_command=_list)
    for name, run_, text in (
        ("show", _show, "one conversation with every message, internal notes marked"),
        ("resolve", _resolve, "set the status to resolved"),
    ):
        p = actions.add_parser(name, parents=[common], help=text)
        p.add_argument("id", type=_conversation_id, metavar="ID")
        p.set_defaults(team_command=run_)
    for name, run_, text in (
        ("reply", _reply, "answer the visitor"),
        ("note", _note, "an internal note the visitor never sees"),
    ):
        p = actions.add_parser(name, parents=[as_name], help=text)
        p.add_argument("id", type=_conversation_id, metavar="ID")
        p.add_argument("text", type=_text, metavar="TEXT")
        p.set_defaults(team_command=run_)
    p = actions.add_parser("typing", parents=[as_name], help="show the visitor that you type")
    p.add_argument("id", type=_conversation_id, metavar="ID")
    p.add_argument("--stop", action="store_true", help="stop typing")
    p.set_defaults(team_command=_typing)
    p = actions.add_parser(
        "assign", parents=[common], help="give the conversation to a team member"
    )
    p.add_argument("id", type=_conversation_id, metavar="ID")
    p.add_argument("user", metavar="USER", help="the team member's user id (a UUID)")
    p.set_defaults(team_command=_assign)


def run(args: argparse.Namespace, env: Mapping[str, str], progress: Progress) -> int:
    """Run one team command against the env's project; the first line names it."""
    target = Target.from_env(env)
    with httpx.Client(timeout=10.0) as http:
        console = TeamConsole(target, http)
        progress(f"team: {target.url} ({console.key})")
        for line in args.team_command(console, args):
            progress(line)
    return 0
