"""The embedded stack: PostgreSQL 15, PostgREST 12, the functions server and an nginx
gateway with Supabase's URL layout, all in one folder and on loopback ports.

    <dir>/pgdata   the database cluster (made fresh by every `up`)
    <dir>/logs     one log per part
    <dir>/state.json  ports, recorded PIDs and options of the running stack
    <dir>/env      SUPABASE_* variables in dotenv form, for every other command
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from toolkit.db import migrations
from toolkit.errors import StackError
from toolkit.keys import mint_key
from toolkit.paths import BASELINE_DIR, LOCAL_DIR, POSTGREST_BIN, REPO_ROOT, WIDGET_DIR

__all__ = [
    "StackOptions",
    "StackState",
    "down",
    "free_port",
    "kill_part",
    "read_state",
    "restart_postgrest",
    "serve_functions",
    "status",
    "stop_functions",
    "temporary",
    "up",
    "wait_foreground",
]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PARTS = ("postgres", "postgrest", "functions", "nginx")
_READY_TIMEOUT = 30.0
# Popen handles of the parts this process started, so it can reap them when stopping.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class StackOptions:
    """How to bring a stack up; a port of 0 means "pick a free one"."""

    directory: Path = Path(".stack")
    baseline_only: bool = False
    auto_expose: bool = True
    functions: bool = True
    api_port: int = 0
    db_port: int = 0
    rest_port: int = 0
    functions_port: int = 0
    functions_env: dict[str, str] = field(default_factory=dict)
    functions_workers: int = 1


@dataclass
class StackState:
    """What `up` started: written to <dir>/state.json, read by `down` and `status`."""

    directory: str
    ports: dict[str, int]
    pids: dict[str, int]
    jwt_secret: str
    baseline_only: bool
    auto_expose: bool

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def db_url(self) -> str:
        # The server has no TLS; libpq and psycopg fall back to plain, but the Supabase CLI
        # (pgx) refuses a URL without sslmode=disable.
        port = self.ports["db"]
        return f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres?sslmode=disable"

    def env(self) -> dict[str, str]:
        return {
            "SUPABASE_URL": self.api_url,
            "SUPABASE_ANON_KEY": mint_key(self.jwt_secret, "anon"),
            "SUPABASE_SERVICE_ROLE_KEY": mint_key(self.jwt_secret, "service_role"),
            "SUPABASE_DB_URL": self.db_url,
            "SUPABASE_FUNCTIONS_URL": f"{self.api_url}/functions/v1",
            "SUPABASE_JWT_SECRET": self.jwt_secret,
        }


def read_state(directory: Path) -> StackState | None:
    path = directory / "state.json"
    if not path.is_file():
        return None
    try:
        return StackState(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise StackError(
            f"{path} is unreadable ({exc}); remove {directory} and run `stack up`"
        ) from exc


def up(options: StackOptions, progress: Progress = lambda _line: None) -> StackState:
    """Start every part, each checked for readiness, and write <dir>/env and state.json."""
    directory = options.directory.resolve()
    running = read_state(directory)
    if running is not None and _alive_parts(running):
        raise StackError(
            f"a stack is already running in {directory} (API {running.api_url}); "
            f"run `chat-toolkit stack down --dir {options.directory}` first"
        )
    binaries = _binaries()
    ports = {
        "api": _port(options.api_port, "--api-port"),
        "db": _port(options.db_port, "--db-port"),
        "rest": _port(options.rest_port, "--rest-port"),
        "rest_admin": _port(0, "--rest-port"),
        "functions": _port(options.functions_port, "--functions-port"),
    }
    _prepare_directory(directory)
    state = StackState(
        directory=str(directory),
        ports=ports,
        pids={},
        jwt_secret=secrets.token_urlsafe(32),
        baseline_only=options.baseline_only,
        auto_expose=options.auto_expose,
    )
    try:
        _start_postgres(state, binaries, progress)
        _load_schema(state, options, progress)
        _start_postgrest(state)
        progress(f"postgrest   ready on 127.0.0.1:{ports['rest']}")
        if options.functions:
            _start_functions(state, options)
            progress(f"functions   ready on 127.0.0.1:{ports['functions']}")
        _start_nginx(state, binaries)
        progress(f"gateway     ready on {state.api_url}")
    except BaseException:
        down(directory, quiet=True, state=state)
        raise
    env_text = "".join(f'{k}="{v}"\n' for k, v in state.env().items())
    (directory / "env").write_text(env_text)
    return state


def down(directory: Path, *, quiet: bool = False, state: StackState | None = None) -> list[str]:
    """Stop exactly the processes `up` recorded, newest first; returns what was stopped."""
    directory = directory.resolve()
    state = state or read_state(directory)
    if state is None:
        if quiet:
            return []
        raise StackError(f"no stack in {directory} (nothing to stop)")
    stopped = []
    for part in reversed(PARTS):
        pid = state.pids.get(part)
        if pid is None:
            continue
        if _is_ours(pid, part):
            if part == "postgres":
                _pg_ctl(directory, ["stop", "-m", "fast", "-w", "-t", "20"], check=False)
            else:
                _terminate(pid)
            stopped.append(part)
        _reap(pid)
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
    rows = []
    for part in PARTS:
        pid = state.pids.get(part)
        if pid is None:
            rows.append((part, "not started", "-"))
        else:
            alive = _is_ours(pid, part)
            rows.append((part, f"running (pid {pid})" if alive else "stopped", where[part]))
    return rows


@contextlib.contextmanager
def temporary(**options: object) -> Iterator[StackState]:
    """A throwaway stack in a fresh temporary folder, always stopped and removed."""
    directory = Path(tempfile.mkdtemp(prefix="chat-toolkit-stack-"))
    try:
        yield up(StackOptions(directory=directory, **options))  # type: ignore[arg-type]
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
            dead = [p for p, pid in state.pids.items() if not _is_ours(pid, p)]
            if dead:
                stop_reason = f"{dead[0]} exited; see {directory / 'logs' / (dead[0] + '.log')}"
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    down(directory, quiet=True, state=state)
    return stop_reason


# -- parts ------------------------------------------------------------------------------


def _binaries() -> dict[str, Path]:
    found = {
        "initdb": PG_BIN / "initdb",
        "pg_ctl": PG_BIN / "pg_ctl",
        "postgrest": POSTGREST_BIN,
        "nginx": Path(shutil.which("nginx") or "/usr/sbin/nginx"),
    }
    install = {
        "initdb": "the Debian package postgresql-15",
        "pg_ctl": "the Debian package postgresql-15",
        "postgrest": "PostgREST 12 with ./scripts/setup.sh (npm install)",
        "nginx": "the Debian package nginx (apt-get install -y nginx)",
    }
    for name, path in found.items():
        if not path.is_file():
            raise StackError(f"{name} not found at {path}; install {install[name]}")
    return found


def _port(requested: int, flag: str) -> int:
    if requested:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", requested))
            except OSError:
                raise StackError(
                    f"port {requested} is taken; free it or choose another with {flag}"
                ) from None
        return requested
    return free_port()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare_directory(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(directory / "pgdata", ignore_errors=True)
    (directory / "logs").mkdir(exist_ok=True)
    (directory / "run").mkdir(exist_ok=True)  # PostgreSQL's socket
    (directory / "nginx").mkdir(exist_ok=True)  # nginx's pid and temp files, owned by it
    for log in (directory / "logs").glob("*.log"):
        log.unlink()
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root; its files belong to the postgres OS user,
        # who must be able to reach the stack folder.
        directory.chmod(0o755)
        reach = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-x", str(directory)], check=False
        )
        if reach.returncode != 0:
            raise StackError(
                f"the postgres OS user cannot reach {directory} (a parent folder is private); "
                "choose a stack folder under /tmp with --dir"
            )
        shutil.chown(directory / "run", "postgres")
        (directory / "logs" / "postgres.log").touch()
        shutil.chown(directory / "logs" / "postgres.log", "postgres")


def _as_postgres_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _pg_ctl(directory: Path, args: list[str], *, check: bool = True) -> None:
    argv = _as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(directory / "pgdata"), *args])
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        reason = _tail(directory / "logs" / "postgres.log") or result.stderr.strip()
        raise StackError(f"postgres failed to start: {reason}")


def _start_postgres(state: StackState, binaries: dict[str, Path], progress: Progress) -> None:
    directory = Path(state.directory)
    pgdata = directory / "pgdata"
    if os.geteuid() == 0:
        pgdata.mkdir(mode=0o700)
        shutil.chown(pgdata, "postgres")
    init = subprocess.run(
        _as_postgres_user(
            [
                str(binaries["initdb"]),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "-N",
            ]
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise StackError(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
    options = " ".join(
        [
            f"-p {state.ports['db']}",
            "-c listen_addresses=127.0.0.1",
            f"-k {directory / 'run'}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c timezone=UTC",
            "-c max_connections=200",
        ]
    )
    _pg_ctl(
        directory,
        ["-w", "-t", "30", "-l", str(directory / "logs" / "postgres.log"), "-o", options, "start"],
    )
    state.pids["postgres"] = int((pgdata / "postmaster.pid").read_text().split()[0])
    _save_state(state)
    progress(f"postgres    ready on 127.0.0.1:{state.ports['db']}")


def _load_schema(state: StackState, options: StackOptions, progress: Progress) -> None:
    # The chat tables predate the 2026 change, so they are always created under the
    # classic grants; --no-auto-expose only changes what later tables get.
    local = [
        LOCAL_DIR / "00_supabase_roles.sql",
        LOCAL_DIR / "10_auto_expose_grants.sql",
        LOCAL_DIR / "15_pgrst_schema_reload.sql",
    ]
    migrations.run_sql_files(state.db_url, [*local, *sorted(BASELINE_DIR.glob("*.sql"))])
    if not options.auto_expose:
        migrations.run_sql_files(state.db_url, [LOCAL_DIR / "20_no_auto_expose.sql"])
    if options.baseline_only:
        progress("schema      baseline only (pre-cutover: anon can read every chat)")
        return
    applied = migrations.migrate(state.db_url)
    progress(f"schema      baseline + {len(applied)} migrations")


def _launch(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a part in its own session (Ctrl-C reaches only us), output appended to `log`."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=log.parent,
        )
    _CHILDREN[proc.pid] = proc
    return proc


def _spawn(state: StackState, part: str, argv: list[str]) -> int:
    proc = _launch(argv, Path(state.directory) / "logs" / f"{part}.log")
    state.pids[part] = proc.pid
    _save_state(state)
    return proc.pid


def _start_postgrest(state: StackState) -> None:
    directory = Path(state.directory)
    conf = directory / "postgrest.conf"
    conf.write_text(
        "\n".join(
            [
                f'db-uri = "postgres://authenticator@127.0.0.1:{state.ports["db"]}/postgres"',
                'db-schemas = "public,graphql_public"',
                'db-extra-search-path = "public,extensions"',
                "db-max-rows = 1000",
                'db-anon-role = "anon"',
                "db-pool = 20",
                f'jwt-secret = "{state.jwt_secret}"',
                'server-host = "127.0.0.1"',
                f"server-port = {state.ports['rest']}",
                f"admin-server-port = {state.ports['rest_admin']}",
                'log-level = "error"',
                "",
            ]
        )
    )
    restart_postgrest(state)


def restart_postgrest(state: StackState) -> None:
    """(Re)start PostgREST from the stack's config, recorded for `down`; return once ready."""
    directory = Path(state.directory)
    _spawn(state, "postgrest", [str(POSTGREST_BIN), str(directory / "postgrest.conf")])
    _wait_ready(
        f"http://127.0.0.1:{state.ports['rest_admin']}/ready",
        state.pids["postgrest"],
        "postgrest",
        directory / "logs" / "postgrest.log",
    )


def kill_part(state: StackState, part: str) -> None:
    """Fault injection: SIGKILL a part this process started, and reap it."""
    pid = state.pids[part]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)


def _start_functions(state: StackState, options: StackOptions) -> None:
    env = {**state.env(), **options.functions_env}
    log = Path(state.directory) / "logs" / "functions.log"
    proc = serve_functions(env, state.ports["functions"], log, workers=options.functions_workers)
    state.pids["functions"] = proc.pid
    _save_state(state)


def serve_functions(
    env: dict[str, str], port: int, log: Path, *, workers: int = 1
) -> subprocess.Popen[bytes]:
    """Start `chat-toolkit serve` on 127.0.0.1:port with these settings; return once ready."""
    argv = [sys.executable, "-m", "toolkit.cli", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(workers)]
    full_env = {**os.environ, **env}
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), full_env.get("PYTHONPATH")])
    )
    proc = _launch(argv, log, full_env)
    try:
        _wait_ready(
            f"http://127.0.0.1:{port}/functions/v1/openapi.json", proc.pid, "functions", log
        )
    except StackError:
        _terminate(proc.pid)
        raise
    return proc


def stop_functions(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by serve_functions."""
    _terminate(proc.pid)


def _start_nginx(state: StackState, binaries: dict[str, Path]) -> None:
    directory = Path(state.directory)
    conf = directory / "nginx.conf"
    conf.write_text(_nginx_conf(state))
    _spawn(
        state,
        "nginx",
        [
            str(binaries["nginx"]),
            "-p",
            str(directory),
            "-c",
            str(conf),
            "-e",
            str(directory / "logs" / "nginx.log"),
        ],
    )
    _wait_ready(
        f"{state.api_url}/rest/v1/", state.pids["nginx"], "nginx", directory / "logs" / "nginx.log"
    )


def _nginx_conf(state: StackState) -> str:
    directory = Path(state.directory)
    # Answers the gateway makes itself still carry Supabase's function CORS headers, so a
    # browser widget can read them.
    cors = (
        "add_header Access-Control-Allow-Origin * always; "
        'add_header Access-Control-Allow-Headers "authorization, x-client-info, apikey, '
        'content-type" always;'
    )
    user = "user root root;" if os.geteuid() == 0 else ""
    return f"""# chat-toolkit gateway: Supabase's URL layout; no apikey check, as the CLI's Kong.
{user}
worker_processes 1;
daemon off;
pid {directory / "nginx" / "nginx.pid"};
error_log {directory / "logs" / "nginx.log"} warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  log_format rest '$request_method $uri $status';
  client_body_temp_path {directory / "nginx"};
  proxy_temp_path {directory / "nginx"};
  fastcgi_temp_path {directory / "nginx"};
  uwsgi_temp_path {directory / "nginx"};
  scgi_temp_path {directory / "nginx"};
  client_max_body_size 1m;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  upstream postgrest {{ server 127.0.0.1:{state.ports["rest"]}; keepalive 64; }}
  upstream functions {{ server 127.0.0.1:{state.ports["functions"]}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{state.ports["api"]};
    location /rest/v1/ {{
      access_log {directory / "logs" / "rest_access.log"} rest;
      proxy_pass http://postgrest/;
      error_page 502 504 = @rest_down;
    }}
    location /functions/v1/ {{
      proxy_pass http://functions;
      proxy_read_timeout 150s;
      error_page 502 504 = @functions_down;
      error_page 413 = @too_large;
    }}
    location @functions_down {{
      default_type application/json; {cors}
      return 503 '{{"error":"the functions server is not running","code":"upstream_unavailable"}}';
    }}
    location @too_large {{
      default_type application/json; {cors}
      return 413 '{{"error":"body is larger than the gateway accepts","code":"payload_too_large"}}';
    }}
    location /widget/ {{
      # The reference chat widget, for local development; module scripts need a JS type.
      alias {WIDGET_DIR}/;
      types {{ text/html html; text/javascript js; image/png png; }}
      add_header Cache-Control no-cache;
    }}
    location @rest_down {{
      default_type application/json;
      return 503
        '{{"message":"the REST API (PostgREST) is not running","code":"upstream_unavailable"}}';
    }}
    location / {{
      default_type application/json;
      return 404 '{{"message":"no route matched with those values"}}';
    }}
  }}
}}
"""


# -- process helpers --------------------------------------------------------------------


def _wait_ready(url: str, pid: int, part: str, log: Path) -> None:
    """Poll `url` until it answers 2xx; fail with the part's log tail if it dies or times out."""
    deadline = time.monotonic() + _READY_TIMEOUT
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not _is_ours(pid, part):
                break
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).is_success:
                    return
            time.sleep(0.05)
    raise StackError(f"{part} did not become ready: {_tail(log) or 'no output'} (log: {log})")


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _is_ours(pid: int, part: str) -> bool:
    """True when pid is alive and still the program we started (PIDs get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    expected = {
        "postgres": "postgres",
        "postgrest": "postgrest",
        "functions": "toolkit.cli",
        "nginx": "nginx",
    }[part]
    return expected in cmdline


def _alive_parts(state: StackState) -> list[str]:
    return [part for part, pid in state.pids.items() if _is_ours(pid, part)]


def _terminate(pid: int, timeout: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not Path(f"/proc/{pid}").exists() or _zombie(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int) -> None:
    """Collect the exit status of a part this process started, however it ended."""
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(5)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def _save_state(state: StackState) -> None:
    (Path(state.directory) / "state.json").write_text(json.dumps(asdict(state), indent=2))
