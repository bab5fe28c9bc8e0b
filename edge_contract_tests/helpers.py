"""What the contract tests share, as PostgREST's test/io/util.py: requests as supabase-js sends
them, opening a conversation, and the rows the team dashboard or a pre-cutover widget writes.

Test modules import from here (and fixtures come from conftest.py); no test module imports
another.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import jwt
import psycopg

from toolkit import stack
from toolkit.config import Target
from toolkit.keys import SigningKey

__all__ = [
    "FORBIDDEN",
    "URL_SAFE",
    "Signer",
    "Stacks",
    "age_typing",
    "auth_headers",
    "call",
    "legacy_conversation",
    "one_row",
    "open_conversation",
    "reload_schema_cache",
    "set_typing",
    "stored_hash",
    "sync",
    "team_message",
    "user_headers",
    "user_jwt",
]

URL_SAFE = re.compile(r"^[A-Za-z0-9_-]{43,}$")
FORBIDDEN = {"error": "conversation not found or token invalid", "code": "forbidden"}


def auth_headers(key: str | None) -> dict[str, str]:
    """The headers supabase-js / supabase-py send with a key, a publishable one included
    (`apikey` and the same key as a bearer token; none for a keyless request)."""
    return {"apikey": key, "Authorization": f"Bearer {key}"} if key else {}


def call(
    http: httpx.Client, functions_url: str, name: str, body: Any, key: str | None
) -> httpx.Response:
    """POST a JSON body to a function, as supabase-js's functions.invoke does."""
    return http.post(f"{functions_url}/{name}", json=body, headers=auth_headers(key))


def open_conversation(
    http: httpx.Client,
    target: Target,
    url: str | None = None,
    *,
    message: str = "Hello",
    headers: dict[str, str] | None = None,
    **extra: str,
) -> dict[str, Any]:
    """Open a new conversation as a fresh visitor, through handle-chat-message at `url`
    (default: the target's functions); returns the 200 body plus its visitorId."""
    visitor = f"visitor-{uuid.uuid4()}"
    response = http.post(
        f"{url or target.functions_url}/handle-chat-message",
        json={"visitorId": visitor, "message": message, **extra},
        headers={**auth_headers(target.visitor_key), **(headers or {})},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return {**body, "visitorId": visitor}


def sync(
    http: httpx.Client,
    target: Target,
    conv: dict[str, Any],
    since: str | None = None,
    url: str | None = None,
    **extra: object,
) -> dict[str, Any]:
    """A 200 chat-visitor-sync of `conv` (from `since`, with any further fields) at `url`
    (default: the target's functions)."""
    body: dict[str, Any] = {
        "conversationId": conv["conversationId"],
        "conversationToken": conv["conversationToken"],
        **extra,
    }
    if since is not None:
        body["since"] = since
    response = call(
        http, url or target.functions_url, "chat-visitor-sync", body, target.visitor_key
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def one_row(db: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    """The single row a query must return."""
    row = db.execute(query, params).fetchone()
    assert row is not None, query
    return row


def legacy_conversation(db: psycopg.Connection) -> tuple[str, str]:
    """A pre-cutover conversation: a row with no access_token_hash; returns (id, visitorId)."""
    visitor = f"legacy-{uuid.uuid4()}"
    (cid,) = one_row(
        db, "insert into chat_conversations (visitor_id) values (%s) returning id::text", (visitor,)
    )
    db.execute(
        "insert into chat_messages (conversation_id, sender_type, message_text) "
        "values (%s, 'visitor', 'from before the cutover')",
        (cid,),
    )
    return str(cid), visitor


def stored_hash(db: psycopg.Connection, cid: str) -> str | None:
    (value,) = one_row(db, "select access_token_hash from chat_conversations where id = %s", (cid,))
    return None if value is None else str(value)


def team_message(
    http: httpx.Client, target: Target, cid: str, text: str, *, internal: bool = False
) -> str:
    """A team reply written the way the dashboard does: REST with a privileged key."""
    response = http.post(
        f"{target.url}/rest/v1/chat_messages",
        json={
            "conversation_id": cid,
            "sender_type": "team",
            "sender_name": "Dana",
            "message_text": text,
            "is_internal": internal,
            "metadata": {"secret": "internal"},
        },
        headers={**auth_headers(target.server_key), "Prefer": "return=representation"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()[0]["id"])


def set_typing(
    http: httpx.Client, target: Target, cid: str, typing: bool, skew_s: float = 0
) -> None:
    """The team's typing row for `cid`, upserted as the dashboard does with its own clock,
    which may run `skew_s` seconds ahead (the database stamps its own time over it)."""
    moment = datetime.fromtimestamp(time.time() + skew_s).astimezone().isoformat()
    response = http.post(
        f"{target.url}/rest/v1/team_typing_indicators",
        json={
            "conversation_id": cid,
            "user_id": "00000000-0000-4000-8000-0000000000d1",
            "user_name": "Dana",
            "is_typing": typing,
            "updated_at": moment,
        },
        headers={
            **auth_headers(target.server_key),
            "Prefer": "resolution=merge-duplicates,return=minimal",
        },
    )
    assert response.status_code in (200, 201), response.text


def age_typing(db: psycopg.Connection, cid: str, seconds: int) -> None:
    """Make the conversation's typing rows `seconds` old, past the trigger that stamps the
    database's time (replica mode skips triggers; superuser only)."""
    with db.transaction():
        db.execute("set local session_replication_role = replica")
        db.execute(
            "update team_typing_indicators set updated_at = now() - make_interval(secs => %s) "
            "where conversation_id = %s",
            (seconds, cid),
        )


def _user_claims(sub: str | None, claims: Mapping[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    return {
        "aud": "authenticated",
        "role": "authenticated",
        "sub": sub or str(uuid.uuid4()),
        "iat": now,
        "exp": now + 3600,
        **claims,
    }


def user_jwt(secret: str, sub: str | None = None, **claims: Any) -> str:
    """A signed-in user's access token as Supabase Auth issues it with the legacy secret
    (HS256, role authenticated, a random `sub` unless given), valid for an hour."""
    return jwt.encode(_user_claims(sub, claims), secret, algorithm="HS256")


@dataclass(frozen=True)
class Signer:
    """Signs JWTs as a project's Supabase Auth does: ES256 with its signing key (`kid` in
    the header) when there is one, else HS256 with the legacy JWT secret."""

    signing_key: SigningKey | None = None
    secret: str | None = None

    def sign(self, claims: Mapping[str, Any]) -> str:
        if self.signing_key is not None:
            return self.signing_key.sign(claims)
        assert self.secret is not None
        return jwt.encode(dict(claims), self.secret, algorithm="HS256")

    def user(self, sub: str | None = None, **claims: Any) -> str:
        """A signed-in user's access token (see user_jwt), signed this way."""
        return self.sign(_user_claims(sub, claims))


class Stacks:
    """Embedded stacks by key mode, each started on first use and kept for the session."""

    def __init__(self, resources: contextlib.ExitStack) -> None:
        self._resources = resources
        self.started: dict[str, stack.StackState] = {}

    def get(self, keys: str) -> stack.StackState:
        if keys not in self.started:
            # Rate limits are off here: the suite makes hundreds of calls per conversation
            # and from one address. test_rate_limits.py covers them on servers of its own.
            self.started[keys] = self._resources.enter_context(
                stack.temporary(keys=keys, functions_env={"CHAT_RATE_LIMITS": "off"})
            )
        return self.started[keys]

    def of(self, target: Target) -> stack.StackState | None:
        """The embedded stack behind `target`, if it is one of these."""
        return next((s for s in self.started.values() if s.api_url == target.url), None)


def user_headers(target: Target, token: str) -> dict[str, str]:
    """What supabase-js sends for a signed-in user: the visitor's key plus the user's JWT."""
    return {"apikey": target.visitor_key, "Authorization": f"Bearer {token}"}


def reload_schema_cache(target: Target) -> None:
    """Tell PostgREST about DDL done behind its back; wait until its OpenAPI document (built
    from the schema cache) shows access_token_hash, a column the migrations add."""
    assert target.db_url is not None
    with psycopg.connect(target.db_url, autocommit=True) as conn:
        conn.execute("notify pgrst, 'reload schema'")
    with httpx.Client(timeout=5.0) as client:
        for _ in range(200):
            root = client.get(f"{target.url}/rest/v1/", headers=auth_headers(target.server_key))
            if "access_token_hash" in root.text:
                return
            time.sleep(0.05)
    raise AssertionError("PostgREST did not reload its schema cache within 10 s")
