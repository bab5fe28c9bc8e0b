"""Fixtures for the black-box contract tests.

The target comes from the environment (SUPABASE_URL, SUPABASE_ANON_KEY,
SUPABASE_SERVICE_ROLE_KEY, optionally SUPABASE_DB_URL and SUPABASE_FUNCTIONS_URL). With none
set, a session fixture starts an embedded stack and always tears it down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from supabase import Client, create_client

from toolkit.config import Target
from toolkit.db.migrations import discover, migrate
from toolkit.stack import lifecycle as stack

TEAM_ACCESS_VERSION = "20260327061000"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--allow-writes",
        action="store_true",
        help="run tests marked `writes` against a target that is not embedded",
    )


@pytest.fixture(scope="session")
def embedded() -> bool:
    """True when the tests own the target (an embedded stack they started)."""
    return not os.environ.get("SUPABASE_URL")


@pytest.fixture(scope="session")
def target(embedded: bool) -> Iterator[Target]:
    """The project under test: the environment's, or a fresh migrated embedded stack."""
    if not embedded:
        yield Target.from_env(os.environ)
        return
    # Rate limits are off here: the suite makes hundreds of calls per conversation and
    # from one address. test_rate_limits.py covers them on servers of its own.
    with stack.temporary(functions_env={"CHAT_RATE_LIMITS": "off"}) as state:
        yield Target.from_env(state.env())


@pytest.fixture(scope="session")
def baseline_target() -> Iterator[Target]:
    """Always embedded: the pre-cutover schema, where anon can read every visitor's chat."""
    with stack.temporary(baseline_only=True, functions=False) as state:
        yield Target.from_env(state.env())


@pytest.fixture(scope="session")
def pre_team_access_target() -> Iterator[Target]:
    """Always embedded: migrated up to, not including, the team-access migration. The anon
    leak is closed there, but the baseline's `using (true)` team policies still let every
    signed-in user through."""
    with stack.temporary(baseline_only=True, functions=False) as state:
        earlier = [m for m in discover() if m.version < TEAM_ACCESS_VERSION]
        migrate(state.db_url, migrations=earlier)
        target = Target.from_env(state.env())
        reload_schema_cache(target)
        yield target


def reload_schema_cache(target: Target) -> None:
    """Tell PostgREST about DDL done behind its back; wait until its OpenAPI document (built
    from the schema cache) shows access_token_hash, a column the migrations add."""
    assert target.db_url is not None
    with psycopg.connect(target.db_url, autocommit=True) as conn:
        conn.execute("notify pgrst, 'reload schema'")
    with httpx.Client(timeout=5.0) as client:
        for _ in range(200):
            root = client.get(
                f"{target.url}/rest/v1/", headers=auth_headers(target.service_role_key)
            )
            if "access_token_hash" in root.text:
                return
            time.sleep(0.05)
    raise AssertionError("PostgREST did not reload its schema cache within 10 s")


@pytest.fixture(autouse=True)
def _guard_writes(request: pytest.FixtureRequest, embedded: bool) -> None:
    if request.node.get_closest_marker("writes") and not (
        embedded or request.config.getoption("--allow-writes")
    ):
        pytest.skip("writes to the target; pass --allow-writes to run against it")


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture(scope="session")
def anon_client(target: Target) -> Iterator[Client]:
    """supabase-py with the anon key, as the widget's users would call it."""
    client = create_client(target.url, target.anon_key)
    yield client
    client.postgrest.aclose()


@pytest.fixture(scope="session")
def service_client(target: Target) -> Iterator[Client]:
    """supabase-py with the service-role key."""
    client = create_client(target.url, target.service_role_key)
    yield client
    client.postgrest.aclose()


@pytest.fixture()
def db(target: Target) -> Iterator[psycopg.Connection]:
    """A superuser connection for catalog checks (skipped without SUPABASE_DB_URL)."""
    if target.db_url is None:
        pytest.skip("SUPABASE_DB_URL is not set: catalog checks need a database URL")
    with psycopg.connect(target.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def serve(target: Target) -> Iterator[Callable[..., str]]:
    """Start an extra `chat-toolkit serve` with other settings; returns its functions URL.

    Servers are shared per settings for the session and always stopped at its end.
    """
    if target.jwt_secret is None:
        pytest.skip("SUPABASE_JWT_SECRET is needed to run extra function servers")
    running: dict[frozenset[tuple[str, str]], str] = {}
    processes: list[subprocess.Popen[bytes]] = []
    logs = Path(tempfile.mkdtemp(prefix="chat-toolkit-serve-"))

    def start(**settings: str) -> str:
        key = frozenset(settings.items())
        if key not in running:
            port = stack.free_port()
            env = {
                "SUPABASE_URL": target.url,
                "SUPABASE_SERVICE_ROLE_KEY": target.service_role_key,
                "SUPABASE_JWT_SECRET": target.jwt_secret or "",
                "CHAT_RATE_LIMITS": "off",
                **settings,
            }
            processes.append(stack.serve_functions(env, port, logs / f"serve-{port}.log"))
            running[key] = f"http://127.0.0.1:{port}/functions/v1"
        return running[key]

    yield start
    for proc in processes:
        stack.stop_functions(proc)
    shutil.rmtree(logs, ignore_errors=True)


def call(
    http: httpx.Client, functions_url: str, name: str, body: Any, key: str | None
) -> httpx.Response:
    """POST a JSON body to a function, as supabase-js's functions.invoke does."""
    return http.post(f"{functions_url}/{name}", json=body, headers=auth_headers(key))


def auth_headers(key: str | None) -> dict[str, str]:
    """The headers supabase-js / supabase-py send with a key (none for a keyless request)."""
    return {"apikey": key, "Authorization": f"Bearer {key}"} if key else {}


def user_jwt(secret: str, sub: str | None = None, **claims: Any) -> str:
    """A signed-in user's access token as Supabase Auth issues it (HS256, role
    authenticated, a random `sub` unless given), valid for an hour."""
    now = int(time.time())
    payload = {
        "aud": "authenticated",
        "role": "authenticated",
        "sub": sub or str(uuid.uuid4()),
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def user_headers(target: Target, token: str) -> dict[str, str]:
    """What supabase-js sends for a signed-in user: the anon key plus the user's JWT."""
    return {"apikey": target.anon_key, "Authorization": f"Bearer {token}"}
