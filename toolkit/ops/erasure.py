"""`chat-toolkit visitor forget`: erase one visitor's chat data on request (GDPR art. 17).

Straight to the project's Postgres (SUPABASE_DB_URL), in one transaction: the visitor's
typing rows, access events, messages and conversations, counted per table. Safe to repeat:
a second run finds and deletes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import LiteralString

from psycopg import sql

from toolkit.db.connect import connect, hide_password
from toolkit.errors import ConfigError

__all__ = ["DESCRIPTION", "HELP", "TABLES", "add_arguments", "forget", "run"]

Progress = Callable[[str], None]

HELP = "erase a visitor's chat data (right to erasure)"
DESCRIPTION = (
    "Delete every conversation of VISITOR_ID with its messages, typing rows and access "
    "events from the database SUPABASE_DB_URL names, in one transaction, and print how many "
    "rows each table lost. --dry-run counts without deleting. Safe to repeat."
)

# Children first, so that each count is the table's own rows, not a cascade's.
TABLES = ("team_typing_indicators", "chat_access_events", "chat_messages", "chat_conversations")
_OWNED = "conversation_id in (select id from public.chat_conversations where visitor_id = %s)"


def _where(table: str) -> LiteralString:
    return "visitor_id = %s" if table == "chat_conversations" else _OWNED


def forget(db_url: str, visitor_id: str, *, dry_run: bool) -> dict[str, int]:
    """Rows per table deleted (or, with dry_run, that would be); one transaction."""
    counts: dict[str, int] = {}
    template = sql.SQL(
        "select count(*) from {} where {}"
        if dry_run
        else "with gone as (delete from {} where {} returning 1) select count(*) from gone"
    )
    with connect(db_url) as conn, conn.transaction():
        for table in TABLES:
            query = template.format(sql.Identifier("public", table), sql.SQL(_where(table)))
            row = conn.execute(query, (visitor_id,)).fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


def add_arguments(parser: argparse.ArgumentParser, parents: list[argparse.ArgumentParser]) -> None:
    """The `visitor` actions; `parents` carry the shared --env-file flag."""
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    p = actions.add_parser("forget", parents=parents, help=HELP, description=DESCRIPTION)
    p.add_argument("visitor_id", metavar="VISITOR_ID", help="the visitorId the widget sent")
    p.add_argument("--dry-run", action="store_true", help="count only; delete nothing")


def run(args: argparse.Namespace, env: Mapping[str, str], progress: Progress) -> int:
    """Erase (or count); the first line names the database."""
    db_url = env.get("SUPABASE_DB_URL", "").strip()
    if not db_url:
        raise ConfigError("SUPABASE_DB_URL is not set; `visitor forget` deletes in the database")
    dry = " (dry run: nothing is deleted)" if args.dry_run else ""
    progress(f"visitor forget: {hide_password(db_url)}{dry}")
    counts = forget(db_url, args.visitor_id, dry_run=args.dry_run)
    for table, count in counts.items():
        progress(f"  {table:<24} {count}")
    progress(f"{'would delete' if args.dry_run else 'deleted'} {sum(counts.values())} row(s)")
    return 0
