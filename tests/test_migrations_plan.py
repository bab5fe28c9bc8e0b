"""Migration discovery and planning, without a database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from toolkit.db.migrations import LEGACY_VERSIONS, discover, plan
from toolkit.errors import MigrationError
from toolkit.paths import MIGRATIONS_DIR, ROLLBACKS_DIR


def _touch(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_text("select 1;\n")


def test_discover_orders_by_version(tmp_path: Path) -> None:
    """Migrations come back in version order with their name, path and rollback path."""
    _touch(tmp_path, "20260102000000_second.sql", "20260101000000_first.sql")
    (tmp_path / "README.md").write_text("not a migration")
    found = discover(tmp_path, tmp_path / "rollbacks")
    assert [(m.version, m.name) for m in found] == [
        ("20260101000000", "first"),
        ("20260102000000", "second"),
    ]
    assert found[0].path == tmp_path / "20260101000000_first.sql"
    assert found[0].rollback_path == tmp_path / "rollbacks" / "20260101000000_first.sql"


@pytest.mark.parametrize(
    "bad", ["2026_short.sql", "20260101000000-dash.sql", "20260101000000_Up.sql"]
)
def test_discover_rejects_misnamed_files(tmp_path: Path, bad: str) -> None:
    """A .sql file not named <YYYYMMDDHHMMSS>_<name>.sql is an error naming the file."""
    _touch(tmp_path, "20260101000000_fine.sql", bad)
    with pytest.raises(MigrationError) as caught:
        discover(tmp_path, tmp_path)
    assert str(caught.value) == f"{bad}: migration files must be named <YYYYMMDDHHMMSS>_<name>.sql"


def test_repository_migrations_each_have_a_rollback() -> None:
    """The twelve shipped migrations are found in order and every one has a rollback file."""
    found = discover()
    assert [m.version for m in found] == [
        "20260327054000",
        "20260327055000",
        "20260327055100",
        "20260327055200",
        "20260327055300",
        "20260327055400",
        "20260327060000",
        "20260327061000",
        "20260327062000",
        "20260327062100",
        "20260327062200",
        "20260327062300",
    ]
    assert [m.rollback_path for m in found] == [ROLLBACKS_DIR / m.path.name for m in found]
    assert all(m.rollback_path.is_file() for m in found)
    assert all(m.path.parent == MIGRATIONS_DIR for m in found)


def test_plan_skips_applied_versions(tmp_path: Path) -> None:
    """plan() returns the unapplied migrations as pending, in version order."""
    _touch(tmp_path, "20260101000000_a.sql", "20260102000000_b.sql", "20260103000000_c.sql")
    result = plan(discover(tmp_path, tmp_path), ["20260102000000"])
    assert [m.version for m in result.pending] == ["20260101000000", "20260103000000"]
    assert [m.version for m in result.applied] == ["20260102000000"]
    assert (result.project, result.renumber, result.notes()) == ([], {}, [])


def test_plan_keeps_the_projects_own_versions_apart(tmp_path: Path) -> None:
    """Versions with no file (before, between, after the toolkit's) are the project's own."""
    _touch(tmp_path, "20260101000000_a.sql", "20260103000000_b.sql")
    recorded = ["20270101000000", "20260101000000", "20260102000000", "20250101000000"]
    result = plan(discover(tmp_path, tmp_path), recorded)
    assert result.project == ["20250101000000", "20260102000000", "20270101000000"]
    assert [m.version for m in result.applied] == ["20260101000000"]
    assert [m.version for m in result.pending] == ["20260103000000"]
    assert result.notes() == [
        "note: 20260103000000 is older than the project's newest migration 20270101000000; "
        "applying it anyway (`supabase db push` would need --include-all)"
    ]
    assert result.lines() == [
        "project  20250101000000  (the project's own; left as it is)",
        "applied  20260101000000_a",
        "project  20260102000000  (the project's own; left as it is)",
        "pending  20260103000000_b",
        "project  20270101000000  (the project's own; left as it is)",
        *result.notes(),
        "1 pending, 1 applied, 3 of the project's own",
    ]


def test_plan_no_note_when_the_project_is_older(tmp_path: Path) -> None:
    """A pending file newer than every project version is applied without a note."""
    _touch(tmp_path, "20260101000000_a.sql")
    result = plan(discover(tmp_path, tmp_path), ["20250101000000"])
    assert ([m.version for m in result.pending], result.notes()) == (["20260101000000"], [])


@pytest.mark.parametrize(("old", "new"), sorted(LEGACY_VERSIONS.items()))
def test_plan_recognises_legacy_versions(old: str, new: str) -> None:
    """A history holding an old invalid number counts it as the renamed file, to renumber."""
    migrations = discover()
    recorded = [m.version for m in migrations if m.version != new] + [old]
    result = plan(migrations, recorded)
    assert (result.pending, result.project, result.renumber) == ([], [], {old: new})
    assert result.applied == migrations
    assert f"would renumber {old} -> {new} in the history" in result.lines()


def test_legacy_versions_were_invalid_times_and_keep_their_order() -> None:
    """The old numbers were not valid UTC times; the new ones are, in the same order."""
    for old, new in LEGACY_VERSIONS.items():
        with pytest.raises(ValueError):
            datetime.strptime(old, "%Y%m%d%H%M%S")
        datetime.strptime(new, "%Y%m%d%H%M%S")
    assert sorted(LEGACY_VERSIONS.values()) == [
        LEGACY_VERSIONS[old] for old in sorted(LEGACY_VERSIONS)
    ]
    for migration in discover():
        datetime.strptime(migration.version, "%Y%m%d%H%M%S")
