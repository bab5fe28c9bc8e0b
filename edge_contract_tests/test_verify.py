"""`chat-toolkit verify`: PASS on the migrated target, FAIL on the baseline, WARN on hardening.

Catalog changes that would disturb other tests (realtime publication, lints, a half-applied
migration history) are made on this module's own throwaway stack, never on `target`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import psycopg
import pytest

from edge_contract_tests.helpers import Stacks
from toolkit import stack
from toolkit.config import DeclaredFlags, Target
from toolkit.db.migrations import migrate
from toolkit.keys import mint_key
from toolkit.ops.verify import Report, verify
from toolkit.paths import REPO_ROOT

pytestmark = pytest.mark.embedded

MIGRATE = "run `chat-toolkit migrate`"
ACCESS_IDS = [
    "access.roles",
    "access.anon.grants",
    "access.anon.policies",
    "access.authenticated.grants",
    "access.authenticated.policies",
    "access.anon.reads",
    "access.authenticated.reads",
]
READ_IDS = [
    "keys.system",
    "keys.anon_key",
    "keys.service_role_key",
    "catalog.token_column",
    "catalog.token_index",
    "catalog.visitor_read_policies",
    "catalog.anon_select",
    "catalog.migrations",
    "rest.anon_read.chat_conversations",
    "rest.anon_read.chat_messages",
    "rest.service_read.chat_conversations",
    "rest.service_read.chat_messages",
    *ACCESS_IDS,
    "functions.handle-chat-message.answers",
    "functions.handle-chat-message.unknown_conversation",
    "functions.handle-chat-message.cors_preflight",
    "functions.handle-chat-message.caller_check",
    "functions.chat-visitor-sync.answers",
    "functions.chat-visitor-sync.unknown_conversation",
    "functions.chat-visitor-sync.token_required",
    "functions.chat-visitor-sync.cors_preflight",
    "functions.chat-visitor-sync.caller_check",
    "hardening.anon_write_grants",
    "hardening.realtime_publication",
    "lint.anon_security_definer_function_executable",
    "lint.rls_disabled_in_public",
    "lint.rls_enabled_no_policy",
    "lint.function_search_path_mutable",
]
WRITE_IDS = [
    "write.new_conversation",
    "write.resume",
    "write.message_sync",
    "write.typing_indicator",
    "write.no_anon_reads",
    "write.bootstrap",
    "write.enforce",
    "write.cleanup",
]
# A raw token (43+ URL-safe characters, mixed case and digits) or a SHA-256 hex digest.
TOKEN_OR_HASH = re.compile(r"(?<![\w-])(?=[\w-]*[A-Z])(?=[\w-]*\d)[\w-]{43,}|\b[0-9a-f]{64}\b")
LEFTOVERS = """select
  (select count(*) from chat_conversations where visitor_id like 'chat-toolkit-verify-%%'),
  (select count(*) from chat_messages where message_text like 'chat-toolkit verify%%'),
  (select count(*) from team_typing_indicators where user_name = 'chat-toolkit verify')"""


def statuses(report: Report, prefix: str = "") -> dict[str, str]:
    return {c.id: c.status for c in report.checks if c.id.startswith(prefix)}


def reason(report: Report, check_id: str) -> str:
    return next(c.reason for c in report.checks if c.id == check_id)


def env_file(path: Path, target: Target, **extra: str) -> Path:
    keys = {
        "SUPABASE_PUBLISHABLE_KEY": target.publishable_key,
        "SUPABASE_SECRET_KEY": target.secret_key,
        "SUPABASE_ANON_KEY": target.anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": target.service_role_key,
    }
    values = {
        "SUPABASE_URL": target.url,
        **{name: key for name, key in keys.items() if key},
        "SUPABASE_FUNCTIONS_URL": target.functions_url,
        **({"SUPABASE_DB_URL": target.db_url} if target.db_url else {}),
        **extra,
    }
    path.write_text("".join(f'{k}="{v}"\n' for k, v in values.items()))
    return path


def legacy_only(target: Target) -> Target:
    """The target as a project before migrating sees it: no publishable or secret key."""
    return dataclasses.replace(target, publishable_key="", secret_key="")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a clean environment, so only the env file decides the target."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "CHAT_"))}
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=clean,
        timeout=180,
        check=False,
    )


# -- the migrated target ----------------------------------------------------------------


def test_verify_passes_on_the_migrated_target(target: Target, db: psycopg.Connection) -> None:
    """Every catalog, REST and function check PASSes; hardening is at worst WARN."""
    report = verify(target)
    assert [c.id for c in report.checks] == READ_IDS
    assert report.passed is True
    assert set(statuses(report, "catalog.").values()) == {"PASS"}
    assert set(statuses(report, "rest.").values()) == {"PASS"}
    assert set(statuses(report, "functions.").values()) == {"PASS"}
    assert set(statuses(report, "keys.").values()) == {"PASS"}
    assert set(statuses(report, "access.").values()) == {"PASS"}
    assert set(statuses(report, "hardening.").values()) <= {"PASS", "WARN"}
    assert set(statuses(report, "lint.").values()) <= {"PASS", "WARN"}
    assert reason(report, "rest.anon_read.chat_messages") == (
        "401 42501 permission denied (publishable key)"
    )
    assert reason(report, "rest.service_read.chat_messages") == "200 with the secret key"
    assert reason(report, "keys.system") == (
        "the publishable and secret keys are used (the legacy keys too, checked below)"
    )


@pytest.mark.writes
def test_verify_write_passes_and_leaves_no_rows(target: Target, db: psycopg.Connection) -> None:
    """--write runs the seed's five validations, all PASS, and deletes every row it wrote."""
    report = verify(target, DeclaredFlags(), write=True)
    assert [c.id for c in report.checks] == READ_IDS + WRITE_IDS
    assert statuses(report, "write.") == dict.fromkeys(WRITE_IDS, "PASS")
    assert report.passed is True
    assert reason(report, "write.cleanup") == (
        "deleted 3 chat-toolkit-verify-* conversations and their rows"
    )
    assert db.execute(LEFTOVERS).fetchone() == (0, 0, 0)


@pytest.mark.writes
def test_verify_cli_json_write_passes_and_prints_no_secret(
    target: Target, db: psycopg.Connection, tmp_path: Path
) -> None:
    """`verify --json --write` exits 0 with passed true and prints no key, token or hash."""
    result = run_cli(
        "verify", "--env-file", str(env_file(tmp_path / "env", target)), "--json", "--write"
    )
    assert (result.returncode, result.stderr) == (0, "")
    body = json.loads(result.stdout)
    assert body["passed"] is True
    assert [c["id"] for c in body["checks"]] == READ_IDS + WRITE_IDS
    assert {c["status"] for c in body["checks"] if c["id"].startswith("write.")} == {"PASS"}
    assert set(body["checks"][0]) == {"id", "status", "reason"}
    for secret in (
        target.anon_key,
        target.service_role_key,
        target.publishable_key,
        target.secret_key,
        target.jwt_secret or "-",
    ):
        assert secret not in result.stdout
    assert TOKEN_OR_HASH.search(result.stdout) is None
    assert db.execute(LEFTOVERS).fetchone() == (0, 0, 0)


@pytest.mark.writes
def test_verify_write_follows_the_flags_the_env_declares(
    target: Target, serve: Callable[..., str], db: psycopg.Connection
) -> None:
    """Against functions with bootstrap off and tokens enforced, the write checks expect 401s."""
    flipped = dataclasses.replace(
        target,
        functions_url=serve(
            CHAT_SYNC_ALLOW_BOOTSTRAP="false", ENFORCE_VISITOR_CONVERSATION_TOKEN="true"
        ),
    )
    report = verify(flipped, DeclaredFlags(allow_bootstrap=False, enforce_token=True), write=True)
    assert statuses(report, "write.") == dict.fromkeys(WRITE_IDS, "PASS")
    assert reason(report, "write.bootstrap") == (
        "tokenless sync with visitorId: 401 token_required (CHAT_SYNC_ALLOW_BOOTSTRAP=false)"
    )
    assert reason(report, "write.enforce") == (
        "tokenless message on a legacy conversation: 401 token_required "
        "(ENFORCE_VISITOR_CONVERSATION_TOKEN=true)"
    )
    assert db.execute(LEFTOVERS).fetchone() == (0, 0, 0)


@pytest.mark.writes
def test_verify_write_fails_when_the_env_declares_other_flags(
    target: Target, serve: Callable[..., str], db: psycopg.Connection
) -> None:
    """Env says defaults but the functions run with bootstrap off: write.bootstrap FAILs, and
    so does write.enforce (the message path no longer mints either)."""
    flipped = dataclasses.replace(target, functions_url=serve(CHAT_SYNC_ALLOW_BOOTSTRAP="false"))
    report = verify(flipped, DeclaredFlags(), write=True)
    assert report.passed is False
    assert [c.id for c in report.checks if c.status == "FAIL"] == [
        "write.bootstrap",
        "write.enforce",
    ]
    assert reason(report, "write.enforce") == (
        "tokenless message on a legacy conversation: expected 200 with a token "
        "(ENFORCE_VISITOR_CONVERSATION_TOKEN=false in the env), got 200"
    )
    assert reason(report, "write.bootstrap") == (
        "tokenless sync with visitorId: expected 200 with a token "
        "(CHAT_SYNC_ALLOW_BOOTSTRAP=true in the env), got 401 token_required; the deployed "
        "functions run with other flags than the env declares, or bootstrap is broken"
    )
    assert db.execute(LEFTOVERS).fetchone() == (0, 0, 0)


def test_rate_limited_probes_are_skipped_not_failed(
    target: Target, serve: Callable[..., str]
) -> None:
    """Probes a function answers 429 become SKIPs that say so, and the run still passes."""
    limited = dataclasses.replace(
        target, functions_url=serve(CHAT_RATE_LIMITS="on", CHAT_RATE_TOKEN_FAILURES="1/600")
    )
    report = verify(limited)
    assert statuses(report, "functions.chat-visitor-sync.") == {
        "functions.chat-visitor-sync.answers": "PASS",
        "functions.chat-visitor-sync.unknown_conversation": "SKIP",
        "functions.chat-visitor-sync.token_required": "SKIP",
        "functions.chat-visitor-sync.cors_preflight": "PASS",
        "functions.chat-visitor-sync.caller_check": "PASS",
    }
    assert reason(report, "functions.chat-visitor-sync.token_required") == (
        "rate limited (429, Retry-After 600s); run verify again then"
    )
    assert report.passed is True


# -- the baseline (pre-cutover) ---------------------------------------------------------


def test_verify_fails_on_the_baseline(baseline_target: Target) -> None:
    """Before the migrations, anon reads leak and the catalog checks FAIL with the fix named."""
    report = verify(baseline_target)
    assert report.passed is False
    assert statuses(report, "catalog.") == dict.fromkeys(
        [
            "catalog.token_column",
            "catalog.token_index",
            "catalog.visitor_read_policies",
            "catalog.anon_select",
            "catalog.migrations",
        ],
        "FAIL",
    )
    assert reason(report, "rest.anon_read.chat_conversations") == (
        f"anon read is open: 2 rows visible with the publishable key (anon still holds SELECT); "
        f"{MIGRATE}"
    )
    assert reason(report, "rest.anon_read.chat_messages") == (
        f"anon read is open: 3 rows visible with the publishable key (anon still holds SELECT); "
        f"{MIGRATE}"
    )
    assert reason(report, "catalog.visitor_read_policies") == (
        "anon read policies remain: chat_conversations_visitor_read on chat_conversations, "
        f"chat_messages_visitor_read on chat_messages; {MIGRATE}"
    )
    assert reason(report, "catalog.migrations").startswith(
        "not recorded in supabase_migrations.schema_migrations: 20260327054000, 20260327055000,"
    )
    assert statuses(report, "rest.service_read.") == {
        "rest.service_read.chat_conversations": "PASS",
        "rest.service_read.chat_messages": "PASS",
    }


def test_verify_cli_exits_1_on_the_baseline(baseline_target: Target, tmp_path: Path) -> None:
    """The CLI prints one `FAIL  <id>  <reason>` line per failure and exits 1."""
    result = run_cli("verify", "--env-file", str(env_file(tmp_path / "env", baseline_target)))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        f"FAIL  catalog.anon_select  anon still holds SELECT on chat_conversations, "
        f"chat_messages; {MIGRATE}"
    ) in lines
    assert lines[-1].startswith("verify FAILED: ")
    assert all(re.match(r"^(PASS|FAIL|WARN|SKIP)  \S+  \S", line) for line in lines[1:-1])


# -- unreachable or missing configuration ------------------------------------------------


# -- WARN and half-applied states, on a throwaway stack ---------------------------------


@pytest.fixture(scope="module")
def scratch() -> Iterator[Target]:
    """This module's own migrated stack for catalog changes (rate limits off: many runs)."""
    with stack.temporary(functions_env={"CHAT_RATE_LIMITS": "off"}) as state:
        yield Target.from_env(state.env())


def execute(target: Target, sql: str) -> None:
    assert target.db_url is not None
    with psycopg.connect(target.db_url, autocommit=True) as conn:
        conn.execute(sql)


def test_realtime_publication_is_a_warning(scratch: Target) -> None:
    """A chat table in supabase_realtime turns that check into a WARN, which does not fail."""
    assert statuses(verify(scratch))["hardening.realtime_publication"] == "PASS"
    execute(scratch, "alter publication supabase_realtime add table public.chat_messages")
    try:
        report = verify(scratch)
    finally:
        execute(scratch, "alter publication supabase_realtime drop table public.chat_messages")
    assert statuses(report)["hardening.realtime_publication"] == "WARN"
    assert reason(report, "hardening.realtime_publication").startswith(
        "chat_messages in supabase_realtime: "
    )
    assert report.passed is True


@pytest.mark.parametrize(
    ("change", "undo", "check_id", "expected"),
    [
        (
            "create function public.ctv_definer() returns int language sql security definer "
            "as 'select 1'",
            "drop function public.ctv_definer()",
            "lint.anon_security_definer_function_executable",
            "SECURITY DEFINER, executable by anon: ctv_definer(); revoke execute from public, anon",
        ),
        (
            "create function public.ctv_plain() returns int language sql as 'select 1'",
            "drop function public.ctv_plain()",
            "lint.function_search_path_mutable",
            "no pinned search_path on ctv_plain(); alter function ... set search_path = ''",
        ),
        (
            "alter table public.team_typing_indicators disable row level security",
            "alter table public.team_typing_indicators enable row level security",
            "lint.rls_disabled_in_public",
            "RLS is off on team_typing_indicators; alter table ... enable row level security",
        ),
        (
            "drop policy team_typing_indicators_team_members on public.team_typing_indicators",
            "create policy team_typing_indicators_team_members on public.team_typing_indicators "
            "for all to authenticated using ((select chat_private.is_chat_team_member())) "
            "with check ((select chat_private.is_chat_team_member()) "
            "and user_id = (select auth.uid()))",
            "lint.rls_enabled_no_policy",
            "RLS on but no policy on team_typing_indicators, and anon or authenticated hold "
            "grants on it",
        ),
        (
            "grant insert, delete on public.chat_messages to anon",
            "revoke insert, delete on public.chat_messages from anon",
            "hardening.anon_write_grants",
            "anon still holds chat_messages: INSERT, DELETE (only RLS stops it); revoke insert, "
            "update, delete from anon on these tables",
        ),
    ],
    ids=["definer", "search-path", "rls-off", "no-policy", "anon-writes"],
)
def test_splinter_lints_warn(
    scratch: Target, change: str, undo: str, check_id: str, expected: str
) -> None:
    """Each splinter-style or grant finding on the chat tables or public functions is a WARN
    (and fails the run only where it also lets a caller read chat rows)."""
    assert statuses(verify(scratch))[check_id] == "PASS"
    execute(scratch, change)
    try:
        report = verify(scratch)
    finally:
        execute(scratch, undo)
    assert (statuses(report)[check_id], reason(report, check_id)) == ("WARN", expected)
    # RLS off on a table authenticated may read is more than a lint: every signed-in user
    # reads its rows, which the access check FAILs.
    fails = ["access.authenticated.reads"] if check_id == "lint.rls_disabled_in_public" else []
    assert [c.id for c in report.checks if c.status == "FAIL"] == fails


def test_half_applied_migration_fails_and_migrate_fixes_it(scratch: Target) -> None:
    """A recorded version deleted while its column stays is a FAIL that `migrate` repairs."""
    assert scratch.db_url is not None
    execute(
        scratch,
        "delete from supabase_migrations.schema_migrations where version = '20260327054000'",
    )
    report = verify(scratch)
    assert statuses(report, "catalog.") == {
        "catalog.token_column": "PASS",
        "catalog.token_index": "PASS",
        "catalog.visitor_read_policies": "PASS",
        "catalog.anon_select": "PASS",
        "catalog.migrations": "FAIL",
    }
    assert reason(report, "catalog.migrations") == (
        "not recorded in supabase_migrations.schema_migrations: 20260327054000; half-applied "
        "(changes present, version not recorded): 20260327054000; run `chat-toolkit migrate` "
        "(idempotent: it completes and records them)"
    )
    assert [m.version for m in migrate(scratch.db_url)] == ["20260327054000"]
    assert statuses(verify(scratch))["catalog.migrations"] == "PASS"


@pytest.mark.writes
def test_verify_write_with_bootstrap_off_expects_no_token_from_a_message(
    target: Target, serve: Callable[..., str], db: psycopg.Connection
) -> None:
    """Bootstrap off, enforcement not yet on: a tokenless message on a legacy conversation
    must be accepted without a token (no path mints from an id + visitorId pair)."""
    off = dataclasses.replace(target, functions_url=serve(CHAT_SYNC_ALLOW_BOOTSTRAP="false"))
    report = verify(off, DeclaredFlags(allow_bootstrap=False), write=True)
    assert statuses(report, "write.") == dict.fromkeys(WRITE_IDS, "PASS")
    assert reason(report, "write.enforce") == (
        "tokenless message on a legacy conversation: 200, accepted and no token issued "
        "(ENFORCE_VISITOR_CONVERSATION_TOKEN=false, CHAT_SYNC_ALLOW_BOOTSTRAP=false)"
    )
    assert db.execute(LEFTOVERS).fetchone() == (0, 0, 0)


# -- every role PostgREST can switch to (CONTRACT §10) ------------------------------------

ALWAYS_TRUE = (
    "chat_conversations_team_all on chat_conversations (using (true)), "
    "chat_messages_team_all on chat_messages (using (true)), "
    "team_typing_indicators_team_all on team_typing_indicators (using (true))"
)


def test_verify_fails_while_authenticated_has_always_true_policies(
    pre_team_access_target: Target,
) -> None:
    """Migrated up to 20260327060000 (anon closed, the baseline's team policies intact):
    verify FAILs authenticated's grants, policies and reads, naming the role, the tables,
    the policies and the fix, while every anon check passes."""
    report = verify(pre_team_access_target)
    assert report.passed is False
    assert statuses(report, "access.authenticated.") == dict.fromkeys(
        [
            "access.authenticated.grants",
            "access.authenticated.policies",
            "access.authenticated.reads",
        ],
        "FAIL",
    )
    assert set(statuses(report, "access.anon.").values()) == {"PASS"}
    assert set(statuses(report, "rest.").values()) == {"PASS"}
    assert reason(report, "access.authenticated.policies") == (
        "always-true policies for authenticated (Security Advisor rls_policy_always_true), so "
        f"every authenticated caller passes them: {ALWAYS_TRUE}; drop them (`drop policy "
        "chat_conversations_team_all on public.chat_conversations; drop policy "
        "chat_messages_team_all on public.chat_messages; drop policy "
        "team_typing_indicators_team_all on public.team_typing_indicators`); where "
        f"20260327061000 is not applied yet, {MIGRATE} instead: it replaces them with "
        "team-membership policies"
    )
    assert reason(report, "access.authenticated.grants") == (
        "authenticated holds INSERT, SELECT, UPDATE on chat_conversations.access_token_hash; "
        f"{MIGRATE} (20260327061000 limits authenticated to team members and keeps it off the "
        "hash); if it is applied already, revoke them as it does (`revoke all on "
        "public.chat_conversations from authenticated`, then grant the other columns)"
    )
    leak = reason(report, "access.authenticated.reads")
    assert leak.startswith(
        "a JWT with role authenticated for a user on no team reads 2 rows of "
        "chat_conversations, 4 rows of chat_messages, 1 row of team_typing_indicators, "
        "access_token_hash ("
    )
    assert "through chat_conversations_team_all on chat_conversations" in leak


def test_verify_fails_when_an_always_true_policy_is_recreated(scratch: Target) -> None:
    """After the migration, re-creating the baseline's `using (true)` team policy (or an
    always-true anon policy) is a FAIL for that role; removing it passes again."""
    assert statuses(verify(scratch))["access.authenticated.policies"] == "PASS"
    execute(
        scratch,
        "create policy chat_messages_team_all on public.chat_messages "
        "for all to authenticated using (true) with check (true); "
        "create policy ctv_open on public.chat_messages for insert to anon with check (true)",
    )
    try:
        report = verify(scratch)
    finally:
        execute(
            scratch,
            "drop policy chat_messages_team_all on public.chat_messages; "
            "drop policy ctv_open on public.chat_messages",
        )
    assert statuses(report, "access.") == {
        **dict.fromkeys(ACCESS_IDS, "PASS"),
        "access.anon.policies": "FAIL",
        "access.authenticated.policies": "FAIL",
        "access.authenticated.reads": "FAIL",
    }
    assert reason(report, "access.anon.policies") == (
        "always-true policies for anon (Security Advisor rls_policy_always_true), so every anon "
        "caller passes them: ctv_open on chat_messages (with check (true)); drop them "
        "(`drop policy ctv_open on public.chat_messages`) or make them check a team membership"
    )
    assert "chat_messages_team_all on chat_messages (using (true))" in reason(
        report, "access.authenticated.policies"
    )
    assert statuses(verify(scratch))["access.authenticated.policies"] == "PASS"


def test_verify_checks_every_role_granted_to_authenticator(scratch: Target) -> None:
    """A custom role PostgREST can switch to (granted to authenticator) with a table grant
    and an always-true policy is found, minted a JWT and FAILed like authenticated."""
    execute(
        scratch,
        "create role ctv_agent nologin; grant ctv_agent to authenticator; "
        "grant usage on schema public to ctv_agent; "
        "grant select on public.chat_conversations to ctv_agent; "
        "create policy ctv_agent_all on public.chat_conversations for select to ctv_agent "
        "using (true)",
    )
    try:
        report = verify(scratch)
    finally:
        execute(
            scratch,
            "drop policy ctv_agent_all on public.chat_conversations; "
            "revoke all on public.chat_conversations from ctv_agent; "
            "revoke usage on schema public from ctv_agent; drop role ctv_agent",
        )
    assert reason(report, "access.roles").startswith(
        "PostgREST can switch to anon, authenticated, ctv_agent besides service_role"
    )
    assert statuses(report, "access.ctv_agent.") == dict.fromkeys(
        ["access.ctv_agent.grants", "access.ctv_agent.policies", "access.ctv_agent.reads"],
        "FAIL",
    )
    assert reason(report, "access.ctv_agent.grants").startswith(
        "ctv_agent holds SELECT on chat_conversations.access_token_hash; revoke them"
    )
    assert reason(report, "access.ctv_agent.reads").startswith(
        "a JWT with role ctv_agent for a user on no team reads "
    )


def test_swapped_keys_are_a_configuration_error_not_a_leak(target: Target) -> None:
    """The service-role key set as SUPABASE_ANON_KEY (a legacy-keys env): keys.anon_key FAILs
    and says so; the anon read checks are skipped instead of reporting an open table."""
    swapped = dataclasses.replace(
        legacy_only(target), anon_key=target.service_role_key, service_role_key=target.anon_key
    )
    report = verify(swapped)
    assert reason(report, "keys.anon_key") == (
        "SUPABASE_ANON_KEY carries role service_role, not anon (the two keys look swapped): a "
        "configuration error, not a leak; set SUPABASE_ANON_KEY to the project's anon key"
    )
    assert statuses(report, "keys.")["keys.service_role_key"] == "FAIL"
    assert set(statuses(report, "rest.").values()) == {"SKIP"}
    assert statuses(report)["access.anon.reads"] == "SKIP"
    assert not any("is open" in c.reason for c in report.checks)


def test_a_key_of_another_project_is_named(target: Target) -> None:
    """An anon key signed with another secret: keys.anon_key FAILs naming the key, and the
    gateway's refusal (401 Invalid API key) is reported as a key problem, not as a leak."""
    foreign = jwt.encode({"role": "anon"}, "another-project-secret-" + "x" * 20, "HS256")
    report = verify(dataclasses.replace(legacy_only(target), anon_key=foreign, jwt_secret=None))
    assert statuses(report, "keys.")["keys.anon_key"] == "PASS"  # unverifiable without secret
    assert reason(report, "rest.anon_read.chat_conversations") == (
        "expected 401 42501, got 401: the API gateway refused SUPABASE_ANON_KEY (a key of "
        "another project?); fix the key"
    )
    with_secret = verify(dataclasses.replace(legacy_only(target), anon_key=foreign))
    assert reason(with_secret, "keys.anon_key") == (
        "SUPABASE_ANON_KEY is not signed with SUPABASE_JWT_SECRET or has expired (a key of "
        "another project?); copy both from the same project"
    )


def test_a_legacy_keys_env_is_a_warning_naming_the_new_keys(target: Target) -> None:
    """With only the legacy keys, the checks use them, keys.system WARNs that Supabase
    retires them, and the run still passes."""
    report = verify(legacy_only(target))
    assert statuses(report, "keys.") == {
        "keys.system": "WARN",
        "keys.anon_key": "PASS",
        "keys.service_role_key": "PASS",
    }
    assert reason(report, "rest.anon_read.chat_messages") == (
        "401 42501 permission denied (anon key)"
    )
    assert report.passed is True


def test_deactivated_legacy_keys_are_checked_refused(stacks: Stacks) -> None:
    """On a `--keys new` stack, told the legacy keys are deactivated (and given them): both
    keys.legacy_deactivated checks PASS, and the run passes on the new keys alone."""
    state = stacks.get("new")
    target = dataclasses.replace(
        Target.from_env(state.env()),
        anon_key=mint_key(state.jwt_secret, "anon"),
        service_role_key=mint_key(state.jwt_secret, "service_role"),
    )
    report = verify(target, legacy_deactivated=True)
    assert statuses(report, "keys.") == {
        "keys.system": "PASS",
        "keys.legacy_deactivated.rest": "PASS",
        "keys.legacy_deactivated.functions": "PASS",
    }
    assert report.passed is True, [c.line() for c in report.checks if c.status == "FAIL"]


def test_legacy_keys_said_deactivated_but_active_fail(target: Target) -> None:
    """On a `both` stack (legacy keys active), --legacy-keys-deactivated FAILs naming every
    way the legacy keys still get in."""
    report = verify(target, legacy_deactivated=True)
    assert statuses(report, "keys.legacy_deactivated.") == {
        "keys.legacy_deactivated.rest": "FAIL",
        "keys.legacy_deactivated.functions": "FAIL",
    }
    assert reason(report, "keys.legacy_deactivated.rest").startswith(
        "the REST API still accepts the legacy anon key (401 42501), the legacy service_role "
        "key (200), the legacy service_role key beside the publishable key (200); deactivate"
    )


def test_legacy_keys_deactivated_without_new_keys_is_a_config_error(
    target: Target, tmp_path: Path
) -> None:
    """`verify --legacy-keys-deactivated` on an env with only the legacy keys: exit 2, one
    line; SUPABASE_LEGACY_KEYS must be active or deactivated."""
    legacy = env_file(tmp_path / "env", legacy_only(target))
    result = run_cli("verify", "--env-file", str(legacy), "--legacy-keys-deactivated")
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [
            "chat-toolkit: the legacy keys are said to be deactivated, but "
            "SUPABASE_PUBLISHABLE_KEY and SUPABASE_SECRET_KEY are not both set; verify needs them"
        ],
    )
    bogus = env_file(tmp_path / "env2", target, SUPABASE_LEGACY_KEYS="off")
    result = run_cli("verify", "--env-file", str(bogus))
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        ["chat-toolkit: SUPABASE_LEGACY_KEYS='off' must be active or deactivated"],
    )


def test_a_wrong_url_is_a_url_problem(target: Target) -> None:
    """A SUPABASE_URL that answers 404 on /rest/v1/<table> is named a URL problem."""
    wrong = dataclasses.replace(target, url=f"{target.url}/rest/v1/no-such")
    report = verify(wrong)
    assert reason(report, "rest.anon_read.chat_conversations").startswith(
        "expected 401 42501, got 404: a URL problem, not a key problem ("
    )
