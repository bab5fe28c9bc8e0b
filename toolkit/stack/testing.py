"""Fault injection for tests: kill or restart a part of a running stack, and run extra
functions servers beside it. Nothing outside the tests uses these.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import redis

from toolkit.errors import StackError
from toolkit.stack.parts import launch_postgrest, serve_functions, start_functions
from toolkit.stack.processes import free_port, launch, reap, terminate, wait_ready
from toolkit.stack.state import StackState

__all__ = [
    "free_port",
    "kill_part",
    "restart_functions",
    "restart_postgrest",
    "serve_functions",
    "start_redis",
    "stop_functions",
    "stop_redis",
]


def kill_part(state: StackState, part: str) -> None:
    """SIGKILL a part this process started, and reap it."""
    pid = state.pids[part]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    reap(pid)


def restart_postgrest(state: StackState) -> None:
    """Start PostgREST again from the stack's config, recorded for `down`; return once ready."""
    launch_postgrest(state, state.record)


def restart_functions(
    state: StackState, part: str, settings: dict[str, str], workers: int = 1
) -> None:
    """Rolling restart of one functions instance: SIGTERM (it stops accepting, finishes
    what it accepted, exits), then the same server again on the same port, once ready."""
    terminate(state.pids.pop(part))
    start_functions(state, settings, workers, state.record, part)


def stop_functions(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by serve_functions (and its workers)."""
    terminate(proc.pid)


def start_redis(port: int, log: Path) -> subprocess.Popen[bytes]:
    """A throwaway Debian redis-server on 127.0.0.1:port, nothing persisted; once it
    answers PING. StackError when redis-server is missing or does not come up."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError("redis-server is not installed; run ./scripts/setup.sh as root")
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly"]
    started = launch("redis", [*argv, "no"], log, lambda _pid: None)
    client = redis.Redis(port=port, socket_connect_timeout=1)

    def pings() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        wait_ready(started, pings, (port,))
    except StackError:
        terminate(started.pid)
        raise
    finally:
        client.close()
    return started.process


def stop_redis(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by start_redis (a second call does nothing)."""
    terminate(proc.pid)
