"""One configuration path, end to end: an explicit --env-file wins over exported variables, the
environment wins over `.env`, and `serve`'s workers serve exactly what the parent validated."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from toolkit.config import Target
from toolkit.db.migrations import discover
from toolkit.load.procstat import process_tree

CLI = Path(sys.executable).parent / "chat-toolkit"
# Nothing listens on port 1: a database there is "the other one", which must never be used.
OTHER_DB = "postgresql://postgres:other-secret@127.0.0.1:1/postgres"

UP_TO_DATE = f"0 pending, {len(discover())} applied, 0 of the project's own"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any target, plus `extra` (as if exported)."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "CHAT_"))}
    return {**kept, **extra}


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60, check=False
    )


@pytest.fixture
def db_url(target: Target) -> str:
    if target.db_url is None:
        pytest.skip("the target has no SUPABASE_DB_URL")
    return target.db_url


def test_env_file_wins_over_an_exported_db_url_for_migrate(db_url: str, tmp_path: Path) -> None:
    """`migrate --dry-run --env-file F` reads F's database although another is exported."""
    env_file = tmp_path / "env"
    env_file.write_text(f"SUPABASE_DB_URL={db_url}\n")
    result = cli(
        "migrate",
        "--env-file",
        str(env_file),
        "--dry-run",
        cwd=tmp_path,
        env=clean_env(SUPABASE_DB_URL=OTHER_DB),
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.splitlines()[-1] == UP_TO_DATE
    assert "other-secret" not in result.stdout


def test_exported_db_url_wins_over_dot_env_for_migrate(db_url: str, tmp_path: Path) -> None:
    """Without --env-file, the exported SUPABASE_DB_URL wins over `.env` in the folder."""
    (tmp_path / ".env").write_text(f"SUPABASE_DB_URL={OTHER_DB}\n")
    result = cli("migrate", "--dry-run", cwd=tmp_path, env=clean_env(SUPABASE_DB_URL=db_url))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.splitlines()[-1] == UP_TO_DATE


def test_env_file_wins_for_verify_and_its_first_line_names_the_target(
    target: Target, tmp_path: Path
) -> None:
    """`verify --env-file F` checks F's project (not the exported one) and says so first,
    with the database password hidden."""
    env_file = tmp_path / "env"
    lines = [
        f"SUPABASE_URL={target.url}",
        f"{target.visitor_key_name}={target.visitor_key}",
        f"{target.server_key_name}={target.server_key}",
        f"SUPABASE_FUNCTIONS_URL={target.functions_url}",
    ]
    env_file.write_text("\n".join(lines) + "\n")
    exported = clean_env(SUPABASE_URL="http://127.0.0.1:1", SUPABASE_DB_URL=OTHER_DB)
    result = cli("verify", "--env-file", str(env_file), cwd=tmp_path, env=exported)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert out[0] == f"verify: {target.url}"
    assert "SKIP  catalog  SUPABASE_DB_URL is not set" in result.stdout
    assert "other-secret" not in result.stdout + result.stderr


# -- serve: workers take the parent's settings ------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workers(pid: int) -> set[int]:
    """uvicorn's worker processes under `pid` (not multiprocessing's resource tracker)."""
    found = set()
    for child in set(process_tree(pid)) - {pid}:
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
    return found


def _preflight(port: int) -> httpx.Response:
    return httpx.options(
        f"http://127.0.0.1:{port}/functions/v1/chat-visitor-sync",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
        timeout=5,
    )


def _wait(condition: object, what: str, seconds: float = 30) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path, str]]:
    """`serve --workers 2` from a folder whose `.env` holds its settings (and nothing
    exported), answering preflights without any database behind it."""
    dot_env = tmp_path / ".env"
    dot_env.write_text(
        "SUPABASE_URL=http://127.0.0.1:1\nSUPABASE_SERVICE_ROLE_KEY=service\n"
        f"SUPABASE_JWT_SECRET={'s' * 32}\n"
    )
    port = _free_port()
    proc = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        _wait(lambda: len(_workers(proc.pid)) >= 2 and _preflight(port).status_code == 200, "serve")
        yield proc, port, dot_env, first
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_restarted_workers_do_not_reread_dot_env(
    server: tuple[subprocess.Popen[str], int, Path, str],
) -> None:
    """A `.env` changed after start is not read: workers uvicorn restarts (SIGHUP) still
    serve the parent's settings (here: any origin, not the allowlist added to `.env`)."""
    proc, port, dot_env, _first = server
    assert _preflight(port).headers["access-control-allow-origin"] == "*"
    before = _workers(proc.pid)
    with dot_env.open("a") as f:
        f.write("CORS_ALLOWED_ORIGINS=https://only-this.example\n")
    proc.send_signal(signal.SIGHUP)
    _wait(lambda: not (_workers(proc.pid) & before), "the workers to be replaced")
    _wait(lambda: _preflight(port).status_code == 200, "the new workers")
    answers = [_preflight(port) for _ in range(8)]
    assert [a.headers.get("access-control-allow-origin") for a in answers] == ["*"] * 8


def test_serve_names_what_it_serves_first(
    server: tuple[subprocess.Popen[str], int, Path, str],
) -> None:
    """`serve`'s first line: where it listens, the project it writes to, and its workers."""
    _proc, port, _dot_env, first = server
    assert (
        first == f"serve: http://127.0.0.1:{port}/functions/v1 on http://127.0.0.1:1, 2 worker(s)\n"
    )
