"""`chat-toolkit verify`: is this project cut over, and does the visitor chat work?

Runs against whatever the env points at (the embedded stack, `supabase start`, a live
project) and reports one line per check, `STATUS  <check id>  <reason>`:

    PASS   as the contract wants
    FAIL   the cutover is missing, broken or leaking; `verify` exits 1
    WARN   hardening left to do (Supabase's Security Advisor would flag it); exit 0
    SKIP   cannot be checked with this env (the reason says what is missing)

Checks, in order:

    catalog.*     needs SUPABASE_DB_URL: the token column and its unique partial index,
                  the anon visitor-read policies gone, anon SELECT revoked, and every
                  migration in sql/migrations recorded in supabase_migrations.schema_migrations
    rest.*        anon reads of both chat tables are 401/42501; service-role reads work
    functions.*   both endpoints answer, a made-up conversation is 403 forbidden, a
                  missing token is 401 token_required, the CORS preflight is Supabase's,
                  and verify_jwt is on
    hardening.*, lint.*
                  (WARN at worst) anon write grants, chat tables in supabase_realtime,
                  and splinter's lints on the chat tables and on functions in public
    write.*       only with --write: the seed's five validations end to end, on rows whose
                  visitor_id starts with `chat-toolkit-verify-`, always deleted afterwards

A probe the functions answer with 429 (rate limited) is a SKIP, not a FAIL: it shows
neither a fault nor its absence, and the reason says to run verify again later.

splinter's `rls_enabled_no_policy` is not raised for a table that no API role except
service_role can reach (chat_access_events): having no policy is how it stays closed.

No reason ever contains a key, a token, a token hash or the database password. An API or
database that cannot be reached at all is a ToolkitError (one line: cause and fix), not a
list of failures.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import psycopg

from toolkit.config import DeclaredFlags, Target
from toolkit.db.connect import connect
from toolkit.db.migrations import discover
from toolkit.errors import ToolkitError

__all__ = [
    "SEED_VERSIONS",
    "VERIFY_PREFIX",
    "Check",
    "Report",
    "Status",
    "verify",
]

Status = Literal["PASS", "FAIL", "WARN", "SKIP"]
OnCheck = Callable[["Check"], None]

VERIFY_PREFIX = "chat-toolkit-verify-"
SEED_VERSIONS = ("20260327054000", "20260327055000")
FUNCTIONS = ("handle-chat-message", "chat-visitor-sync")
READ_TABLES = ("chat_conversations", "chat_messages")
CHAT_TABLES = (*READ_TABLES, "team_typing_indicators", "chat_access_events")
CORS_HEADERS = frozenset({"authorization", "x-client-info", "apikey", "content-type"})
TEAM_NAME = "chat-toolkit verify"
_MIGRATE = "run `chat-toolkit migrate`"
_TIMEOUT = 15.0


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    id: str
    status: Status
    reason: str

    def line(self) -> str:
        return f"{self.status}  {self.id}  {self.reason}"


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when nothing FAILed (WARN and SKIP do not fail a run)."""
        return all(c.status != "FAIL" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "checks": [{"id": c.id, "status": c.status, "reason": c.reason} for c in self.checks],
            "passed": self.passed,
        }

    def summary(self) -> str:
        count = {
            s: sum(c.status == s for c in self.checks) for s in ("PASS", "FAIL", "WARN", "SKIP")
        }
        return (
            f"verify {'passed' if self.passed else 'FAILED'}: {count['PASS']} pass, "
            f"{count['FAIL']} fail, {count['WARN']} warn, {count['SKIP']} skip"
        )


@dataclass
class _Run:
    """One verify run: where to look, and the checks so far."""

    target: Target
    flags: DeclaredFlags
    http: httpx.Client
    on_check: OnCheck
    checks: list[Check] = field(default_factory=list)

    def add(self, check_id: str, status: Status, reason: str) -> None:
        check = Check(check_id, status, reason)
        self.checks.append(check)
        self.on_check(check)

    def judge(
        self, check_id: str, ok: bool, good: str, bad: str, *, worst: Status = "FAIL"
    ) -> None:
        """PASS with `good`, else `worst` (FAIL, or WARN for hardening) with `bad`."""
        self.add(check_id, "PASS" if ok else worst, good if ok else bad)

    def fail(self, check_id: str, response: httpx.Response, reason: str) -> None:
        """FAIL, unless the function rate-limited the probe: that proves nothing either way."""
        if response.status_code == 429:
            wait = response.headers.get("retry-after", "?")
            self.add(
                check_id, "SKIP", f"rate limited (429, Retry-After {wait}s); run verify again then"
            )
        else:
            self.add(check_id, "FAIL", reason)

    def call(self, name: str, body: dict[str, Any], *, keyless: bool = False) -> httpx.Response:
        """POST to a function with the anon key, as supabase-js's functions.invoke does."""
        headers = {} if keyless else _keyed(self.target.anon_key)
        return self.http.post(f"{self.target.functions_url}/{name}", json=body, headers=headers)

    def anon_get(self, table: str, params: dict[str, str], **headers: str) -> httpx.Response:
        return self.http.get(
            f"{self.target.url}/rest/v1/{table}",
            params=params,
            headers={**_keyed(self.target.anon_key), **headers},
        )

    def rest(self, method: str, path: str, prefer: str = "", **kwargs: Any) -> httpx.Response:
        """A service-role request to the REST API."""
        headers = _keyed(self.target.service_role_key) | ({"Prefer": prefer} if prefer else {})
        url = f"{self.target.url}/rest/v1/{path}"
        return self.http.request(method, url, headers=headers, **kwargs)


def verify(
    target: Target,
    flags: DeclaredFlags = DeclaredFlags(),
    *,
    write: bool = False,
    on_check: OnCheck = lambda _check: None,
    http: httpx.Client | None = None,
) -> Report:
    """Run every check against `target` and return the report.

    `on_check` sees each check as it completes, so a CLI can print them as they come.
    """
    with contextlib.ExitStack() as resources:
        client = http or resources.enter_context(httpx.Client(timeout=_TIMEOUT))
        run = _Run(target, flags, client, on_check)
        try:
            client.get(f"{target.url}/rest/v1/", headers=_keyed(target.anon_key))
        except httpx.TransportError as exc:
            raise ToolkitError(
                f"cannot reach the Supabase API at {target.url} ({_transport_reason(exc)}); "
                "start the stack (`chat-toolkit stack up` or `supabase start`) or fix "
                "SUPABASE_URL"
            ) from exc
        conn = None if target.db_url is None else resources.enter_context(connect(target.db_url))
        no_db = (
            "SUPABASE_DB_URL is not set; set it to check the schema, grants and migration history"
        )
        try:
            if conn is None:
                run.add("catalog", "SKIP", no_db)
            else:
                _catalog_checks(run, conn)
            _rest_checks(run)
            _function_checks(run)
            if conn is None:
                run.add("hardening", "SKIP", no_db)
            else:
                _hardening_checks(run, conn)
            if write:
                _write_checks(run)
        except httpx.TransportError as exc:
            raise ToolkitError(
                f"lost the connection during verify after {len(run.checks)} checks "
                f"({_transport_reason(exc)}); check that the stack is up and run it again"
            ) from exc
        return Report(tuple(run.checks))


# -- catalog ----------------------------------------------------------------------------

_COLUMN = """exists (select from pg_attribute where attrelid = to_regclass('{}')
  and attname = '{}' and not attisdropped)"""
# What each migration leaves behind, to tell "never applied" from "applied, not recorded".
_EFFECTS = {
    "20260327054000": _COLUMN.format("public.chat_conversations", "access_token_hash"),
    "20260327055000": """not exists (select from pg_policies where schemaname = 'public'
        and policyname in ('chat_conversations_visitor_read', 'chat_messages_visitor_read'))""",
    "20260327055100": _COLUMN.format("public.chat_messages", "sync_xid"),
    "20260327055200": _COLUMN.format("public.chat_messages", "client_message_id"),
    "20260327055300": "to_regclass('public.chat_access_events') is not null",
    "20260327055400": """to_regprocedure(
        'public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)') is not null""",
    "20260327060000": """not exists (select from unnest(array['public.chat_conversations',
        'public.chat_messages', 'public.team_typing_indicators']) t
        where has_table_privilege('anon', t, 'INSERT, UPDATE, DELETE, TRUNCATE'))""",
}
_TOKEN_INDEX = """
select ic.relname, i.indisunique, pg_get_expr(i.indpred, i.indrelid)
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
where i.indrelid = 'public.chat_conversations'::regclass
  and i.indnkeyatts = 1 and a.attname = 'access_token_hash'
order by i.indisunique desc, (i.indpred is not null) desc
limit 1"""
_ANON_READ_POLICIES = """
select format('%s on %s', policyname, tablename) from pg_policies
where schemaname = 'public' and tablename in ('chat_conversations', 'chat_messages')
  and (policyname in ('chat_conversations_visitor_read', 'chat_messages_visitor_read')
       or (cmd in ('SELECT', 'ALL') and roles && array['anon', 'public']::name[]))
order by 1"""


def _scalar(conn: psycopg.Connection, query: str, params: tuple[Any, ...] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def _column(
    conn: psycopg.Connection, query: str, params: tuple[Any, ...] | None = None
) -> list[Any]:
    return [row[0] for row in conn.execute(query, params)]


def _catalog_checks(run: _Run, conn: psycopg.Connection) -> None:
    if _scalar(conn, "select to_regclass('public.chat_conversations')") is None:
        raise ToolkitError(
            "public.chat_conversations does not exist in the database SUPABASE_DB_URL names; "
            "point it at the chat project's database"
        )
    run.judge(
        "catalog.token_column",
        bool(_scalar(conn, f"select {_EFFECTS['20260327054000']}")),
        "chat_conversations.access_token_hash exists",
        f"chat_conversations.access_token_hash is missing; {_MIGRATE}",
    )
    index = conn.execute(_TOKEN_INDEX).fetchone()
    if index is None:
        run.add("catalog.token_index", "FAIL", f"no index on access_token_hash; {_MIGRATE}")
    else:
        name, unique, predicate = index
        run.judge(
            "catalog.token_index",
            unique,
            f"unique index {name} ({f'partial where {predicate}' if predicate else 'not partial'})",
            f"index {name} on access_token_hash is not unique, so one hash could open two "
            f"conversations; drop it and {_MIGRATE}",
        )
    policies = _column(conn, _ANON_READ_POLICIES)
    run.judge(
        "catalog.visitor_read_policies",
        not policies,
        "no anon read policy on chat_conversations or chat_messages",
        f"anon read policies remain: {', '.join(policies)}; {_MIGRATE}",
    )
    if not _scalar(conn, "select exists (select from pg_roles where rolname = 'anon')"):
        run.add("catalog.anon_select", "FAIL", "role anon does not exist: not a Supabase database")
    else:
        readable = [
            t
            for t in READ_TABLES
            if _scalar(
                conn, "select has_any_column_privilege('anon', %s, 'SELECT')", (f"public.{t}",)
            )
        ]
        run.judge(
            "catalog.anon_select",
            not readable,
            "anon SELECT revoked on chat_conversations, chat_messages",
            f"anon still holds SELECT on {', '.join(readable)}; {_MIGRATE}",
        )
    _migration_history(run, conn)


def _migration_history(run: _Run, conn: psycopg.Connection) -> None:
    expected = [m.version for m in discover()]
    recorded: set[str] = set()
    if _scalar(conn, "select to_regclass('supabase_migrations.schema_migrations')") is not None:
        recorded = set(_column(conn, "select version from supabase_migrations.schema_migrations"))
    missing = [v for v in expected if v not in recorded]
    half = [v for v in missing if v in _EFFECTS and _scalar(conn, f"select {_EFFECTS[v]}")]
    reason = f"not recorded in supabase_migrations.schema_migrations: {', '.join(missing)}"
    if half:
        reason += f"; half-applied (changes present, version not recorded): {', '.join(half)}"
    run.judge(
        "catalog.migrations",
        not missing,
        f"all {len(expected)} recorded in supabase_migrations.schema_migrations "
        f"(seed: {', '.join(SEED_VERSIONS)}; toolkit: {len(expected) - len(SEED_VERSIONS)} more)",
        f"{reason}; {_MIGRATE} (idempotent: it completes and records them)",
    )


# -- REST -------------------------------------------------------------------------------


def _rest_checks(run: _Run) -> None:
    for table in READ_TABLES:
        response = run.anon_get(table, {"select": "id", "limit": "1"}, Prefer="count=exact")
        if (response.status_code, _code(response)) == (401, "42501"):
            run.add(f"rest.anon_read.{table}", "PASS", "401 42501 permission denied")
        elif response.is_success:
            total = response.headers.get("content-range", "").rpartition("/")[2]
            rows = total if total.isdigit() else "an unknown number of"
            run.add(
                f"rest.anon_read.{table}",
                "FAIL",
                f"anon read is open: {rows} rows visible (anon still holds SELECT); {_MIGRATE}",
            )
        else:
            run.add(
                f"rest.anon_read.{table}", "FAIL", f"expected 401 42501, got {_describe(response)}"
            )
    for table in READ_TABLES:
        response = run.rest("GET", table, params={"select": "id", "limit": "1"})
        run.judge(
            f"rest.service_read.{table}",
            response.status_code == 200 and isinstance(_json(response), list),
            "200 with the service-role key",
            f"service-role read got {_describe(response)}; check SUPABASE_SERVICE_ROLE_KEY",
        )


# -- functions --------------------------------------------------------------------------


def _function_checks(run: _Run) -> None:
    bogus = {"conversationId": str(uuid.uuid4()), "conversationToken": uuid.uuid4().hex * 2}
    bodies = {
        "handle-chat-message": {
            **bogus,
            "visitorId": f"{VERIFY_PREFIX}probe-{uuid.uuid4()}",
            "message": "chat-toolkit verify probe",
        },
        "chat-visitor-sync": bogus,
    }
    for name in FUNCTIONS:
        check, url = f"functions.{name}", f"{run.target.functions_url}/{name}"
        try:
            forbidden = run.call(name, bodies[name])
        except httpx.TransportError as exc:
            run.add(f"{check}.answers", "FAIL", f"no answer at {url} ({_transport_reason(exc)})")
            continue
        if forbidden.status_code in (404, 502, 503, 504):
            run.add(
                f"{check}.answers",
                "FAIL",
                f"{_describe(forbidden)} at {url}: deploy it (`supabase functions deploy "
                f"{name}`) or check SUPABASE_FUNCTIONS_URL",
            )
            continue
        run.add(f"{check}.answers", "PASS", f"answers at {url}")
        _expect(
            run,
            f"{check}.unknown_conversation",
            forbidden,
            "a random conversation id and token",
            403,
            "forbidden",
        )
        if name == "chat-visitor-sync":
            missing = run.call(name, {"conversationId": bogus["conversationId"]})
            _expect(
                run,
                f"{check}.token_required",
                missing,
                "no conversationToken and no visitorId",
                401,
                "token_required",
            )
        _preflight(run, name, url)
        no_jwt = run.call(name, bodies[name], keyless=True)
        if no_jwt.status_code == 401:
            run.add(f"{check}.verify_jwt", "PASS", "401 without an Authorization header")
        else:
            run.fail(
                f"{check}.verify_jwt",
                no_jwt,
                f"without an Authorization header got {_describe(no_jwt)}, expected 401; "
                "deploy with verify_jwt on (no --no-verify-jwt)",
            )


def _expect(
    run: _Run, check_id: str, response: httpx.Response, what: str, status: int, code: str
) -> bool:
    if (response.status_code, _code(response)) == (status, code):
        run.add(check_id, "PASS", f"{what}: {status} {code}")
        return True
    run.fail(check_id, response, f"{what}: expected {status} {code}, got {_describe(response)}")
    return False


def _preflight(run: _Run, name: str, url: str) -> None:
    response = run.http.options(
        url,
        headers={
            "Origin": "https://chat-toolkit-verify.invalid",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ", ".join(sorted(CORS_HEADERS)),
        },
    )
    allowed = response.headers.get("access-control-allow-headers", "").lower().split(",")
    missing = sorted(CORS_HEADERS - {h.strip() for h in allowed})
    check_id = f"functions.{name}.cors_preflight"
    if response.status_code != 200:
        run.add(check_id, "FAIL", f"OPTIONS got {_describe(response)}, expected 200")
    else:
        run.judge(
            check_id,
            not missing,
            "OPTIONS 200; allows authorization, x-client-info, apikey, content-type",
            f"OPTIONS 200 but Access-Control-Allow-Headers lacks {', '.join(missing)}",
        )


# -- hardening (WARN at worst) ----------------------------------------------------------

_ANON_WRITES = """
select t, string_agg(p, ', ' order by o)
from unnest(%s::text[]) t, unnest(array['INSERT', 'UPDATE', 'DELETE']) with ordinality x(p, o)
where has_table_privilege('anon', t, p)
group by t order by t"""
_REALTIME = """
select tablename from pg_publication_tables
where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = any(%s)
order by tablename"""
# Functions that belong to an extension are the extension's business, as in splinter.
_OWN_FUNCTIONS = """
select p.oid::regprocedure::text from pg_proc p
where p.pronamespace = 'public'::regnamespace
  and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass
                  and d.objid = p.oid and d.deptype = 'e')"""
_LINTS = {
    "anon_security_definer_function_executable": (
        f"""{_OWN_FUNCTIONS}
          and p.prosecdef and has_function_privilege('anon', p.oid, 'EXECUTE') order by 1""",
        "SECURITY DEFINER, executable by anon: {}; revoke execute from public, anon",
        "no SECURITY DEFINER function in public is executable by anon",
    ),
    "rls_disabled_in_public": (
        """select relname from pg_class where oid = any(%(tables)s::regclass[])
           and not relrowsecurity order by relname""",
        "RLS is off on {}; alter table ... enable row level security",
        "RLS is on for every chat table",
    ),
    # A table only service_role can reach has no policy by design (chat_access_events).
    "rls_enabled_no_policy": (
        """select c.relname from pg_class c where c.oid = any(%(tables)s::regclass[])
             and c.relrowsecurity
             and not exists (select from pg_policy p where p.polrelid = c.oid)
             and (has_table_privilege('anon', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
                  or has_table_privilege('authenticated', c.oid, 'SELECT, INSERT, UPDATE, DELETE'))
           order by c.relname""",
        "RLS on but no policy on {}, and anon or authenticated hold grants on it",
        "every chat table the API roles can reach has a policy",
    ),
    "rls_policy_always_true": (
        """select format('%%s on %%s', policyname, tablename) from pg_policies
           where schemaname = 'public' and format('public.%%s', tablename) = any(%(tables)s)
             and roles && array['anon', 'public']::name[]
             and (qual = 'true' or with_check = 'true')
           order by tablename, policyname""",
        "policies for anon with using/with check (true): {}",
        "no chat-table policy lets anon through with (true)",
    ),
    "function_search_path_mutable": (
        f"""{_OWN_FUNCTIONS}
          and not exists (select from unnest(coalesce(p.proconfig, '{{}}')) c
                          where c like 'search_path=%%')
          order by 1""",
        "no pinned search_path on {}; alter function ... set search_path = ''",
        "every function in public pins its search_path",
    ),
}


def _hardening_checks(run: _Run, conn: psycopg.Connection) -> None:
    tables = [
        f"public.{t}"
        for t in CHAT_TABLES
        if _scalar(conn, "select to_regclass(%s)", (f"public.{t}",))
    ]
    writes = conn.execute(_ANON_WRITES, (tables,)).fetchall()
    held = "; ".join(f"{t.removeprefix('public.')}: {p}" for t, p in writes)
    run.judge(
        "hardening.anon_write_grants",
        not writes,
        "anon holds no INSERT/UPDATE/DELETE on the chat tables",
        f"anon still holds {held} (only RLS stops it); revoke insert, update, delete from anon "
        "on these tables",
        worst="WARN",
    )
    published = _column(conn, _REALTIME, ([t.removeprefix("public.") for t in tables],))
    run.judge(
        "hardening.realtime_publication",
        not published,
        "no chat table in supabase_realtime",
        f"{', '.join(published)} in supabase_realtime: the widget polls chat-visitor-sync now; "
        "`alter publication supabase_realtime drop table ...` unless the team app subscribes",
        worst="WARN",
    )
    for name, (query, warn, clean) in _LINTS.items():
        found = [r[0] for r in conn.execute(query, {"tables": tables})]
        run.judge(f"lint.{name}", not found, clean, warn.format(", ".join(found)), worst="WARN")


# -- --write: the seed's five validations -----------------------------------------------


@dataclass(frozen=True)
class _Conversation:
    id: str
    visitor_id: str
    token: str


def _write_checks(run: _Run) -> None:
    prefix = f"{VERIFY_PREFIX}{uuid.uuid4().hex[:12]}-"
    try:
        conversation = _new_conversation(run, f"{prefix}new")
        if conversation is None:
            for check_id in ("resume", "message_sync", "typing_indicator", "no_anon_reads"):
                run.add(f"write.{check_id}", "SKIP", "needs write.new_conversation")
        else:
            _resume(run, conversation)
            _message_sync_and_typing(run, conversation)
            _no_anon_reads(run, conversation)
        _bootstrap(run, f"{prefix}legacy-sync")
        _enforce(run, f"{prefix}legacy-message")
    finally:
        _cleanup(run, prefix)


def _body(response: httpx.Response) -> dict[str, Any]:
    data = _json(response)
    return data if isinstance(data, dict) else {}


def _new_conversation(run: _Run, visitor: str) -> _Conversation | None:
    response = run.call(
        "handle-chat-message", {"visitorId": visitor, "message": f"{TEAM_NAME}: new conversation"}
    )
    body = _body(response)
    if response.status_code != 200:
        run.fail("write.new_conversation", response, f"expected 200, got {_describe(response)}")
        return None
    if not body.get("conversationId") or not body.get("conversationToken"):
        run.add("write.new_conversation", "FAIL", "200 without conversationId or conversationToken")
        return None
    run.add("write.new_conversation", "PASS", "200; conversation created and a token issued")
    return _Conversation(body["conversationId"], visitor, body["conversationToken"])


def _resume(run: _Run, conversation: _Conversation) -> None:
    response = run.call(
        "handle-chat-message",
        {
            "visitorId": conversation.visitor_id,
            "message": f"{TEAM_NAME}: resumed",
            "conversationId": conversation.id,
            "conversationToken": conversation.token,
        },
    )
    if response.status_code != 200:
        run.fail("write.resume", response, f"expected 200, got {_describe(response)}")
        return
    run.judge(
        "write.resume",
        _body(response).get("conversationId") == conversation.id,
        "200; the token continued the same conversation",
        "200 but a different conversation came back",
    )


def _message_sync_and_typing(run: _Run, conversation: _Conversation) -> None:
    auth = {"conversationId": conversation.id, "conversationToken": conversation.token}
    first = run.call("chat-visitor-sync", auth)
    full = _body(first)
    visitor_messages = [m for m in full.get("messages", []) if m.get("senderType") == "visitor"]
    if first.status_code != 200 or len(visitor_messages) != 2:
        run.fail(
            "write.message_sync",
            first,
            f"full sync: expected 200 with the 2 visitor messages, got {_describe(first)} "
            f"with {len(visitor_messages)}",
        )
        run.add("write.typing_indicator", "SKIP", "needs write.message_sync")
        return
    # Written the way the team dashboard writes them: REST with a privileged key.
    team = run.rest(
        "POST",
        "chat_messages",
        prefer="return=representation",
        json={
            "conversation_id": conversation.id,
            "sender_type": "team",
            "sender_name": TEAM_NAME,
            "message_text": f"{TEAM_NAME}: team reply",
        },
    )
    typing = run.rest(
        "POST",
        "team_typing_indicators",
        prefer="resolution=merge-duplicates,return=minimal",
        json={
            "conversation_id": conversation.id,
            "user_id": str(uuid.uuid4()),
            "user_name": TEAM_NAME,
            "is_typing": True,
        },
    )
    after = run.call("chat-visitor-sync", {**auth, "since": full.get("cursor")})
    delta = _body(after)
    rows = _json(team)
    team_id = rows[0].get("id") if team.status_code == 201 and isinstance(rows, list) else None
    new_ids = {m.get("id") for m in delta.get("messages", [])}
    if team_id is None:
        run.add(
            "write.message_sync",
            "FAIL",
            f"service-role insert of a team reply got {_describe(team)}",
        )
    elif after.status_code != 200:
        run.fail("write.message_sync", after, f"incremental sync got {_describe(after)}")
    else:
        run.judge(
            "write.message_sync",
            team_id in new_ids,
            f"full sync had both visitor messages; the team reply arrived after the cursor "
            f"({len(new_ids)} new)",
            "the team reply is missing from the incremental sync",
        )
    seen = delta.get("typing") or {}
    if typing.status_code not in (200, 201):
        run.add(
            "write.typing_indicator",
            "FAIL",
            f"service-role upsert of the typing row got {_describe(typing)}",
        )
    else:
        run.judge(
            "write.typing_indicator",
            seen.get("isTyping") is True and seen.get("name") == TEAM_NAME,
            "sync reports the team member typing, by name",
            f"sync did not report the typing indicator ({_describe(after)})",
        )


def _no_anon_reads(run: _Run, conversation: _Conversation) -> None:
    answers = [
        run.anon_get("chat_conversations", {"id": f"eq.{conversation.id}", "select": "*"}),
        run.anon_get("chat_messages", {"conversation_id": f"eq.{conversation.id}", "select": "*"}),
    ]
    open_ = [_describe(a) for a in answers if (a.status_code, _code(a)) != (401, "42501")]
    run.judge(
        "write.no_anon_reads",
        not open_,
        "anon GET of the new conversation and its messages: 401 42501",
        f"anon read of the new conversation got {', '.join(open_)}",
    )


def _legacy_conversation(run: _Run, visitor: str) -> str | None:
    """A pre-cutover conversation (no token hash), written with the service role."""
    response = run.rest(
        "POST",
        "chat_conversations",
        prefer="return=representation",
        params={"select": "id"},
        json={"visitor_id": visitor},
    )
    rows = _json(response)
    ok = response.status_code == 201 and isinstance(rows, list) and rows
    return str(rows[0]["id"]) if ok else None


def _bootstrap(run: _Run, visitor: str) -> None:
    cid = _legacy_conversation(run, visitor)
    if cid is None:
        run.add(
            "write.bootstrap",
            "FAIL",
            "could not create a legacy conversation with the service role",
        )
        return
    response = run.call("chat-visitor-sync", {"conversationId": cid, "visitorId": visitor})
    declared = f"CHAT_SYNC_ALLOW_BOOTSTRAP={str(run.flags.allow_bootstrap).lower()}"
    if run.flags.allow_bootstrap:
        ok = response.status_code == 200 and bool(_body(response).get("conversationToken"))
        expected, outcome = "200 with a token", "200 and a token minted"
    else:
        ok = (response.status_code, _code(response)) == (401, "token_required")
        expected = outcome = "401 token_required"
    if ok:
        run.add("write.bootstrap", "PASS", f"tokenless sync with visitorId: {outcome} ({declared})")
    else:
        run.fail(
            "write.bootstrap",
            response,
            f"tokenless sync with visitorId: expected {expected} ({declared} in the env), got "
            f"{_describe(response)}; the deployed functions run with other flags than the env "
            "declares, or bootstrap is broken",
        )


def _enforce(run: _Run, visitor: str) -> None:
    cid = _legacy_conversation(run, visitor)
    if cid is None:
        run.add(
            "write.enforce", "FAIL", "could not create a legacy conversation with the service role"
        )
        return
    response = run.call(
        "handle-chat-message",
        {"visitorId": visitor, "conversationId": cid, "message": f"{TEAM_NAME}: tokenless"},
    )
    declared = f"ENFORCE_VISITOR_CONVERSATION_TOKEN={str(run.flags.enforce_token).lower()}"
    if run.flags.enforce_token:
        ok = (response.status_code, _code(response)) == (401, "token_required")
        expected = outcome = "401 token_required"
    else:
        ok = response.status_code == 200 and bool(_body(response).get("conversationToken"))
        expected, outcome = "200 with a token", "200 and a token issued"
    what = "tokenless message on a legacy conversation"
    if ok:
        run.add("write.enforce", "PASS", f"{what}: {outcome} ({declared})")
    else:
        run.fail(
            "write.enforce",
            response,
            f"{what}: expected {expected} ({declared} in the env), got {_describe(response)}",
        )


def _cleanup(run: _Run, prefix: str) -> None:
    """Delete this run's conversations; messages and access events cascade."""
    marker = {"visitor_id": f"like.{prefix}*"}
    try:
        found = run.rest("GET", "chat_conversations", params={"select": "id", **marker})
        ids = [r["id"] for r in _json(found)] if found.status_code == 200 else []
        if ids:  # typing rows too, should a live table lack the cascade
            run.rest(
                "DELETE",
                "team_typing_indicators",
                params={"conversation_id": f"in.({','.join(ids)})"},
            )
        deleted = run.rest("DELETE", "chat_conversations", params=marker)
        left = _json(run.rest("GET", "chat_conversations", params={"select": "id", **marker}))
    except httpx.TransportError as exc:
        run.add(
            "write.cleanup",
            "FAIL",
            f"could not delete the {prefix}* rows ({_transport_reason(exc)})",
        )
        return
    run.judge(
        "write.cleanup",
        deleted.status_code in (200, 204) and left == [],
        f"deleted {len(ids)} {VERIFY_PREFIX}* conversations and their rows",
        f"delete got {_describe(deleted)}; remove conversations with visitor_id like "
        f"'{prefix}%' by hand",
    )


# -- helpers ----------------------------------------------------------------------------


def _keyed(key: str) -> dict[str, str]:
    return {"apikey": key, "Authorization": f"Bearer {key}"}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def _code(response: httpx.Response) -> str | None:
    body = _json(response)
    code = body.get("code") if isinstance(body, dict) else None
    return None if code is None else str(code)


def _describe(response: httpx.Response) -> str:
    """Status and error code only: a body can hold things that must not be printed."""
    code = _code(response)
    return f"{response.status_code} {code}" if code else str(response.status_code)


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {_TIMEOUT:g}s"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown"
    return type(exc).__name__
