"""Verify's checks over SUPABASE_DB_URL: the catalog, the migration history, hardening and lints.

    catalog.*     the token column and its unique partial index, the anon visitor-read
                  policies gone, anon SELECT revoked, every migration in sql/migrations
                  recorded in supabase_migrations.schema_migrations
    hardening.*, lint.*
                  (WARN at worst) anon write grants, chat tables in supabase_realtime, and
                  splinter's lints on the chat tables and on functions in public (its
                  rls_policy_always_true is a FAIL per role: access.py)

splinter's `rls_enabled_no_policy` is not raised for a table that no API role except
service_role can reach (chat_access_events): having no policy is how it stays closed.
"""

from __future__ import annotations

from typing import Any

import psycopg

from toolkit.db.migrations import discover
from toolkit.errors import ConfigError
from toolkit.ops.verify.report import MIGRATE, Recorder
from toolkit.protocol import CHAT_TABLES, READ_TABLES

__all__ = ["SEED_VERSIONS", "catalog_checks", "hardening_checks"]

SEED_VERSIONS = ("20260327054000", "20260327055000")


_COLUMN = """exists (select from pg_attribute where attrelid = to_regclass('{}')
  and attname = '{}' and not attisdropped)"""
# What each migration leaves behind, to tell "never applied" from "applied, not recorded".
_EFFECTS = {
    "20260327054000": _COLUMN.format("public.chat_conversations", "access_token_hash"),
    "20260327055000": """not exists (select from pg_policies where schemaname = 'public'
        and policyname in ('chat_conversations_visitor_read', 'chat_messages_visitor_read'))""",
    "20260327055100": _COLUMN.format("public.chat_messages", "sync_xid"),
    "20260327055200": _COLUMN.format("public.chat_messages", "client_message_id"),
    "20260327055300": "to_regclass('public.chat_access_events') is not null",
    "20260327055400": """to_regprocedure(
        'public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)') is not null""",
    "20260327060000": """not exists (select from unnest(array['public.chat_conversations',
        'public.chat_messages', 'public.team_typing_indicators']) t
        where has_table_privilege('anon', t, 'INSERT, UPDATE, DELETE, TRUNCATE'))""",
    "20260327061000": """to_regclass('public.chat_team_members') is not null""",
    "20260327062000": "to_regclass('public.chat_sync_epoch') is not null",
    "20260327062100": """to_regprocedure('public.chat_visitor_sync_v2(uuid, text, pg_snapshot,
        uuid, xid8, uuid, timestamptz, timestamptz, uuid, integer, integer, integer)')
        is not null""",
    "20260327062200": "to_regprocedure('public.team_typing_indicators_stamp()') is not null",
    "20260327062300": "to_regprocedure('public.chat_visitor_notify()') is not null",
    "20260327070000": _COLUMN.format("public.chat_conversations", "token_revoked_at"),
    "20260327071000": "to_regclass('public.chat_function_requests') is not null",
}
_TOKEN_INDEX = """
select ic.relname, i.indisunique, pg_get_expr(i.indpred, i.indrelid)
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
where i.indrelid = 'public.chat_conversations'::regclass
  and i.indnkeyatts = 1 and a.attname = 'access_token_hash'
order by i.indisunique desc, (i.indpred is not null) desc
limit 1"""
_ANON_READ_POLICIES = """
select format('%s on %s', policyname, tablename) from pg_policies
where schemaname = 'public' and tablename in ('chat_conversations', 'chat_messages')
  and (policyname in ('chat_conversations_visitor_read', 'chat_messages_visitor_read')
       or (cmd in ('SELECT', 'ALL') and roles && array['anon', 'public']::name[]))
order by 1"""


def _scalar(conn: psycopg.Connection, query: str, params: tuple[Any, ...] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def _column(
    conn: psycopg.Connection, query: str, params: tuple[Any, ...] | None = None
) -> list[Any]:
    return [row[0] for row in conn.execute(query, params)]


def catalog_checks(run: Recorder, conn: psycopg.Connection) -> None:
    if _scalar(conn, "select to_regclass('public.chat_conversations')") is None:
        raise ConfigError(
            "public.chat_conversations does not exist in the database SUPABASE_DB_URL names; "
            "point it at the chat project's database"
        )
    run.judge(
        "catalog.token_column",
        bool(_scalar(conn, f"select {_EFFECTS['20260327054000']}")),
        "chat_conversations.access_token_hash exists",
        f"chat_conversations.access_token_hash is missing; {MIGRATE}",
    )
    index = conn.execute(_TOKEN_INDEX).fetchone()
    if index is None:
        run.add("catalog.token_index", "FAIL", f"no index on access_token_hash; {MIGRATE}")
    else:
        name, unique, predicate = index
        run.judge(
            "catalog.token_index",
            unique,
            f"unique index {name} ({f'partial where {predicate}' if predicate else 'not partial'})",
            f"index {name} on access_token_hash is not unique, so one hash could open two "
            f"conversations; drop it and {MIGRATE}",
        )
    policies = _column(conn, _ANON_READ_POLICIES)
    run.judge(
        "catalog.visitor_read_policies",
        not policies,
        "no anon read policy on chat_conversations or chat_messages",
        f"anon read policies remain: {', '.join(policies)}; {MIGRATE}",
    )
    if not _scalar(conn, "select exists (select from pg_roles where rolname = 'anon')"):
        run.add("catalog.anon_select", "FAIL", "role anon does not exist: not a Supabase database")
    else:
        readable = [
            t
            for t in READ_TABLES
            if _scalar(
                conn, "select has_any_column_privilege('anon', %s, 'SELECT')", (f"public.{t}",)
            )
        ]
        run.judge(
            "catalog.anon_select",
            not readable,
            "anon SELECT revoked on chat_conversations, chat_messages",
            f"anon still holds SELECT on {', '.join(readable)}; {MIGRATE}",
        )
    _migration_history(run, conn)


def _migration_history(run: Recorder, conn: psycopg.Connection) -> None:
    expected = [m.version for m in discover()]
    recorded: set[str] = set()
    if _scalar(conn, "select to_regclass('supabase_migrations.schema_migrations')") is not None:
        recorded = set(_column(conn, "select version from supabase_migrations.schema_migrations"))
    missing = [v for v in expected if v not in recorded]
    half = [v for v in missing if v in _EFFECTS and _scalar(conn, f"select {_EFFECTS[v]}")]
    reason = f"not recorded in supabase_migrations.schema_migrations: {', '.join(missing)}"
    if half:
        reason += f"; half-applied (changes present, version not recorded): {', '.join(half)}"
    run.judge(
        "catalog.migrations",
        not missing,
        f"all {len(expected)} recorded in supabase_migrations.schema_migrations "
        f"(seed: {', '.join(SEED_VERSIONS)}; toolkit: {len(expected) - len(SEED_VERSIONS)} more)",
        f"{reason}; {MIGRATE} (idempotent: it completes and records them)",
    )


# -- hardening (WARN at worst) ----------------------------------------------------------

_ANON_WRITES = """
select t, string_agg(p, ', ' order by o)
from unnest(%s::text[]) t, unnest(array['INSERT', 'UPDATE', 'DELETE']) with ordinality x(p, o)
where has_table_privilege('anon', t, p)
group by t order by t"""
_REALTIME = """
select tablename from pg_publication_tables
where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = any(%s)
order by tablename"""
# Functions that belong to an extension are the extension's business, as in splinter.
_OWN_FUNCTIONS = """
select p.oid::regprocedure::text from pg_proc p
where p.pronamespace = 'public'::regnamespace
  and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass
                  and d.objid = p.oid and d.deptype = 'e')"""
_LINTS = {
    "anon_security_definer_function_executable": (
        f"""{_OWN_FUNCTIONS}
          and p.prosecdef and has_function_privilege('anon', p.oid, 'EXECUTE') order by 1""",
        "SECURITY DEFINER, executable by anon: {}; revoke execute from public, anon",
        "no SECURITY DEFINER function in public is executable by anon",
    ),
    "rls_disabled_in_public": (
        """select relname from pg_class where oid = any(%(tables)s::regclass[])
           and not relrowsecurity order by relname""",
        "RLS is off on {}; alter table ... enable row level security",
        "RLS is on for every chat table",
    ),
    # A table only service_role can reach has no policy by design (chat_access_events).
    "rls_enabled_no_policy": (
        """select c.relname from pg_class c where c.oid = any(%(tables)s::regclass[])
             and c.relrowsecurity
             and not exists (select from pg_policy p where p.polrelid = c.oid)
             and (has_table_privilege('anon', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
                  or has_table_privilege('authenticated', c.oid, 'SELECT, INSERT, UPDATE, DELETE'))
           order by c.relname""",
        "RLS on but no policy on {}, and anon or authenticated hold grants on it",
        "every chat table the API roles can reach has a policy",
    ),
    "function_search_path_mutable": (
        f"""{_OWN_FUNCTIONS}
          and not exists (select from unnest(coalesce(p.proconfig, '{{}}')) c
                          where c like 'search_path=%%')
          order by 1""",
        "no pinned search_path on {}; alter function ... set search_path = ''",
        "every function in public pins its search_path",
    ),
}


def hardening_checks(run: Recorder, conn: psycopg.Connection) -> None:
    tables = [
        f"public.{t}"
        for t in CHAT_TABLES
        if _scalar(conn, "select to_regclass(%s)", (f"public.{t}",))
    ]
    writes = conn.execute(_ANON_WRITES, (tables,)).fetchall()
    held = "; ".join(f"{t.removeprefix('public.')}: {p}" for t, p in writes)
    run.judge(
        "hardening.anon_write_grants",
        not writes,
        "anon holds no INSERT/UPDATE/DELETE on the chat tables",
        f"anon still holds {held} (only RLS stops it); revoke insert, update, delete from anon "
        "on these tables",
        worst="WARN",
    )
    published = _column(conn, _REALTIME, ([t.removeprefix("public.") for t in tables],))
    run.judge(
        "hardening.realtime_publication",
        not published,
        "no chat table in supabase_realtime",
        f"{', '.join(published)} in supabase_realtime: the widget polls chat-visitor-sync now; "
        "`alter publication supabase_realtime drop table ...` unless the team app subscribes",
        worst="WARN",
    )
    for name, (query, warn, clean) in _LINTS.items():
        found = [r[0] for r in conn.execute(query, {"tables": tables})]
        run.judge(f"lint.{name}", not found, clean, warn.format(", ".join(found)), worst="WARN")
