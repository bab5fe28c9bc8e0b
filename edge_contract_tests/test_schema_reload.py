"""PostgREST's schema cache follows the schema: `migrate` and `--rollback` send
`NOTIFY pgrst, 'reload schema'`, and the embedded stack has Supabase's DDL-watch event
triggers, so DDL applied by any tool is served without a restart.

Uses its own `--baseline-only` stack with the functions serving: before `migrate` they
answer 503 (PostgREST does not know `access_token_hash` yet, PGRST204).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import auth_headers, call
from toolkit import stack
from toolkit.config import Target
from toolkit.db.migrations import discover, migrate, rollback

pytestmark = pytest.mark.embedded

CLI = Path(sys.executable).parent / "chat-toolkit"
# A deadline for polling, not a speed claim: PostgREST reloads in milliseconds here.
DEADLINE_S = 2.0
EVENT_TRIGGERS = ("pgrst_ddl_watch", "pgrst_drop_watch")


@pytest.fixture(scope="module")
def baseline() -> Iterator[Target]:
    with stack.temporary(baseline_only=True, functions_env={"CHAT_RATE_LIMITS": "off"}) as state:
        yield Target.from_env(state.env())


def _db(target: Target) -> psycopg.Connection:
    assert target.db_url is not None
    return psycopg.connect(target.db_url, autocommit=True)


def _set_event_triggers(target: Target, enabled: bool) -> None:
    with _db(target) as conn:
        for name in EVENT_TRIGGERS:
            conn.execute(f"alter event trigger {name} {'enable' if enabled else 'disable'}")


@pytest.fixture()
def without_event_triggers(baseline: Target) -> Iterator[Target]:
    """The stack as a plain Postgres: only an explicit NOTIFY reloads PostgREST."""
    _set_event_triggers(baseline, False)
    yield baseline
    _set_event_triggers(baseline, True)


def _poll(request: Callable[[], httpx.Response], code: str | int) -> httpx.Response:
    """Repeat `request` until it answers with `code` (an HTTP status, or a PostgREST error
    code) or the deadline passes; returns the last answer."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        response = request()
        if code in (response.status_code, _error_code(response)) or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


def _error_code(response: httpx.Response) -> object:
    body = response.json()
    return body.get("code") if isinstance(body, dict) else None


def test_plain_ddl_reloads_postgrest_through_event_triggers(baseline: Target) -> None:
    """DDL run by plain SQL (no NOTIFY: psql, supabase db push) is served at once: a new
    function answers over RPC, and once dropped it is gone (pgrst_ddl/drop_watch).
    First in this module: no NOTIFY from a migrate is still on its way to PostgREST."""
    headers = auth_headers(baseline.server_key)
    name = f"reload_probe_{uuid.uuid4().hex[:8]}"
    with httpx.Client(timeout=10.0) as http, _db(baseline) as conn:

        def rpc() -> httpx.Response:
            return http.post(f"{baseline.url}/rest/v1/rpc/{name}", json={}, headers=headers)

        missing = rpc()
        assert (missing.status_code, missing.json()["code"]) == (404, "PGRST202")
        conn.execute(f"create function public.{name}() returns int language sql as 'select 7'")
        created = _poll(rpc, 200)
        assert (created.status_code, created.json()) == (200, 7)
        conn.execute(f"drop function public.{name}()")
        # Without a reload the stale cache still calls it: 404 with Postgres' 42883.
        dropped = _poll(rpc, "PGRST202")
        assert (dropped.status_code, dropped.json()["code"]) == (404, "PGRST202")


def test_functions_answer_200_after_migrate(without_event_triggers: Target) -> None:
    """On a running baseline stack both functions answer 503 until `chat-toolkit migrate`,
    then 200 without restarting PostgREST: the runner's NOTIFY reloaded its schema cache."""
    target = without_event_triggers
    visitor = f"visitor-{uuid.uuid4()}"
    with httpx.Client(timeout=10.0) as http:

        def send() -> httpx.Response:
            body = {"visitorId": visitor, "message": "Hello"}
            return call(http, target.functions_url, "handle-chat-message", body, target.visitor_key)

        before = send()
        assert (before.status_code, before.json()["code"]) == (503, "upstream_unavailable")
        result = subprocess.run(
            [str(CLI), "migrate", "--db-url", target.db_url or ""],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        sent = _poll(send, 200)
        assert sent.status_code == 200, sent.text
        conversation = sent.json()
        body = {
            "conversationId": conversation["conversationId"],
            "conversationToken": conversation["conversationToken"],
        }
        synced = _poll(
            lambda: call(http, target.functions_url, "chat-visitor-sync", body, target.visitor_key),
            200,
        )
        assert synced.status_code == 200, synced.text
        assert [m["senderType"] for m in synced.json()["messages"]][:1] == ["visitor"]


def _notified(conn: psycopg.Connection) -> list[str]:
    """The payloads on channel pgrst that reached `conn` (which LISTENs) by the deadline."""
    return [n.payload for n in conn.notifies(timeout=DEADLINE_S, stop_after=1)]


def test_rollback_and_migrate_notify_postgrest(without_event_triggers: Target) -> None:
    """`--rollback` and `migrate` each end with NOTIFY pgrst, 'reload schema'."""
    url = without_event_triggers.db_url or ""
    migrate(url)
    newest = discover()[-1]
    with _db(without_event_triggers) as listener:
        listener.execute("listen pgrst")
        rollback(url, newest.version)
        assert _notified(listener) == ["reload schema"]
        assert migrate(url) == [newest]
        assert _notified(listener) == ["reload schema"]
