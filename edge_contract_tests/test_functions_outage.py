"""Outages (CONTRACT §6): with PostgREST or the functions server down, callers get a quick
503 upstream_unavailable JSON without internals, and service resumes on its own.

These tests break their own throwaway stack, so the shared target is never disturbed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge_contract_tests.helpers import call, open_conversation
from toolkit import stack
from toolkit.config import Target
from toolkit.stack import testing

pytestmark = [pytest.mark.writes, pytest.mark.embedded]

MESSAGE = "handle-chat-message"
SYNC = "chat-visitor-sync"
LEAKS = ("traceback", "select ", "pgrst", "access_token_hash", "postgres", "127.0.0.1")
QUICK_SECONDS = 3.0  # well under the functions' 5 s REST timeout and the client's 10 s
RECOVERY_SECONDS = 15.0


@pytest.fixture(scope="module")
def outage_stack() -> Iterator[stack.StackState]:
    """A throwaway embedded stack of this module's own."""
    with stack.temporary() as state:
        yield state


@pytest.fixture(scope="module")
def outage_target(outage_stack: stack.StackState) -> Target:
    return Target.from_env(outage_stack.env())


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """Every request here gives up after 10 s, so a hang fails instead of blocking."""
    with httpx.Client(timeout=10.0) as http:
        yield http


@pytest.fixture(scope="module")
def conversation(client: httpx.Client, outage_target: Target) -> dict[str, Any]:
    """A conversation opened while everything is up: its 200 body plus its visitorId."""
    return open_conversation(client, outage_target, message="before the outage")


def alive(pid: int) -> bool:
    """True while pid is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_unavailable(response: httpx.Response, elapsed: float) -> None:
    """503 upstream_unavailable as JSON, quickly, with no internals in the body."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "code"}
    assert body["code"] == "upstream_unavailable"
    lowered = response.text.lower()
    for leak in LEAKS:
        assert leak not in lowered
    assert elapsed < QUICK_SECONDS


def timed_call(
    client: httpx.Client, target: Target, name: str, body: dict[str, Any]
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call(client, target.functions_url, name, body, target.visitor_key)
    return response, time.monotonic() - started


def sync_body(conversation: dict[str, Any]) -> dict[str, Any]:
    return {
        "conversationId": conversation["conversationId"],
        "conversationToken": conversation["conversationToken"],
    }


def test_postgrest_down_is_503_then_recovers(
    client: httpx.Client,
    outage_stack: stack.StackState,
    outage_target: Target,
    conversation: dict[str, Any],
) -> None:
    """With PostgREST killed both functions answer 503 at once; once it is back, the same
    functions server answers 200 again within seconds."""
    functions_pid = outage_stack.pids["functions"]
    before, _ = timed_call(client, outage_target, SYNC, sync_body(conversation))
    assert before.status_code == 200, before.text

    testing.kill_part(outage_stack, "postgrest")

    attempts = {
        "new conversation": (MESSAGE, {"visitorId": "outage-new", "message": "anyone there?"}),
        "continue": (
            MESSAGE,
            {
                "visitorId": conversation["visitorId"],
                "message": "still there?",
                **sync_body(conversation),
            },
        ),
        "sync": (SYNC, sync_body(conversation)),
        "bootstrap": (
            SYNC,
            {"conversationId": conversation["conversationId"], "visitorId": "outage-other"},
        ),
    }
    for name, body in attempts.values():
        response, elapsed = timed_call(client, outage_target, name, body)
        assert_unavailable(response, elapsed)

    testing.restart_postgrest(outage_stack)
    started = time.monotonic()
    deadline = started + RECOVERY_SECONDS
    statuses: list[int] = []
    while time.monotonic() < deadline:
        response, _ = timed_call(client, outage_target, SYNC, sync_body(conversation))
        statuses.append(response.status_code)
        if response.status_code == 200:
            break
        assert_unavailable(response, 0.0)
        time.sleep(0.1)
    assert statuses[-1] == 200, f"no recovery within {RECOVERY_SECONDS} s: {statuses}"
    assert time.monotonic() - started < RECOVERY_SECONDS
    texts = [m["text"] for m in response.json()["messages"]]
    assert texts[0] == "before the outage"
    assert "still there?" not in texts
    assert alive(functions_pid)
    assert outage_stack.pids["functions"] == functions_pid


def test_functions_server_down_is_503_at_the_gateway(
    client: httpx.Client,
    outage_stack: stack.StackState,
    outage_target: Target,
    conversation: dict[str, Any],
) -> None:
    """With the functions server stopped, the gateway answers 503 upstream_unavailable JSON."""
    testing.kill_part(outage_stack, "functions")
    for name in (SYNC, MESSAGE):
        response, elapsed = timed_call(client, outage_target, name, sync_body(conversation))
        assert_unavailable(response, elapsed)
        assert response.json()["error"] == "the functions server is not running"
