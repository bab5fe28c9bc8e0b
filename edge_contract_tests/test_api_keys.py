"""Supabase's key systems end to end (CONTRACT §9): publishable and secret keys, the ES256
signing key and its JWKS, the gateway's key rules, the functions' caller check, and the
official clients (supabase-py, supabase-js), on embedded stacks of each key mode (the
session's, from `stacks`; tests that take `target` get the `--keys new` one)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from postgrest.exceptions import APIError
from supabase import create_client

from edge_contract_tests.helpers import Signer, Stacks, auth_headers
from toolkit import stack
from toolkit.config import Target
from toolkit.keys import JwtVerifier, SigningKey, mint_key, public_keys
from toolkit.paths import REPO_ROOT
from toolkit.stack import testing

pytestmark = pytest.mark.embedded
KEY_MODES = ("new",)

MESSAGE, SYNC = "handle-chat-message", "chat-visitor-sync"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"
NOWHERE = "00000000-0000-4000-8000-000000000000"
TABLES = ("chat_conversations", "chat_messages")
JS_CLIENT = Path(__file__).parent / "js" / "official_client.mjs"


@pytest.fixture(autouse=True)
def _embedded_only(embedded: bool) -> None:
    if not embedded:
        pytest.skip("starts embedded stacks of each key mode")


def target_of(stacks: Stacks, keys: str) -> Target:
    return Target.from_env(stacks.get(keys).env())


def rest_get(http: httpx.Client, target: Target, headers: dict[str, str]) -> httpx.Response:
    return http.get(
        f"{target.url}/rest/v1/chat_conversations",
        params={"select": "id", "limit": "1"},
        headers=headers,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hmac_token(key: bytes, claims: dict[str, Any], kid: str) -> str:
    """An HS256 JWT made by hand with any bytes as the HMAC key, as an attacker makes one."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


# -- the signing key and its JWKS ----------------------------------------------------------


@pytest.mark.parametrize("keys", ["new", "both"])
def test_the_jwks_is_served_and_checks_the_stacks_tokens(
    http: httpx.Client, stacks: Stacks, keys: str
) -> None:
    """/auth/v1/.well-known/jwks.json serves the signing key's public half (no private `d`),
    and it verifies a token the stack signs."""
    state = stacks.get(keys)
    response = http.get(f"{state.api_url}/auth/v1/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    (jwk,) = response.json()["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["kid"]) == (
        "EC",
        "P-256",
        "ES256",
        state.signing_key().kid,
    )
    assert "d" not in jwk
    token = state.signing_key().sign({"role": "anon"})
    assert JwtVerifier(keys=public_keys(response.json())).role(token) == "anon"


def test_a_legacy_stack_publishes_no_signing_key(http: httpx.Client, stacks: Stacks) -> None:
    """`--keys legacy` has no asymmetric key: its JWKS is empty and it has no key file."""
    state = stacks.get("legacy")
    assert http.get(f"{state.api_url}/auth/v1/.well-known/jwks.json").json() == {"keys": []}
    assert not state.signing_keys_path.exists()


# -- the gateway's rules on /rest/v1/ --------------------------------------------------------


@pytest.mark.parametrize("keys", ["new", "both", "legacy"])
def test_an_unknown_key_is_401_at_the_gateway(
    http: httpx.Client, stacks: Stacks, keys: str
) -> None:
    """An sb_publishable_ key the project does not have, the project's key with its case
    changed, and a key of another stack: 401 "Invalid API key" before PostgREST."""
    target = target_of(stacks, keys)
    other = target_of(stacks, "new" if keys != "new" else "both")
    for key in (
        "sb_publishable_" + uuid.uuid4().hex,
        target.visitor_key.swapcase(),
        other.publishable_key,
    ):
        response = rest_get(http, target, auth_headers(key))
        assert response.status_code == 401, key
        assert response.json()["message"] == "Invalid API key"


@pytest.mark.parametrize("keys", ["new", "both"])
def test_a_secret_key_from_a_browser_is_refused(
    http: httpx.Client, stacks: Stacks, keys: str
) -> None:
    """The secret key with a browser's User-Agent: 401 on /rest/v1/ and on /functions/v1/,
    as Supabase answers it; the same request from a server reads the table."""
    target = target_of(stacks, keys)
    server = rest_get(http, target, {"apikey": target.secret_key})
    assert server.status_code == 200, server.text
    browser = rest_get(http, target, {"apikey": target.secret_key, "User-Agent": BROWSER})
    assert browser.status_code == 401
    assert browser.json()["message"] == "Forbidden use of secret API key in browser"
    function = http.post(
        f"{target.functions_url}/{SYNC}",
        json={"conversationId": NOWHERE},
        headers={**auth_headers(target.secret_key), "User-Agent": BROWSER},
    )
    assert (function.status_code, function.json()["code"]) == (401, "unauthorized")
    publishable = rest_get(http, target, {"apikey": target.publishable_key, "User-Agent": BROWSER})
    assert (publishable.status_code, publishable.json()["code"]) == (401, "42501")


def test_a_new_keys_stack_refuses_the_legacy_keys(http: httpx.Client, stacks: Stacks) -> None:
    """`--keys new`: the legacy anon JWT (what the deactivated key was) is 401 "Invalid API
    key" as apikey, PostgREST refuses it as a bearer token (PGRST301: HS256 is off) and the
    functions answer it 401 unauthorized."""
    state = stacks.get("new")
    target = target_of(stacks, "new")
    for role in ("anon", "service_role"):
        legacy = mint_key(state.jwt_secret, role)
        as_apikey = rest_get(http, target, auth_headers(legacy))
        assert (as_apikey.status_code, as_apikey.json()["message"]) == (401, "Invalid API key")
        beside = rest_get(
            http, target, {"apikey": target.publishable_key, "Authorization": f"Bearer {legacy}"}
        )
        assert (beside.status_code, beside.json()["code"]) == (401, "PGRST301")
        function = http.post(
            f"{target.functions_url}/{SYNC}",
            json={"conversationId": NOWHERE},
            headers={"Authorization": f"Bearer {legacy}"},
        )
        assert (function.status_code, function.json()["code"]) == (401, "unauthorized")


@pytest.mark.parametrize("keys", ["new", "both"])
def test_es256_role_jwts_reach_postgrest_and_hs256_only_with_legacy_keys(
    http: httpx.Client, stacks: Stacks, keys: str
) -> None:
    """A service_role JWT signed with the stack's ES256 key reads rows beside the publishable
    key; one signed with the HS256 secret does only while the legacy keys are active."""
    state = stacks.get(keys)
    target = target_of(stacks, keys)
    es256 = state.signing_key().sign({"role": "service_role"})
    hs256 = mint_key(state.jwt_secret, "service_role")
    for token, status in ((es256, 200), (hs256, 200 if state.legacy else 401)):
        response = rest_get(
            http, target, {"apikey": target.publishable_key, "Authorization": f"Bearer {token}"}
        )
        assert response.status_code == status, response.text


# -- algorithm confusion -------------------------------------------------------------------


@pytest.mark.parametrize("keys", ["new", "both"])
def test_an_hs256_token_signed_with_the_public_key_is_refused(
    http: httpx.Client, stacks: Stacks, keys: str
) -> None:
    """HS256 "signed" with the public key (its PEM, or the JWKS the gateway serves) as the
    HMAC secret: PostgREST says 401 PGRST301 and both functions 401 unauthorized, also where
    HS256 is still accepted for the legacy secret (`both`)."""
    state = stacks.get(keys)
    target = target_of(stacks, keys)
    served = http.get(f"{target.url}/auth/v1/.well-known/jwks.json").content
    public = public_keys(json.loads(served))[0].key
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"role": "service_role", "exp": int(time.time()) + 600}
    for secret in (pem, served):
        forged = hmac_token(secret, claims, state.signing_key().kid)
        rest = rest_get(
            http, target, {"apikey": target.publishable_key, "Authorization": f"Bearer {forged}"}
        )
        assert (rest.status_code, rest.json()["code"]) == (401, "PGRST301")
        for name in (MESSAGE, SYNC):
            response = http.post(
                f"{target.functions_url}/{name}",
                json={"conversationId": NOWHERE, "visitorId": "v", "message": "hi"},
                headers={"Authorization": f"Bearer {forged}"},
            )
            assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


# -- the functions' caller check ----------------------------------------------------------


@pytest.mark.writes
@pytest.mark.parametrize("keys", ["new", "both"])
def test_an_es256_user_jwt_is_accepted_by_both_functions(
    http: httpx.Client, stacks: Stacks, keys: str
) -> None:
    """A signed-in user's ES256 session token (kid in the header), alone in Authorization:
    handle-chat-message opens a conversation and chat-visitor-sync reads it back."""
    target = target_of(stacks, keys)
    user = Signer(signing_key=stacks.get(keys).signing_key()).user()
    headers = {"Authorization": f"Bearer {user}"}
    visitor = f"es256-{uuid.uuid4()}"
    sent = http.post(
        f"{target.functions_url}/{MESSAGE}",
        json={"visitorId": visitor, "message": "hello as a user"},
        headers=headers,
    )
    assert sent.status_code == 200, sent.text
    body = {
        "conversationId": sent.json()["conversationId"],
        "conversationToken": sent.json()["conversationToken"],
    }
    synced = http.post(f"{target.functions_url}/{SYNC}", json=body, headers=headers)
    assert synced.status_code == 200, synced.text
    assert "hello as a user" in [m["text"] for m in synced.json()["messages"]]


def test_functions_auth_user_alone_refuses_the_publishable_key(
    http: httpx.Client, target: Target, signer: Signer, serve: Callable[..., str]
) -> None:
    """FUNCTIONS_AUTH=user: the publishable key is 401, an ES256 user JWT passes (403 for a
    made-up conversation, after the caller check)."""
    url = serve(FUNCTIONS_AUTH="user")
    body = {"conversationId": NOWHERE, "conversationToken": "t" * 43}
    keyed = http.post(f"{url}/{SYNC}", json=body, headers=auth_headers(target.visitor_key))
    assert (keyed.status_code, keyed.json()["code"]) == (401, "unauthorized")
    user = signer.user()
    signed = http.post(f"{url}/{SYNC}", json=body, headers={"Authorization": f"Bearer {user}"})
    assert (signed.status_code, signed.json()["code"]) == (403, "forbidden")


def test_an_inline_jwks_checks_user_jwts(
    http: httpx.Client, stacks: Stacks, signer: Signer, serve: Callable[..., str]
) -> None:
    """SUPABASE_JWKS (inline, as the function runtime may provide it) instead of the URL:
    the stack's ES256 tokens pass, another key's are 401."""
    jwks = json.dumps(stacks.get("new").signing_key().jwks())
    url = serve(SUPABASE_JWKS=jwks, SUPABASE_JWKS_URL="")
    body = {"conversationId": NOWHERE, "conversationToken": "t" * 43}
    ours = signer.user()
    theirs = Signer(signing_key=SigningKey.generate()).user()
    answers = [
        http.post(f"{url}/{SYNC}", json=body, headers={"Authorization": f"Bearer {t}"})
        for t in (ours, theirs)
    ]
    assert [(a.status_code, a.json()["code"]) for a in answers] == [
        (403, "forbidden"),
        (401, "unauthorized"),
    ]


def test_an_unreachable_jwks_is_503_for_user_jwts_only(
    http: httpx.Client, target: Target, signer: Signer, serve: Callable[..., str]
) -> None:
    """With SUPABASE_JWKS_URL unreachable, a user JWT cannot be checked: 503, not 401 (it
    may be valid); the publishable key still passes."""
    url = serve(SUPABASE_JWKS_URL=f"http://127.0.0.1:{testing.free_port()}/jwks")
    body = {"conversationId": NOWHERE, "conversationToken": "t" * 43}
    user = signer.user()
    signed = http.post(f"{url}/{SYNC}", json=body, headers={"Authorization": f"Bearer {user}"})
    assert (signed.status_code, signed.json()["code"]) == (503, "upstream_unavailable")
    keyed = http.post(f"{url}/{SYNC}", json=body, headers={"apikey": target.visitor_key})
    assert (keyed.status_code, keyed.json()["code"]) == (403, "forbidden")


# -- the gateway's rules on /functions/v1/ -------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """Answers every POST with the request headers it got, as JSON."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo_stack() -> Iterator[stack.StackState]:
    """A `both` stack whose functions upstream is a server echoing the headers it gets."""
    with stack.temporary(functions=False) as state:
        server = ThreadingHTTPServer(("127.0.0.1", state.ports["functions"]), _Echo)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield state
        finally:
            server.shutdown()
            server.server_close()


def test_the_gateway_turns_an_sb_key_into_sb_api_key_and_drops_a_forged_one(
    http: httpx.Client, echo_stack: stack.StackState
) -> None:
    """On /functions/v1/ a publishable / secret key reaches the function as its role's ES256
    JWT in `sb-api-key` (no Bearer); Authorization passes as sent; a client's own
    `sb-api-key` never arrives."""
    target = Target.from_env(echo_stack.env())
    keys = public_keys(echo_stack.signing_key().jwks())
    url = f"{target.functions_url}/{SYNC}"
    forged = {"sb-api-key": mint_key("x" * 32, "service_role")}
    seen = {
        role: http.post(url, json={}, headers={"apikey": key, **forged}).json()
        for role, key in (("anon", target.publishable_key), ("service_role", target.secret_key))
    }
    for role, headers in seen.items():
        assert JwtVerifier(keys=keys).role(headers["sb-api-key"]) == role
        assert "authorization" not in headers
    bare = http.post(url, json={}, headers={"Authorization": "Bearer user-jwt", **forged}).json()
    assert "sb-api-key" not in bare
    assert bare["authorization"] == "Bearer user-jwt"


# -- official clients ----------------------------------------------------------------------


def supabase_js(target: Target, key: str) -> dict[str, Any]:
    """Run edge_contract_tests/js/official_client.mjs (supabase-js, pinned in
    package-lock.json) with `key`; returns what it printed."""
    node = shutil.which("node")
    assert node is not None, "node is needed (./scripts/setup.sh)"
    # Node 20 has a WebSocket only behind this flag; supabase-js's realtime client needs one.
    result = subprocess.run(
        [node, "--experimental-websocket", str(JS_CLIENT), target.url, key],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


@pytest.mark.writes
@pytest.mark.parametrize("keys", ["new", "legacy"])
def test_supabase_js_with_the_visitor_key(stacks: Stacks, keys: str) -> None:
    """supabase-js with the publishable key (the anon key on a legacy stack): both chat
    tables 401 42501, and functions.invoke opens a conversation and syncs it."""
    answer = supabase_js(target_of(stacks, keys), target_of(stacks, keys).visitor_key)
    assert answer["reads"] == {t: {"status": 401, "code": "42501", "rows": None} for t in TABLES}
    assert answer["message"]["ok"] is True
    assert answer["sync"]["ok"] is True
    assert "hello from supabase-js" in answer["sync"]["texts"]


@pytest.mark.parametrize("keys", ["new", "legacy"])
def test_supabase_js_with_the_server_key_reads(stacks: Stacks, keys: str) -> None:
    """supabase-js with the secret key (service_role on a legacy stack) reads both tables."""
    target = target_of(stacks, keys)
    answer = supabase_js(target, target.server_key)
    assert answer["reads"] == {t: {"status": 200, "code": None, "rows": 1} for t in TABLES}


@pytest.mark.writes
@pytest.mark.parametrize("keys", ["new", "legacy"])
def test_supabase_py_in_both_key_systems(http: httpx.Client, stacks: Stacks, keys: str) -> None:
    """supabase-py with the visitor's key: chat reads fail with 42501, functions.invoke of
    both functions works; with the server's key the reads return rows."""
    target = target_of(stacks, keys)
    visitor = create_client(target.url, target.visitor_key)
    server = create_client(target.url, target.server_key)
    try:
        for table in ("chat_conversations", "chat_messages"):
            with pytest.raises(APIError) as caught:
                visitor.table(table).select("id").limit(1).execute()
            assert caught.value.code == "42501"
            assert len(server.table(table).select("id").limit(1).execute().data) == 1
        sent = visitor.functions.invoke(
            MESSAGE,
            invoke_options={
                "body": {"visitorId": f"py-{uuid.uuid4()}", "message": "hello from supabase-py"},
                "responseType": "json",
            },
        )
        assert isinstance(sent, dict)
        synced = visitor.functions.invoke(
            SYNC,
            invoke_options={
                "body": {
                    "conversationId": sent["conversationId"],
                    "conversationToken": sent["conversationToken"],
                },
                "responseType": "json",
            },
        )
        assert isinstance(synced, dict)
        assert "hello from supabase-py" in [m["text"] for m in synced["messages"]]
    finally:
        # supabase-py has no close(); its functions client owns an httpx session.
        visitor.functions._client.close()
        visitor.postgrest.aclose()
        server.postgrest.aclose()


# -- the local stack prints the keys ----------------------------------------------------------


def test_dev_sh_prints_the_publishable_and_secret_keys() -> None:
    """`./scripts/dev.sh --detach` (the main job) prints the key mode, both new keys and the
    widget's URL with the publishable key."""
    with tempfile.TemporaryDirectory(prefix="chat-toolkit-dev ") as folder:
        Path(folder).chmod(0o755)
        directory = Path(folder) / "stack"
        result = subprocess.run(
            ["./scripts/dev.sh", "--detach", "--dir", str(directory)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=300,
            check=False,
        )
        try:
            assert result.returncode == 0, result.stdout + result.stderr
            lines = result.stdout.splitlines()
            assert any(line.startswith("keys: both (") for line in lines)
            state = stack.read_state(directory)
            assert state is not None
            assert f"  SUPABASE_PUBLISHABLE_KEY={state.publishable_key}" in lines
            assert f"  SUPABASE_SECRET_KEY={state.secret_key}" in lines
            # The widget's URL carries the visitor key: the publishable one where there is one.
            assert f"widget {state.api_url}/widget/?key={state.publishable_key}" in lines
            assert state.publishable_key.startswith("sb_publishable_")
            assert state.secret_key.startswith("sb_secret_")
        finally:
            stack.down(directory, quiet=True)
