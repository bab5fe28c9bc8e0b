"""Input, transport and edge behaviour of both functions (CONTRACT §4 to §6, §9): validation,
body limit, methods, the caller check, CORS and supabase-py, all over HTTP.

Runs against a `--keys new` and a `--keys legacy` stack (KEY_MODES, conftest.py): JWTs are
signed as each project's Auth signs them (ES256 with its signing key, or HS256 with the
legacy secret)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from supabase import create_client
from supabase_functions.errors import FunctionsHttpError

from edge_contract_tests.helpers import Signer, auth_headers, call, open_conversation
from toolkit.config import Target
from toolkit.keys import SigningKey, mint_key

KEY_MODES = ("new", "legacy")
MESSAGE = "handle-chat-message"
SYNC = "chat-visitor-sync"
FUNCTIONS = (MESSAGE, SYNC)
CORS_HEADERS = "authorization, x-client-info, apikey, content-type"
LEAKS = ("traceback", "select ", "pgrst", "access_token_hash", "postgres")
OTHER_SECRET = "a-different-jwt-secret-with-at-least-32-characters"
LIMIT = 64 * 1024
WORLD_TEXT = "مرحبا 👋🏽 שלום — 👨‍👩‍👧 naïve e\u0301 日本語"


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """The response is `{"error": ..., "code": code}` JSON with this status and no internals;
    returns the error message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "code"}
    assert body["code"] == code
    assert isinstance(body["error"], str)
    assert body["error"].strip()
    lowered = response.text.lower()
    for leak in LEAKS:
        assert leak not in lowered
    return body["error"]


def assert_cors(response: httpx.Response) -> None:
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-headers"] == CORS_HEADERS


def post_raw(
    http: httpx.Client, url: str, content: bytes | Iterator[bytes], key: str | None
) -> httpx.Response:
    """POST raw bytes (or a chunked stream) as a JSON body."""
    return http.post(
        url, content=content, headers={**auth_headers(key), "content-type": "application/json"}
    )


def new_visitor() -> str:
    return f"input-{uuid.uuid4()}"


@pytest.fixture()
def conversation(http: httpx.Client, target: Target) -> dict[str, Any]:
    """A fresh conversation: the 200 body of its first message plus its visitorId."""
    return open_conversation(http, target, message="hi")


def valid_body(name: str, conversation: dict[str, Any]) -> dict[str, Any]:
    """A body the function answers with 200."""
    if name == MESSAGE:
        return {"visitorId": new_visitor(), "message": "hello"}
    return {
        "conversationId": conversation["conversationId"],
        "conversationToken": conversation["conversationToken"],
    }


# -- malformed bodies -------------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"not json", "body must be valid JSON"),
        (b'{"visitorId": "v",', "body must be valid JSON"),
        (b"", "body must be valid JSON"),
        (b'[{"visitorId": "v", "message": "hi"}]', "body must be a JSON object"),
        (b"null", "body must be a JSON object"),
        (b'"hello"', "body must be a JSON object"),
    ],
    ids=["text", "truncated", "empty", "array", "null", "string"],
)
def test_body_that_is_not_a_json_object_is_400(
    http: httpx.Client, target: Target, name: str, content: bytes, error: str
) -> None:
    """A body that is not a JSON object is 400 invalid_request saying so."""
    response = post_raw(http, f"{target.functions_url}/{name}", content, target.visitor_key)
    assert assert_error(response, 400, "invalid_request") == error


BAD_UUID = "not-a-uuid'; select 1 --"
MESSAGE_CASES = [
    ({"message": "hi"}, "visitorId"),
    ({"visitorId": "v"}, "message"),
    ({"visitorId": 12345, "message": "hi"}, "visitorId"),
    ({"visitorId": "v", "message": {"text": "hi"}}, "message"),
    ({"visitorId": "v", "message": ["hi"]}, "message"),
    ({"visitorId": "v", "message": "hi", "conversationId": BAD_UUID}, "conversationId"),
    ({"visitorId": "v", "message": "hi", "conversationId": 7}, "conversationId"),
    ({"visitorId": "v", "message": "  " + "x" * 4001 + "  "}, "message"),
    ({"visitorId": "v", "message": " \n\t  "}, "message"),
    ({"visitorId": "v", "message": ""}, "message"),
    ({"visitorId": "v" * 129, "message": "hi"}, "visitorId"),
    ({"visitorId": "v", "message": "hi", "visitorEmail": "not-an-email"}, "visitorEmail"),
    ({"visitorId": "v", "message": "hi", "visitorEmail": "a@b"}, "visitorEmail"),
    ({"visitorId": "v", "message": "before\x00after"}, "message"),
    ({"visitorId": "v", "message": "hi", "conversationToken": 99}, "conversationToken"),
]
MESSAGE_IDS = [
    "no-visitorId",
    "no-message",
    "number-visitorId",
    "object-message",
    "array-message",
    "bad-uuid",
    "number-uuid",
    "message-4001",
    "whitespace-message",
    "empty-message",
    "visitorId-129",
    "bad-email",
    "email-no-dot",
    "nul-in-message",
    "number-token",
]


@pytest.mark.parametrize(("body", "field"), MESSAGE_CASES, ids=MESSAGE_IDS)
def test_invalid_message_request_is_400(
    http: httpx.Client, target: Target, body: dict[str, Any], field: str
) -> None:
    """An invalid handle-chat-message body is 400 invalid_request naming the bad field."""
    response = call(http, target.functions_url, MESSAGE, body, target.visitor_key)
    assert field in assert_error(response, 400, "invalid_request")


CONVERSATION = str(uuid.uuid4())
SYNC_CASES = [
    ({"conversationToken": "t"}, "conversationId"),
    ({"conversationId": None, "conversationToken": "t"}, "conversationId"),
    ({"conversationId": BAD_UUID, "conversationToken": "t"}, "conversationId"),
    ({"conversationId": CONVERSATION + "ff", "conversationToken": "t"}, "conversationId"),
    ({"conversationId": 42, "conversationToken": "t"}, "conversationId"),
    ({"conversationId": CONVERSATION, "conversationToken": {"t": 1}}, "conversationToken"),
    ({"conversationId": CONVERSATION, "conversationToken": "t\x00"}, "conversationToken"),
    ({"conversationId": CONVERSATION, "since": "last tuesday"}, "since"),
    ({"conversationId": CONVERSATION, "since": "dGhpcyBpcyBub3Q"}, "since"),
    ({"conversationId": CONVERSATION, "since": 1711518000}, "since"),
    ({"conversationId": CONVERSATION, "visitorId": 12345}, "visitorId"),
    ({"conversationId": CONVERSATION, "visitorId": "v" * 129}, "visitorId"),
]
SYNC_IDS = [
    "no-conversationId",
    "null-conversationId",
    "bad-uuid",
    "long-uuid",
    "number-uuid",
    "object-token",
    "nul-in-token",
    "since-words",
    "since-base64-garbage",
    "since-number",
    "number-visitorId",
    "visitorId-129",
]


@pytest.mark.parametrize(("body", "field"), SYNC_CASES, ids=SYNC_IDS)
def test_invalid_sync_request_is_400(
    http: httpx.Client, target: Target, body: dict[str, Any], field: str
) -> None:
    """An invalid chat-visitor-sync body is 400 invalid_request naming the bad field."""
    response = call(http, target.functions_url, SYNC, body, target.visitor_key)
    assert field in assert_error(response, 400, "invalid_request")


@pytest.mark.writes
@pytest.mark.parametrize("since", ["2026-03-27T05:40:00+16:00", "2026-03-27T05:40:00-23:59"])
def test_since_with_an_offset_beyond_postgres_range_is_normalised(
    http: httpx.Client, target: Target, conversation: dict[str, Any], since: str
) -> None:
    """An ISO `since` with an offset Postgres cannot store (±16:00 and over) is read as UTC: 200."""
    full = call(
        http, target.functions_url, SYNC, valid_body(SYNC, conversation), target.visitor_key
    )
    body = {**valid_body(SYNC, conversation), "since": since}
    response = call(http, target.functions_url, SYNC, body, target.visitor_key)
    assert response.status_code == 200, response.text
    assert response.json()["messages"] == full.json()["messages"] != []


@pytest.mark.writes
def test_message_of_exactly_4000_characters_is_accepted(http: httpx.Client, target: Target) -> None:
    """A message of 4000 characters after trimming is stored: 200 with success true."""
    body = {"visitorId": new_visitor(), "message": "\n " + "é" * 4000 + " \t"}
    response = call(http, target.functions_url, MESSAGE, body, target.visitor_key)
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True


# -- body limit -------------------------------------------------------------------------


def oversized(name: str) -> bytes:
    """A valid-looking JSON body of 70 KiB for this function."""
    field = "message" if name == MESSAGE else "conversationToken"
    body = json.dumps({"visitorId": "v", "conversationId": CONVERSATION, field: "x" * 70 * 1024})
    assert len(body) > 70 * 1024
    return body.encode()


def chunks(data: bytes, size: int = 8 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_body_over_64_kib_is_413(http: httpx.Client, target: Target, name: str) -> None:
    """A 70 KiB body with a Content-Length is 413 payload_too_large."""
    response = post_raw(http, f"{target.functions_url}/{name}", oversized(name), target.visitor_key)
    message = assert_error(response, 413, "payload_too_large")
    assert message == f"body is larger than {LIMIT} bytes"


def test_body_over_1_mib_at_the_gateway_is_413_json(http: httpx.Client, target: Target) -> None:
    """A 2 MiB body at the gateway is still 413 payload_too_large JSON with CORS headers."""
    url = f"{target.functions_url}/{MESSAGE}"
    response = post_raw(http, url, b"x" * 2 * 1024 * 1024, target.visitor_key)
    assert_error(response, 413, "payload_too_large")
    assert_cors(response)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("via", ["gateway", "direct"])
def test_chunked_body_over_64_kib_is_413(
    http: httpx.Client, target: Target, serve: Callable[..., str], name: str, via: str
) -> None:
    """A 70 KiB chunked body (no Content-Length), via the gateway or straight to the server,
    is 413 payload_too_large."""
    base = target.functions_url if via == "gateway" else serve()
    response = post_raw(http, f"{base}/{name}", chunks(oversized(name)), target.visitor_key)
    assert_error(response, 413, "payload_too_large")


@pytest.mark.writes
def test_small_chunked_body_is_accepted(
    http: httpx.Client, target: Target, serve: Callable[..., str]
) -> None:
    """A chunked body under the limit is read whole: 200, so 413 above is about size only."""
    body = json.dumps({"visitorId": new_visitor(), "message": "y" * 3_000}).encode()
    response = post_raw(http, f"{serve()}/{MESSAGE}", chunks(body, 100), target.visitor_key)
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True


# -- text round trip --------------------------------------------------------------------


@pytest.mark.writes
def test_emoji_and_rtl_text_round_trip(http: httpx.Client, target: Target) -> None:
    """Arabic, Hebrew, emoji with skin tone and ZWJ, and combining marks come back identical."""
    sent = call(
        http,
        target.functions_url,
        MESSAGE,
        {"visitorId": new_visitor(), "message": WORLD_TEXT, "visitorName": "Zoë 🧑🏾‍💻"},
        target.visitor_key,
    )
    assert sent.status_code == 200, sent.text
    created = sent.json()
    synced = call(
        http,
        target.functions_url,
        SYNC,
        {
            "conversationId": created["conversationId"],
            "conversationToken": created["conversationToken"],
        },
        target.visitor_key,
    )
    assert synced.status_code == 200, synced.text
    (mine,) = [m for m in synced.json()["messages"] if m["id"] == created["messageId"]]
    assert mine["senderType"] == "visitor"
    assert mine["text"] == WORLD_TEXT
    assert mine["senderName"] == "Zoë 🧑🏾‍💻"


# -- methods and routes -----------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(http: httpx.Client, target: Target, name: str, method: str) -> None:
    """Methods other than POST and OPTIONS are 405 method_not_allowed with an Allow header."""
    response = http.request(
        method, f"{target.functions_url}/{name}", headers=auth_headers(target.visitor_key)
    )
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST, OPTIONS"
    assert_cors(response)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_unknown_function_is_404(http: httpx.Client, target: Target, method: str) -> None:
    """A function name that does not exist is 404 not_found."""
    response = http.request(
        method,
        f"{target.functions_url}/no-such-function",
        json={"visitorId": "v", "message": "hi"} if method == "POST" else None,
        headers=auth_headers(target.visitor_key),
    )
    assert_error(response, 404, "not_found")


# -- verify_jwt -------------------------------------------------------------------------


def bad_authorizations(target: Target, signer: Signer) -> dict[str, dict[str, str]]:
    def signed(claims: dict[str, Any]) -> dict[str, str]:
        return auth_headers(signer.sign(claims))

    unknown_key = "sb_publishable_" + "u" * 32
    return {
        "none": {},
        "apikey-only-jwt": {"apikey": signer.sign({"role": "anon"})},
        "unknown-publishable": {"apikey": unknown_key, "Authorization": f"Bearer {unknown_key}"},
        "other-secret": auth_headers(mint_key(OTHER_SECRET, "anon")),
        "other-signing-key": auth_headers(SigningKey.generate().sign({"role": "anon"})),
        "not-a-jwt": {"Authorization": "Bearer not-a-jwt"},
        "empty-bearer": {"Authorization": "Bearer"},
        "basic": {"Authorization": f"Basic {target.visitor_key}"},
        "role-postgres": signed({"role": "postgres"}),
        "no-role": signed({"sub": "x"}),
        "expired": signed({"role": "anon", "exp": 1}),
        "none-alg": auth_headers(jwt.encode({"role": "service_role"}, "", algorithm="none")),
        "role-list": signed({"role": ["anon", "service_role"]}),
        "role-object": signed({"role": {"anon": True}}),
        "exp-abc": signed({"role": "anon", "exp": "abc"}),
        "exp-numeric-string": signed({"role": "anon", "exp": "99999999999"}),
        "nbf-future": signed({"role": "anon", "nbf": int(time.time()) + 3600}),
        "iat-future": signed({"role": "anon", "iat": int(time.time()) + 3600}),
    }


BAD_AUTH_IDS = [
    "none",
    "apikey-only-jwt",
    "unknown-publishable",
    "other-secret",
    "other-signing-key",
    "not-a-jwt",
    "empty-bearer",
    "basic",
    "role-postgres",
    "no-role",
    "expired",
    "none-alg",
    "role-list",
    "role-object",
    "exp-abc",
    "exp-numeric-string",
    "nbf-future",
    "iat-future",
]


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("case", BAD_AUTH_IDS)
def test_missing_or_invalid_jwt_is_401(
    http: httpx.Client, target: Target, signer: Signer, name: str, case: str
) -> None:
    """Without a known publishable key or a valid API-role JWT in Authorization, both
    functions answer 401 unauthorized."""
    body = {"visitorId": "v", "message": "hi", "conversationId": CONVERSATION}
    headers = bad_authorizations(target, signer)[case]
    response = http.post(f"{target.functions_url}/{name}", json=body, headers=headers)
    assert_error(response, 401, "unauthorized")
    assert_cors(response)


@pytest.mark.parametrize("size", [9 * 1024, 1024 * 1024], ids=["9KiB", "1MiB"])
def test_oversized_authorization_is_401_unread(
    http: httpx.Client, signer: Signer, serve: Callable[..., str], size: int
) -> None:
    """An Authorization header over 8 KiB (here a correctly signed anon JWT padded to size)
    is 401 unauthorized from the functions server itself, before verification. (The gateway
    refuses such headers earlier: test_gateway_errors.py.)"""
    url = serve()
    token = signer.sign({"role": "anon", "pad": "p" * size})
    response = http.post(
        f"{url}/{SYNC}",
        json={"conversationId": CONVERSATION, "conversationToken": "t" * 43},
        headers=auth_headers(token),
    )
    assert_error(response, 401, "unauthorized")


def _poll_statuses(
    http: httpx.Client, url: str, token: str, until: Callable[[float], bool]
) -> list[tuple[float, int]]:
    """(sent at, status) of one sync every 0.2 s, as long as `until(now)` is false."""
    seen: list[tuple[float, int]] = []
    body = {"conversationId": CONVERSATION, "conversationToken": "t" * 43}
    while not until(time.time()):
        sent = time.time()
        seen.append(
            (sent, http.post(f"{url}/{SYNC}", json=body, headers=auth_headers(token)).status_code)
        )
        time.sleep(0.2)
    return seen


def test_not_yet_valid_token_is_accepted_once_nbf_passes(
    http: httpx.Client, signer: Signer, serve: Callable[..., str]
) -> None:
    """With no leeway, a token whose nbf is 3 s ahead is 401 until then and accepted after
    (a made-up conversation: 403 forbidden): a refusal is never cached."""
    url = serve(FUNCTIONS_JWT_LEEWAY_SECONDS="0")
    nbf = int(time.time()) + 3
    token = signer.sign({"role": "anon", "nbf": nbf})
    seen = _poll_statuses(http, url, token, lambda now: now > nbf + 1.5)
    before = {status for sent, status in seen if sent < nbf - 0.5}
    after = {status for sent, status in seen if sent >= nbf + 0.5}
    assert before == {401}
    assert after == {403}


def test_cached_token_is_refused_once_it_expires(
    http: httpx.Client, signer: Signer, serve: Callable[..., str]
) -> None:
    """With no leeway, a token valid for 3 s passes (and is cached), then is 401 after exp:
    the cache re-checks exp on every use."""
    url = serve(FUNCTIONS_JWT_LEEWAY_SECONDS="0")
    exp = int(time.time()) + 3
    token = signer.sign({"role": "anon", "exp": exp})
    seen = _poll_statuses(http, url, token, lambda now: now > exp + 1.5)
    before = {status for sent, status in seen if sent < exp - 0.5}
    after = {status for sent, status in seen if sent >= exp + 0.5}
    assert before == {403}
    assert after == {401}


@pytest.mark.writes
@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("apikey_only", [False, True], ids=["supabase-js", "apikey-only"])
def test_the_visitor_key_is_accepted(
    http: httpx.Client,
    target: Target,
    conversation: dict[str, Any],
    name: str,
    apikey_only: bool,
) -> None:
    """The widget's key passes the caller check: 200. The publishable key in `apikey` alone
    (the CLI's function template) or as supabase-js sends it; the legacy anon key as a bearer
    token (verify_jwt wants Authorization: in `apikey` alone it is 401)."""
    headers = auth_headers(target.visitor_key)
    if apikey_only:
        del headers["Authorization"]
    url = f"{target.functions_url}/{name}"
    response = http.post(url, json=valid_body(name, conversation), headers=headers)
    legacy_apikey_only = apikey_only and not target.publishable_key
    assert response.status_code == (401 if legacy_apikey_only else 200), response.text


@pytest.mark.writes
@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_server_key_is_accepted_where_configured(
    http: httpx.Client,
    target: Target,
    serve: Callable[..., str],
    conversation: dict[str, Any],
    name: str,
) -> None:
    """The legacy service_role JWT passes like any API-role JWT. The secret key is refused
    by the default FUNCTIONS_AUTH (publishable,user,legacy) and accepted with `secret`."""
    body = valid_body(name, conversation)
    answer = call(http, target.functions_url, name, body, target.server_key)
    if not target.secret_key:
        assert answer.status_code == 200, answer.text
        return
    assert_error(answer, 401, "unauthorized")
    with_secret = serve(FUNCTIONS_AUTH="publishable,secret,user")
    answer = http.post(f"{with_secret}/{name}", json=body, headers={"apikey": target.secret_key})
    assert answer.status_code == 200, answer.text


@pytest.mark.writes
@pytest.mark.parametrize("name", FUNCTIONS)
def test_verify_jwt_off_accepts_no_authorization(
    http: httpx.Client,
    target: Target,
    serve: Callable[..., str],
    conversation: dict[str, Any],
    name: str,
) -> None:
    """With FUNCTIONS_VERIFY_JWT=false a request without Authorization is answered: 200."""
    base = serve(FUNCTIONS_VERIFY_JWT="false")
    response = call(http, base, name, valid_body(name, conversation), None)
    assert response.status_code == 200, response.text


# -- CORS -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_preflight_is_200_ok_with_cors_headers(
    http: httpx.Client, target: Target, name: str
) -> None:
    """OPTIONS (no Authorization, as browsers send it) is 200 "ok" with Supabase's headers."""
    response = http.options(
        f"{target.functions_url}/{name}",
        headers={
            "Origin": "https://any.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.text == "ok"
    assert_cors(response)
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert "POST" in methods


def cors_cases(
    http: httpx.Client, target: Target, name: str, conversation: dict[str, Any]
) -> dict[int, httpx.Response]:
    url = f"{target.functions_url}/{name}"
    origin = {"Origin": "https://any.example"}
    wrong = {"conversationId": conversation["conversationId"], "conversationToken": "wrong"}
    if name == MESSAGE:
        wrong |= {"visitorId": conversation["visitorId"], "message": "hi"}
    keyed = {**auth_headers(target.visitor_key), **origin}
    return {
        200: http.post(url, json=valid_body(name, conversation), headers=keyed),
        400: http.post(url, json={}, headers=keyed),
        401: http.post(url, json=valid_body(name, conversation), headers=origin),
        403: http.post(url, json=wrong, headers=keyed),
        405: http.get(url, headers=keyed),
        413: http.post(url, content=oversized(name), headers=keyed),
    }


@pytest.mark.writes
@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_response_carries_cors_headers(
    http: httpx.Client, target: Target, conversation: dict[str, Any], name: str
) -> None:
    """200, 400, 401, 403, 405 and 413 answers all carry the CORS headers."""
    responses = cors_cases(http, target, name, conversation)
    assert {status: r.status_code for status, r in responses.items()} == {
        status: status for status in responses
    }
    for response in responses.values():
        assert_cors(response)


def test_allowlisted_origin_is_echoed(
    http: httpx.Client, target: Target, serve: Callable[..., str]
) -> None:
    """With CORS_ALLOWED_ORIGINS set, a listed Origin is echoed, on preflight and on errors."""
    url = f"{serve(CORS_ALLOWED_ORIGINS='https://shop.example')}/{SYNC}"
    origin = {"Origin": "https://shop.example"}
    preflight = http.options(url, headers={**origin, "Access-Control-Request-Method": "POST"})
    answer = http.post(url, json={}, headers={**auth_headers(target.visitor_key), **origin})
    assert preflight.status_code == 200
    assert_error(answer, 400, "invalid_request")
    for response in (preflight, answer):
        assert response.headers["access-control-allow-origin"] == "https://shop.example"
        assert response.headers["access-control-allow-headers"] == CORS_HEADERS
        assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("origin", ["https://evil.example", "https://shop.example.evil", None])
def test_unlisted_origin_gets_no_allow_origin(
    http: httpx.Client, target: Target, serve: Callable[..., str], origin: str | None
) -> None:
    """With CORS_ALLOWED_ORIGINS set, another (or no) Origin gets no Access-Control-Allow-Origin."""
    url = f"{serve(CORS_ALLOWED_ORIGINS='https://shop.example')}/{SYNC}"
    headers = {"Origin": origin} if origin else {}
    preflight = http.options(url, headers={**headers, "Access-Control-Request-Method": "POST"})
    answer = http.post(url, json={}, headers={**auth_headers(target.visitor_key), **headers})
    assert preflight.status_code == 200
    assert_error(answer, 400, "invalid_request")
    for response in (preflight, answer):
        assert "access-control-allow-origin" not in response.headers


# -- supabase-py ------------------------------------------------------------------------


@pytest.mark.writes
def test_supabase_py_invoke_creates_and_syncs(target: Target) -> None:
    """supabase-py's functions.invoke, with the visitor's key, sends a message, then syncs it
    back with the token."""
    client = create_client(target.url, target.visitor_key)
    try:
        created = client.functions.invoke(
            MESSAGE,
            invoke_options={
                "body": {"visitorId": new_visitor(), "message": "hello from supabase-py"},
                "responseType": "json",
            },
        )
        assert isinstance(created, dict)
        assert created["success"] is True
        raw = client.functions.invoke(
            SYNC,
            invoke_options={
                "body": {
                    "conversationId": created["conversationId"],
                    "conversationToken": created["conversationToken"],
                }
            },
        )
        assert isinstance(raw, bytes)
        synced = json.loads(raw)
        assert synced["conversation"]["id"] == created["conversationId"]
        texts = [(m["senderType"], m["text"]) for m in synced["messages"]]
        assert texts[0] == ("visitor", "hello from supabase-py")
        assert [m["id"] for m in synced["messages"]].count(created["messageId"]) == 1
        with pytest.raises(FunctionsHttpError) as info:
            client.functions.invoke(SYNC, invoke_options={"body": {"conversationToken": "x"}})
        assert info.value.status == 400
        assert "conversationId" in info.value.message
    finally:
        # supabase-py has no close(); its functions client owns this httpx session.
        client.functions._client.close()


# -- no internals -----------------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_hostile_values_get_a_plain_answer(http: httpx.Client, target: Target, name: str) -> None:
    """SQL-looking and PostgREST-filter-looking values are 400 or 403 without any internals."""
    hostile = "x' or 1=1; select access_token_hash from chat_conversations --"
    for body in (
        {"visitorId": hostile, "message": hostile, "conversationId": hostile},
        {"conversationId": "*", "conversationToken": "eq.null", "visitorId": "or=(id.neq.0)"},
    ):
        response = call(http, target.functions_url, name, body, target.visitor_key)
        assert_error(response, 400, "invalid_request")
    forbidden = call(
        http,
        target.functions_url,
        name,
        {
            "conversationId": CONVERSATION,
            "conversationToken": hostile,
            "visitorId": hostile,
            "message": hostile,
        },
        target.visitor_key,
    )
    assert assert_error(forbidden, 403, "forbidden") == "conversation not found or token invalid"
