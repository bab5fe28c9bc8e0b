"""The embedded stack's life: up, down, status, a temporary stack, and the foreground wait.

<dir>/pgdata      the database cluster (made fresh by every `up`)
<dir>/logs        one log per part
<dir>/state.json  ports, recorded PIDs and options of the running stack (mode 0600)
<dir>/env         SUPABASE_* variables in dotenv form, for every other command (mode 0600)
<dir>/signing_keys.json, jwks.json, postgrest_jwks.json
                  the ES256 signing key, its public JWKS (the gateway serves it) and the
                  keys PostgREST verifies with (all mode 0600)
"""

from __future__ import annotations

import contextlib
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import StackError, UsageError
from toolkit.keys import PUBLISHABLE_PREFIX, SECRET_PREFIX, new_api_key
from toolkit.stack import parts
from toolkit.stack.gateway import start_gateway
from toolkit.stack.processes import (
    AddressInUse,
    check_port,
    free_port,
    is_ours,
    log_tail,
    port_free,
    reap,
    signals_held,
    terminate,
)
from toolkit.stack.state import KEY_MODES, StackState, read_state

__all__ = [
    "PARTS",
    "StackOptions",
    "down",
    "function_parts",
    "log_tails",
    "status",
    "temporary",
    "up",
    "wait_foreground",
]

PARTS = ("postgres", "postgrest", "functions", "nginx")
# The ports each part binds, and the flag that fixes each.
_PORTS = {
    "postgres": ("db",),
    "postgrest": ("rest", "rest_admin"),
    "functions": ("functions",),
    "nginx": ("api",),
}
_FLAGS = {
    "api": "--api-port",
    "db": "--db-port",
    "rest": "--rest-port",
    "rest_admin": "--rest-port",
    "functions": "--functions-port",
}
# How often a part is started again on fresh ports after losing an auto-chosen one to
# another process between choice and bind (each loss needs a new race to be lost).
_PORT_ATTEMPTS = 5
Progress = Callable[[str], None]


@dataclass(frozen=True)
class StackOptions:
    """How to bring a stack up; a port of 0 means "pick a free one"; `keys` is a key mode
    (state.py: legacy, new or both)."""

    directory: Path = Path(".stack")
    keys: str = "both"
    baseline_only: bool = False
    auto_expose: bool = True
    functions: bool = True
    api_port: int = 0
    db_port: int = 0
    rest_port: int = 0
    functions_port: int = 0
    functions_env: dict[str, str] = field(default_factory=dict)
    functions_workers: int = 1
    functions_instances: int = 1
    """Functions servers behind the gateway; the 2nd and later are parts `functions-2`, ..."""


def up(
    options: StackOptions,
    progress: Progress = lambda _line: None,
    started: Callable[[str], None] = lambda _stage: None,
) -> StackState:
    """Start every part, each checked for readiness, and write <dir>/env and state.json.

    `started(stage)` is called once each stage (postgres, schema, postgrest, functions,
    nginx) is under way: its process recorded, not yet ready. On any error or interrupt,
    every part started is stopped; an interrupt says so in one `progress` line.
    """
    if options.keys not in KEY_MODES:
        raise UsageError(f"--keys {options.keys} is not one of {', '.join(KEY_MODES)}")
    directory = options.directory.resolve()
    running = read_state(directory)
    if running is not None and any(is_ours(pid, p) for p, pid in running.pids.items()):
        raise StackError(
            f"a stack is already running in {directory} (API {running.api_url}); "
            f"run `chat-toolkit stack down --dir {shlex.quote(str(options.directory))}` first"
        )
    found = parts.binaries()
    requested = {
        "api": options.api_port,
        "db": options.db_port,
        "rest": options.rest_port,
        "functions": options.functions_port,
    }
    fixed = {name for name, port in requested.items() if port}
    ports = {
        name: check_port(port, _FLAGS[name]) if port else free_port()
        for name, port in requested.items()
    }
    ports["rest_admin"] = free_port()
    for extra in function_parts(options.functions_instances)[1:]:
        ports[extra] = free_port()
    parts.prepare_directory(directory)
    state = StackState(
        directory=str(directory),
        ports=ports,
        pids={},
        jwt_secret=secrets.token_urlsafe(32),
        baseline_only=options.baseline_only,
        auto_expose=options.auto_expose,
        keys=options.keys,
    )
    if state.new:
        state.publishable_key = new_api_key(PUBLISHABLE_PREFIX)
        state.secret_key = new_api_key(SECRET_PREFIX)
    state.save()

    def record(part: str, pid: int) -> None:
        state.record(part, pid)
        started(part)

    def start(part: str, run: Callable[[], None], moved: Callable[[], None] = lambda: None) -> None:
        _on_fresh_ports(state, part, fixed, run, moved, progress)

    def functions() -> None:
        parts.start_functions(state, options.functions_env, options.functions_workers, record)

    def extra_functions() -> None:
        for part in function_parts(options.functions_instances)[1:]:
            parts.start_functions(
                state, options.functions_env, options.functions_workers, record, part
            )

    def restart_functions() -> None:
        # The functions server reaches PostgREST through the gateway: a new API port
        # is a new SUPABASE_URL for it.
        for part in function_parts(options.functions_instances):
            _stop(state, part)
        start("functions", functions)
        extra_functions()

    try:
        parts.write_keys(state)
        parts.init_postgres(state, found)
        start("postgres", lambda: parts.start_postgres(state, found, record))
        progress(f"postgres    ready on 127.0.0.1:{state.ports['db']}")
        started("schema")
        parts.load_schema(state, progress)
        start("postgrest", lambda: parts.start_postgrest(state, record))
        progress(f"postgrest   ready on 127.0.0.1:{state.ports['rest']}")
        if options.functions:
            start("functions", functions)
            extra_functions()
            for part in function_parts(options.functions_instances):
                progress(f"{part:<11} ready on 127.0.0.1:{state.ports[part]}")
        start(
            "nginx",
            lambda: start_gateway(state, found["nginx"], record),
            restart_functions if options.functions else lambda: None,
        )
        progress(f"gateway     ready on {state.api_url}")
        state.write_env()
    except BaseException as exc:
        with signals_held():
            stopped = down(directory, quiet=True, state=state)
            if isinstance(exc, KeyboardInterrupt):
                progress(
                    f"interrupted; stopped {', '.join(stopped) or 'nothing (none had started)'}"
                )
        raise
    return state


def _on_fresh_ports(
    state: StackState,
    part: str,
    fixed: set[str],
    run: Callable[[], None],
    moved: Callable[[], None],
    progress: Progress,
) -> None:
    """Run a part's start; when another process took one of its auto-chosen ports between
    choice and bind, start it again on fresh ones (after `moved`). A taken port that was
    asked for is a one-line StackError naming its flag."""
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        try:
            run()
            return
        except AddressInUse as exc:
            _stop(state, part)
            names = _PORTS[part]
            for name in names:
                if name in fixed and not port_free(state.ports[name]):
                    raise StackError(
                        f"port {state.ports[name]} is taken; free it or choose another "
                        f"with {_FLAGS[name]}"
                    ) from None
            if attempt == _PORT_ATTEMPTS:
                raise StackError(f"{exc} ({attempt} times, on fresh ports each)") from None
            moving = [name for name in names if name not in fixed]
            lost = ", ".join(str(state.ports[name]) for name in moving)
            for name in moving:
                state.ports[name] = free_port()
            state.save()
            fresh = ", ".join(str(state.ports[name]) for name in moving)
            progress(f"{part:<11} port {lost} was taken meanwhile; trying {fresh}")
            moved()


# How each part is stopped: PostgreSQL's fast shutdown (SIGINT) to the postmaster alone
# (it stops its backends), SIGTERM to the whole group for the others (workers too).
_STOP = {
    "postgres": (signal.SIGINT, False),
    "postgrest": (signal.SIGTERM, True),
    "functions": (signal.SIGTERM, True),
    "nginx": (signal.SIGTERM, True),
}


def _stop(state: StackState, part: str) -> None:
    """Stop one part (before it is started again) and forget it."""
    pid = state.pids.pop(part, None)
    if pid is not None:
        _stop_pid(pid, part)
        state.save()


def function_parts(instances: int) -> list[str]:
    """The part (and port) names of `instances` functions servers: functions, functions-2..."""
    return ["functions", *(f"functions-{i}" for i in range(2, instances + 1))]


def _start_order(part: str) -> tuple[int, str]:
    """Parts in start order; extra functions instances right after the first."""
    return (PARTS.index(part.partition("-")[0]), part)


def _recorded_parts(state: StackState) -> list[str]:
    """The parts `up` recorded, in start order."""
    return sorted(state.pids, key=_start_order)


def _stop_pid(pid: int, part: str) -> bool:
    """Stop a recorded part if it still runs (True then), and reap it."""
    running = is_ours(pid, part)
    if running:
        sig, group = _STOP[part.partition("-")[0]]
        terminate(pid, sig, group=group)
    reap(pid)
    return running


def down(directory: Path, *, quiet: bool = False, state: StackState | None = None) -> list[str]:
    """Stop exactly the processes `up` recorded, newest first; returns what was stopped."""
    directory = directory.resolve()
    state = state or read_state(directory)
    if state is None:
        if quiet:
            return []
        raise StackError(f"no stack in {directory} (nothing to stop)")
    stopped = [
        part for part in reversed(_recorded_parts(state)) if _stop_pid(state.pids[part], part)
    ]
    with contextlib.suppress(FileNotFoundError):
        (directory / "state.json").unlink()
    return stopped


def status(directory: Path) -> list[tuple[str, str, str]]:
    """(part, running|stopped, address) for each part of the stack in `directory`."""
    state = read_state(directory.resolve())
    if state is None:
        raise StackError(
            f"no stack in {directory.resolve()}; start one with `chat-toolkit stack up`"
        )
    where = {
        "postgres": state.db_url.replace("postgres:postgres@", "postgres@"),
        "postgrest": f"http://127.0.0.1:{state.ports['rest']}",
        "functions": f"http://127.0.0.1:{state.ports['functions']}/functions/v1",
        "nginx": state.api_url,
    }
    for part in _recorded_parts(state):
        if part not in where:
            where[part] = f"http://127.0.0.1:{state.ports[part]}/functions/v1"
    rows = []
    for part in sorted({*PARTS, *state.pids}, key=_start_order):
        pid = state.pids.get(part)
        if pid is None:
            rows.append((part, "not started", "-"))
        else:
            alive = is_ours(pid, part)
            rows.append((part, f"running (pid {pid})" if alive else "stopped", where[part]))
    return rows


def log_tails(directory: Path, lines: int = 20) -> str:
    """The last `lines` lines of each part's log under <dir>/logs, each under a header."""
    text = []
    for part in PARTS:
        log = directory / "logs" / f"{part}.log"
        if log.is_file():
            text.append(f"--- {part}: last {lines} lines of {log} ---")
            text.extend(log_tail(log, lines) or ["(empty)"])
    return "".join(f"{line}\n" for line in text)


@contextlib.contextmanager
def temporary(**options: Any) -> Iterator[StackState]:
    """A throwaway stack in a fresh temporary folder, always stopped and removed.

    When the body raises, each part's log tail goes to stderr before the folder is removed.
    """
    directory = Path(tempfile.mkdtemp(prefix="chat-toolkit-stack-"))
    try:
        yield up(StackOptions(directory=directory, **options))
    except Exception:
        sys.stderr.write(log_tails(directory))
        raise
    finally:
        down(directory, quiet=True)
        shutil.rmtree(directory, ignore_errors=True)


def wait_foreground(state: StackState) -> str:
    """Block until Ctrl-C / SIGTERM or until a part dies; then stop the stack."""
    stop_reason = "stopped"

    def _on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_signal)
    directory = Path(state.directory)
    try:
        while True:
            dead = [p for p, pid in state.pids.items() if not is_ours(pid, p)]
            if dead:
                stop_reason = f"{dead[0]} exited; see {directory / 'logs' / (dead[0] + '.log')}"
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    down(directory, quiet=True, state=state)
    return stop_reason
