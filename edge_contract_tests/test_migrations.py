"""The migration runner against real databases: rollbacks, idempotency, a history shared
with the project's own migrations, legacy version numbers, refusals.

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

from toolkit import stack
from toolkit.db.migrations import (
    LEGACY_VERSIONS,
    Migration,
    applied_versions,
    discover,
    inspect,
    migrate,
    rollback,
)
from toolkit.db.sqltext import split_statements
from toolkit.errors import MigrationError

pytestmark = pytest.mark.embedded

MIGRATIONS = discover()
VERSIONS = [m.version for m in MIGRATIONS]
UNKNOWN_VERSION = "20990101000000"
# The project's own migrations, recorded before, between and after the toolkit's.
PROJECT_VERSIONS = ["20250101000000", "20260327054500", "20270101000000"]
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
    "20260327061000": """select
      to_regclass('public.chat_team_members') is not null,
      to_regprocedure('chat_private.is_chat_team_member()') is not null,
      not has_column_privilege('authenticated', 'public.chat_conversations',
                               'access_token_hash', 'select, update'),
      not exists (select from pg_policies where schemaname = 'public'
                  and roles = array['authenticated']::name[] and qual = 'true')""",
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
    """On a baseline-only database a dry run lists every migration and records nothing."""
    assert inspect(baseline_url).pending == MIGRATIONS
    assert (
        _scalar(baseline_url, "select to_regclass('supabase_migrations.schema_migrations')") is None
    )
    assert _effect(baseline_url, VERSIONS[0]) == {False}


@pytest.fixture()
def shared_history(db_url: str) -> Iterator[str]:
    """The migrated stack whose history also holds the project's own three migrations."""
    _execute(
        db_url,
        "insert into supabase_migrations.schema_migrations (version, name, statements) "
        "select v, 'app_' || v, array['select ' || v] from unnest(%s::text[]) as v",
        (PROJECT_VERSIONS,),
    )
    yield db_url
    _execute(
        db_url,
        "delete from supabase_migrations.schema_migrations where version = any(%s)",
        (PROJECT_VERSIONS,),
    )


def test_migrate_leaves_the_projects_own_versions_alone(shared_history: str) -> None:
    """With app versions before, between and after the toolkit's, pending files are applied
    in order (with a note for those older than the app's newest) and app rows are untouched."""
    url = shared_history
    for m in reversed(MIGRATIONS[-3:]):
        rollback(url, m.version)
    before = _rows(url, f"{HISTORY} where version = any(%s) order by 1", (PROJECT_VERSIONS,))
    found = inspect(url)
    assert (found.project, found.applied, found.pending) == (
        PROJECT_VERSIONS,
        MIGRATIONS[:-3],
        MIGRATIONS[-3:],
    )
    lines: list[str] = []
    assert migrate(url, progress=lines.append) == MIGRATIONS[-3:]
    assert lines == [
        f"project's own migrations, left as they are: {', '.join(PROJECT_VERSIONS)}",
        *(
            f"note: {m.version} is older than the project's newest migration 20270101000000; "
            "applying it anyway (`supabase db push` would need --include-all)"
            for m in MIGRATIONS[-3:]
        ),
        *(f"applied {m.label} ({len(m.statements())} statements)" for m in MIGRATIONS[-3:]),
    ]
    assert (
        _rows(url, f"{HISTORY} where version = any(%s) order by 1", (PROJECT_VERSIONS,)) == before
    )
    assert _applied(url) == sorted([*VERSIONS, *PROJECT_VERSIONS])
    assert migrate(url) == []


def test_rollback_undoes_the_newest_toolkit_migration_under_a_newer_app_one(
    shared_history: str,
) -> None:
    """The app's 20270101000000 is newer, yet --rollback undoes the toolkit's newest."""
    assert rollback(shared_history, VERSIONS[-1]) == MIGRATIONS[-1]
    assert _effect(shared_history, VERSIONS[-1]) == {False}
    assert _applied(shared_history) == sorted([*VERSIONS[:-1], *PROJECT_VERSIONS])


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("20270101000000", "it is the project's own migration (not in sql/migrations)"),
        ("20250101000000", "it is the project's own migration (not in sql/migrations)"),
        (UNKNOWN_VERSION, "sql/migrations has no such file"),
        (VERSIONS[0], "later toolkit migrations are applied"),
    ],
)
def test_rollback_refuses_anything_but_the_newest_toolkit_migration(
    shared_history: str, version: str, reason: str
) -> None:
    """Any other version is refused in one line naming the newest toolkit one; nothing changes."""
    history = _history(shared_history)
    with pytest.raises(MigrationError) as caught:
        rollback(shared_history, version)
    assert str(caught.value) == (
        f"cannot roll back {version}: {reason}; the newest applied toolkit migration is "
        f"{VERSIONS[-1]} (roll back newest first)"
    )
    assert _history(shared_history) == history
    assert _effect(shared_history, VERSIONS[-1]) == {True}


def test_rollback_refuses_a_version_that_is_not_applied(db_url: str) -> None:
    """Asking to undo a toolkit migration already undone names the newest still applied."""
    rollback(db_url, VERSIONS[-1])
    with pytest.raises(MigrationError) as caught:
        rollback(db_url, VERSIONS[-1])
    assert str(caught.value) == (
        f"cannot roll back {VERSIONS[-1]}: it is not applied; the newest applied toolkit "
        f"migration is {VERSIONS[-2]} (roll back newest first)"
    )


def _sync_function_xmin(url: str) -> str:
    """The pg_proc row version of chat_visitor_sync: it changes if 055400 is run again."""
    return str(
        _scalar(
            url,
            "select xmin::text from pg_proc where oid = "
            "'public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)'::regprocedure",
        )
    )


@pytest.mark.parametrize("keep_new_rows", [False, True], ids=["old-only", "old-and-new"])
def test_migrate_renumbers_a_legacy_history(db_url: str, keep_new_rows: bool) -> None:
    """A history that recorded 056000-059000 is rewritten to 055100-055400 in one run;
    nothing is applied twice and the newest file, still pending there, is applied once."""
    rollback(db_url, VERSIONS[-1])
    history = _history(db_url)
    for old, new in LEGACY_VERSIONS.items():
        _execute(
            db_url,
            "insert into supabase_migrations.schema_migrations (version, name, statements) "
            "select %s, name, statements from supabase_migrations.schema_migrations "
            "where version = %s",
            (old, new),
        )
        if not keep_new_rows:
            _execute(
                db_url,
                "delete from supabase_migrations.schema_migrations where version = %s",
                (new,),
            )
    function_row = _sync_function_xmin(db_url)
    lines: list[str] = []
    assert migrate(db_url, progress=lines.append) == [MIGRATIONS[-1]]
    assert lines[:4] == [
        f"renumbered {old} -> {new} in the history (the old number was not a valid time)"
        for old, new in LEGACY_VERSIONS.items()
    ]
    newest = MIGRATIONS[-1]
    assert _history(db_url) == [*history, (newest.version, newest.name, newest.statements())]
    assert _sync_function_xmin(db_url) == function_row
    assert migrate(db_url) == []


def test_rollback_renumbers_a_legacy_history(db_url: str) -> None:
    """--rollback on a legacy history rewrites the old numbers in its own transaction too."""
    old, new = next(iter(LEGACY_VERSIONS.items()))
    _execute(
        db_url,
        "update supabase_migrations.schema_migrations set version = %s where version = %s",
        (old, new),
    )
    rollback(db_url, VERSIONS[-1])
    assert _applied(db_url) == VERSIONS[:-1]


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


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "migrate", *args], capture_output=True, text=True, timeout=60, check=False
    )


def _target_line(url: str) -> str:
    return f"migrate: {url.replace('postgres:postgres@', 'postgres:***@')}"


def test_cli_dry_run_on_a_migrated_database(db_url: str) -> None:
    """`migrate --dry-run` names the target (no password), lists every applied file, 0 pending."""
    result = _cli("--db-url", db_url, "--dry-run")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        f"{_target_line(db_url)} (dry run: nothing is written)",
        *(f"applied  {m.label}" for m in MIGRATIONS),
        f"0 pending, {len(MIGRATIONS)} applied, 0 of the project's own",
    ]


def test_cli_dry_run_lists_the_projects_own_versions(shared_history: str) -> None:
    """The project's versions appear in version order among the toolkit's, marked as its own."""
    rollback(shared_history, VERSIONS[-1])
    result = _cli("--db-url", shared_history, "--dry-run")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[1 : 1 + len(MIGRATIONS) + 3]
    assert [line.split()[:2] for line in rows] == [
        ["project", "20250101000000"],
        ["applied", MIGRATIONS[0].label],
        ["project", "20260327054500"],
        *(["applied", m.label] for m in MIGRATIONS[1:-1]),
        ["pending", MIGRATIONS[-1].label],
        ["project", "20270101000000"],
    ]
    assert result.stdout.splitlines()[-1] == (
        f"1 pending, {len(MIGRATIONS) - 1} applied, 3 of the project's own"
    )
    assert _effect(shared_history, VERSIONS[-1]) == {False}


def test_cli_migrate_names_the_target_first(db_url: str) -> None:
    """A real run's first line is the target with the password hidden, its last the summary."""
    rollback(db_url, VERSIONS[-1])
    result = _cli("--db-url", db_url)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        _target_line(db_url),
        f"applied {MIGRATIONS[-1].label} ({len(MIGRATIONS[-1].statements())} statements)",
        "1 applied; database is up to date",
    ]
    assert "postgres:postgres@" not in result.stdout


def test_cli_rollback_dry_run_changes_nothing(db_url: str) -> None:
    """`--rollback V --dry-run` says what it would undo; the migration stays applied."""
    history = _history(db_url)
    newest = MIGRATIONS[-1]
    result = _cli("--db-url", db_url, "--rollback", newest.version, "--dry-run")
    statements = len(split_statements(newest.rollback_path.read_text()))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        f"{_target_line(db_url)} (dry run: nothing is written)",
        f"would roll back {newest.label} ({statements} statements from "
        f"sql/rollbacks/{newest.path.name}); nothing was changed",
    ]
    assert _history(db_url) == history
    assert _effect(db_url, newest.version) == {True}


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
