"""Verify's checks over HTTP: the REST API and the two edge functions, and the probe they share.

    rest.*        anon reads of both chat tables are 401/42501 with the visitor's key
                  (publishable, else the legacy anon key); reads with the server's key
                  (secret, else service_role) work; each reason names the key used
    functions.*   both endpoints answer the visitor's key, a made-up conversation is 403
                  forbidden, a missing token is 401 token_required, the CORS preflight is
                  Supabase's, and the caller check is on (no key and no JWT: 401)

A probe the functions answer with 429 (rate limited) is a SKIP, not a FAIL: it shows
neither a fault nor its absence, and the reason says to run verify again later. A reason
names a status and an error code only, never a body: bodies can hold what must not be printed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from toolkit.config import DeclaredFlags, Target
from toolkit.keys import PUBLISHABLE_PREFIX, SECRET_PREFIX, unverified_role
from toolkit.ops.verify.report import MIGRATE, Recorder
from toolkit.protocol import (
    CHAT_VISITOR_SYNC,
    CORS_ALLOW_HEADERS,
    FORBIDDEN,
    FUNCTIONS,
    HANDLE_CHAT_MESSAGE,
    PERMISSION_DENIED,
    PREFER,
    READ_TABLES,
    REST_PATH,
    RETRY_AFTER,
    TOKEN_REQUIRED,
    api_key_headers,
)

__all__ = [
    "TIMEOUT",
    "VERIFY_PREFIX",
    "ApiProbe",
    "describe",
    "error_code",
    "function_checks",
    "json_body",
    "key_label",
    "rest_checks",
    "transport_reason",
]

VERIFY_PREFIX = "chat-toolkit-verify-"  # visitor ids of verify's probes and --write rows
TIMEOUT = 15.0  # seconds per request


@dataclass(kw_only=True)
class ApiProbe(Recorder):
    """The checks so far, and the project's APIs to probe with the env's keys."""

    target: Target
    flags: DeclaredFlags
    http: httpx.Client

    def fail(self, check_id: str, response: httpx.Response, reason: str) -> None:
        """FAIL, unless the function rate-limited the probe: that proves nothing either way."""
        if response.status_code == 429:
            wait = response.headers.get(RETRY_AFTER, "?")
            self.add(
                check_id, "SKIP", f"rate limited (429, Retry-After {wait}s); run verify again then"
            )
        else:
            self.add(check_id, "FAIL", reason)

    def call(self, name: str, body: dict[str, Any], *, keyless: bool = False) -> httpx.Response:
        """POST to a function with the visitor's key, as the widget does."""
        headers = {} if keyless else api_key_headers(self.target.visitor_key)
        return self.http.post(f"{self.target.functions_url}/{name}", json=body, headers=headers)

    def anon_get(self, table: str, params: dict[str, str], **headers: str) -> httpx.Response:
        """A REST read with the visitor's key (the anon role)."""
        return self.http.get(
            f"{self.target.url}{REST_PATH}/{table}",
            params=params,
            headers={**api_key_headers(self.target.visitor_key), **headers},
        )

    def rest(self, method: str, path: str, prefer: str = "", **kwargs: Any) -> httpx.Response:
        """A service-role request to the REST API, with the server's key."""
        headers = api_key_headers(self.target.server_key)
        if prefer:
            headers[PREFER] = prefer
        url = f"{self.target.url}{REST_PATH}/{path}"
        return self.http.request(method, url, headers=headers, **kwargs)


# -- REST -------------------------------------------------------------------------------


def rest_checks(run: ApiProbe, *, anon_ok: bool = True, service_ok: bool = True) -> None:
    """rest.anon_read.* and rest.service_read.*; a key that is not what its variable says
    (keys.*) skips the checks it would only confuse."""
    visitor, server = key_label(run.target.visitor_key), key_label(run.target.server_key)
    for table in READ_TABLES:
        check_id = f"rest.anon_read.{table}"
        if not anon_ok:
            run.add(check_id, "SKIP", "SUPABASE_ANON_KEY is not an anon key (keys.anon_key)")
            continue
        response = run.anon_get(table, {"select": "id", "limit": "1"}, Prefer="count=exact")
        if (response.status_code, error_code(response)) == (401, PERMISSION_DENIED):
            run.add(check_id, "PASS", f"401 42501 permission denied ({visitor})")
        elif response.is_success:
            total = response.headers.get("content-range", "").rpartition("/")[2]
            rows = total if total.isdigit() else "an unknown number of"
            run.add(
                check_id,
                "FAIL",
                f"anon read is open: {rows} rows visible with the {visitor} (anon still holds "
                f"SELECT); {MIGRATE}",
            )
        else:
            run.add(
                check_id,
                "FAIL",
                f"expected 401 42501, got {describe(response)}"
                f"{_misconfigured(response, run.target.url, table, run.target.visitor_key_name)}",
            )
    for table in READ_TABLES:
        check_id = f"rest.service_read.{table}"
        if not service_ok:
            run.add(
                check_id,
                "SKIP",
                "SUPABASE_SERVICE_ROLE_KEY is not a service-role key (keys.service_role_key)",
            )
            continue
        response = run.rest("GET", table, params={"select": "id", "limit": "1"})
        run.judge(
            check_id,
            response.status_code == 200 and isinstance(json_body(response), list),
            f"200 with the {server}",
            f"service-role read with the {server} got {describe(response)}"
            + (
                _misconfigured(response, run.target.url, table, run.target.server_key_name)
                or f"; check {run.target.server_key_name}"
            ),
        )


def _misconfigured(response: httpx.Response, url: str, table: str, variable: str) -> str:
    """What a non-leak answer says about the env: a URL problem or a key problem."""
    code = error_code(response)
    if response.status_code == 404:
        return (
            f": a URL problem, not a key problem ({url}/rest/v1/{table} is not there; "
            "check SUPABASE_URL, or the table is missing or not exposed)"
        )
    if response.status_code == 401 and code in ("PGRST300", "PGRST301", "PGRST302"):
        return f": the API refused {variable} as a JWT (a key of another project?); fix the key"
    if response.status_code == 401 and code is None:
        return f": the API gateway refused {variable} (a key of another project?); fix the key"
    return ""


# -- functions --------------------------------------------------------------------------


def function_checks(run: ApiProbe) -> None:
    bogus = {"conversationId": str(uuid.uuid4()), "conversationToken": uuid.uuid4().hex * 2}
    bodies = {
        HANDLE_CHAT_MESSAGE: {
            **bogus,
            "visitorId": f"{VERIFY_PREFIX}probe-{uuid.uuid4()}",
            "message": "chat-toolkit verify probe",
        },
        CHAT_VISITOR_SYNC: bogus,
    }
    for name in FUNCTIONS:
        check, url = f"functions.{name}", f"{run.target.functions_url}/{name}"
        try:
            forbidden = run.call(name, bodies[name])
        except httpx.TransportError as exc:
            run.add(f"{check}.answers", "FAIL", f"no answer at {url} ({transport_reason(exc)})")
            continue
        if forbidden.status_code in (404, 502, 503, 504):
            run.add(
                f"{check}.answers",
                "FAIL",
                f"{describe(forbidden)} at {url}: deploy it (`supabase functions deploy "
                f"{name}`) or check SUPABASE_FUNCTIONS_URL",
            )
            continue
        run.add(f"{check}.answers", "PASS", f"answers at {url}")
        _expect(
            run,
            f"{check}.unknown_conversation",
            forbidden,
            f"a random conversation id and token ({key_label(run.target.visitor_key)})",
            403,
            FORBIDDEN,
        )
        if name == CHAT_VISITOR_SYNC:
            missing = run.call(name, {"conversationId": bogus["conversationId"]})
            _expect(
                run,
                f"{check}.token_required",
                missing,
                "no conversationToken and no visitorId",
                401,
                TOKEN_REQUIRED,
            )
        _preflight(run, name, url)
        keyless = run.call(name, bodies[name], keyless=True)
        if keyless.status_code == 401:
            run.add(f"{check}.caller_check", "PASS", "401 without an API key or a JWT")
        else:
            run.fail(
                f"{check}.caller_check",
                keyless,
                f"without an API key or a JWT got {describe(keyless)}, expected 401; keep the "
                "caller check on (FUNCTIONS_AUTH, or verify_jwt with the legacy keys)",
            )


def _expect(
    run: ApiProbe, check_id: str, response: httpx.Response, what: str, status: int, code: str
) -> bool:
    if (response.status_code, error_code(response)) == (status, code):
        run.add(check_id, "PASS", f"{what}: {status} {code}")
        return True
    run.fail(check_id, response, f"{what}: expected {status} {code}, got {describe(response)}")
    return False


def _preflight(run: ApiProbe, name: str, url: str) -> None:
    response = run.http.options(
        url,
        headers={
            "Origin": "https://chat-toolkit-verify.invalid",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ", ".join(sorted(CORS_ALLOW_HEADERS)),
        },
    )
    allowed = response.headers.get("access-control-allow-headers", "").lower().split(",")
    missing = sorted(set(CORS_ALLOW_HEADERS) - {h.strip() for h in allowed})
    check_id = f"functions.{name}.cors_preflight"
    if response.status_code != 200:
        run.add(check_id, "FAIL", f"OPTIONS got {describe(response)}, expected 200")
    else:
        run.judge(
            check_id,
            not missing,
            f"OPTIONS 200; allows {', '.join(CORS_ALLOW_HEADERS)}",
            f"OPTIONS 200 but Access-Control-Allow-Headers lacks {', '.join(missing)}",
        )


# -- helpers ----------------------------------------------------------------------------


def key_label(key: str) -> str:
    """Which kind of key `key` is, for reasons: "publishable key", "anon key", ..."""
    if key.startswith(PUBLISHABLE_PREFIX):
        return "publishable key"
    if key.startswith(SECRET_PREFIX):
        return "secret key"
    return "service_role key" if key and unverified_role(key) == "service_role" else "anon key"


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when empty or not JSON."""
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def error_code(response: httpx.Response) -> str | None:
    body = json_body(response)
    code = body.get("code") if isinstance(body, dict) else None
    return None if code is None else str(code)


def describe(response: httpx.Response) -> str:
    """Status and error code only: a body can hold things that must not be printed."""
    code = error_code(response)
    return f"{response.status_code} {code}" if code else str(response.status_code)


def transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {TIMEOUT:g}s"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown"
    return type(exc).__name__
