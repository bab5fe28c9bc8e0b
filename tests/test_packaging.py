"""An installed toolkit carries its SQL: the wheel holds every migration, rollback and stack
schema file, and a toolkit that lacks them says so in one line instead of applying nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from toolkit.db.migrations import discover
from toolkit.errors import ToolkitError
from toolkit.paths import REPO_ROOT, SQL_DIR


def test_the_wheel_carries_the_sql(tmp_path: Path) -> None:
    """`pip wheel .` of the checkout holds sql/{migrations,rollbacks,baseline,local} as
    toolkit/sql package data, file for file."""
    source = tmp_path / "source"  # a copy, so the build leaves the checkout untouched
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source)
    for folder in ("toolkit", "sql"):
        shutil.copytree(
            REPO_ROOT / folder,
            source / folder,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=source,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("chat_toolkit-*.whl")
    carried = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".sql")}
    for folder in ("migrations", "rollbacks", "baseline", "local"):
        expected = {f"toolkit/sql/{folder}/{p.name}" for p in (SQL_DIR / folder).glob("*.sql")}
        assert expected, folder
        assert expected <= carried, folder


def test_a_missing_migrations_folder_is_one_line(tmp_path: Path) -> None:
    """No migrations folder is an error naming it, never "0 applied"."""
    missing = tmp_path / "sql" / "migrations"
    with pytest.raises(ToolkitError) as caught:
        discover(missing, tmp_path / "sql" / "rollbacks")
    message = str(caught.value)
    assert message.startswith(f"{missing} is missing: this install of chat-toolkit carries no SQL")
    assert "\n" not in message
