"""`chat-toolkit rollout status` driven through the seed's whole post-cutover rollout.

Uses its own embedded stack (the figures count every conversation and event, so other
tests' rows would change them) and its own function servers, one per flag setting.
Events "older than the window" are made by moving chat_access_events.created_at back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import one_row
from toolkit import stack
from toolkit.config import DeclaredFlags
from toolkit.ops.rollout import (
    DISABLE_BOOTSTRAP,
    DONE,
    ENFORCE_TOKEN,
    KEEP_WATCHING,
    Figures,
    RolloutStatus,
    rollout_status,
)
from toolkit.paths import REPO_ROOT
from toolkit.stack import testing

pytestmark = pytest.mark.embedded

BOOTSTRAP_OFF = {"CHAT_SYNC_ALLOW_BOOTSTRAP": "false"}
BOTH_FLIPPED = {**BOOTSTRAP_OFF, "ENFORCE_VISITOR_CONVERSATION_TOKEN": "true"}
SEEDED = [
    ("00000000-0000-4000-8000-00000000a001", "seed-visitor-alice"),
    ("00000000-0000-4000-8000-00000000b001", "seed-visitor-bob"),
]


@pytest.fixture(scope="module")
def rollout_stack() -> Iterator[stack.StackState]:
    """A fresh migrated stack: the two seeded conversations are legacy (no hash)."""
    with stack.temporary() as state:
        yield state


@pytest.fixture(scope="module")
def functions(rollout_stack: stack.StackState) -> Iterator[Callable[[dict[str, str]], str]]:
    """Start a functions server with these flags (one per setting); returns its URL."""
    running: dict[frozenset[tuple[str, str]], str] = {}
    processes: list[subprocess.Popen[bytes]] = []
    logs = Path(tempfile.mkdtemp(prefix="chat-toolkit-rollout-"))

    def start(flags: dict[str, str]) -> str:
        key = frozenset(flags.items())
        if key not in running:
            port = testing.free_port()
            env = {**rollout_stack.env(), **flags}
            processes.append(testing.serve_functions(env, port, logs / f"serve-{port}.log"))
            running[key] = f"http://127.0.0.1:{port}/functions/v1"
        return running[key]

    yield start
    for proc in processes:
        testing.stop_functions(proc)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def post(
    http: httpx.Client, state: stack.StackState, url: str, name: str, body: dict[str, Any]
) -> httpx.Response:
    key = state.env()["SUPABASE_ANON_KEY"]
    return http.post(
        f"{url}/{name}", json=body, headers={"apikey": key, "Authorization": f"Bearer {key}"}
    )


def report(state: stack.StackState, flags: dict[str, str] | None = None) -> RolloutStatus:
    return rollout_status({**state.env(), **(flags or {})}, days=7)


def age_events(db_url: str) -> None:
    """Move every access event out of the 7-day window."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("update chat_access_events set created_at = now() - interval '8 days'")


def test_rollout_walks_the_seed_steps_in_order(
    rollout_stack: stack.StackState,
    functions: Callable[[dict[str, str]], str],
    http: httpx.Client,
) -> None:
    """keep watching → bootstrap off → keep watching → enforce → done, as the figures move."""
    state, db_url = rollout_stack, rollout_stack.db_url
    verdicts = []

    # 1. Legacy conversations exist: two seeded plus two more, none with a hash.
    legacy = list(SEEDED)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for _ in range(2):
            visitor = f"legacy-{uuid.uuid4()}"
            (cid,) = one_row(
                conn,
                "insert into chat_conversations (visitor_id) values (%s) returning id::text",
                (visitor,),
            )
            legacy.append((cid, visitor))
    first = report(state)
    assert first.figures == Figures(7, 4, 4, 0, 0, 0, DeclaredFlags(True, False))
    verdicts.append(first.next_step.step)

    # 2. Every legacy visitor resumes through bootstrap: four mints in the window.
    default_url = functions({})
    tokens = {}
    for cid, visitor in legacy:
        response = post(
            http,
            state,
            default_url,
            "chat-visitor-sync",
            {"conversationId": cid, "visitorId": visitor},
        )
        assert response.status_code == 200, response.text
        tokens[cid] = response.json()["conversationToken"]
    minted = report(state)
    assert minted.figures == Figures(7, 0, 0, 4, 0, 0, DeclaredFlags(True, False))
    assert minted.next_step.step == KEEP_WATCHING
    assert minted.next_step.reason.startswith("4 bootstrap mints in the last 7 days")

    # ... and a week passes without another mint.
    age_events(db_url)
    quiet = report(state)
    assert quiet.figures == Figures(7, 0, 0, 0, 0, 0, DeclaredFlags(True, False))
    verdicts.append(quiet.next_step.step)

    # 3. Bootstrap is off; a visitor still sends without a token and is accepted.
    off_url = functions(BOOTSTRAP_OFF)
    alice_cid, alice = SEEDED[0]
    refused = post(
        http, state, off_url, "chat-visitor-sync", {"conversationId": alice_cid, "visitorId": alice}
    )
    assert (refused.status_code, refused.json()["code"]) == (401, "token_required")
    tokenless = post(
        http,
        state,
        off_url,
        "handle-chat-message",
        {"visitorId": alice, "conversationId": alice_cid, "message": "no token"},
    )
    assert tokenless.status_code == 200
    assert "conversationToken" not in tokenless.json()
    held = report(state, BOOTSTRAP_OFF)
    assert held.figures == Figures(7, 0, 0, 0, 1, 0, DeclaredFlags(False, False))
    verdicts.append(held.next_step.step)

    # 4. A week without tokenless messages.
    age_events(db_url)
    ready = report(state, BOOTSTRAP_OFF)
    assert ready.figures == Figures(7, 0, 0, 0, 0, 0, DeclaredFlags(False, False))
    verdicts.append(ready.next_step.step)

    # 5. Both flags flipped: tokenless messages are refused, tokens still work.
    flipped_url = functions(BOTH_FLIPPED)
    enforced = post(
        http,
        state,
        flipped_url,
        "handle-chat-message",
        {"visitorId": alice, "conversationId": alice_cid, "message": "no token"},
    )
    assert (enforced.status_code, enforced.json()["code"]) == (401, "token_required")
    with_token = post(
        http,
        state,
        flipped_url,
        "handle-chat-message",
        {
            "visitorId": alice,
            "conversationId": alice_cid,
            "conversationToken": tokens[alice_cid],
            "message": "with token",
        },
    )
    assert with_token.status_code == 200
    done = report(state, BOTH_FLIPPED)
    assert done.figures == Figures(7, 0, 0, 0, 0, 0, DeclaredFlags(False, True))
    verdicts.append(done.next_step.step)

    assert verdicts == [KEEP_WATCHING, DISABLE_BOOTSTRAP, KEEP_WATCHING, ENFORCE_TOKEN, DONE]
    assert [quiet.next_step.command, ready.next_step.command, done.next_step.command] == [
        "supabase secrets set CHAT_SYNC_ALLOW_BOOTSTRAP=false",
        "supabase secrets set ENFORCE_VISITOR_CONVERSATION_TOKEN=true",
        "chat-toolkit verify --write",
    ]


def test_idle_unhashed_conversations_do_not_hold_the_rollout(
    rollout_stack: stack.StackState,
) -> None:
    """An unhashed active conversation idle past the window is counted but changes no verdict."""
    before = report(rollout_stack)
    with psycopg.connect(rollout_stack.db_url, autocommit=True) as conn:
        (cid,) = one_row(
            conn,
            "insert into chat_conversations (visitor_id, created_at, updated_at, last_message_at) "
            "values (%s, now() - interval '30 days', now() - interval '30 days', "
            "now() - interval '20 days') returning id",
            (f"idle-{uuid.uuid4()}",),
        )
        try:
            after = report(rollout_stack)
        finally:
            conn.execute("delete from chat_conversations where id = %s", (cid,))
    assert after.figures.unhashed_active == before.figures.unhashed_active + 1
    assert after.figures.unhashed_active_recent == before.figures.unhashed_active_recent
    assert after.next_step.step == before.next_step.step


def rollout_cli(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`chat-toolkit rollout status` in a clean environment: only the env file counts."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "CHAT_"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            "rollout",
            "status",
            "--env-file",
            str(env_file),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=clean,
        timeout=60,
        check=False,
    )


def test_cli_prints_the_figures_and_the_next_step(
    rollout_stack: stack.StackState, tmp_path: Path
) -> None:
    """`rollout status --json` prints the figures and step; the text names the command."""
    env_file = tmp_path / "env"
    values = {**rollout_stack.env(), **BOOTSTRAP_OFF}
    env_file.write_text("".join(f'{k}="{v}"\n' for k, v in values.items()))
    age_events(rollout_stack.db_url)

    as_json = rollout_cli(env_file, "--json", "--days", "3")
    assert (as_json.returncode, as_json.stderr) == (0, "")
    body = json.loads(as_json.stdout)
    assert body["window_days"] == 3
    assert body["flags"] == {
        "CHAT_SYNC_ALLOW_BOOTSTRAP": False,
        "ENFORCE_VISITOR_CONVERSATION_TOKEN": False,
    }
    assert body["flags_defaulted"] == ["ENFORCE_VISITOR_CONVERSATION_TOKEN"]
    assert body["figures"]["tokenless_accepted"] == 0
    assert body["next_step"]["step"] == ENFORCE_TOKEN
    text = rollout_cli(env_file)
    assert text.returncode == 0
    assert text.stdout.splitlines()[-4:] == [
        f"next step: {ENFORCE_TOKEN} (seed post-cutover step 4)",
        "  why: bootstrap is off and 0 messages were accepted without a token in the last 7 days",
        "  run: supabase secrets set ENFORCE_VISITOR_CONVERSATION_TOKEN=true",
        "  then declare ENFORCE_VISITOR_CONVERSATION_TOKEN=true in the env file, so `verify` "
        "and `rollout status` know",
    ]
