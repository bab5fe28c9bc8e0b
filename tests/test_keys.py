"""API keys: minting local keys and reading their role back."""

from __future__ import annotations

import jwt
import pytest

from toolkit.keys import mint_key, role_of

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
OTHER_SECRET = "another-secret-jwt-token-with-at-least-32-characters"


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
def test_minted_key_round_trips(role: str) -> None:
    """A key minted for an API role reads back as that role with the same secret."""
    assert role_of(mint_key(SECRET, role), SECRET) == role


def test_minted_key_has_the_cli_payload() -> None:
    """The payload matches `supabase start`'s local keys."""
    claims = jwt.decode(mint_key(SECRET, "anon"), SECRET, algorithms=["HS256"])
    assert claims == {"iss": "supabase-demo", "role": "anon", "exp": 1983812996}


def test_wrong_secret_is_rejected() -> None:
    """A key signed with another secret has no role."""
    assert role_of(mint_key(OTHER_SECRET, "service_role"), SECRET) is None


def test_non_api_role_is_rejected() -> None:
    """A validly signed JWT whose role is not an API role (postgres) has no role."""
    token = jwt.encode({"role": "postgres"}, SECRET, algorithm="HS256")
    assert role_of(token, SECRET) is None


def test_expired_key_is_rejected() -> None:
    """A key past its exp has no role."""
    token = jwt.encode({"role": "anon", "exp": 1}, SECRET, algorithm="HS256")
    assert role_of(token, SECRET) is None


@pytest.mark.parametrize("token", ["sb_publishable_abc123", "", "a.b.c"])
def test_non_jwt_is_rejected(token: str) -> None:
    """Something that is not a JWT (a new-style key, nothing, garbage) has no role."""
    assert role_of(token, SECRET) is None
