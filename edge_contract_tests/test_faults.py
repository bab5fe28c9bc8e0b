"""Faults (issue 5): PostgREST killed, PostgreSQL restarted, the functions server restarted,
each in the middle of a soak, and a REST layer stalled behind a lock.

While a part is down both functions answer 503 `upstream_unavailable` JSON, never 500 and
never later than their REST timeout; within 2 s of the part's return they serve again; the
soak's visitors lose, duplicate and leak nothing. Each test breaks a throwaway stack of its
own, whose functions server it runs itself so that it can restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import auth_headers, open_conversation
from toolkit import stack
from toolkit.client import SessionStore, VisitorClient
from toolkit.config import Target
from toolkit.load.soak import SoakOptions
from toolkit.load.soak.simulation import soak
from toolkit.stack import testing
from toolkit.stack.parts import PG_BIN

pytestmark = pytest.mark.embedded

SYNC, MESSAGE = "chat-visitor-sync", "handle-chat-message"
REST_TIMEOUT = 2.0  # SUPABASE_REST_TIMEOUT_SECONDS of the servers here
RECOVERY_SECONDS = 2.0
OUTAGE_SECONDS = 1.5
UNAVAILABLE = "the chat service is temporarily unavailable"  # the functions' 503 error text
GATEWAY_UNAVAILABLE = "the functions server is not running"  # the gateway's, when they are down
PROBE_ADDRESS = "192.0.2.250"  # outside the soak's visitor addresses


@dataclass
class Rig:
    """A throwaway stack and the functions server the test runs on it."""

    state: stack.StackState
    env: dict[str, str]
    server: subprocess.Popen[bytes]

    @property
    def target(self) -> Target:
        return Target.from_env(self.state.env())

    @property
    def directory(self) -> Path:
        return Path(self.state.directory)

    def serve(self) -> None:
        log = self.directory / "logs" / "functions.log"
        self.server = testing.serve_functions(self.env, self.state.ports["functions"], log)


def rig_for(rest_timeout: float) -> Iterator[Rig]:
    """A stack without its own functions server; one started here with this REST timeout."""
    with stack.temporary(functions=False) as state:
        env = {**state.env(), "SUPABASE_REST_TIMEOUT_SECONDS": str(rest_timeout)}
        log = Path(state.directory) / "logs" / "functions.log"
        rig = Rig(state, env, testing.serve_functions(env, state.ports["functions"], log))
        try:
            yield rig
        finally:
            testing.stop_functions(rig.server)
            # A postmaster restarted by a test has a PID the stack never recorded.
            pg_ctl(rig, "stop", "-m", "fast", "-w", check=False)


@pytest.fixture()
def rig() -> Iterator[Rig]:
    yield from rig_for(REST_TIMEOUT)


@pytest.fixture()
def slow_rig() -> Iterator[Rig]:
    yield from rig_for(1.0)


@pytest.fixture()
def client() -> Iterator[httpx.Client]:
    """Every probe gives up after 10 s, so a hang fails instead of blocking."""
    with httpx.Client(timeout=10.0) as client:
        yield client


def pg_ctl(rig: Rig, *args: str, check: bool = True) -> None:
    """pg_ctl on the stack's cluster, as the postgres OS user when running as root."""
    argv = [str(PG_BIN / "pg_ctl"), "-D", str(rig.directory / "pgdata"), *args]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    result = subprocess.run(
        argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    assert result.returncode == 0 or not check, result.stderr


def call(
    http: httpx.Client, rig: Rig, name: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any], float]:
    """POST to a function through the gateway: (status, JSON body, seconds taken); an answer
    that is not JSON fails the test."""
    started = time.monotonic()
    response = http.post(
        f"{rig.target.functions_url}/{name}",
        json=body,
        headers={**auth_headers(rig.target.visitor_key), "X-Forwarded-For": PROBE_ADDRESS},
    )
    assert response.headers["content-type"] == "application/json", response.text
    return response.status_code, response.json(), time.monotonic() - started


def probe_conversation(http: httpx.Client, rig: Rig) -> dict[str, Any]:
    """A probe conversation, opened while everything is up: the fields a message body takes."""
    headers = {"X-Forwarded-For": PROBE_ADDRESS}
    body = open_conversation(http, rig.target, message="probe", headers=headers)
    return {k: body[k] for k in ("visitorId", "conversationId", "conversationToken")}


def sync_body(conversation: dict[str, Any]) -> dict[str, Any]:
    return {k: conversation[k] for k in ("conversationId", "conversationToken")}


def outage_answers(
    http: httpx.Client, rig: Rig, conversation: dict[str, Any]
) -> set[tuple[int, str | None, str | None, bool]]:
    """For OUTAGE_SECONDS, sync and send; each answer as (status, code, error, within the
    REST timeout)."""
    answers = set()
    deadline = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < deadline:
        for name, body in (
            (SYNC, sync_body(conversation)),
            (MESSAGE, {**conversation, "message": "are you there?"}),
        ):
            status, answer, seconds = call(http, rig, name, body)
            answers.add((status, answer.get("code"), answer.get("error"), seconds < REST_TIMEOUT))
        time.sleep(0.25)
    return answers


def seconds_to_recover(http: httpx.Client, rig: Rig, conversation: dict[str, Any]) -> float:
    """Seconds until a sync answers 200 again; every earlier answer must be a 503 JSON."""
    started = time.monotonic()
    while time.monotonic() - started < 10:
        status, answer, _ = call(http, rig, SYNC, sync_body(conversation))
        if status == 200:
            return time.monotonic() - started
        assert (status, answer["code"]) == (503, "upstream_unavailable"), answer
        time.sleep(0.1)
    pytest.fail("the functions did not serve again within 10 s")


@contextlib.contextmanager
def soaking(rig: Rig, session_dir: Path | None = None) -> Iterator[dict[str, Any]]:
    """A soak of 40 visitors for 14 s in a thread, entered once every visitor has a
    conversation and has synced; on the way out it waits for the soak's end, whatever
    happened, and fills in the report it yielded."""
    options = SoakOptions(
        visitors=40, duration=14.0, message_every=4.0, ramp=2.0, seed=7, session_dir=session_dir
    )
    report: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run() -> None:
        try:
            report.update(asyncio.run(soak(rig.target, options)))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="soak")
    thread.start()
    try:
        time.sleep(4.0)
        yield report
    finally:
        thread.join(options.duration + options.final_timeout + 60)
    assert not thread.is_alive(), "the soak did not end"
    if errors:
        raise errors[0]


def assert_nothing_lost(report: dict[str, Any]) -> None:
    """The soak felt the fault (only as 503 upstream_unavailable) and lost nothing to it."""
    broken = {
        k: report[k]
        for k in (
            "lost",
            "duplicated",
            "leaked",
            "internal_seen",
            "acked_missing",
            "resets",
            "unstarted",
            "unsynced",
            "crashed",
            "errors_network",
        )
    }
    assert broken == dict.fromkeys(broken, 0), report["examples"]
    assert set(report["errors_by_status"]) == {"503"}
    assert set(report["error_codes"]) == {"upstream_unavailable"}
    assert report["errors_5xx"] == report["errors_by_status"]["503"] > 0
    assert report["messages_seen"] == report["messages_visible"] > 0
    assert report["conversations"] == 40


def test_postgrest_killed_mid_soak(client: httpx.Client, rig: Rig) -> None:
    """PostgREST SIGKILLed mid-soak: both functions answer 503 upstream_unavailable at once;
    restarted from the same binary and config, they serve within 2 s; nothing is lost."""
    conversation = probe_conversation(client, rig)
    with soaking(rig) as report:
        testing.kill_part(rig.state, "postgrest")
        answers = outage_answers(client, rig, conversation)
        testing.restart_postgrest(rig.state)
        recovery = seconds_to_recover(client, rig, conversation)

    assert answers == {(503, "upstream_unavailable", UNAVAILABLE, True)}
    assert recovery < RECOVERY_SECONDS
    assert_nothing_lost(report)


def test_postgres_restarted_mid_soak(client: httpx.Client, rig: Rig) -> None:
    """PostgreSQL stopped (fast) mid-soak and started again with its own options: 503
    upstream_unavailable while it is down, service within 2 s of its return, nothing lost."""
    conversation = probe_conversation(client, rig)
    # What `pg_ctl restart` does, in two steps so that the outage lasts long enough to
    # probe: the postmaster's own command line, from postmaster.opts, minus -D.
    options = shlex.split((rig.directory / "pgdata" / "postmaster.opts").read_text())[1:]
    at = options.index("-D")
    del options[at : at + 2]
    log = str(rig.directory / "logs" / "postgres.log")
    with soaking(rig) as report:
        pg_ctl(rig, "stop", "-m", "fast", "-w", "-t", "20")
        answers = outage_answers(client, rig, conversation)
        pg_ctl(rig, "start", "-w", "-t", "20", "-l", log, "-o", shlex.join(options))
        recovery = seconds_to_recover(client, rig, conversation)

    assert answers == {(503, "upstream_unavailable", UNAVAILABLE, True)}
    assert recovery < RECOVERY_SECONDS
    assert_nothing_lost(report)


def test_functions_server_restarted_mid_soak(
    client: httpx.Client, rig: Rig, tmp_path: Path
) -> None:
    """The functions server stopped mid-soak and a new one started on its port: the gateway
    answers 503 upstream_unavailable meanwhile, the new server serves within 2 s, the
    visitors carry on with their stored sessions, and nothing is lost."""
    conversation = probe_conversation(client, rig)
    sessions = tmp_path / "sessions"
    with soaking(rig, session_dir=sessions) as report:
        testing.stop_functions(rig.server)
        answers = outage_answers(client, rig, conversation)
        rig.serve()
        recovery = seconds_to_recover(client, rig, conversation)

    assert answers == {(503, "upstream_unavailable", GATEWAY_UNAVAILABLE, True)}
    assert recovery < RECOVERY_SECONDS
    assert_nothing_lost(report)
    resumed = asyncio.run(resume(rig.target, sorted(sessions.glob("visitor-*.json"))))
    assert len(resumed) == 40
    assert all(kept for kept, _ in resumed)
    assert sum(seen for _, seen in resumed) == report["messages_visible"]


async def resume(target: Target, files: list[Path]) -> list[tuple[bool, int]]:
    """A fresh client per stored session (a reloaded page): (same conversation kept, number
    of messages its full sync returned)."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        results = []
        for path in files:
            store = SessionStore(path)
            before = store.load()
            client = VisitorClient(target.functions_url, target.visitor_key, store, http=http)
            update = await client.sync()
            results.append((update.reset is None and store.load() == before, len(client.messages)))
        return results


def wait_ready(url: str) -> None:
    """Poll `url` until it answers 200 (a restarted part is ready)."""
    deadline = time.monotonic() + 15
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.05)
    pytest.fail(f"{url} did not become ready")


def rest_connections(pid: int, port: int) -> int:
    """Established TCP connections from process `pid` to 127.0.0.1:`port`."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if fields[3] == "01" and remote_port == port and fields[9] in inodes:
            count += 1
    return count


def test_slow_rest_layer_times_out_at_the_limit_and_recovers(
    client: httpx.Client, slow_rig: Rig
) -> None:
    """With chat_conversations locked, 100 concurrent calls on a server with a 1 s REST
    timeout each answer 503 upstream_unavailable between 0.8 and 3 s, its connections to
    the REST API stay within its pool of 64, and it serves again once the lock is gone."""
    rig = slow_rig
    conversations = [probe_conversation(client, rig) for _ in range(5)]
    calls = [
        (SYNC, sync_body(c)) if i % 5 else (MESSAGE, {**c, "message": "stuck?"})
        for i, c in enumerate(conversations * 20)
    ]
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rest_connections(rig.server.pid, rig.state.ports["api"]))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    with psycopg.connect(rig.state.db_url) as lock:
        lock.execute("lock table chat_conversations in access exclusive mode")
        watcher.start()
        started = time.monotonic()
        try:
            answers = asyncio.run(burst(rig, calls))
        finally:
            stop.set()
            watcher.join()
        wall = time.monotonic() - started
        lock.rollback()
    recovery = seconds_to_recover(client, rig, conversations[0])

    assert {(status, code) for status, code, _ in answers} == {(503, "upstream_unavailable")}
    slowest = max(seconds for _, _, seconds in answers)
    fastest = min(seconds for _, _, seconds in answers)
    assert fastest >= 0.8 and slowest <= 3.0, (fastest, slowest)
    assert wall <= 4.0
    assert 1 <= peak[0] <= 64
    assert recovery < RECOVERY_SECONDS
    for c in conversations:
        status, _, _ = call(client, rig, SYNC, sync_body(c))
        assert status == 200


async def burst(rig: Rig, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[int, str, float]]:
    """All calls at once: (status, code, seconds) each."""
    limits = httpx.Limits(max_connections=len(calls))
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:

        async def one(name: str, body: dict[str, Any]) -> tuple[int, str, float]:
            started = time.monotonic()
            response = await client.post(
                f"{rig.target.functions_url}/{name}",
                json=body,
                headers={**auth_headers(rig.target.visitor_key), "X-Forwarded-For": PROBE_ADDRESS},
            )
            return response.status_code, response.json()["code"], time.monotonic() - started

        return await asyncio.gather(*(one(name, body) for name, body in calls))
