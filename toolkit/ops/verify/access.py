"""Verify's checks of who, besides the functions, reaches chat rows (CONTRACT §10).

    access.*   every role PostgREST can switch to except service_role: anon, authenticated
               and any other role granted to `authenticator` (pg_auth_members).
               .roles          which roles those are (needs SUPABASE_DB_URL; else anon and
                               authenticated)
               <role>.grants   no privilege on access_token_hash, none on chat_access_events,
                               no write on chat_team_members, no RLS bypass
               <role>.policies no always-true policy on a chat table (Security Advisor's
                               rls_policy_always_true: USING or WITH CHECK literally true)
               <role>.reads    over REST, as a user on no team (anon: the visitor's key,
                               publishable else anon; other roles: a JWT minted with
                               SUPABASE_JWT_SECRET, random `sub`, beside that key):
                               no chat row, and never access_token_hash

A FAIL names the role, the table, the policy or privilege, and the fix.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import jwt
import psycopg

from toolkit.ops.verify.api import ApiProbe, describe, error_code, key_label
from toolkit.ops.verify.keys import KeyRoles
from toolkit.ops.verify.report import MIGRATE
from toolkit.protocol import (
    AUTHORIZATION,
    CHAT_TABLES,
    PERMISSION_DENIED,
    PREFER,
    api_key_headers,
)

__all__ = ["access_catalog_checks", "access_rest_checks", "reachable"]

# The column each read probe selects: one every role that may read the table can read.
_PROBE_COLUMN = {
    "chat_conversations": "id",
    "chat_messages": "id",
    "team_typing_indicators": "conversation_id",
    "chat_access_events": "id",
}
_DEFAULT_ROLES = ("anon", "authenticated")
_TEAM_FIX = "20260327061000 limits authenticated to team members and keeps it off the hash"


_REACHABLE = """
select r.rolname from pg_auth_members m
join pg_roles r on r.oid = m.roleid
join pg_roles a on a.oid = m.member
where a.rolname = 'authenticator' and r.rolname <> 'service_role'
order by 1"""


def reachable(run: ApiProbe, conn: psycopg.Connection | None) -> list[str]:
    """access.roles: the roles PostgREST can switch to that are not service_role."""
    if conn is None:
        run.add(
            "access.roles",
            "SKIP",
            "SUPABASE_DB_URL is not set: checking anon and authenticated only (the database "
            "lists any other role granted to authenticator)",
        )
        return list(_DEFAULT_ROLES)
    granted = [r for (r,) in conn.execute(_REACHABLE)]
    roles = sorted(set(granted) | {r for r in _DEFAULT_ROLES if _role_exists(conn, r)})
    run.add(
        "access.roles",
        "PASS",
        f"PostgREST can switch to {', '.join(roles)} besides service_role (members of "
        "authenticator); each is checked below",
    )
    return roles


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    row = conn.execute("select exists (select from pg_roles where rolname = %s)", (role,))
    return bool((row.fetchone() or (False,))[0])


_HASH_PRIVILEGES = """
select string_agg(p, ', ' order by p) from unnest(array['SELECT', 'INSERT', 'UPDATE']) p
where to_regclass('public.chat_conversations') is not null
  and exists (select from pg_attribute where attrelid = 'public.chat_conversations'::regclass
              and attname = 'access_token_hash' and not attisdropped)
  and has_column_privilege(%(role)s, 'public.chat_conversations', 'access_token_hash', p)"""
_EVENTS_PRIVILEGES = """
select to_regclass('public.chat_access_events') is not null
   and has_any_column_privilege(%(role)s, 'public.chat_access_events', 'SELECT, INSERT, UPDATE')"""
_TEAM_WRITES = """
select to_regclass('public.chat_team_members') is not null
   and has_table_privilege(%(role)s, 'public.chat_team_members', 'INSERT, UPDATE, DELETE')"""
_BYPASS = """
select rolbypassrls or rolsuper from pg_roles where rolname = %(role)s"""
_ALWAYS_TRUE = """
select tablename, policyname, case when qual = 'true' then 'using (true)'
                                   else 'with check (true)' end
from pg_policies
where schemaname = 'public' and tablename = any(%(tables)s)
  and roles && array[%(role)s, 'public']::name[]
  and (qual = 'true' or with_check = 'true')
order by tablename, policyname"""
_POLICY_TABLES = [*CHAT_TABLES, "chat_team_members"]


def access_catalog_checks(run: ApiProbe, conn: psycopg.Connection, roles: Sequence[str]) -> None:
    """access.<role>.grants and access.<role>.policies for each role."""
    for role in roles:
        params = {"role": role, "tables": _POLICY_TABLES}
        problems = []
        hash_privileges = _scalar(conn, _HASH_PRIVILEGES, params)
        if hash_privileges:
            problems.append(f"{hash_privileges} on chat_conversations.access_token_hash")
        if _scalar(conn, _EVENTS_PRIVILEGES, params):
            problems.append("privileges on chat_access_events (service role only)")
        if _scalar(conn, _TEAM_WRITES, params):
            problems.append("write access to chat_team_members (it could enrol itself)")
        if _scalar(conn, _BYPASS, params):
            problems.append("BYPASSRLS (every policy is skipped for it)")
        run.judge(
            f"access.{role}.grants",
            not problems,
            f"{role} holds no privilege on access_token_hash or chat_access_events, cannot "
            "write chat_team_members and does not bypass RLS",
            f"{role} holds {'; '.join(problems)}; {_grant_fix(role)}",
        )
        always_true = conn.execute(_ALWAYS_TRUE, params).fetchall()
        named = ", ".join(f"{p} on {t} ({how})" for t, p, how in always_true)
        drops = "; ".join(f"drop policy {p} on public.{t}" for t, p, _ in always_true)
        run.judge(
            f"access.{role}.policies",
            not always_true,
            f"no always-true policy for {role} on a chat table",
            f"always-true policies for {role} (Security Advisor rls_policy_always_true), so "
            f"every {role} caller passes them: {named}; {_policy_fix(role, drops)}",
        )


def _grant_fix(role: str) -> str:
    if role in _DEFAULT_ROLES:
        return (
            f"{MIGRATE} ({_TEAM_FIX}); if it is applied already, revoke them as it does "
            f"(`revoke all on public.chat_conversations from {role}`, then grant the other "
            "columns)"
        )
    return (
        f"revoke them (e.g. `revoke all on public.chat_conversations, public.chat_access_events, "
        f"public.chat_team_members from {role}`) and alter role {role} nobypassrls"
    )


def _policy_fix(role: str, drops: str) -> str:
    if role == "authenticated":
        return (
            f"drop them (`{drops}`); where 20260327061000 is not applied yet, {MIGRATE} "
            "instead: it replaces them with team-membership policies"
        )
    return f"drop them (`{drops}`) or make them check a team membership"


def access_rest_checks(
    run: ApiProbe, roles: Sequence[str], keys: KeyRoles, conn: psycopg.Connection | None
) -> None:
    """access.<role>.reads: what a caller of each role who is on no team gets over REST."""
    for role in roles:
        check_id = f"access.{role}.reads"
        if role == "anon":
            if not keys.anon_ok:
                run.add(check_id, "SKIP", "SUPABASE_ANON_KEY is not an anon key (keys.anon_key)")
                continue
            token, who = run.target.visitor_key, f"the {key_label(run.target.visitor_key)}"
        elif run.target.jwt_secret is None:
            run.add(
                check_id,
                "SKIP",
                f"SUPABASE_JWT_SECRET is not set, so no {role} JWT can be minted; "
                f"access.{role}.grants and .policies stand in",
            )
            continue
        else:
            token = _mint(run.target.jwt_secret, role)
            who = f"a JWT with role {role} for a user on no team"
        headers = api_key_headers(run.target.visitor_key)
        if token != run.target.visitor_key:
            headers[AUTHORIZATION] = f"Bearer {token}"
        _reads(run, check_id, role, who, headers, conn)


def _mint(secret: str, role: str) -> str:
    """A signed-in user's access token as Supabase Auth shapes it, for a random user."""
    now = int(time.time())
    claims = {"aud": "authenticated", "role": role, "sub": str(uuid.uuid4())}
    return jwt.encode({**claims, "iat": now, "exp": now + 300}, secret, algorithm="HS256")


def _reads(
    run: ApiProbe,
    check_id: str,
    role: str,
    who: str,
    headers: dict[str, str],
    conn: psycopg.Connection | None,
) -> None:
    seen, leaks = [], []
    for table, column in _PROBE_COLUMN.items():
        response = _get(run, table, {"select": column, "limit": "1"}, headers)
        if response.status_code == 404:
            continue  # a table this project does not have (yet)
        rows = _row_count(response)
        if rows:
            leaks.append(f"{rows} {'row' if rows == 1 else 'rows'} of {table}")
        elif response.is_success or error_code(response) == PERMISSION_DENIED:
            seen.append(f"{table} {_short(response)}")
        else:
            run.fail(check_id, response, f"{who}: {table} got {describe(response)}, unexpected")
            return
    hashes = _get(run, "chat_conversations", {"select": "access_token_hash", "limit": "1"}, headers)
    if hashes.is_success:
        leaks.append(f"access_token_hash ({_short(hashes)}: the column is granted)")
    if leaks:
        tables = [t for t in _PROBE_COLUMN if any(t in leak for leak in leaks)]
        policies = _policies_for(conn, role, tables)
        through = f" through {policies}" if policies else ""
        run.add(
            check_id,
            "FAIL",
            f"{who} reads {', '.join(leaks)}{through}; the fix is under access.{role}.grants "
            f"and access.{role}.policies",
        )
    else:
        run.add(
            check_id,
            "PASS",
            f"{who}: {', '.join(seen)}; access_token_hash {_short(hashes)}",
        )


def _get(
    run: ApiProbe, table: str, params: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    return run.http.get(
        f"{run.target.url}/rest/v1/{table}",
        params=params,
        headers={**headers, PREFER: "count=exact"},
    )


def _row_count(response: httpx.Response) -> int:
    """Rows the answer admits to: the exact count, or the rows in the body."""
    if not response.is_success:
        return 0
    total = response.headers.get("content-range", "").rpartition("/")[2]
    if total.isdigit():
        return int(total)
    body: Any = response.json() if response.content else []
    return len(body) if isinstance(body, list) else 0


def _short(response: httpx.Response) -> str:
    if response.is_success:
        return f"{response.status_code} {response.headers.get('content-range', '')}".strip()
    return describe(response)


def _policies_for(conn: psycopg.Connection | None, role: str, tables: list[str]) -> str:
    if conn is None:
        return ""
    rows = conn.execute(
        """select format('%%s on %%s', policyname, tablename) from pg_policies
           where schemaname = 'public' and tablename = any(%(tables)s)
             and roles && array[%(role)s, 'public']::name[] and cmd in ('SELECT', 'ALL')
           order by tablename, policyname""",
        {"role": role, "tables": tables},
    ).fetchall()
    return ", ".join(r[0] for r in rows)


def _scalar(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]
