"""The migration runner: applies sql/migrations and records them as the Supabase CLI does.

History lives in `supabase_migrations.schema_migrations (version, statements, name)`, so a
project can move between this runner and `supabase db push` without re-applying anything.
Each migration runs in its own transaction together with its history row: a file that fails
leaves neither its changes nor a record behind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from toolkit.db.connect import connect
from toolkit.db.sqltext import split_statements
from toolkit.errors import MigrationError
from toolkit.paths import MIGRATIONS_DIR, ROLLBACKS_DIR, existing

__all__ = [
    "Migration",
    "applied_versions",
    "discover",
    "migrate",
    "pending",
    "rollback",
    "run_sql_files",
]

_FILE_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_240_315_119  # pg_advisory_xact_lock key shared by every chat-toolkit runner

_HISTORY_DDL = (
    "create schema if not exists supabase_migrations",
    "create table if not exists supabase_migrations.schema_migrations "
    "(version text not null primary key)",
    "alter table supabase_migrations.schema_migrations add column if not exists statements text[]",
    "alter table supabase_migrations.schema_migrations add column if not exists name text",
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Migration:
    """One migration file, named `<UTC YYYYMMDDHHMMSS>_<name>.sql` as the CLI expects."""

    version: str
    name: str
    path: Path
    rollback_path: Path

    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"))


def discover(directory: Path = MIGRATIONS_DIR, rollbacks: Path = ROLLBACKS_DIR) -> list[Migration]:
    """The migrations in `directory`, in version order; a misnamed .sql file or a missing
    folder is an error."""
    found = []
    for path in sorted(existing(directory).glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files must be named <YYYYMMDDHHMMSS>_<name>.sql"
            )
        found.append(Migration(match["version"], match["name"], path, rollbacks / path.name))
    return found


def pending(migrations: Iterable[Migration], applied: Iterable[str]) -> list[Migration]:
    """What is left to apply; refuses when the database knows versions we do not."""
    known = {m.version for m in migrations}
    unknown = sorted(set(applied) - known)
    if unknown:
        raise MigrationError(
            f"the database records migration(s) {', '.join(unknown)} that are not in "
            "sql/migrations; pull the missing files (or repair the history with "
            "`supabase migration repair`) before migrating"
        )
    done = set(applied)
    return [m for m in migrations if m.version not in done]


def applied_versions(conn: psycopg.Connection) -> list[str]:
    """Versions recorded in the CLI's history table (none when it does not exist yet)."""
    row = conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone()
    if row is None or row[0] is None:
        return []
    return [v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations")]


def migrate(
    db_url: str,
    *,
    migrations: list[Migration] | None = None,
    dry_run: bool = False,
    progress: Progress = lambda _line: None,
) -> list[Migration]:
    """Apply every pending migration in order and return them (only list them if dry_run)."""
    migrations = discover() if migrations is None else migrations
    with _connect(db_url) as conn:
        todo = pending(migrations, applied_versions(conn))
        if dry_run:
            return todo
        for migration in todo:
            _apply(conn, migration, progress)
    return todo


def rollback(db_url: str, version: str, *, progress: Progress = lambda _line: None) -> Migration:
    """Undo one applied migration with its rollback file; only the newest may be undone."""
    by_version = {m.version: m for m in discover()}
    if version not in by_version:
        raise MigrationError(f"no migration {version} in sql/migrations")
    migration = by_version[version]
    if not migration.rollback_path.is_file():
        raise MigrationError(f"{migration.path.name} has no rollback file in sql/rollbacks")
    with _connect(db_url) as conn:
        applied = sorted(applied_versions(conn))
        if version not in applied:
            raise MigrationError(f"migration {version} is not applied; nothing to roll back")
        if applied[-1] != version:
            raise MigrationError(
                f"migration {applied[-1]} was applied after {version}; roll that back first"
            )
        statements = split_statements(migration.rollback_path.read_text(encoding="utf-8"))
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            _execute_all(conn, migration.rollback_path.name, statements)
            conn.execute(
                "delete from supabase_migrations.schema_migrations where version = %s", (version,)
            )
        progress(f"rolled back {migration.version}_{migration.name}")
    return migration


def run_sql_files(db_url: str, paths: Iterable[Path]) -> None:
    """Run plain SQL files (role emulation, baseline) in one transaction; no history."""
    with _connect(db_url) as conn, conn.transaction():
        for path in paths:
            _execute_all(conn, path.name, split_statements(path.read_text(encoding="utf-8")))


def _apply(conn: psycopg.Connection, migration: Migration, progress: Progress) -> None:
    statements = migration.statements()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for ddl in _HISTORY_DDL:
            conn.execute(ddl)
        recorded = conn.execute(
            "select 1 from supabase_migrations.schema_migrations where version = %s",
            (migration.version,),
        ).fetchone()
        if recorded:
            return
        _execute_all(conn, migration.path.name, statements)
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, name, statements) "
            "values (%s, %s, %s)",
            (migration.version, migration.name, statements),
        )
    progress(f"applied {migration.version}_{migration.name} ({len(statements)} statements)")


def _execute_all(conn: psycopg.Connection, file_name: str, statements: list[str]) -> None:
    for number, statement in enumerate(statements, start=1):
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            reason = (exc.diag.message_primary or str(exc)).strip()
            raise MigrationError(
                f"{file_name}, statement {number}: {reason} (rolled back; nothing from this "
                "file was applied)"
            ) from exc


def _connect(db_url: str) -> psycopg.Connection:
    return connect(db_url, MigrationError)
