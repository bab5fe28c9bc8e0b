"""Every error is JSON (CONTRACT §6): the functions' `{"error", "code"}` under /functions/v1/,
PostgREST's `{"code", "details", "hint", "message"}` under /rest/v1/, whether the functions
server, Starlette's router or the nginx gateway answers; and answers that carry a token
are `Cache-Control: no-store`."""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlparse

import httpx
import psycopg
import pytest

from edge_contract_tests.helpers import call, one_row
from toolkit.config import Target

FUNCTION_ERROR = {"error", "code"}
POSTGREST_ERROR = {"code", "details", "hint", "message"}
BIG_HEADER = "Bearer " + "a" * 20_000


def assert_json_error(response: httpx.Response, status: int, keys: set[str], code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == keys
    assert body["code"] == code
    assert "nginx" not in response.text and "<html" not in response.text


@pytest.fixture()
def gateway(embedded: bool, target: Target) -> str:
    """The embedded stack's nginx (a `supabase start` or live target has Kong instead)."""
    if not embedded:
        pytest.skip("the gateway's own answers are checked on the embedded stack's nginx")
    return target.url


@pytest.mark.writes
def test_new_conversation_answer_is_no_store(http: httpx.Client, target: Target) -> None:
    """handle-chat-message's answer that issues a new conversation's token: no-store."""
    response = call(
        http,
        target.functions_url,
        "handle-chat-message",
        {"visitorId": "no-store-visitor", "message": "hi"},
        target.visitor_key,
    )
    assert response.status_code == 200 and response.json()["conversationToken"]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.writes
@pytest.mark.parametrize("name", ["chat-visitor-sync", "handle-chat-message"])
def test_bootstrap_answer_is_no_store(
    http: httpx.Client, target: Target, db: psycopg.Connection, name: str
) -> None:
    """The answer that mints a legacy conversation's token (sync bootstrap, or a tokenless
    message while bootstrap is allowed) is no-store."""
    visitor = f"no-store-legacy-{name}"
    (cid,) = one_row(
        db, "insert into chat_conversations (visitor_id) values (%s) returning id::text", (visitor,)
    )
    body = {"conversationId": cid, "visitorId": visitor, "message": "back"}
    response = call(http, target.functions_url, name, body, target.visitor_key)
    assert response.status_code == 200 and response.json()["conversationToken"]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/functions/v1/a/b", "/functions/v1/", "/"])
def test_server_router_misses_are_json(
    http: httpx.Client, serve: Callable[..., str], path: str
) -> None:
    """Paths the functions server has no route for (Starlette's own 404) are JSON not_found."""
    origin = urlparse(serve()).netloc
    response = http.get(f"http://{origin}{path}")
    assert_json_error(response, 404, FUNCTION_ERROR, "not_found")


def test_server_wrong_method_on_openapi_is_json(
    http: httpx.Client, serve: Callable[..., str]
) -> None:
    """A method a route does not take is JSON too (405 or, for a function name, 404)."""
    response = http.delete(f"{serve()}/openapi.json")
    assert response.status_code in (404, 405)
    assert set(response.json()) == FUNCTION_ERROR


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/functions/v1/no-such-function", 404, "not_found"),
        ("GET", "/functions/v1/a/b/c", 404, "not_found"),
        ("POST", "/functions/v1/chat-visitor-sync/", 404, "not_found"),
        ("POST", "/functions/v1/handle-chat-message/", 404, "not_found"),
        ("PUT", "/functions/v1/chat-visitor-sync", 405, "method_not_allowed"),
        ("TRACE", "/functions/v1/chat-visitor-sync", 405, "method_not_allowed"),
    ],
)
def test_gateway_function_errors_are_json(
    http: httpx.Client, gateway: str, method: str, path: str, status: int, code: str
) -> None:
    """Unknown paths and wrong methods under /functions/v1/, whoever answers them."""
    response = http.request(method, f"{gateway}{path}")
    assert_json_error(response, status, FUNCTION_ERROR, code)


def test_gateway_path_outside_both_is_json(http: httpx.Client, gateway: str) -> None:
    """A path outside /rest/v1/ and /functions/v1/ is Kong's JSON 404, as on Supabase."""
    response = http.get(f"{gateway}/nowhere")
    assert response.status_code == 404
    assert response.json() == {"message": "no route matched with those values"}


@pytest.mark.parametrize(
    ("prefix", "keys"),
    [
        ("/functions/v1/chat-visitor-sync", FUNCTION_ERROR),
        ("/rest/v1/chat_messages", POSTGREST_ERROR),
    ],
    ids=["functions", "rest"],
)
def test_gateway_refusals_are_json_in_the_shape_of_the_path(
    http: httpx.Client, gateway: str, prefix: str, keys: set[str]
) -> None:
    """nginx's own refusals: headers too large (400), body over 1 MiB (413), a method it
    does not serve (405)."""
    big = http.post(f"{gateway}{prefix}", json={}, headers={"Authorization": BIG_HEADER})
    assert_json_error(big, 400, keys, "invalid_request")
    huge = http.post(f"{gateway}{prefix}", content=b"x" * (2 * 1024 * 1024))
    assert_json_error(huge, 413, keys, "payload_too_large")
    trace = http.request("TRACE", f"{gateway}{prefix}")
    assert_json_error(trace, 405, keys, "method_not_allowed")


def _raw(gateway: str, request: bytes) -> tuple[bytes, httpx.Response]:
    """Send bytes no HTTP client would; returns (status line and headers, the answer)."""
    address = urlparse(gateway)
    assert address.hostname is not None and address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(4096):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    content_type = "application/json" if b"application/json" in head.lower() else "other"
    return head, httpx.Response(status, content=body, headers={"content-type": content_type})


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("/functions/v1/chat-visitor-sync", FUNCTION_ERROR),
        ("/rest/v1/chat_messages", POSTGREST_ERROR),
    ],
    ids=["functions", "rest"],
)
def test_gateway_unknown_transfer_coding_is_json(gateway: str, path: str, keys: set[str]) -> None:
    """A transfer coding nginx does not implement is 501 in the shape of the path."""
    host = urlparse(gateway).netloc.encode()
    request = (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Transfer-Encoding: gzip\r\nConnection: close\r\n\r\nx"
    )
    _head, response = _raw(gateway, request)
    assert_json_error(response, 501, keys, "invalid_request")


def test_gateway_malformed_requests_are_json(http: httpx.Client, gateway: str) -> None:
    """A request line that is not HTTP, and a URI over nginx's limit, are JSON 400 / 414."""
    long = http.get(f"{gateway}/functions/v1/{'a' * 20_000}")
    assert_json_error(long, 414, FUNCTION_ERROR, "invalid_request")
    head, garbage = _raw(gateway, b"GARBAGE\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert_json_error(garbage, 400, FUNCTION_ERROR, "invalid_request")
