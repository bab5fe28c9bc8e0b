"""Verify's checks of the project's API keys (CONTRACT §9).

keys.system          which key system the checks use: the publishable and secret keys
                     when the env has them (PASS), else the legacy JWT keys (WARN:
                     Supabase retires them at the end of 2026)
keys.anon_key        the legacy keys carry the roles their names promise (the `role`
keys.service_role_key  claim, read without verifying; verified too when
                     SUPABASE_JWT_SECRET is known). A swapped or foreign key is a
                     configuration error, not a leak: the checks that would misread it
                     are skipped, and the reason says which key to fix. A key the env
                     lacks is a SKIP.
keys.legacy_deactivated.rest, .functions
                     only when told the legacy keys are deactivated (--legacy-keys-
                     deactivated, SUPABASE_LEGACY_KEYS=deactivated): the legacy anon and
                     service_role JWTs are refused by the REST API, as `apikey` and as a
                     bearer token beside the publishable key, and by the functions
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.keys import role_of, unverified_role
from toolkit.ops.verify.api import ApiProbe, describe, error_code
from toolkit.protocol import (
    AUTHORIZATION,
    CHAT_VISITOR_SYNC,
    PERMISSION_DENIED,
    REST_PATH,
    UNAUTHORIZED,
    api_key_headers,
)

__all__ = ["KeyRoles", "key_checks", "legacy_deactivated_checks"]

_DEACTIVATE = (
    "deactivate them (dashboard: Settings, API Keys, legacy keys) or drop "
    "--legacy-keys-deactivated / SUPABASE_LEGACY_KEYS=deactivated"
)


@dataclass(frozen=True)
class KeyRoles:
    """Whether the visitor's and the server's keys are what their variables say, so that
    their answers mean what the checks assume."""

    anon_ok: bool
    service_ok: bool


def key_checks(run: ApiProbe, *, legacy_deactivated: bool = False) -> KeyRoles:
    """keys.system, then keys.anon_key and keys.service_role_key (unless the legacy keys are
    said to be deactivated: legacy_deactivated_checks stands in for them)."""
    target = run.target
    if target.publishable_key and target.secret_key:
        legacy = " (the legacy keys too, checked below)" if target.anon_key else ""
        run.add(
            "keys.system",
            "PASS",
            f"the publishable and secret keys are used{legacy}",
        )
    else:
        run.add(
            "keys.system",
            "WARN",
            f"{target.visitor_key_name} and {target.server_key_name} are used; Supabase retires "
            "the legacy JWT keys at the end of 2026: set SUPABASE_PUBLISHABLE_KEY and "
            "SUPABASE_SECRET_KEY",
        )
    if legacy_deactivated:
        return KeyRoles(anon_ok=True, service_ok=True)
    anon_ok = _legacy_key(run, "keys.anon_key", "SUPABASE_ANON_KEY", target.anon_key, "anon")
    service_ok = _legacy_key(
        run,
        "keys.service_role_key",
        "SUPABASE_SERVICE_ROLE_KEY",
        target.service_role_key,
        "service_role",
    )
    # A publishable / secret key is checked for its prefix when the env is read.
    return KeyRoles(
        anon_ok=bool(target.publishable_key) or anon_ok,
        service_ok=bool(target.secret_key) or service_ok,
    )


def _legacy_key(run: ApiProbe, check_id: str, variable: str, key: str, expected: str) -> bool:
    secret = run.target.jwt_secret
    if not key:
        run.add(check_id, "SKIP", f"{variable} is not set (no legacy key to check)")
        return False
    if key.startswith("sb_"):
        run.add(check_id, "PASS", f"{variable} is a new-style key (not a JWT)")
        return True
    claimed = unverified_role(key)
    if claimed != expected:
        what = f"carries role {claimed}" if claimed else "is not a JWT with a role claim"
        swapped = " (the two keys look swapped)" if claimed in ("anon", "service_role") else ""
        run.add(
            check_id,
            "FAIL",
            f"{variable} {what}, not {expected}{swapped}: a configuration error, not a "
            f"leak; set {variable} to the project's {expected} key",
        )
        return False
    if secret is not None and role_of(key, secret) != expected:
        run.add(
            check_id,
            "FAIL",
            f"{variable} is not signed with SUPABASE_JWT_SECRET or has expired (a key of "
            f"another project?); copy both from the same project",
        )
        return False
    signed = " and is signed with SUPABASE_JWT_SECRET" if secret is not None else ""
    run.add(check_id, "PASS", f"{variable} carries role {expected}{signed}")
    return True


def legacy_deactivated_checks(run: ApiProbe) -> None:
    """keys.legacy_deactivated.rest and .functions: every way a legacy key could still
    reach chat rows or the functions is refused with 401."""
    target = run.target
    if not (target.anon_key and target.service_role_key):
        for part in ("rest", "functions"):
            run.add(
                f"keys.legacy_deactivated.{part}",
                "SKIP",
                "set SUPABASE_ANON_KEY and SUPABASE_SERVICE_ROLE_KEY to the deactivated legacy "
                "keys to check that they are refused",
            )
        return
    url = f"{target.url}{REST_PATH}/chat_conversations"
    attempts = {
        "the legacy anon key": api_key_headers(target.anon_key),
        "the legacy service_role key": api_key_headers(target.service_role_key),
        "the legacy service_role key beside the publishable key": {
            **api_key_headers(target.publishable_key),
            AUTHORIZATION: f"Bearer {target.service_role_key}",
        },
    }
    open_ = []
    for what, headers in attempts.items():
        response = run.http.get(url, params={"select": "id", "limit": "1"}, headers=headers)
        # 42501 is PostgREST answering as anon: the key itself was accepted.
        if response.status_code != 401 or error_code(response) == PERMISSION_DENIED:
            open_.append(f"{what} ({describe(response)})")
    run.judge(
        "keys.legacy_deactivated.rest",
        not open_,
        "the legacy anon and service_role keys are refused by the REST API (401), as apikey "
        "and as a bearer token",
        f"the REST API still accepts {', '.join(open_)}; {_DEACTIVATE}",
    )
    response = run.http.post(
        f"{target.functions_url}/{CHAT_VISITOR_SYNC}",
        json={"conversationId": "00000000-0000-4000-8000-000000000000"},
        headers={AUTHORIZATION: f"Bearer {target.anon_key}"},
    )
    if (response.status_code, error_code(response)) == (401, UNAUTHORIZED):
        run.add(
            "keys.legacy_deactivated.functions", "PASS", "the legacy anon key: 401 unauthorized"
        )
    else:
        run.fail(
            "keys.legacy_deactivated.functions",
            response,
            f"the functions still accept the legacy anon key ({describe(response)}); deploy "
            "them without SUPABASE_JWT_SECRET and with FUNCTIONS_AUTH=publishable,user",
        )
