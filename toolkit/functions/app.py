"""The functions server: an ASGI app answering POST /functions/v1/<name> like Supabase's
edge runtime (the caller check, CORS, body limit), with every error rendered in one place."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from toolkit.config import ServerSettings
from toolkit.errors import (
    Forbidden,
    FunctionError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    TokenRequired,
)
from toolkit.functions.bodies import parse_json_object, parse_message, parse_sync
from toolkit.functions.callers import CallerCheck
from toolkit.functions.chat_visitor_sync import SyncPolicy, chat_visitor_sync
from toolkit.functions.cursor import CursorSeal
from toolkit.functions.handle_chat_message import MessagePolicy, handle_chat_message
from toolkit.functions.listener import Listener, on_shutdown_signal
from toolkit.functions.openapi import openapi_document
from toolkit.functions.ratelimit import Limiter, client_ip
from toolkit.functions.redis_buckets import RedisBuckets
from toolkit.functions.request_stats import RequestStats
from toolkit.functions.responders import build_responder
from toolkit.functions.store import ChatStore
from toolkit.protocol import (
    CHAT_VISITOR_SYNC,
    CORS_ALLOW_HEADERS_VALUE,
    CORS_ALLOW_METHODS,
    FUNCTIONS_PATH,
    HANDLE_CHAT_MESSAGE,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
)

__all__ = ["create_app"]

log = logging.getLogger("toolkit.functions")

# Answers carry conversation tokens and private messages: no cache may keep them.
NO_STORE = {"Cache-Control": "no-store"}
_HTTP_CODES = {400: INVALID_REQUEST, 404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}
# A rate-limit check waits at most this long for Redis before the in-process buckets answer.
REDIS_TIMEOUT_SECONDS = 0.5
Handler = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]


def create_app(settings: ServerSettings) -> Starlette:
    """Build the app; the REST client and responder are made once, at start-up."""
    handlers: dict[str, Handler] = {}
    stats: list[RequestStats] = []  # made with the store, at start-up
    callers = CallerCheck(settings)
    openapi_body = orjson.dumps(openapi_document())
    # One client per worker; it connects on first use, inside the worker's event loop.
    redis = (
        aioredis.Redis.from_url(
            settings.rate_limit_redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        if settings.rate_limits and settings.rate_limit_redis_url
        else None
    )
    limiter = (
        Limiter(
            settings.rate_sync,
            settings.rate_message,
            settings.rate_token_failures,
            settings.rate_new_conversations,
            None if redis is None else partial(RedisBuckets, redis),
        )
        if settings.rate_limits
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        store = ChatStore(settings.supabase_url, settings.rest_key, timeout=settings.rest_timeout)
        # Long-poll wake-ups: one LISTEN connection per worker, when there is a database URL.
        listener = Listener(settings.db_url) if settings.db_url else None
        if listener is not None:
            listener.start()
            on_shutdown_signal(listener.close)
        async with httpx.AsyncClient() as responder_client:
            responder = build_responder(settings, responder_client)
            message_policy = MessagePolicy(
                settings.enforce_token,
                settings.allow_bootstrap,
                first_message_secret=settings.rest_key,
                token_max_age_days=settings.token_max_age_days,
            )
            sync_policy = SyncPolicy(
                settings.allow_bootstrap,
                settings.typing_ttl_seconds,
                CursorSeal(settings.cursor_secret),
                settings.token_max_age_days,
            )

            async def message(data: dict[str, Any], ip: str) -> dict[str, Any]:
                request = parse_message(data)
                if limiter is not None and request.conversation_id is None:
                    await limiter.new_conversation(ip)
                return await handle_chat_message(request, store, responder, message_policy, limiter)

            async def sync(data: dict[str, Any], ip: str) -> dict[str, Any]:
                return await chat_visitor_sync(
                    parse_sync(data), store, sync_policy, limiter, listener
                )

            handlers.update({HANDLE_CHAT_MESSAGE: message, CHAT_VISITOR_SYNC: sync})
            stats.append(RequestStats(store))
            try:
                async with stats[0].running():
                    yield
            finally:
                if listener is not None:
                    await listener.aclose()
                await store.aclose()
                await callers.aclose()
                if redis is not None:
                    await redis.aclose()

    async def openapi(request: Request) -> Response:
        return Response(
            openapi_body, media_type="application/json", headers=_cors(settings, request)
        )

    async def function(request: Request) -> Response:
        name = request.path_params["name"]
        started = time.perf_counter()
        status, conversation = 500, None
        try:
            if name not in handlers:
                raise NotFound(f"function {name!r} not found")
            if request.method == "OPTIONS":
                status = 200
                return Response("ok", headers=_cors(settings, request, preflight=True))
            if request.method != "POST":
                raise MethodNotAllowed(
                    "only POST and OPTIONS are allowed", headers={"Allow": CORS_ALLOW_METHODS}
                )
            await callers.check(request.headers)
            data = parse_json_object(await _read_body(request, settings.max_body_bytes))
            conversation = data.get("conversationId")
            ip = client_ip(
                request.client.host if request.client else None,
                request.headers.get("x-forwarded-for"),
                settings.trusted_proxies,
            )
            try:
                body = await handlers[name](data, ip)
            except (Forbidden, TokenRequired):
                # Only failures count against the address, and only failures are refused
                # by it: a request whose token verifies never lands here.
                if limiter is not None:
                    await limiter.failed(ip)
                raise
            conversation = body.get("conversationId") or body["conversation"]["id"]
            status = 200
            return _json(200, body, {**_cors(settings, request), **NO_STORE})
        except FunctionError as exc:
            status = exc.status
            headers = {**_cors(settings, request), **NO_STORE, **exc.headers}
            return _json(exc.status, {"error": exc.message, "code": exc.code}, headers)
        except Exception:
            log.exception("unhandled error in %s", name)
            return _json(
                500,
                {"error": "internal error", "code": INTERNAL_ERROR},
                {**_cors(settings, request), **NO_STORE},
            )
        finally:
            entry = {
                "fn": name if name in handlers else None,
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "conversation": _loggable_id(conversation),
            }
            log.info(orjson.dumps(entry).decode())
            if entry["fn"] is not None and stats:
                stats[0].count(name, status)

    async def http_error(request: Request, exc: Exception) -> Response:
        """Starlette's own answers (no such route, a method the openapi route lacks) in the
        functions' error shape, like every other answer."""
        assert isinstance(exc, HTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = {**_cors(settings, request), **NO_STORE, **(exc.headers or {})}
        return _json(exc.status_code, {"error": exc.detail.lower(), "code": code}, headers)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "CONNECT"]
    app = Starlette(
        routes=[
            Route(f"{FUNCTIONS_PATH}/openapi.json", openapi, methods=["GET"]),
            Route(f"{FUNCTIONS_PATH}/{{name}}", function, methods=methods),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
    )
    # No redirect for a trailing slash: it was an empty 307 built from the client's Host
    # header, without CORS; a path the functions do not serve is a JSON 404 like any other.
    app.router.redirect_slashes = False
    return app


def _loggable_id(value: object) -> str | None:
    """A conversation id for the log only when it is a UUID: whatever else a client put in
    that field (a token sent by mistake, say) never reaches the log."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _json(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _cors(settings: ServerSettings, request: Request, *, preflight: bool = False) -> dict[str, str]:
    """Supabase's function CORS headers; with an allowlist, only listed origins are echoed."""
    headers = {"Access-Control-Allow-Headers": CORS_ALLOW_HEADERS_VALUE}
    if preflight:
        headers["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
        headers["Access-Control-Max-Age"] = "86400"
    if "*" in settings.cors_origins:
        headers["Access-Control-Allow-Origin"] = "*"
        return headers
    headers["Vary"] = "Origin"
    origin = request.headers.get("origin")
    if origin in settings.cors_origins:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidRequest("the request body was cut off") from None
    return b"".join(chunks)
