"""The pgTAP suite in sql/tests, run by pg_prove as `supabase test db` would run it."""

from __future__ import annotations

import subprocess

import pytest

from toolkit.config import Target
from toolkit.paths import REPO_ROOT

SQL_TESTS = REPO_ROOT / "sql" / "tests"


def test_pgtap_suite_passes(target: Target) -> None:
    """pg_prove runs every sql/tests file against the target database and all of them pass."""
    if target.db_url is None:
        pytest.skip("SUPABASE_DB_URL is not set: pgTAP needs a database URL")
    files = sorted(SQL_TESTS.glob("*.sql"))
    result = subprocess.run(
        ["pg_prove", "--ext", ".sql", "-d", target.db_url, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Files={len(files)}," in output, output
    assert "Result: PASS" in output, output
