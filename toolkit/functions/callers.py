"""Who may call the functions (FUNCTIONS_AUTH, CONTRACT §9): Supabase's current guidance for
functions, which check callers themselves (`verify_jwt` works only with the legacy keys).

    publishable  a known publishable key in `apikey` (the widget, the CLI's function
                 template) or in `Authorization: Bearer` (supabase-js sends it there too)
    secret       a known secret key in `apikey`
    user         a valid API-role JWT in `Authorization`, ES256 / RS256, checked with the
                 project's JWKS (SUPABASE_JWKS, or SUPABASE_JWKS_URL fetched and cached)
    legacy       a valid API-role JWT in `Authorization`, HS256, checked with the legacy
                 SUPABASE_JWT_SECRET (the legacy anon and service_role keys are such JWTs)

Any one accepted proof lets the request through; anything else is 401 unauthorized. Keys
are compared in constant time. The JWKS URL is fetched asynchronously (PyJWT's PyJWKClient
would block the event loop, and fetches again for every unknown `kid`), when a token names a
key not yet known, at most every `_REFETCH_SECONDS` (`_RETRY_SECONDS` after a failure): a
flood of made-up `kid`s costs one fetch, not one per request.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time

import httpx
from starlette.datastructures import Headers

from toolkit.config import ServerSettings
from toolkit.errors import Unauthorized, UpstreamUnavailable
from toolkit.keys import MAX_JWT_BYTES, JwtVerifier, public_keys
from toolkit.protocol import APIKEY, AUTHORIZATION

__all__ = ["CallerCheck"]

log = logging.getLogger("toolkit.functions")
_REFETCH_SECONDS = 30.0
_RETRY_SECONDS = 5.0
_BEARER = "bearer"


class CallerCheck:
    """The caller check of one app: `await check(headers)` passes or raises Unauthorized.
    It owns the HTTP client that fetches SUPABASE_JWKS_URL (`aclose` closes it) unless one
    is given."""

    def __init__(self, settings: ServerSettings, http: httpx.AsyncClient | None = None) -> None:
        modes = set(settings.auth)
        self._publishable = settings.publishable_keys if "publishable" in modes else ()
        self._secret = settings.secret_keys if "secret" in modes else ()
        self._jwks_url = settings.jwks_url if "user" in modes else None
        keys = public_keys(json.loads(settings.jwks)) if settings.jwks and "user" in modes else ()
        self._jwts = bool(modes & {"user", "legacy"})
        self._verifier = JwtVerifier(
            settings.jwt_secret if "legacy" in modes else None,
            keys,
            leeway=settings.jwt_leeway_seconds,
        )
        self._off = not modes
        self._own_http = http is None and self._jwks_url is not None
        self._http = httpx.AsyncClient(timeout=5.0) if self._own_http else http
        self._loaded = False
        self._next_fetch = 0.0
        self._fetching = asyncio.Lock()

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()

    async def check(self, headers: Headers) -> None:
        """Raise Unauthorized unless one accepted proof is present (module docstring).
        Oversized headers are refused before they are parsed or compared."""
        if self._off:
            return
        apikey = headers.get(APIKEY, "")
        authorization = headers.get(AUTHORIZATION, "")
        if len(authorization) > MAX_JWT_BYTES + len("Bearer ") or len(apikey) > MAX_JWT_BYTES:
            raise Unauthorized("authorization header is too large")
        scheme, _, token = authorization.partition(" ")
        token = token.strip() if scheme.lower() == _BEARER else ""
        if _known(apikey, self._publishable) or _known(token, self._publishable):
            return
        if _known(apikey, self._secret):
            return
        if token and not token.startswith("sb_") and self._jwts:
            if self._jwks_url is not None and self._verifier.lacks_key(token):
                await self._fetch_jwks()
            if self._verifier.role(token) is not None:
                return
            raise Unauthorized("invalid JWT")
        if apikey or token:
            raise Unauthorized("invalid API key")
        raise Unauthorized("missing authorization header")

    async def _fetch_jwks(self) -> None:
        """Fetch the JWKS again unless the last attempt is too recent. While no key was ever
        loaded, a failure is 503: the caller may well be valid."""
        async with self._fetching:
            now = time.monotonic()
            if now >= self._next_fetch:
                assert self._jwks_url is not None and self._http is not None
                try:
                    response = await self._http.get(self._jwks_url)
                    response.raise_for_status()
                    keys = public_keys(response.json())
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning("cannot load the JWKS at %s (%s)", self._jwks_url, exc)
                    self._next_fetch = now + _RETRY_SECONDS
                else:
                    self._next_fetch = now + _REFETCH_SECONDS
                    self._loaded = True
                    self._verifier.set_keys(keys)
            if not self._loaded:
                raise UpstreamUnavailable("the project's JWT signing keys are unreachable")


def _known(value: str, keys: tuple[str, ...]) -> bool:
    """`value` is one of `keys`, compared in constant time (each key is compared)."""
    if not value:
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(value.encode(), key.encode())
    return found
