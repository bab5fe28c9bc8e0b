"""Connecting to a project's Postgres (SUPABASE_DB_URL), with one-line errors."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from toolkit.config import redact_url
from toolkit.errors import ConfigError, ToolkitError, Unreachable

__all__ = ["connect", "hide_password"]


def connect(db_url: str, error: type[ToolkitError] = Unreachable) -> psycopg.Connection:
    """An autocommit connection, or `error` naming host, port and cause (never the password)."""
    try:
        return psycopg.connect(db_url, connect_timeout=10, autocommit=True)
    except (psycopg.ProgrammingError, ValueError) as exc:
        raise ConfigError(
            f"the database URL {hide_password(db_url)} is not valid ({_first_line(exc)}); "
            "use postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from exc
    except psycopg.OperationalError as exc:
        cause = " ".join(_first_line(exc).rpartition("failed: ")[2].split())
        raise error(
            f"cannot connect to the database at {_host_port(db_url)} ({cause}); "
            "check SUPABASE_DB_URL and that the database is running"
        ) from exc


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or ["no answer"])[0].strip()


def _host_port(db_url: str) -> str:
    parsed = urlsplit(db_url)
    try:
        port = parsed.port or 5432
    except ValueError:
        return hide_password(db_url)
    return f"{parsed.hostname}:{port}"


def hide_password(db_url: str) -> str:
    """The URL (or `key=value` conninfo) with its password shown as `***`, to name a target."""
    parts = urlsplit(db_url)
    if parts.scheme not in ("postgres", "postgresql"):
        try:
            params = conninfo_to_dict(db_url)
        except psycopg.ProgrammingError:
            return "(unparsable database URL)"
        return make_conninfo("", **{k: "***" if k == "password" else v for k, v in params.items()})
    return redact_url(db_url)
