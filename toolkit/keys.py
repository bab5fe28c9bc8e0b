"""Supabase's legacy API keys: HS256 JWTs whose `role` claim PostgREST switches to."""

from __future__ import annotations

import functools
import time

import jwt

__all__ = ["API_ROLES", "mint_key", "role_of"]

API_ROLES = frozenset({"anon", "authenticated", "service_role"})
_LOCAL_EXPIRY = 1983812996  # the Supabase CLI's local keys expire then, too


def mint_key(secret: str, role: str) -> str:
    """A key shaped like `supabase start`'s anon / service_role keys."""
    return jwt.encode(
        {"iss": "supabase-demo", "role": role, "exp": _LOCAL_EXPIRY}, secret, algorithm="HS256"
    )


def role_of(token: str, secret: str) -> str | None:
    """The API role of a JWT signed with `secret`, or None when it is not a valid API key."""
    role, expires = _verified(token, secret)
    if expires is not None and expires <= time.time():
        return None
    return role


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str) -> tuple[str | None, float | None]:
    """(role, exp) of a correctly signed token; cached because every widget sends the same
    anon key on every poll. Expiry is checked by the caller, on every use."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_aud": False, "verify_exp": False, "require": []},
        )
    except jwt.PyJWTError:
        return None, None
    role = claims.get("role")
    exp = claims.get("exp")
    return (role if role in API_ROLES else None), (
        float(exp) if isinstance(exp, int | float) else None
    )
