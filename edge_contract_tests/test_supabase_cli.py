"""The real Supabase CLI (npm `supabase@2.117.0`, pinned in package-lock.json) agrees with
`chat-toolkit migrate` on embedded stacks: one history, readable by either, written by either.

The CLI runs without Docker against `--db-url` (the env's SUPABASE_DB_URL, unchanged) in a
project folder whose supabase/migrations holds copies of sql/migrations, with telemetry and
the update check off and a HOME of its own: no line on stderr may come from anything but
the command itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from toolkit import stack
from toolkit.db.migrations import discover
from toolkit.paths import MIGRATIONS_DIR, REPO_ROOT

pytestmark = pytest.mark.embedded

SUPABASE = REPO_ROOT / "node_modules" / ".bin" / "supabase"
CHAT_TOOLKIT = Path(sys.executable).parent / "chat-toolkit"
MIGRATIONS = discover()
VERSIONS = [m.version for m in MIGRATIONS]
HISTORY = "select version, name, statements from supabase_migrations.schema_migrations order by 1"
# Everything the CLI may say on stderr for these commands; an update notice, a telemetry or
# network error would be a line outside it.
_STDERR = re.compile(
    r"(Connecting to remote database\.\.\.|DRY RUN: migrations will \*not\* be pushed to the"
    r" database\.|Would push these migrations:|Do you want to push these migrations to the"
    r" remote database\?| • \d{14}_\w+\.sql| \[Y/n\] y|Applying migration \d{14}_\w+\.sql\.\.\."
    r"|Remote database is up to date\.|Repaired migration history: \[\d{14}\] => \w+"
    r"|Run supabase migration list to show the updated migration history\."
    r"|Linting schema: \w+|No schema errors found|fail-on is set to error, non-zero exit"
    r"|Try rerunning the command with --debug to troubleshoot the error\.|)"
)


def supabase(project: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the CLI in `project`; with ok, assert exit 0 and a stderr of its own lines only."""
    assert SUPABASE.exists(), "the Supabase CLI is missing: run ./scripts/setup.sh (npm ci)"
    env = {
        **os.environ,
        "HOME": str(project / "home"),
        "SUPABASE_TELEMETRY_DISABLED": "1",
        "DO_NOT_TRACK": "1",
        "SUPABASE_NO_UPDATE_NOTIFIER": "1",
    }
    result = subprocess.run(
        [str(SUPABASE), *args, "--workdir", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    assert [line for line in result.stderr.splitlines() if not _STDERR.fullmatch(line)] == []
    return result


def chat_toolkit(*args: str) -> list[str]:
    result = subprocess.run(
        [str(CHAT_TOOLKIT), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return result.stdout.splitlines()


def migration_list(project: Path, db_url: str) -> list[tuple[str, str, str]]:
    """`supabase migration list` as (local, remote, time) rows; a blank cell is ""."""
    table = supabase(project, "migration", "list", "--db-url", db_url).stdout
    rows = [re.findall(r"`([^`]*)`", line) for line in table.splitlines()]
    return [(local.strip(), remote.strip(), time) for local, remote, time in filter(None, rows)]


def history(db_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(HISTORY).fetchall()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Supabase project folder: supabase/migrations holds copies of sql/migrations."""
    root = tmp_path_factory.mktemp("supabase-project")
    (root / "supabase" / "migrations").mkdir(parents=True)
    (root / "home").mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, root / "supabase" / "migrations" / path.name)
    return root


@pytest.fixture(scope="module")
def migrated() -> Iterator[str]:
    """A baseline-only stack, then `chat-toolkit migrate`."""
    with stack.temporary(baseline_only=True, functions=False) as state:
        assert chat_toolkit("migrate", "--db-url", state.db_url)[-1] == (
            f"{len(MIGRATIONS)} applied; database is up to date"
        )
        yield state.db_url


@pytest.fixture(scope="module")
def pushed(project: Path) -> Iterator[str]:
    """A baseline-only stack, then `supabase db push` of the same files."""
    with stack.temporary(baseline_only=True, functions=False) as state:
        supabase(project, "db", "push", "--db-url", state.db_url, "--yes")
        yield state.db_url


def test_the_pinned_cli_runs() -> None:
    """The binary from package-lock.json is version 2.117.0."""
    result = subprocess.run(
        [str(SUPABASE), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "2.117.0")


def test_migration_list_after_toolkit_migrate(project: Path, migrated: str) -> None:
    """Every toolkit version is local and remote, with its time read as a valid UTC time."""
    assert migration_list(project, migrated) == [
        (v, v, datetime.strptime(v, "%Y%m%d%H%M%S").strftime("%Y-%m-%d %H:%M:%S")) for v in VERSIONS
    ]


def test_db_push_dry_run_finds_nothing_to_push(project: Path, migrated: str) -> None:
    """`supabase db push --dry-run` after `chat-toolkit migrate`: the remote is up to date."""
    result = supabase(project, "db", "push", "--db-url", migrated, "--dry-run")
    assert "Remote database is up to date." in result.stdout + result.stderr
    assert "Would push" not in result.stderr


def test_toolkit_finds_nothing_after_db_push(pushed: str, migrated: str) -> None:
    """After `supabase db push` the history is the toolkit's to the byte, and `chat-toolkit
    migrate` has nothing to do."""
    assert history(pushed) == history(migrated)
    assert chat_toolkit("migrate", "--db-url", pushed)[1:] == ["0 applied; database is up to date"]


def test_toolkit_sees_a_cli_repair_as_pending(project: Path, pushed: str) -> None:
    """`supabase migration repair --status reverted V` makes V pending for `chat-toolkit
    migrate --dry-run`; `migrate` then applies it (idempotently) and the CLI agrees again."""
    newest = MIGRATIONS[-1]
    supabase(
        project, "migration", "repair", "--status", "reverted", newest.version, "--db-url", pushed
    )
    lines = chat_toolkit("migrate", "--db-url", pushed, "--dry-run")
    assert f"pending  {newest.label}" in lines
    assert lines[-1] == f"1 pending, {len(MIGRATIONS) - 1} applied, 0 of the project's own"
    assert chat_toolkit("migrate", "--db-url", pushed)[-1] == "1 applied; database is up to date"
    assert [(local, remote) for local, remote, _ in migration_list(project, pushed)] == [
        (v, v) for v in VERSIONS
    ]


# The project's own migrations, before, between and after the toolkit's.
APP_MIGRATIONS = {
    "20250101000000_app_notes.sql": "create table public.app_notes (id bigint primary key);",
    "20260327054500_app_notes_title.sql": "alter table public.app_notes add column title text;",
    "20270101000000_app_notes_index.sql": "create index on public.app_notes (title);",
}


def _app_project(root: Path, *, with_toolkit: bool) -> Path:
    (root / "supabase" / "migrations").mkdir(parents=True)
    (root / "home").mkdir()
    for name, sql in APP_MIGRATIONS.items():
        (root / "supabase" / "migrations" / name).write_text(sql + "\n")
    if with_toolkit:
        for path in MIGRATIONS_DIR.glob("*.sql"):
            shutil.copy(path, root / "supabase" / "migrations" / path.name)
    return root


def test_both_ways_end_in_the_same_history(tmp_path: Path) -> None:
    """A project with migrations of its own: pushing the app's files with the CLI and then
    running `chat-toolkit migrate`, or copying the toolkit's files in and pushing them all,
    give the same history, which `supabase migration list` reads as fully applied."""
    app_only = _app_project(tmp_path / "app", with_toolkit=False)
    combined = _app_project(tmp_path / "combined", with_toolkit=True)
    with (
        stack.temporary(baseline_only=True, functions=False) as alongside,
        stack.temporary(baseline_only=True, functions=False) as copied,
    ):
        supabase(app_only, "db", "push", "--db-url", alongside.db_url, "--yes")
        lines = chat_toolkit("migrate", "--db-url", alongside.db_url)
        assert lines[1] == (
            "project's own migrations, left as they are: "
            "20250101000000, 20260327054500, 20270101000000"
        )
        assert lines[-1] == f"{len(MIGRATIONS)} applied; database is up to date"
        supabase(combined, "db", "push", "--db-url", copied.db_url, "--yes")
        assert history(alongside.db_url) == history(copied.db_url)
        every = sorted([*VERSIONS, *(name[:14] for name in APP_MIGRATIONS)])
        listed = migration_list(combined, alongside.db_url)
        assert [(local, remote) for local, remote, _ in listed] == [(v, v) for v in every]


def test_db_lint_finds_no_error(project: Path, migrated: str) -> None:
    """`supabase db lint` (plpgsql_check) finds nothing in the migrated schemas, the toolkit's
    functions and the stack's event-trigger functions included."""
    result = supabase(project, "db", "lint", "--db-url", migrated, "--fail-on", "error")
    assert "Linting schema: public" in result.stderr
    assert "No schema errors found" in result.stderr
    assert result.stdout == ""


def test_db_lint_reports_a_broken_function(project: Path, migrated: str) -> None:
    """The twin: a function reading a column that does not exist is reported, exit 1."""
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute("create schema lint_probe")
        conn.execute(
            "create function lint_probe.broken() returns int language plpgsql as "
            "$$ begin return (select no_such_column from public.chat_messages limit 1); end $$"
        )
        try:
            result = supabase(
                project,
                "db",
                "lint",
                "--db-url",
                migrated,
                "--schema",
                "lint_probe",
                "--fail-on",
                "error",
                ok=False,
            )
        finally:
            conn.execute("drop schema lint_probe cascade")
    assert result.returncode == 1
    assert '"function": "lint_probe.broken"' in result.stdout
    assert 'column \\"no_such_column\\" does not exist' in result.stdout


def test_inspect_db_table_stats_runs(project: Path, migrated: str) -> None:
    """`supabase inspect db table-stats` reads the chat tables."""
    table = supabase(project, "inspect", "db", "table-stats", "--db-url", migrated).stdout
    for name in ("chat_conversations", "chat_messages", "chat_access_events"):
        assert f"public.{name} " in table
