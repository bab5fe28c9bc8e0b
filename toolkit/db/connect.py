"""Connecting to a project's Postgres (SUPABASE_DB_URL), with one-line errors."""

from __future__ import annotations

from urllib.parse import urlparse

import psycopg

from toolkit.errors import ToolkitError, Unreachable

__all__ = ["connect"]


def connect(db_url: str, error: type[ToolkitError] = Unreachable) -> psycopg.Connection:
    """An autocommit connection, or `error` naming host, port and cause (never the password)."""
    try:
        return psycopg.connect(db_url, connect_timeout=10, autocommit=True)
    except psycopg.OperationalError as exc:
        parsed = urlparse(db_url)
        first = (str(exc).strip().splitlines() or ["no answer"])[0]
        cause = " ".join(first.rpartition("failed: ")[2].split())
        raise error(
            f"cannot connect to the database at {parsed.hostname}:{parsed.port or 5432} "
            f"({cause}); check SUPABASE_DB_URL and that the database is running"
        ) from exc
