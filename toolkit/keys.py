"""Supabase's legacy API keys: HS256 JWTs whose `role` claim PostgREST switches to."""

from __future__ import annotations

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
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"verify_aud": False, "require": []}
        )
    except jwt.PyJWTError:
        return None
    role = claims.get("role")
    return role if role in API_ROLES else None
