"""All chat data I/O: PostgREST requests with the secret key (else the legacy service-role
key), one client per process.

This is the single boundary where failures of the REST layer become UpstreamUnavailable
(503); nothing about them (SQL, hosts, stack traces) travels further than the server log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from httpx_aiohttp import AiohttpTransport
from postgrest import AsyncPostgrestClient, ReturnMethod
from postgrest.exceptions import APIError

from toolkit.errors import UpstreamUnavailable
from toolkit.functions.cursor import Position
from toolkit.functions.snapshot import Marker, Snapshot
from toolkit.protocol import CONTENT_TYPE, REST_PATH, api_key_headers

__all__ = ["ChatStore", "Conversation", "SyncRead"]

log = logging.getLogger("toolkit.functions")
T = TypeVar("T")

_CONVERSATION_FIELDS = (
    "id,status,assigned_to,access_token_hash,access_token_issued_at,token_revoked_at"
)
_MESSAGE_FIELDS = "id,created_at"


@dataclass(frozen=True)
class Conversation:
    id: str
    status: str
    assigned_to: str | None
    access_token_hash: str | None
    access_token_issued_at: str | None = None
    token_revoked_at: str | None = None

    @property
    def human_handled(self) -> bool:
        """Escalated or assigned: the AI stays quiet."""
        return self.status == "escalated" or self.assigned_to is not None


@dataclass(frozen=True)
class SyncRead:
    """What one sync reads (chat_visitor_sync_v2's parameters): after `snapshot` (from
    database `epoch`, with `marker`), else the newest page, at or after `since` or older
    than `before`; at most `limit` messages and `max_bytes` of message JSON."""

    limit: int
    max_bytes: int
    typing_ttl: int
    snapshot: Snapshot | None = None
    epoch: str | None = None
    marker: Marker | None = None
    since: datetime | None = None
    before: Position | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ChatStore:
    """The functions' only way to the data, through Supabase's REST API."""

    def __init__(self, supabase_url: str, key: str, *, timeout: float) -> None:
        base_url = f"{supabase_url}{REST_PATH}"
        headers = {
            # A secret key goes in `apikey` only, as the Supabase CLI sends it; the gateway
            # puts the service_role JWT in its place.
            **api_key_headers(key),
            "Accept": "application/json",
            CONTENT_TYPE: "application/json",
        }
        # httpx's own transport (httpcore, anyio, h11) cost more CPU per request than
        # everything else in a sync together; aiohttp's keeps the pooled connections.
        session = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=AiohttpTransport(limits=httpx.Limits(max_connections=64)),
        )
        self._rest = AsyncPostgrestClient(
            base_url, headers=headers, http_client=session, retry_enabled=False
        )

    async def aclose(self) -> None:
        await self._rest.aclose()

    async def find_conversation(self, conversation_id: str, visitor_id: str) -> Conversation | None:
        """The conversation with this id *and* visitor, or None."""
        rows = await self._run(
            self._rest.from_("chat_conversations")
            .select(_CONVERSATION_FIELDS)
            .eq("id", conversation_id)
            .eq("visitor_id", visitor_id)
            .limit(1)
            .execute()
        )
        return Conversation(**rows[0]) if rows else None

    async def create_conversation(
        self,
        visitor_id: str,
        name: str | None,
        email: str | None,
        token_hash: str,
        client_message_id: str | None = None,
    ) -> tuple[Conversation, bool]:
        """Create a conversation; returns (conversation, created now).

        With a clientMessageId the insert is `on conflict do nothing` on (visitor_id,
        first_client_message_id): a retried or concurrent first message gets the
        conversation the first try created, with created False.
        """
        now = _now()
        row = {
            "visitor_id": visitor_id,
            "visitor_name": name,
            "visitor_email": email,
            "access_token_hash": token_hash,
            "access_token_issued_at": now,
            "first_client_message_id": client_message_id,
            "last_message_at": now,
        }
        table = self._rest.from_("chat_conversations")
        if client_message_id is None:
            rows = await self._run(table.insert(row).select(_CONVERSATION_FIELDS).execute())
            return Conversation(**rows[0]), True
        rows = await self._run(
            table.upsert(
                row, on_conflict="visitor_id,first_client_message_id", ignore_duplicates=True
            )
            .select(_CONVERSATION_FIELDS)
            .execute()
        )
        if rows:
            return Conversation(**rows[0]), True
        existing = await self._run(
            self._rest.from_("chat_conversations")
            .select(_CONVERSATION_FIELDS)
            .eq("visitor_id", visitor_id)
            .eq("first_client_message_id", client_message_id)
            .limit(1)
            .execute()
        )
        return Conversation(**existing[0]), False

    async def claim_token(
        self, conversation_id: str, token_hash: str, visitor_id: str | None = None
    ) -> bool:
        """Store a hash only where none exists and none was revoked, atomically; True when
        this call stored it."""
        now = _now()
        query = (
            self._rest.from_("chat_conversations")
            .update(
                {"access_token_hash": token_hash, "access_token_issued_at": now, "updated_at": now}
            )
            .eq("id", conversation_id)
            .is_("access_token_hash", "null")
            .is_("token_revoked_at", "null")
        )
        if visitor_id is not None:
            query = query.eq("visitor_id", visitor_id)
        return bool(await self._run(query.select("id").execute()))

    async def add_visitor_message(
        self, conversation_id: str, name: str | None, text: str, client_message_id: str | None
    ) -> tuple[str, bool]:
        """Store the visitor's message; returns (message id, stored now).

        A repeated clientMessageId stores nothing and returns the first message's id.
        """
        row = {
            "conversation_id": conversation_id,
            "sender_type": "visitor",
            "sender_name": name,
            "message_text": text,
            "client_message_id": client_message_id,
        }
        table = self._rest.from_("chat_messages")
        if client_message_id is None:
            rows = await self._run(table.insert(row).select("id").execute())
            return rows[0]["id"], True
        rows = await self._run(
            table.upsert(
                row, on_conflict="conversation_id,client_message_id", ignore_duplicates=True
            )
            .select("id")
            .execute()
        )
        if rows:
            return rows[0]["id"], True
        existing = await self._run(
            self._rest.from_("chat_messages")
            .select("id")
            .eq("conversation_id", conversation_id)
            .eq("client_message_id", client_message_id)
            .limit(1)
            .execute()
        )
        return existing[0]["id"], False

    async def add_messages(
        self, conversation_id: str, messages: list[tuple[str, str, str]]
    ) -> None:
        """Store (sender_type, sender_name, text) rows in one request."""
        rows = [
            {
                "conversation_id": conversation_id,
                "sender_type": t,
                "sender_name": n,
                "message_text": m,
            }
            for t, n, m in messages
        ]
        await self._run(
            self._rest.from_("chat_messages").insert(rows, returning=ReturnMethod.minimal).execute()
        )

    async def touch(
        self, conversation_id: str, escalation_reason: str | None, *, reopen: bool = False
    ) -> str:
        """Record a new message on the conversation (and escalate it, or with `reopen` set
        it active again); returns the status."""
        now = _now()
        changes: dict[str, Any] = {"last_message_at": now, "updated_at": now}
        if reopen:
            changes["status"] = "active"
        if escalation_reason is not None:
            changes |= {
                "status": "escalated",
                "escalated_at": now,
                "escalation_reason": escalation_reason,
                "ai_handled": False,
            }
        rows = await self._run(
            self._rest.from_("chat_conversations")
            .update(changes)
            .eq("id", conversation_id)
            .select("status")
            .execute()
        )
        return str(rows[0]["status"]) if rows else "active"

    async def record_events(self, conversation_id: str, events: list[str]) -> None:
        """Append rollout events (no token material) in one insert."""
        if events:
            rows = [{"conversation_id": conversation_id, "event": e} for e in events]
            await self._run(
                self._rest.from_("chat_access_events")
                .insert(rows, returning=ReturnMethod.minimal)
                .execute()
            )

    async def record_requests(self, rows: list[tuple[str, int, int]]) -> None:
        """Append (function, status, requests) rows to chat_function_requests in one insert."""
        await self._run(
            self._rest.from_("chat_function_requests")
            .insert(
                [{"function": f, "status": s, "requests": n} for f, s, n in rows],
                returning=ReturnMethod.minimal,
            )
            .execute()
        )

    async def sync(
        self, conversation_id: str, token_hash: str, read: SyncRead
    ) -> dict[str, Any] | None:
        """Token check, a bounded page of messages and typing in one round trip
        (chat_visitor_sync_v2); None when the token is wrong."""
        params: dict[str, Any] = {
            "p_conversation_id": conversation_id,
            "p_token_hash": token_hash,
            "p_limit": read.limit,
            "p_max_bytes": read.max_bytes,
            "p_typing_ttl_seconds": read.typing_ttl,
        }
        if read.snapshot is not None:
            params["p_snapshot"] = str(read.snapshot)
        if read.epoch is not None:
            params["p_epoch"] = read.epoch
        if read.marker is not None:
            params["p_marker_xid"] = str(read.marker.xid)
            params["p_marker_id"] = read.marker.message_id
        if read.since is not None:
            params["p_since"] = read.since.isoformat()
        if read.before is not None:
            params["p_before_at"] = read.before.at.isoformat()
            params["p_before_id"] = read.before.message_id
        result = await self._run(self._rest.rpc("chat_visitor_sync_v2", params).execute())
        return result if isinstance(result, dict) else None

    async def _run(self, request: Awaitable[Any]) -> Any:
        try:
            response = await request
        except (APIError, httpx.HTTPError, ValueError) as exc:
            log.warning("rest_error %s: %s", type(exc).__name__, _describe(exc))
            raise UpstreamUnavailable("the chat service is temporarily unavailable") from exc
        return response.data


def _describe(exc: Exception) -> str:
    if isinstance(exc, APIError):
        return f"code={exc.code} message={exc.message}"
    return str(exc) or type(exc).__name__
