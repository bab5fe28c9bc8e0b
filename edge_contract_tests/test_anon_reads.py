"""After the cutover, the visitor's key (publishable, or the legacy anon key) reaches no chat
data through PostgREST, and a request without a key is refused by the gateway before it.

Runs against a `--keys new` and a `--keys legacy` stack (KEY_MODES, conftest.py)."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import Client

from edge_contract_tests.helpers import auth_headers, one_row
from toolkit.config import Target

KEY_MODES = ("new", "legacy")
TABLES = ("chat_conversations", "chat_messages")
PERMISSION_DENIED = "42501"


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("apikey_only", [False, True], ids=["supabase-js", "apikey-only"])
def test_anon_read_is_401_permission_denied(
    http: httpx.Client, target: Target, table: str, apikey_only: bool
) -> None:
    """An anon GET with the visitor's key, sent as supabase-js does (apikey and bearer) or in
    `apikey` only, is PostgREST's 401 with code 42501."""
    headers = auth_headers(target.visitor_key)
    if apikey_only:
        del headers["Authorization"]
    response = http.get(f"{target.url}/rest/v1/{table}", params={"select": "*"}, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == PERMISSION_DENIED
    assert body["message"] == f"permission denied for table {table}"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("table", TABLES)
def test_a_read_without_a_key_is_refused_by_the_gateway(
    http: httpx.Client, target: Target, table: str
) -> None:
    """No apikey at all: the gateway's 401 "No API key found in request", as Supabase's."""
    response = http.get(f"{target.url}/rest/v1/{table}", params={"select": "*"})
    assert response.status_code == 401
    assert response.json()["message"] == "No API key found in request"


@pytest.mark.parametrize("table", TABLES)
def test_anon_head_count_leaks_no_count(http: httpx.Client, target: Target, table: str) -> None:
    """HEAD with Prefer: count=exact is refused too, so not even the row count leaks."""
    response = http.head(
        f"{target.url}/rest/v1/{table}",
        headers={**auth_headers(target.visitor_key), "Prefer": "count=exact"},
    )
    assert response.status_code == 401
    content_range = response.headers.get("content-range", "")
    assert not content_range.split("/")[-1].isdigit()


def test_anon_insert_is_rejected(http: httpx.Client, target: Target) -> None:
    """An anon insert of a conversation fails with 42501 and stores nothing."""
    response = http.post(
        f"{target.url}/rest/v1/chat_conversations",
        json={"visitor_id": "contract-test-anon-insert"},
        headers={**auth_headers(target.visitor_key), "Prefer": "return=representation"},
    )
    assert response.status_code == 401
    assert response.json()["code"] == PERMISSION_DENIED


@pytest.mark.parametrize("table", TABLES)
def test_service_role_reads_rows(http: httpx.Client, target: Target, table: str) -> None:
    """The server's key (secret, else service_role: what the functions use) still reads the
    tables: 200 with rows."""
    response = http.get(
        f"{target.url}/rest/v1/{table}",
        params={"select": "id", "limit": "5"},
        headers=auth_headers(target.server_key),
    )
    assert response.status_code == 200
    assert len(response.json()) > 0


@pytest.mark.parametrize("table", TABLES)
def test_supabase_py_anon_select_fails_with_42501(anon_client: Client, table: str) -> None:
    """supabase-py, as users call it with the visitor's key, raises APIError 42501."""
    with pytest.raises(APIError) as caught:
        anon_client.table(table).select("*").execute()
    assert caught.value.code == PERMISSION_DENIED


def test_supabase_py_service_select_returns_rows(service_client: Client) -> None:
    """supabase-py with the server's key reads conversations."""
    assert len(service_client.table("chat_conversations").select("id").limit(5).execute().data) > 0


@pytest.mark.parametrize("table", TABLES)
def test_catalog_anon_has_no_select(db: psycopg.Connection, table: str) -> None:
    """has_table_privilege('anon', t, 'SELECT') is false for both chat tables."""
    (allowed,) = one_row(
        db, "select has_table_privilege('anon', %s, 'SELECT')", (f"public.{table}",)
    )
    assert allowed is False


def test_catalog_visitor_read_policies_gone(db: psycopg.Connection) -> None:
    """No SELECT policy for anon remains on the chat tables."""
    rows = db.execute(
        "select tablename, policyname from pg_policies where schemaname = 'public' "
        "and tablename = any(%s) and 'anon' = any(roles) and cmd in ('SELECT', 'ALL')",
        (list(TABLES),),
    ).fetchall()
    assert rows == []


def test_catalog_token_column_and_unique_partial_index(db: psycopg.Connection) -> None:
    """access_token_hash exists, with a unique index restricted to non-null hashes."""
    (column_type,) = one_row(
        db,
        "select data_type from information_schema.columns where table_schema = 'public' "
        "and table_name = 'chat_conversations' and column_name = 'access_token_hash'",
    )
    assert column_type == "text"
    (definition,) = one_row(
        db,
        "select indexdef from pg_indexes where schemaname = 'public' "
        "and indexname = 'idx_chat_conversations_access_token_hash_unique'",
    )
    assert definition.startswith("CREATE UNIQUE INDEX")
    assert "WHERE (access_token_hash IS NOT NULL)" in definition


def test_migration_versions_recorded(db: psycopg.Connection) -> None:
    """The seed's two migrations are recorded in the Supabase CLI's history table."""
    versions = {
        v for (v,) in db.execute("select version from supabase_migrations.schema_migrations")
    }
    assert {"20260327054000", "20260327055000"} <= versions
