"""The pgTAP suite in sql/tests, run by pg_prove as `supabase test db` would run it."""

from __future__ import annotations

import os
import subprocess

import pytest
from psycopg.conninfo import conninfo_to_dict

from toolkit.config import Target
from toolkit.paths import REPO_ROOT

SQL_TESTS = REPO_ROOT / "sql" / "tests"
_ENV_NAMES = {"dbname": "PGDATABASE", "application_name": "PGAPPNAME"}


def libpq_env(db_url: str) -> dict[str, str]:
    """The URL as libpq's PG* variables: pg_prove splits `-d` on "=", so a URL with a query
    (`?sslmode=disable`) cannot go there."""
    params = conninfo_to_dict(db_url)
    return {_ENV_NAMES.get(k, f"PG{k.upper()}"): str(v) for k, v in params.items() if v}


def test_pgtap_suite_passes(target: Target) -> None:
    """pg_prove runs every sql/tests file against the target database and all of them pass."""
    if target.db_url is None:
        pytest.skip("SUPABASE_DB_URL is not set: pgTAP needs a database URL")
    files = sorted(SQL_TESTS.glob("*.sql"))
    result = subprocess.run(
        ["pg_prove", "--ext", ".sql", *map(str, files)],
        env={**os.environ, **libpq_env(target.db_url)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Files={len(files)}," in output, output
    assert "Result: PASS" in output, output
