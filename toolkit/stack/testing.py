"""Fault injection for tests: kill or restart a part of a running stack, and run extra
functions servers beside it. Nothing outside the tests uses these.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

from toolkit.stack.parts import launch_postgrest, serve_functions
from toolkit.stack.processes import free_port, reap, terminate
from toolkit.stack.state import StackState

__all__ = ["free_port", "kill_part", "restart_postgrest", "serve_functions", "stop_functions"]


def kill_part(state: StackState, part: str) -> None:
    """SIGKILL a part this process started, and reap it."""
    pid = state.pids[part]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    reap(pid)


def restart_postgrest(state: StackState) -> None:
    """Start PostgREST again from the stack's config, recorded for `down`; return once ready."""
    launch_postgrest(state, state.record)


def stop_functions(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by serve_functions (and its workers)."""
    terminate(proc.pid)
