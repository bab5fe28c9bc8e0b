"""Fixtures for the black-box contract tests.

The target comes from the environment (SUPABASE_URL, the publishable and secret keys or the
legacy SUPABASE_ANON_KEY and SUPABASE_SERVICE_ROLE_KEY, optionally SUPABASE_DB_URL and
SUPABASE_FUNCTIONS_URL). With none set, session fixtures start embedded stacks and always
tear them down: one per key mode in use (`--keys both` unless parametrised).

A test module that sets `KEY_MODES = ("new", "legacy")` runs each of its tests against an
embedded stack of each of those key modes (ids `keys-new`, `keys-legacy`): the anon-read,
token and function tests run so against a project that has only the 2026 keys and one
that has only the legacy ones.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from supabase import Client, create_client

from edge_contract_tests.helpers import Signer, Stacks, reload_schema_cache
from toolkit import stack
from toolkit.config import Target
from toolkit.db.migrations import discover, migrate
from toolkit.stack import testing

TEAM_ACCESS_VERSION = "20260327061000"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules with KEY_MODES run against an embedded stack per key mode (module docstring)."""
    modes = getattr(metafunc.module, "KEY_MODES", None)
    if modes and "target" in metafunc.fixturenames and not os.environ.get("SUPABASE_URL"):
        metafunc.parametrize(
            "target", modes, indirect=True, scope="session", ids=[f"keys-{m}" for m in modes]
        )


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
def stacks(request: pytest.FixtureRequest) -> Iterator[Stacks]:
    with contextlib.ExitStack() as resources:
        started = Stacks(resources)
        yield started
        for state in started.started.values():
            show_log_tails_if_failed(request, state)


@pytest.fixture(scope="session")
def target(embedded: bool, stacks: Stacks, request: pytest.FixtureRequest) -> Target:
    """The project under test: the environment's, or a fresh migrated embedded stack (key
    mode `both`, or the mode the module's KEY_MODES parametrises)."""
    if not embedded:
        return Target.from_env(os.environ)
    return Target.from_env(stacks.get(getattr(request, "param", "both")).env())


@pytest.fixture(scope="session")
def signer(target: Target, stacks: Stacks) -> Signer:
    """Signs JWTs as the target's Supabase Auth does: with the embedded stack's ES256 key
    when it has one, else HS256 with SUPABASE_JWT_SECRET (skipped without either)."""
    state = stacks.of(target)
    if state is not None and state.new:
        return Signer(signing_key=state.signing_key())
    if target.jwt_secret is None:
        pytest.skip("SUPABASE_JWT_SECRET (or an embedded stack's signing key) signs test JWTs")
    return Signer(secret=target.jwt_secret)


@pytest.fixture(scope="session")
def baseline_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """Always embedded: the pre-cutover schema, where anon can read every visitor's chat."""
    with stack.temporary(baseline_only=True, functions=False) as state:
        yield Target.from_env(state.env())
        show_log_tails_if_failed(request, state)


@pytest.fixture(scope="session")
def pre_team_access_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """Always embedded: migrated up to, not including, the team-access migration. The anon
    leak is closed there, but the baseline's `using (true)` team policies still let every
    signed-in user through."""
    with stack.temporary(baseline_only=True, functions=False) as state:
        earlier = [m for m in discover() if m.version < TEAM_ACCESS_VERSION]
        migrate(state.db_url, migrations=earlier)
        target = Target.from_env(state.env())
        reload_schema_cache(target)
        yield target
        show_log_tails_if_failed(request, state)


def show_log_tails_if_failed(request: pytest.FixtureRequest, state: stack.StackState) -> None:
    """A session with failures prints each part's log tail before its stack folder is
    removed (as PostgREST's test harness does), past pytest's output capture."""
    if not request.session.testsfailed:
        return
    tails = stack.log_tails(Path(state.directory))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        sys.stderr.write(f"\n{tails}")


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
    """supabase-py with the visitor's key (publishable, else anon), as users call it."""
    client = create_client(target.url, target.visitor_key)
    yield client
    client.postgrest.aclose()


@pytest.fixture(scope="session")
def service_client(target: Target) -> Iterator[Client]:
    """supabase-py with the server's key (secret, else service_role)."""
    client = create_client(target.url, target.server_key)
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

    Servers are shared per settings for the session and always stopped at its end. They
    get the target's keys, JWT secret and JWKS URL, as the stack's own server does.
    """
    if target.jwt_secret is None and not target.publishable_key:
        pytest.skip("SUPABASE_JWT_SECRET or SUPABASE_PUBLISHABLE_KEY runs extra function servers")
    running: dict[frozenset[tuple[str, str]], str] = {}
    processes: list[subprocess.Popen[bytes]] = []
    logs = Path(tempfile.mkdtemp(prefix="chat-toolkit-serve-"))

    def start(**settings: str) -> str:
        key = frozenset(settings.items())
        if key not in running:
            port = testing.free_port()
            env = {
                "SUPABASE_URL": target.url,
                "SUPABASE_PUBLISHABLE_KEY": target.publishable_key,
                "SUPABASE_SECRET_KEY": target.secret_key,
                "SUPABASE_SERVICE_ROLE_KEY": target.service_role_key,
                "SUPABASE_JWT_SECRET": target.jwt_secret or "",
                "SUPABASE_JWKS_URL": target.jwks_url or "",
                "CHAT_RATE_LIMITS": "off",
                **settings,
            }
            processes.append(testing.serve_functions(env, port, logs / f"serve-{port}.log"))
            running[key] = f"http://127.0.0.1:{port}/functions/v1"
        return running[key]

    yield start
    for proc in processes:
        testing.stop_functions(proc)
    shutil.rmtree(logs, ignore_errors=True)
