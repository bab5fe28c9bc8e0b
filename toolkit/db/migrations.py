"""The migration runner: applies sql/migrations and records them as the Supabase CLI does.

History lives in `supabase_migrations.schema_migrations (version, statements, name)`, the
table `supabase db push` writes, so a project can move between this runner and the CLI
without re-applying anything. That history is shared with the project: the toolkit owns
exactly the versions in sql/migrations; any other recorded version is the project's own,
listed but never refused, renumbered or undone. Each migration runs in its own transaction
together with its history row: a file that fails leaves neither its changes nor a record.
Every run that changes the schema ends with `NOTIFY pgrst, 'reload schema'`, so PostgREST
serves the new columns and functions at once (PostgREST docs, "Schema Cache Reloading").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg

from toolkit.db.connect import connect
from toolkit.db.sqltext import split_statements
from toolkit.errors import MigrationError
from toolkit.paths import MIGRATIONS_DIR, ROLLBACKS_DIR, existing

__all__ = [
    "LEGACY_VERSIONS",
    "Migration",
    "Plan",
    "applied_versions",
    "discover",
    "inspect",
    "migrate",
    "plan",
    "rollback",
    "run_sql_files",
]

_FILE_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_240_315_119  # pg_advisory_xact_lock key shared by every chat-toolkit runner
_RELOAD_SCHEMA = "notify pgrst, 'reload schema'"

# Versions that were not valid UTC times (05:60:00 ... 05:90:00), renumbered in order; a
# database that recorded the old numbers gets its history rewritten by the next run.
LEGACY_VERSIONS: Mapping[str, str] = {
    "20260327056000": "20260327055100",
    "20260327057000": "20260327055200",
    "20260327058000": "20260327055300",
    "20260327059000": "20260327055400",
}

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

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"

    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Plan:
    """What a database's history means for the toolkit's files.

    pending   toolkit migrations not recorded, in version order (what `migrate` applies)
    applied   toolkit migrations recorded, in version order
    project   recorded versions not in sql/migrations: the project's own, sorted
    renumber  legacy version recorded -> the version its file has now (LEGACY_VERSIONS)
    """

    pending: list[Migration]
    applied: list[Migration]
    project: list[str]
    renumber: dict[str, str]

    def lines(self) -> list[str]:
        """The history in version order, the toolkit's files and the project's own, then notes."""
        rows = [(v, f"project  {v}  (the project's own; left as it is)") for v in self.project]
        rows += [(m.version, f"applied  {m.label}") for m in self.applied]
        rows += [(m.version, f"pending  {m.label}") for m in self.pending]
        lines = [line for _, line in sorted(rows)]
        lines += [
            f"would renumber {old} -> {new} in the history" for old, new in self.renumber.items()
        ]
        lines += self.notes()
        lines.append(
            f"{len(self.pending)} pending, {len(self.applied)} applied, "
            f"{len(self.project)} of the project's own"
        )
        return lines

    def notes(self) -> list[str]:
        """One line per pending file older than the project's newest version."""
        newest = self.project[-1] if self.project else ""
        return [
            f"note: {m.version} is older than the project's newest migration {newest}; "
            "applying it anyway (`supabase db push` would need --include-all)"
            for m in self.pending
            if m.version < newest
        ]


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


def plan(migrations: Iterable[Migration], recorded: Iterable[str]) -> Plan:
    """Split a recorded history into the toolkit's part and the project's; no database."""
    toolkit = sorted(migrations, key=lambda m: m.version)
    known = {m.version for m in toolkit}
    history = set(recorded)
    renumber = {old: new for old, new in LEGACY_VERSIONS.items() if old in history and new in known}
    done = {renumber.get(v, v) for v in history}
    return Plan(
        pending=[m for m in toolkit if m.version not in done],
        applied=[m for m in toolkit if m.version in done],
        project=sorted(done - known),
        renumber=renumber,
    )


def applied_versions(conn: psycopg.Connection) -> list[str]:
    """Versions recorded in the CLI's history table (none when it does not exist yet)."""
    row = conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone()
    if row is None or row[0] is None:
        return []
    return [v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations")]


def inspect(db_url: str, *, migrations: list[Migration] | None = None) -> Plan:
    """The plan for this database, read without writing anything (what --dry-run shows)."""
    migrations = discover() if migrations is None else migrations
    with _connect(db_url) as conn:
        return plan(migrations, applied_versions(conn))


def migrate(
    db_url: str,
    *,
    migrations: list[Migration] | None = None,
    progress: Progress = lambda _line: None,
) -> list[Migration]:
    """Renumber legacy history rows, apply every pending toolkit file in order; return those.

    The project's own history rows are read, never written. Raises MigrationError naming
    the file and statement that failed; the migrations applied before it stay applied.
    """
    migrations = discover() if migrations is None else migrations
    applied: list[Migration] = []
    with _connect(db_url) as conn:
        todo = _prepare_history(conn, migrations, progress)
        try:
            for migration in todo.pending:
                if _apply(conn, migration, progress):
                    applied.append(migration)
        finally:
            if applied or todo.renumber:
                conn.execute(_RELOAD_SCHEMA)
    return applied


def rollback(
    db_url: str,
    version: str,
    *,
    dry_run: bool = False,
    progress: Progress = lambda _line: None,
) -> Migration:
    """Undo the newest applied toolkit migration with its rollback file (or only say so).

    Refuses, naming the newest applied toolkit migration, any other version; the project's
    own migrations are never undone, even when recorded after the toolkit's.
    """
    migrations = discover()
    with _connect(db_url) as conn:
        with conn.transaction():
            if not dry_run:
                conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            current = plan(migrations, applied_versions(conn))
            migration = _rollback_target(current, migrations, version)
            statements = split_statements(migration.rollback_path.read_text(encoding="utf-8"))
            if dry_run:
                progress(
                    f"would roll back {migration.label} ({len(statements)} statements from "
                    f"sql/rollbacks/{migration.rollback_path.name}); nothing was changed"
                )
                return migration
            _rewrite_history(conn, current.renumber)
            _execute_all(conn, migration.rollback_path.name, statements)
            conn.execute(
                "delete from supabase_migrations.schema_migrations where version = %s", (version,)
            )
            conn.execute(_RELOAD_SCHEMA)
        progress(f"rolled back {migration.label} ({len(statements)} statements)")
    return migration


def run_sql_files(db_url: str, paths: Iterable[Path]) -> None:
    """Run plain SQL files (role emulation, baseline) in one transaction; no history."""
    with _connect(db_url) as conn, conn.transaction():
        for path in paths:
            _execute_all(conn, path.name, split_statements(path.read_text(encoding="utf-8")))


def _rollback_target(current: Plan, migrations: list[Migration], version: str) -> Migration:
    newest = current.applied[-1] if current.applied else None
    if newest is None:
        raise MigrationError("no toolkit migration is applied; nothing to roll back")
    if version == newest.version:
        if not newest.rollback_path.is_file():
            raise MigrationError(f"{newest.path.name} has no rollback file in sql/rollbacks")
        return newest
    if version in current.project:
        reason = "it is the project's own migration (not in sql/migrations)"
    elif version not in {m.version for m in migrations}:
        reason = "sql/migrations has no such file"
    elif version not in {m.version for m in current.applied}:
        reason = "it is not applied"
    else:
        reason = "later toolkit migrations are applied"
    raise MigrationError(
        f"cannot roll back {version}: {reason}; the newest applied toolkit migration is "
        f"{newest.version} (roll back newest first)"
    )


def _prepare_history(conn: psycopg.Connection, migrations: list[Migration], say: Progress) -> Plan:
    """Create the history table if needed and rewrite legacy versions, in one transaction."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for ddl in _HISTORY_DDL:
            conn.execute(ddl)
        current = plan(migrations, applied_versions(conn))
        _rewrite_history(conn, current.renumber)
    for old, new in current.renumber.items():
        say(f"renumbered {old} -> {new} in the history (the old number was not a valid time)")
    if current.project:
        say(f"project's own migrations, left as they are: {', '.join(current.project)}")
    for line in current.notes():
        say(line)
    return current


def _rewrite_history(conn: psycopg.Connection, renumber: Mapping[str, str]) -> None:
    for old, new in renumber.items():
        # A history holding both numbers (the CLI pushed the renamed file too) keeps the new.
        conn.execute(
            "delete from supabase_migrations.schema_migrations where version = %s "
            "and exists (select from supabase_migrations.schema_migrations where version = %s)",
            (old, new),
        )
        conn.execute(
            "update supabase_migrations.schema_migrations set version = %s where version = %s",
            (new, old),
        )


def _apply(conn: psycopg.Connection, migration: Migration, progress: Progress) -> bool:
    statements = migration.statements()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        recorded = conn.execute(
            "select 1 from supabase_migrations.schema_migrations where version = %s",
            (migration.version,),
        ).fetchone()
        if recorded:  # another runner applied it while we waited for the lock
            return False
        _execute_all(conn, migration.path.name, statements)
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, name, statements) "
            "values (%s, %s, %s)",
            (migration.version, migration.name, statements),
        )
    progress(f"applied {migration.label} ({len(statements)} statements)")
    return True


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
    return connect(db_url)
