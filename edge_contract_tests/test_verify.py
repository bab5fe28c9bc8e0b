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

import psycopg
import pytest

from toolkit import stack
from toolkit.config import DeclaredFlags, Target
from toolkit.db.migrations import migrate
from toolkit.ops.verify import Report, verify
from toolkit.paths import REPO_ROOT

pytestmark = pytest.mark.embedded

MIGRATE = "run `chat-toolkit migrate`"
READ_IDS = [
    "catalog.token_column",
    "catalog.token_index",
    "catalog.visitor_read_policies",
    "catalog.anon_select",
    "catalog.migrations",
    "rest.anon_read.chat_conversations",
    "rest.anon_read.chat_messages",
    "rest.service_read.chat_conversations",
    "rest.service_read.chat_messages",
    "functions.handle-chat-message.answers",
    "functions.handle-chat-message.unknown_conversation",
    "functions.handle-chat-message.cors_preflight",
    "functions.handle-chat-message.verify_jwt",
    "functions.chat-visitor-sync.answers",
    "functions.chat-visitor-sync.unknown_conversation",
    "functions.chat-visitor-sync.token_required",
    "functions.chat-visitor-sync.cors_preflight",
    "functions.chat-visitor-sync.verify_jwt",
    "hardening.anon_write_grants",
    "hardening.realtime_publication",
    "lint.anon_security_definer_function_executable",
    "lint.rls_disabled_in_public",
    "lint.rls_enabled_no_policy",
    "lint.rls_policy_always_true",
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
    values = {
        "SUPABASE_URL": target.url,
        "SUPABASE_ANON_KEY": target.anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": target.service_role_key,
        "SUPABASE_FUNCTIONS_URL": target.functions_url,
        **({"SUPABASE_DB_URL": target.db_url} if target.db_url else {}),
        **extra,
    }
    path.write_text("".join(f'{k}="{v}"\n' for k, v in values.items()))
    return path


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
    assert set(statuses(report, "hardening.").values()) <= {"PASS", "WARN"}
    assert set(statuses(report, "lint.").values()) <= {"PASS", "WARN"}
    assert reason(report, "rest.anon_read.chat_messages") == "401 42501 permission denied"


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
    for secret in (target.anon_key, target.service_role_key, target.jwt_secret or "-"):
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
    """Env says defaults but the functions run with bootstrap off: write.bootstrap FAILs."""
    flipped = dataclasses.replace(target, functions_url=serve(CHAT_SYNC_ALLOW_BOOTSTRAP="false"))
    report = verify(flipped, DeclaredFlags(), write=True)
    assert report.passed is False
    assert [c.id for c in report.checks if c.status == "FAIL"] == ["write.bootstrap"]
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
        "functions.chat-visitor-sync.verify_jwt": "PASS",
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
        f"anon read is open: 2 rows visible (anon still holds SELECT); {MIGRATE}"
    )
    assert reason(report, "rest.anon_read.chat_messages") == (
        f"anon read is open: 3 rows visible (anon still holds SELECT); {MIGRATE}"
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
            "drop policy team_typing_indicators_team_all on public.team_typing_indicators",
            "create policy team_typing_indicators_team_all on public.team_typing_indicators "
            "for all to authenticated using (true) with check (true)",
            "lint.rls_enabled_no_policy",
            "RLS on but no policy on team_typing_indicators, and anon or authenticated hold "
            "grants on it",
        ),
        (
            "create policy ctv_open on public.chat_messages for insert to anon with check (true)",
            "drop policy ctv_open on public.chat_messages",
            "lint.rls_policy_always_true",
            "policies for anon with using/with check (true): ctv_open on chat_messages",
        ),
        (
            "grant insert, delete on public.chat_messages to anon",
            "revoke insert, delete on public.chat_messages from anon",
            "hardening.anon_write_grants",
            "anon still holds chat_messages: INSERT, DELETE (only RLS stops it); revoke insert, "
            "update, delete from anon on these tables",
        ),
    ],
    ids=["definer", "search-path", "rls-off", "no-policy", "always-true", "anon-writes"],
)
def test_splinter_lints_warn(
    scratch: Target, change: str, undo: str, check_id: str, expected: str
) -> None:
    """Each splinter-style or grant finding on the chat tables or public functions is a WARN."""
    assert statuses(verify(scratch))[check_id] == "PASS"
    execute(scratch, change)
    try:
        report = verify(scratch)
    finally:
        execute(scratch, undo)
    assert (statuses(report)[check_id], reason(report, check_id)) == ("WARN", expected)
    assert report.passed is True


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
