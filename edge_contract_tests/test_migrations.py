"""The migration runner against real databases: rollbacks, idempotency, history, refusals.

Uses its own embedded stacks, because these tests roll migrations back and forth: a
migrated one (each test leaves it fully migrated again), a baseline-only one (kept
pristine) and one modelling the 2026 default without automatic grants.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from toolkit.db.migrations import Migration, applied_versions, discover, migrate, rollback
from toolkit.errors import MigrationError
from toolkit.stack import lifecycle as stack

pytestmark = pytest.mark.embedded

MIGRATIONS = discover()
VERSIONS = [m.version for m in MIGRATIONS]
UNKNOWN_VERSION = "20990101000000"
CLI = Path(sys.executable).parent / "chat-toolkit"

# Per migration, one row of facts: all true once it is applied, all false once rolled back.
_COLUMN = """exists (select from pg_attribute where attrelid = '{table}'::regclass
    and attname = '{column}' and not attisdropped)"""
EFFECTS = {
    "20260327054000": f"""select
      {_COLUMN.format(table="public.chat_conversations", column="access_token_hash")},
      to_regclass('public.idx_chat_conversations_access_token_hash_unique') is not null""",
    "20260327055000": """select
      not has_table_privilege('anon', 'public.chat_conversations', 'select'),
      not has_table_privilege('anon', 'public.chat_messages', 'select'),
      not exists (select from pg_policies where policyname = 'chat_conversations_visitor_read'),
      not exists (select from pg_policies where policyname = 'chat_messages_visitor_read')""",
    "20260327055100": f"""select
      {_COLUMN.format(table="public.chat_messages", column="sync_xid")},
      to_regclass('public.idx_chat_messages_conversation_sync_xid') is not null,
      to_regclass('public.idx_chat_messages_conversation_created_at') is not null""",
    "20260327055200": f"""select
      {_COLUMN.format(table="public.chat_messages", column="client_message_id")},
      to_regclass('public.idx_chat_messages_client_message_id_unique') is not null""",
    "20260327055300": "select to_regclass('public.chat_access_events') is not null",
    "20260327055400": """select to_regprocedure(
        'public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)') is not null""",
    "20260327060000": """select
      not has_table_privilege('anon', 'public.chat_messages', 'insert, update, delete, truncate'),
      not has_table_privilege('anon', 'public.team_typing_indicators', 'select')""",
    "20260327062000": "select to_regclass('public.chat_sync_epoch') is not null",
    "20260327062100": """select to_regprocedure('public.chat_visitor_sync_v2(uuid, text,
        pg_snapshot, uuid, xid8, uuid, timestamptz, timestamptz, uuid, integer, integer,
        integer)') is not null""",
    "20260327062200": """select
      exists (select from pg_trigger where tgname = 'team_typing_indicators_stamp'),
      to_regprocedure('public.team_typing_indicators_stamp()') is not null""",
    "20260327062300": """select
      exists (select from pg_trigger where tgname = 'chat_messages_notify_visitor'),
      exists (select from pg_trigger where tgname = 'team_typing_indicators_notify_delete'),
      to_regprocedure('public.chat_visitor_notify()') is not null""",
}
HISTORY = "select version, name, statements from supabase_migrations.schema_migrations"


def _rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def _scalar(url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    return _rows(url, query, params)[0][0]


def _effect(url: str, version: str) -> set[bool]:
    """The distinct truth values of a migration's facts: {True} applied, {False} undone."""
    return set(_rows(url, EFFECTS[version])[0])


def _execute(url: str, query: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query, params)


def _applied(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return sorted(applied_versions(conn))


def _history(url: str) -> list[tuple[Any, ...]]:
    return _rows(url, f"{HISTORY} order by version")


@pytest.fixture(scope="module")
def migrated_stack() -> Iterator[str]:
    with stack.temporary(functions=False) as state:
        yield state.db_url


@pytest.fixture()
def db_url(migrated_stack: str) -> Iterator[str]:
    """The migrated stack; whatever a test rolled back is applied again afterwards."""
    yield migrated_stack
    migrate(migrated_stack)


@pytest.fixture(scope="module")
def baseline_url() -> Iterator[str]:
    with stack.temporary(functions=False, baseline_only=True) as state:
        yield state.db_url


@pytest.fixture(scope="module")
def no_expose_url() -> Iterator[str]:
    with stack.temporary(functions=False, auto_expose=False) as state:
        yield state.db_url


@pytest.mark.parametrize("migration", MIGRATIONS, ids=VERSIONS)
def test_rollback_then_apply_again(db_url: str, migration: Migration) -> None:
    """Rolling back newest-first down to a migration undoes it; migrate then re-applies it."""
    later = [m for m in MIGRATIONS if m.version >= migration.version]
    for m in reversed(later):
        assert rollback(db_url, m.version) == m
    assert _applied(db_url) == [v for v in VERSIONS if v < migration.version]
    assert _effect(db_url, migration.version) == {False}
    assert migrate(db_url) == later
    assert _effect(db_url, migration.version) == {True}
    assert _applied(db_url) == VERSIONS


def test_second_migrate_applies_nothing(db_url: str) -> None:
    """After migrate has applied what was pending, a second run applies nothing."""
    for m in reversed(MIGRATIONS[-2:]):
        rollback(db_url, m.version)
    assert migrate(db_url) == MIGRATIONS[-2:]
    history = _history(db_url)
    assert migrate(db_url) == []
    assert _history(db_url) == history


def test_history_rows_match_the_cli_layout(db_url: str) -> None:
    """Each applied migration has a row with its version, name and non-empty text[] statements."""
    columns = _rows(
        db_url,
        "select attname, format_type(atttypid, atttypmod) from pg_attribute "
        "where attrelid = 'supabase_migrations.schema_migrations'::regclass and attnum > 0 "
        "and not attisdropped order by attnum",
    )
    assert columns == [("version", "text"), ("statements", "text[]"), ("name", "text")]
    history = _history(db_url)
    assert history == [(m.version, m.name, m.statements()) for m in MIGRATIONS]
    assert all(statements for _, _, statements in history)


@pytest.mark.parametrize("migration", MIGRATIONS, ids=VERSIONS)
def test_migration_sql_runs_twice(baseline_url: str, migration: Migration) -> None:
    """Each migration file, run twice by hand after the earlier ones, raises no error."""
    with (
        psycopg.connect(baseline_url, autocommit=True) as conn,
        conn.transaction(force_rollback=True),
    ):
        for earlier in MIGRATIONS[: MIGRATIONS.index(migration)]:
            for statement in earlier.statements():
                conn.execute(statement)
        for _ in range(2):
            for statement in migration.statements():
                conn.execute(statement)
        assert set(conn.execute(EFFECTS[migration.version]).fetchone() or ()) == {True}


def test_dry_run_lists_pending_and_changes_nothing(baseline_url: str) -> None:
    """On a baseline-only database a dry run lists all six migrations and records nothing."""
    assert migrate(baseline_url, dry_run=True) == MIGRATIONS
    assert (
        _scalar(baseline_url, "select to_regclass('supabase_migrations.schema_migrations')") is None
    )
    assert _effect(baseline_url, VERSIONS[0]) == {False}


def test_migrate_refuses_unknown_history_version(db_url: str) -> None:
    """With a recorded version that sql/migrations lacks, migrate refuses and applies nothing."""
    rollback(db_url, VERSIONS[-1])
    _execute(
        db_url,
        "insert into supabase_migrations.schema_migrations (version, name, statements) "
        "values (%s, 'from_elsewhere', '{}')",
        (UNKNOWN_VERSION,),
    )
    try:
        with pytest.raises(MigrationError, match=f"records migration\\(s\\) {UNKNOWN_VERSION} "):
            migrate(db_url)
        assert _applied(db_url) == [*VERSIONS[:-1], UNKNOWN_VERSION]
        assert _effect(db_url, VERSIONS[-1]) == {False}
    finally:
        _execute(
            db_url,
            "delete from supabase_migrations.schema_migrations where version = %s",
            (UNKNOWN_VERSION,),
        )


def test_failing_migration_leaves_no_trace(db_url: str, tmp_path: Path) -> None:
    """A migration failing at its second statement leaves neither its first nor a history row."""
    (tmp_path / f"{UNKNOWN_VERSION}_broken.sql").write_text(
        "create table public.broken_probe (id int);\nselect 1 / 0;\n"
    )
    with pytest.raises(MigrationError) as caught:
        migrate(db_url, migrations=[*MIGRATIONS, *discover(tmp_path, tmp_path)])
    assert str(caught.value) == (
        f"{UNKNOWN_VERSION}_broken.sql, statement 2: division by zero "
        "(rolled back; nothing from this file was applied)"
    )
    assert _scalar(db_url, "select to_regclass('public.broken_probe')") is None
    assert _applied(db_url) == VERSIONS


def test_rollback_refuses_when_a_later_migration_is_applied(db_url: str) -> None:
    """Rolling back anything but the newest applied migration is refused and changes nothing."""
    with pytest.raises(MigrationError) as caught:
        rollback(db_url, VERSIONS[0])
    assert str(caught.value) == (
        f"migration {VERSIONS[-1]} was applied after {VERSIONS[0]}; roll that back first"
    )
    assert _applied(db_url) == VERSIONS
    assert _effect(db_url, VERSIONS[0]) == {True}


def test_cli_dry_run_on_a_migrated_database(db_url: str) -> None:
    """`chat-toolkit migrate --dry-run` on an up-to-date database exits 0 with "0 pending"."""
    result = subprocess.run(
        [str(CLI), "migrate", "--db-url", db_url, "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "0 pending\n", "")


def test_cli_unreachable_database_is_one_line_error() -> None:
    """With an unreachable database the CLI exits 1 with one `chat-toolkit: ` line, no traceback."""
    result = subprocess.run(
        [str(CLI), "migrate", "--db-url", "postgresql://postgres@127.0.0.1:1/postgres"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("chat-toolkit: cannot connect to the database")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("role", "table", "privilege", "expected"),
    [
        ("anon", "chat_conversations", "select", False),
        ("anon", "chat_messages", "select", False),
        ("service_role", "chat_conversations", "select", True),
        ("service_role", "chat_messages", "insert", True),
        ("service_role", "chat_access_events", "select", True),
        ("service_role", "chat_access_events", "insert", True),
        ("anon", "chat_access_events", "insert", False),
        ("authenticated", "chat_access_events", "select", False),
    ],
)
def test_no_auto_expose_privileges(
    no_expose_url: str, role: str, table: str, privilege: str, expected: bool
) -> None:
    """Without automatic grants anon still cannot read chats and service_role has what it needs."""
    query = "select has_table_privilege(%s, %s, %s)"
    assert _scalar(no_expose_url, query, (role, f"public.{table}", privilege)) is expected
