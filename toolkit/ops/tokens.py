"""`chat-toolkit tokens revoke`: end visitors' conversation tokens (CONTRACT §3, lifecycle).

Straight to the project's Postgres (SUPABASE_DB_URL), in one statement: the hash is cleared,
`token_revoked_at` set, and one `token_revoked` event recorded per conversation, all or
nothing. A revoked conversation is never keyed again: the functions' bootstrap, tokenless
auto-issue and first-message retry all refuse it (migration 20260327070000).
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Mapping

from toolkit.db.connect import connect, hide_password
from toolkit.errors import ConfigError

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "revoke", "run"]

Progress = Callable[[str], None]

HELP = "revoke conversation tokens (a leaked token, a visitor's request)"
DESCRIPTION = (
    "Revoke the token of one conversation (--conversation ID) or of every conversation of a "
    "visitor (--visitor ID) in the database SUPABASE_DB_URL names: the stored hash is "
    "cleared, the time recorded and a token_revoked event written, in one statement. The "
    "old token is then 403 like any wrong token, and nothing issues a new one for that "
    "conversation; the visitor starts a new conversation. Safe to repeat."
)

# One statement, so the hash, the mark and the event land together or not at all.
_REVOKE = """
with revoked as (
  update public.chat_conversations
     set access_token_hash = null, token_revoked_at = now(), updated_at = now()
   where (id = %(conversation)s or visitor_id = %(visitor)s) and token_revoked_at is null
  returning id
), events as (
  insert into public.chat_access_events (conversation_id, event)
  select id, 'token_revoked' from revoked
)
select id::text from revoked order by id"""


def revoke(db_url: str, *, conversation: str | None, visitor: str | None) -> list[str]:
    """Revoke; returns the ids revoked now (none when already revoked or not found)."""
    with connect(db_url) as conn:
        rows = conn.execute(_REVOKE, {"conversation": conversation, "visitor": visitor})
        return [row[0] for row in rows]


def add_arguments(parser: argparse.ArgumentParser, parents: list[argparse.ArgumentParser]) -> None:
    """The `tokens` actions; `parents` carry the shared --env-file flag."""
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    p = actions.add_parser("revoke", parents=parents, help=HELP, description=DESCRIPTION)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--conversation", type=_uuid, metavar="ID", help="one conversation")
    which.add_argument("--visitor", metavar="ID", help="every conversation of this visitorId")


def run(args: argparse.Namespace, env: Mapping[str, str], progress: Progress) -> int:
    """Revoke what the arguments name; the first line names the database."""
    db_url = env.get("SUPABASE_DB_URL", "").strip()
    if not db_url:
        raise ConfigError("SUPABASE_DB_URL is not set; `tokens revoke` writes to the database")
    progress(f"tokens revoke: {hide_password(db_url)}")
    ids = revoke(db_url, conversation=args.conversation, visitor=args.visitor)
    for cid in ids:
        progress(f"revoked  {cid}")
    progress(f"{len(ids)} token(s) revoked" + ("" if ids else ": none unrevoked matched"))
    return 0


def _uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a conversation id (a UUID)") from None
