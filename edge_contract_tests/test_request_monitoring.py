"""Error monitoring for rollout step 2: the functions record each answer by function and
status, in batches, and `rollout status` reports them with a verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge_contract_tests.helpers import auth_headers, open_conversation
from toolkit import stack
from toolkit.config import Target
from toolkit.stack import testing

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def quiet_stack() -> Iterator[dict[str, str]]:
    """A stack of its own, without functions: nothing but this test's server writes its
    request counts."""
    with stack.temporary(functions=False) as state:
        yield state.env()


def _rollout(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "rollout", "status", "--json"],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
        env={"PATH": "/usr/bin:/bin", "SUPABASE_DB_URL": env["SUPABASE_DB_URL"]},
    )  # fmt: skip


def test_answers_are_counted_by_function_and_code_and_judged(
    quiet_stack: dict[str, str], tmp_path: Path
) -> None:
    """Seven answers (messages: 200, 400, 401; syncs: 2 x 200, 2 x 403) reach the table when
    the server stops, and `rollout status` reports them per function and code, with an
    ABNORMAL verdict for 3 refusals in 7 (above 10%)."""
    env = quiet_stack
    before = json.loads(_rollout(env).stdout)["requests"]
    assert before["verdict"] == "errors: no function answers recorded in the window"
    port = testing.free_port()
    server = testing.serve_functions(
        {**env, "CHAT_RATE_LIMITS": "off"}, port, tmp_path / "serve.log"
    )
    url = f"http://127.0.0.1:{port}/functions/v1"
    target = Target.from_env({**env, "SUPABASE_FUNCTIONS_URL": url})
    key = auth_headers(target.visitor_key)
    try:
        with httpx.Client(timeout=10.0) as http:
            conv = open_conversation(http, target)  # message 200
            sync = {"conversationId": conv["conversationId"]}
            good = {**sync, "conversationToken": conv["conversationToken"]}
            bad = {**sync, "conversationToken": "x" * 43}
            statuses = [
                http.post(f"{url}/handle-chat-message", json={"visitorId": "v"}, headers=key),
                http.post(f"{url}/handle-chat-message", json={"visitorId": "v", "message": "m"}),
                http.post(f"{url}/chat-visitor-sync", json=good, headers=key),
                http.post(f"{url}/chat-visitor-sync", json=good, headers=key),
                http.post(f"{url}/chat-visitor-sync", json=bad, headers=key),
                http.post(f"{url}/chat-visitor-sync", json=bad, headers=key),
            ]
            assert [r.status_code for r in statuses] == [400, 401, 200, 200, 403, 403]
    finally:
        testing.stop_functions(server)  # SIGTERM: the last batch is written on the way out

    done = _rollout(env)
    assert done.returncode == 0, done.stderr
    requests = json.loads(done.stdout)["requests"]
    assert requests["by_function"] == {
        "chat-visitor-sync": {"200": 2, "403": 2},
        "handle-chat-message": {"200": 1, "400": 1, "401": 1},
    }
    assert requests["verdict"] == (
        "errors: ABNORMAL: 401/403 above 10% (5xx 0.0%, 401/403 42.9% of 7 answers)"
    )
    text = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "rollout", "status"],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
        env={"PATH": "/usr/bin:/bin", "SUPABASE_DB_URL": env["SUPABASE_DB_URL"]},
    ).stdout.splitlines()  # fmt: skip
    assert f"  {'chat-visitor-sync requests':<38} 4 (errors: 403 x2)" in text
    assert f"  {'handle-chat-message requests':<38} 3 (errors: 400 x1, 401 x1)" in text
