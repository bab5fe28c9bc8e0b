"""The embedded stack itself (issue 9): it never leaks a process and never flakes on ports.

Stacks started at the same moment all come up, a part that loses its auto-chosen port to
another process is started again on a fresh one, an interrupt at any stage of `stack up`
stops every part started, a folder with a space works, the files holding secrets are
0600, and a failure inside `temporary()` prints each part's log tail before the folder goes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from toolkit import stack
from toolkit.paths import REPO_ROOT
from toolkit.stack import lifecycle, processes

pytestmark = pytest.mark.embedded

STARTED = ("postgres", "postgrest", "functions", "nginx")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`chat-toolkit <args>` as a subprocess, with no SUPABASE_/CHAT_ settings inherited."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "CHAT_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**clean, **(env or {})},
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def processes_of(directory: Path, pids: set[int]) -> list[str]:
    """Live processes that belong to the stack in `directory`: a recorded PID, or a command
    line or working folder inside it (PostgreSQL's backends, nginx's and uvicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if int(entry.name) in pids or str(directory) in cmdline or cwd.startswith(str(directory)):
            found.append(f"{entry.name}: {cmdline}")
    return found


def rest_root(state: stack.StackState) -> httpx.Response:
    """GET /rest/v1/ with the stack's publishable key (the gateway wants an apikey)."""
    key = state.env()["SUPABASE_PUBLISHABLE_KEY"]
    return httpx.get(f"{state.api_url}/rest/v1/", headers={"apikey": key}, timeout=10)


@contextlib.contextmanager
def reachable_folder() -> Iterator[Path]:
    """A fresh folder under /tmp whose name holds spaces and which the postgres OS user can
    reach (pytest's tmp_path is private to its user), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="chat-toolkit-test stack ") as name:
        Path(name).chmod(0o755)
        yield Path(name)


@pytest.fixture()
def folder() -> Iterator[Path]:
    with reachable_folder() as path:
        yield path


# -- ports ------------------------------------------------------------------------------


def test_eight_stacks_started_at_once_all_come_up(folder: Path) -> None:
    """8 `stack up --detach` at the same moment, each in its own folder, all succeed and
    answer; then 8 `stack down` stop every part of each."""
    folders = [folder / f"stack-{n}" for n in range(8)]
    started = time.monotonic()
    ups = [cli("stack", "up", "--detach", "--dir", str(folder)) for folder in folders]
    results = [finish(proc) for proc in ups]
    elapsed = time.monotonic() - started
    print(f"8 concurrent stack up: {sum(r[0] == 0 for r in results)} of 8 up in {elapsed:.1f}s")
    try:
        for code, out, err in results:
            assert code == 0, out + err
        for folder in folders:
            state = stack.read_state(folder)
            assert state is not None
            assert rest_root(state).status_code == 200
            assert httpx.get(f"{state.api_url}/functions/v1/openapi.json", timeout=10).is_success
    finally:
        downs = [cli("stack", "down", "--dir", str(folder)) for folder in folders]
        stopped = [finish(proc) for proc in downs]
    for code, out, err in stopped:
        assert (code, out) == (0, "stopped nginx, functions, postgrest, postgres\n"), err
    for folder in folders:
        assert processes_of(folder, set()) == []


@pytest.fixture()
def taken_ports() -> Iterator[list[int]]:
    """Five loopback ports other processes listen on: what losing the race looks like."""
    listeners = []
    for _ in range(5):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        listeners.append(sock)
    yield [sock.getsockname()[1] for sock in listeners]
    for sock in listeners:
        sock.close()


def test_parts_that_lose_their_port_start_again_on_fresh_ones(
    taken_ports: list[int], monkeypatch: pytest.MonkeyPatch, folder: Path
) -> None:
    """Every auto-chosen port is taken by another process between choice and bind: each
    part is started again on a fresh port, and the stack serves a chat end to end (the
    functions server, moved to the new API port, reaches PostgREST through the gateway)."""
    handed_out = iter(taken_ports)
    fresh = processes.free_port
    monkeypatch.setattr(lifecycle, "free_port", lambda: next(handed_out, None) or fresh())
    lines: list[str] = []
    state = stack.up(stack.StackOptions(directory=folder / "stack"), progress=lines.append)
    try:
        retried = [line.split()[0] for line in lines if "was taken meanwhile" in line]
        assert sorted(retried) == sorted(STARTED)
        assert not set(state.ports.values()) & set(taken_ports)
        env = state.env()
        key = env["SUPABASE_ANON_KEY"]
        answer = httpx.post(
            f"{env['SUPABASE_FUNCTIONS_URL']}/handle-chat-message",
            json={"visitorId": "port-race", "message": "hello"},
            headers={"apikey": key, "Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
    finally:
        stopped = stack.down(folder / "stack")
    assert stopped == ["nginx", "functions", "postgrest", "postgres"]


# -- interrupts -------------------------------------------------------------------------


STAGES = {
    "postgres": "postgres",
    "schema": "postgres",
    "postgrest": "postgrest, postgres",
    "functions": "functions, postgrest, postgres",
    "nginx": "nginx, functions, postgrest, postgres",
}


def read_until_hold(proc: subprocess.Popen[str]) -> list[str]:
    """stdout lines until `stack up` says it holds (CHAT_TOOLKIT_STACK_HOLD)."""
    assert proc.stdout is not None
    lines: list[str] = []
    while not (lines and lines[-1].startswith("holding at ")):
        line = proc.stdout.readline()  # `stack up` gives up on a part within 30 s
        assert line, f"stack up ended before holding: {lines} {finish(proc)}"
        lines.append(line.rstrip("\n"))
    return lines


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("stage", list(STAGES))
def test_an_interrupt_at_each_stage_leaves_no_process(
    stage: str, signum: int, folder: Path
) -> None:
    """Ctrl-C or SIGTERM while a stage of `stack up` is under way (its process recorded,
    not yet ready): every part started is stopped, one line says which, exit 130."""
    directory = folder / "stack"
    hold = {"CHAT_TOOLKIT_STACK_HOLD": stage}
    proc = cli("stack", "up", "--detach", "--dir", str(directory), env=hold)
    try:
        before = read_until_hold(proc)
        state = stack.read_state(directory)
        assert state is not None
        recorded = set(state.pids.values())
        assert set(state.pids) == set(STAGES[stage].split(", "))
        assert processes_of(directory, recorded) != []
        proc.send_signal(signum)
        code, out, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, [*before, out, err]
    assert out == f"interrupted; stopped {STAGES[stage]}\n"
    assert processes_of(directory, recorded) == []
    assert stack.read_state(directory) is None


# -- files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spaced_stack() -> Iterator[Path]:
    """A stack started by the CLI in a folder whose path holds spaces."""
    with reachable_folder() as folder:
        directory = folder / "the stack"
        code, out, err = finish(cli("stack", "up", "--detach", "--dir", str(directory)))
        assert code == 0, out + err
        yield directory
        finish(cli("stack", "down", "--dir", str(directory)))


def test_a_folder_with_a_space_starts(spaced_stack: Path) -> None:
    """Every part runs from `.../with space.../the stack` and the gateway serves both APIs."""
    assert " " in str(spaced_stack)
    state = stack.read_state(spaced_stack)
    assert state is not None
    assert [row[1].startswith("running") for row in stack.status(spaced_stack)] == [True] * 4
    assert rest_root(state).status_code == 200
    assert httpx.get(f"{state.api_url}/functions/v1/openapi.json", timeout=10).is_success


def test_files_holding_secrets_are_private(spaced_stack: Path) -> None:
    """env and state.json (the keys), postgrest.conf and postgrest_jwks.json (the JWT secret),
    signing_keys.json (the private ES256 key) and nginx.conf (the keys and the role JWTs the
    gateway injects) are mode 0600."""
    names = ("env", "state.json", "postgrest.conf", "postgrest_jwks.json", "signing_keys.json")
    for name in (*names, "nginx.conf"):
        assert (spaced_stack / name).stat().st_mode & 0o777 == 0o600, name
    assert "jwt-secret" in (spaced_stack / "postgrest.conf").read_text()


def test_a_failure_inside_temporary_prints_each_log_tail(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The body of `temporary()` raises: each part's log tail is printed before the folder
    is removed."""
    with pytest.raises(RuntimeError, match="the body failed"), stack.temporary() as state:
        directory = Path(state.directory)
        raise RuntimeError("the body failed")
    err = capfd.readouterr().err
    for part in STARTED:
        assert f"--- {part}: last 20 lines of {directory}/logs/{part}.log ---" in err
    assert "database system is ready to accept connections" in err
    assert not directory.exists()
