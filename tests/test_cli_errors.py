"""The CLI when it cannot run, no server needed: one line naming cause and fix, no traceback,
and the exit code of the error's class (2 configuration, 3 unreachable, 4 other)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.config import Target
from toolkit.errors import Unreachable
from toolkit.ops.verify import verify
from toolkit.paths import REPO_ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a clean environment, so only the flags and env file decide the target."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "CHAT_"))}
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=clean,
        timeout=60,
        check=False,
    )


def test_unreachable_api_is_one_toolkit_error() -> None:
    """A closed port is one Unreachable error naming the URL and the fix, not a list of FAILs."""
    nowhere = Target("http://127.0.0.1:1", "a", "s", "http://127.0.0.1:1/functions/v1", None, None)
    with pytest.raises(Unreachable) as caught:
        verify(nowhere)
    assert str(caught.value) == (
        "cannot reach the Supabase API at http://127.0.0.1:1 (connection refused or host "
        "unknown); start the stack (`chat-toolkit stack up` or `supabase start`) or fix "
        "SUPABASE_URL"
    )


def test_verify_without_env_is_one_line_without_traceback(tmp_path: Path) -> None:
    """With an empty env file verify exits 2 with a single line naming SUPABASE_URL."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = run_cli("verify", "--env-file", str(empty))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "chat-toolkit: SUPABASE_URL is not set (e.g. http://127.0.0.1:54321; "
        "`chat-toolkit stack env` prints one)"
    ]


def test_rollout_without_db_url_is_one_line(tmp_path: Path) -> None:
    """Without SUPABASE_DB_URL `rollout status` exits 2 (configuration) with one line naming it."""
    env_file = tmp_path / "env"
    env_file.write_text('SUPABASE_URL="http://127.0.0.1:1"\n')
    result = run_cli("rollout", "status", "--env-file", str(env_file))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "chat-toolkit: SUPABASE_DB_URL is not set; `rollout status` reads the database "
        "(supabase start: postgresql://postgres:postgres@127.0.0.1:54322/postgres)"
    ]


@pytest.mark.parametrize(
    ("db_url", "code"),
    [
        ("not a url", 2),
        ("postgresql://u@h/db?x=1", 2),
        ("postgresql://u@127.0.0.1:notaport/db", 3),  # libpq's own "connection is bad"
    ],
)
def test_migrate_with_an_invalid_database_url_is_one_line(db_url: str, code: int) -> None:
    """A database URL libpq refuses is one line with the error's exit code (2: not a URL
    at all), never an unexpected exception (70)."""
    result = run_cli("migrate", "--dry-run", "--db-url", db_url)
    assert result.returncode == code, result.stderr
    assert result.stderr.count("\n") == 1 and "unexpected" not in result.stderr


def test_migrate_unreachable_database_is_one_line_error() -> None:
    """With an unreachable database `migrate` exits 3 (Unreachable, as verify and rollout)
    with one `chat-toolkit: ` line, no traceback."""
    result = run_cli("migrate", "--db-url", "postgresql://postgres@127.0.0.1:1/postgres")
    assert result.returncode == 3
    assert result.stderr.startswith("chat-toolkit: cannot connect to the database")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
