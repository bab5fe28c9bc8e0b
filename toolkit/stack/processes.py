"""The stack's processes: launching a part in its own session and recording it before it is
waited on, readiness polling, stopping and reaping, log tails and the choice of ports.

A part is identified by its PID and checked against /proc before any signal is sent, since
PIDs get reused; the Popen handles of parts this process started are kept for reaping.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from toolkit.errors import StackError

__all__ = [
    "AddressInUse",
    "Launched",
    "as_postgres_user",
    "check_port",
    "free_port",
    "is_ours",
    "launch",
    "log_tail",
    "port_free",
    "reap",
    "signals_held",
    "terminate",
    "wait_ready",
]

READY_TIMEOUT = 30.0
# What each part's command line contains (`is_ours`).
_PROGRAMS = {
    "postgres": "postgres",
    "postgrest": "postgrest",
    "functions": "toolkit.cli",
    "nginx": "nginx",
}
# How PostgreSQL, PostgREST ("Address in use"), uvicorn and nginx report a taken port.
_ADDRESS_IN_USE = re.compile(r"address (already )?in use", re.IGNORECASE)
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class AddressInUse(StackError):
    """A part could not bind its port: another process took it after it was chosen."""


@dataclass(frozen=True)
class Launched:
    """A started part: its process, and where its own output begins in its log (bytes)."""

    part: str
    process: subprocess.Popen[bytes]
    log: Path
    log_start: int

    @property
    def pid(self) -> int:
        return self.process.pid


def free_port() -> int:
    """A loopback port nobody listens on right now (another process may take it next)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """True when a server could bind 127.0.0.1:port now.

    Binds with SO_REUSEADDR, as PostgreSQL, PostgREST, nginx and uvicorn do: TIME-WAIT
    sockets left by a stopped stack do not block the port, a listener does.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_port(port: int, flag: str) -> int:
    """`port` when it is free (`port_free`), else a one-line StackError naming `flag`."""
    if not port_free(port):
        raise StackError(f"port {port} is taken; free it or choose another with {flag}")
    return port


def as_postgres_user() -> dict[str, Any]:
    """subprocess arguments that run a PostgreSQL program as the postgres OS user when we
    are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block, then deliver the first that arrived.

    Used where an interrupt would lose track of a process: between its start and its
    record, and while the stack is being stopped.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are only ever handled in the main thread
        return
    arrived: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: arrived.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if arrived:
            signal.raise_signal(arrived[0])


def launch(
    part: str,
    argv: Sequence[str],
    log: Path,
    record: Callable[[int], None],
    *,
    env: dict[str, str] | None = None,
    **popen: Any,
) -> Launched:
    """Start a part in its own session (Ctrl-C reaches only us), output appended to `log`,
    and `record` its PID before anything can interrupt us."""
    with signals_held(), open(log, "ab") as out:
        log_start = out.tell()
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=log.parent,
            **popen,
        )
        _CHILDREN[proc.pid] = proc
        record(proc.pid)
    return Launched(part, proc, log, log_start)


def wait_ready(
    launched: Launched, ready: str | Callable[[], bool], ports: Sequence[int] = ()
) -> None:
    """Poll until `ready` (a URL answering 2xx, or a check) and the part itself listens on
    `ports`.

    The listener check matters when another stack took our port: its server would answer
    our probe. Raises AddressInUse when the part died of a taken port, StackError with the
    part's log tail when it died or timed out otherwise.
    """
    deadline = time.monotonic() + READY_TIMEOUT
    with httpx.Client(timeout=2.0) as client:

        def answers() -> bool:
            if callable(ready):
                return ready()
            try:
                return client.get(ready).is_success
            except httpx.HTTPError:
                return False

        while time.monotonic() < deadline and is_ours(launched.pid, launched.part):
            if answers() and all(_listens(launched.pid, port) for port in ports):
                return
            time.sleep(0.05)
    own_output = _read_from(launched.log, launched.log_start)
    tail = " | ".join(own_output.strip().splitlines()[-3:]) or "no output"
    if _ADDRESS_IN_USE.search(own_output):
        raise AddressInUse(f"{launched.part} found its port taken: {tail}")
    raise StackError(f"{launched.part} did not become ready: {tail} (log: {launched.log})")


def is_ours(pid: int, part: str) -> bool:
    """True when pid is alive and still the program we started (PIDs get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return not _zombie(pid) and _PROGRAMS[part] in cmdline


def terminate(pid: int, sig: int = signal.SIGTERM, *, group: bool = True) -> None:
    """Send `sig` (to the part's whole process group: uvicorn's and nginx's workers too),
    wait up to 20 s for it to exit, then SIGKILL it."""

    def send(signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum) if group else os.kill(pid, signum)

    send(sig)
    deadline = time.monotonic() + 20.0
    child = _CHILDREN.get(pid)
    while time.monotonic() < deadline:
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(0.05)
            if child.returncode is not None:
                break
        else:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if _zombie(pid):
                break
            time.sleep(0.05)
    else:
        send(signal.SIGKILL)
    reap(pid)


def reap(pid: int) -> None:
    """Collect the exit status of a part this process started, however it ended."""
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(5)


def log_tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a log (none when it cannot be read)."""
    return _read_from(path, 0).rstrip().splitlines()[-lines:]


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def _zombie(pid: int) -> bool:
    """True for an exited process (zombie or gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def _listens(pid: int, port: int) -> bool:
    """True when `pid` holds the socket that listens on 127.0.0.1:port (/proc/net/tcp)."""
    sockets = set()
    with contextlib.suppress(OSError):
        for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[1] == f"0100007F:{port:04X}":  # LISTEN
                sockets.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in sockets:
                    return True
    return False
