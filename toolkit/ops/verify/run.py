"""`chat-toolkit verify`: is this project cut over, and does the visitor chat work?

Runs against whatever the env points at (the embedded stack, `supabase start`, a live
project) and reports one line per check, `STATUS  <check id>  <reason>`:

    PASS   as the contract wants
    FAIL   the cutover is missing, broken or leaking; `verify` exits 1
    WARN   hardening left to do (Supabase's Security Advisor would flag it); exit 0
    SKIP   cannot be checked with this env (the reason says what is missing)

Checks, in order: keys.* (keys.py), catalog.* (catalog.py, needs SUPABASE_DB_URL),
rest.* (api.py), keys.legacy_deactivated.* (keys.py, only when told the legacy keys are
deactivated), access.* (access.py: every role PostgREST can switch to), functions.*
(api.py), hardening.* and lint.* (catalog.py), write.* (write.py, only with --write).

No reason ever contains a key, a token, a token hash or the database password. An API or
database that cannot be reached at all is Unreachable (exit 3), and a database without the
chat tables a ConfigError (exit 2): one line naming cause and fix, not a list of failures.
"""

from __future__ import annotations

import contextlib

import httpx

from toolkit.config import DeclaredFlags, Target
from toolkit.db.connect import connect
from toolkit.errors import ConfigError, Unreachable
from toolkit.ops.verify.access import access_catalog_checks, access_rest_checks, reachable
from toolkit.ops.verify.api import (
    TIMEOUT,
    ApiProbe,
    function_checks,
    rest_checks,
    transport_reason,
)
from toolkit.ops.verify.catalog import catalog_checks, hardening_checks
from toolkit.ops.verify.keys import key_checks, legacy_deactivated_checks
from toolkit.ops.verify.report import OnCheck, Report
from toolkit.ops.verify.write import write_checks
from toolkit.protocol import REST_PATH, api_key_headers

__all__ = ["verify"]

_NO_DB = "SUPABASE_DB_URL is not set; set it to check the schema, grants and migration history"


def verify(
    target: Target,
    flags: DeclaredFlags = DeclaredFlags(),
    *,
    write: bool = False,
    legacy_deactivated: bool = False,
    on_check: OnCheck = lambda _check: None,
    http: httpx.Client | None = None,
) -> Report:
    """Run every check against `target` and return the report. `legacy_deactivated`: the
    project's legacy JWT keys are said to be deactivated (checked instead of used).

    `on_check` sees each check as it completes, so a CLI can print them as they come.
    Raises ConfigError when the legacy keys are said to be deactivated but the env has no
    publishable and secret key to use instead.
    """
    if legacy_deactivated and not (target.publishable_key and target.secret_key):
        raise ConfigError(
            "the legacy keys are said to be deactivated, but SUPABASE_PUBLISHABLE_KEY and "
            "SUPABASE_SECRET_KEY are not both set; verify needs them"
        )
    with contextlib.ExitStack() as resources:
        client = http or resources.enter_context(httpx.Client(timeout=TIMEOUT))
        probe = ApiProbe(on_check, target=target, flags=flags, http=client)
        try:
            client.get(f"{target.url}{REST_PATH}/", headers=api_key_headers(target.visitor_key))
        except httpx.TransportError as exc:
            raise Unreachable(
                f"cannot reach the Supabase API at {target.url} ({transport_reason(exc)}); "
                "start the stack (`chat-toolkit stack up` or `supabase start`) or fix "
                "SUPABASE_URL"
            ) from exc
        conn = None if target.db_url is None else resources.enter_context(connect(target.db_url))
        try:
            keys = key_checks(probe, legacy_deactivated=legacy_deactivated)
            if conn is None:
                probe.add("catalog", "SKIP", _NO_DB)
            else:
                catalog_checks(probe, conn)
            rest_checks(probe, anon_ok=keys.anon_ok, service_ok=keys.service_ok)
            if legacy_deactivated:
                legacy_deactivated_checks(probe)
            roles = reachable(probe, conn)
            if conn is not None:
                access_catalog_checks(probe, conn, roles)
            access_rest_checks(probe, roles, keys, conn)
            function_checks(probe)
            if conn is None:
                probe.add("hardening", "SKIP", _NO_DB)
            else:
                hardening_checks(probe, conn)
            if write:
                write_checks(probe)
        except httpx.TransportError as exc:
            raise Unreachable(
                f"lost the connection during verify after {len(probe.checks)} checks "
                f"({transport_reason(exc)}); check that the stack is up and run it again"
            ) from exc
        return probe.report()
