"""Naming a database target without its password (the first line of `migrate`)."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from toolkit.db.connect import hide_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
            "postgresql://postgres:***@127.0.0.1:54322/postgres",
        ),
        (
            "postgresql://postgres:postgres@127.0.0.1:54322/postgres?sslmode=disable",
            "postgresql://postgres:***@127.0.0.1:54322/postgres?sslmode=disable",
        ),
        (
            "postgres://postgres.ref:s3cr%40t@aws-0-eu.pooler.supabase.com:6543/postgres",
            "postgres://postgres.ref:***@aws-0-eu.pooler.supabase.com:6543/postgres",
        ),
        ("postgresql://u:p:q@h/d", "postgresql://u:***@h/d"),
        (
            "postgresql://h/d?password=s3&sslmode=require",
            "postgresql://h/d?password=***&sslmode=require",
        ),
        ("postgresql://postgres@h/d", "postgresql://postgres@h/d"),
    ],
)
def test_hide_password(url: str, shown: str) -> None:
    """The password is replaced by *** wherever it is given; everything else is kept."""
    assert hide_password(url) == shown


def test_hide_password_in_key_value_conninfo() -> None:
    """A libpq `key=value` string keeps every setting but the password."""
    shown = hide_password("host=h user=u password='se cret' dbname=d")
    assert "se cret" not in shown
    assert conninfo_to_dict(shown) == {"host": "h", "user": "u", "password": "***", "dbname": "d"}
