"""Migration discovery and planning, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.db.migrations import discover, pending
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
    """The shipped migrations are found in order and every one has a rollback file."""
    found = discover()
    assert [m.version for m in found] == [
        "20260327054000",
        "20260327055000",
        "20260327055100",
        "20260327055200",
        "20260327055300",
        "20260327055400",
        "20260327060000",
        "20260327062000",
        "20260327062100",
        "20260327062200",
        "20260327062300",
    ]
    assert [m.rollback_path for m in found] == [ROLLBACKS_DIR / m.path.name for m in found]
    assert all(m.rollback_path.is_file() for m in found)
    assert all(m.path.parent == MIGRATIONS_DIR for m in found)


def test_pending_skips_applied_versions(tmp_path: Path) -> None:
    """pending() returns the unapplied migrations, in version order."""
    _touch(tmp_path, "20260101000000_a.sql", "20260102000000_b.sql", "20260103000000_c.sql")
    todo = pending(discover(tmp_path, tmp_path), ["20260102000000"])
    assert [m.version for m in todo] == ["20260101000000", "20260103000000"]


def test_pending_refuses_unknown_versions(tmp_path: Path) -> None:
    """A history holding versions with no file is refused, naming those versions in order."""
    _touch(tmp_path, "20260101000000_a.sql")
    with pytest.raises(MigrationError) as caught:
        pending(
            discover(tmp_path, tmp_path), ["20990102000000", "20260101000000", "20990101000000"]
        )
    assert str(caught.value).startswith(
        "the database records migration(s) 20990101000000, 20990102000000 that are not in "
        "sql/migrations;"
    )
