"""Supabase's legacy API keys: HS256 JWTs whose `role` claim PostgREST switches to, and their
verification as strict as PostgREST's.

PostgREST (v12+) refuses a JWT whose signature, `exp`, `nbf` or `iat` does not check out,
allowing 30 seconds of clock skew, and a `role` that is not a string; the functions answer
every such caller 401, never 500 (CONTRACT §6).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jwt

__all__ = [
    "API_ROLES",
    "CLOCK_SKEW_SECONDS",
    "MAX_JWT_BYTES",
    "JwtVerifier",
    "mint_key",
    "role_of",
    "unverified_role",
]

API_ROLES = frozenset({"anon", "authenticated", "service_role"})
CLOCK_SKEW_SECONDS = 30.0  # PostgREST's allowance on exp, nbf and iat
MAX_JWT_BYTES = 8192  # anything longer is refused unread; Supabase's own JWTs are < 2 KiB
_TIME_CLAIMS = ("exp", "nbf", "iat")
_LOCAL_EXPIRY = 1983812996  # the Supabase CLI's local keys expire then, too


def mint_key(secret: str, role: str) -> str:
    """A key shaped like `supabase start`'s anon / service_role keys."""
    return jwt.encode(
        {"iss": "supabase-demo", "role": role, "exp": _LOCAL_EXPIRY}, secret, algorithm="HS256"
    )


def role_of(token: str, secret: str, *, leeway: float = CLOCK_SKEW_SECONDS) -> str | None:
    """The API role of a JWT signed with `secret`, or None when it is not a valid API key."""
    claims = _verified_claims(token, secret, leeway)
    return None if claims is None else claims[0]


def unverified_role(token: str) -> str | None:
    """The `role` claim of a JWT read without checking its signature: only to tell a
    misconfigured key (an "anon key" that is really service_role) from a leak; never
    to grant anything. None when it is no JWT or the role is not a string."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    role = claims.get("role")
    return role if isinstance(role, str) else None


class JwtVerifier:
    """Verifies callers' JWTs with one secret; only successful verifications are cached.

    The cache holds at most `cache_size` entries (least recently used dropped first), keyed
    by the token's SHA-256, so neither junk tokens nor large ones stay in memory; a cached
    token's `exp` is checked again on every use against `clock`.
    """

    def __init__(
        self,
        secret: str,
        *,
        leeway: float = CLOCK_SKEW_SECONDS,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._leeway = leeway
        self._cache_size = cache_size
        self._clock = clock
        self._cache: OrderedDict[bytes, tuple[str, float | None]] = OrderedDict()

    def __len__(self) -> int:
        """How many verified tokens are cached."""
        return len(self._cache)

    def role(self, token: str) -> str | None:
        """The API role of `token`, or None when it is too long, forged, expired, not yet
        valid, or has a malformed claim."""
        if len(token) > MAX_JWT_BYTES:
            return None
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        cached = self._cache.get(key)
        if cached is None:
            verified = _verified_claims(token, self._secret, self._leeway)
            if verified is None:
                return None
            cached = verified
            self._cache[key] = cached
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        role, expires = cached
        if expires is not None and expires <= self._clock() - self._leeway:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return role


def _verified_claims(token: str, secret: str, leeway: float) -> tuple[str, float | None] | None:
    """(role, exp) of a valid API-role JWT; None for any flaw. PyJWT checks the signature
    and exp/nbf/iat with `leeway`; it also accepts numeric strings there, PostgREST does
    not, so the claim types are checked here too."""
    if len(token) > MAX_JWT_BYTES:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=["HS256"], leeway=leeway, options={"verify_aud": False}
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    for name in _TIME_CLAIMS:
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            return None
    role = claims.get("role")
    if not isinstance(role, str) or role not in API_ROLES:
        return None
    exp = claims.get("exp")
    return role, (None if exp is None else float(exp))
