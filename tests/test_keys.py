"""API keys: minting local keys and reading their role back."""

from __future__ import annotations

import time

import jwt
import pytest

from toolkit.keys import MAX_JWT_BYTES, JwtVerifier, mint_key, role_of

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


def _signed(**claims: object) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"role": ["anon"]},
        {"role": {"name": "anon"}},
        {"role": None},
        {"role": 1},
        {"role": "anon", "exp": "abc"},
        {"role": "anon", "exp": str(2**40)},
        {"role": "anon", "exp": True},
        {"role": "anon", "exp": [2**40]},
        {"role": "anon", "nbf": "0"},
        {"role": "anon", "iat": {"t": 0}},
    ],
    ids=[
        "role-list",
        "role-object",
        "role-null",
        "role-number",
        "exp-abc",
        "exp-numeric-string",
        "exp-bool",
        "exp-list",
        "nbf-string",
        "iat-object",
    ],
)
def test_malformed_claims_have_no_role(claims: dict[str, object]) -> None:
    """A correctly signed JWT with a malformed role or time claim is refused, not an error
    and not a key that never expires."""
    assert role_of(_signed(**claims), SECRET) is None
    assert JwtVerifier(SECRET).role(_signed(**claims)) is None


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_time_claims_in_the_future_beyond_the_leeway_are_refused(claim: str) -> None:
    """nbf or iat more than the leeway ahead: not yet valid; within the leeway: accepted."""
    now = int(time.time())
    assert role_of(_signed(role="anon", **{claim: now + 120}), SECRET) is None
    assert role_of(_signed(role="anon", **{claim: now + 10}), SECRET) == "anon"


def test_expiry_allows_the_clock_skew_leeway() -> None:
    """exp 10 s ago is within PostgREST's 30 s leeway; 60 s ago is expired."""
    now = int(time.time())
    assert role_of(_signed(role="anon", exp=now - 10), SECRET) == "anon"
    assert role_of(_signed(role="anon", exp=now - 60), SECRET) is None
    assert role_of(_signed(role="anon", exp=now - 10), SECRET, leeway=0) is None


def test_oversized_tokens_are_refused_unread_and_not_cached() -> None:
    """A 1 MB token and 300 distinct junk tokens are refused and leave the cache empty."""
    verifier = JwtVerifier(SECRET)
    assert verifier.role("x" * 1_000_000) is None
    assert verifier.role(_signed(role="anon", pad="p" * MAX_JWT_BYTES)) is None
    for i in range(300):
        assert verifier.role(f"junk.{i}.{'j' * 4000}") is None
    assert len(verifier) == 0


def test_cache_is_bounded() -> None:
    """Distinct valid tokens beyond the cache size evict the oldest ones."""
    verifier = JwtVerifier(SECRET, cache_size=16)
    for i in range(100):
        assert verifier.role(_signed(role="anon", n=i)) == "anon"
    assert len(verifier) == 16


def test_a_refused_token_is_not_remembered() -> None:
    """A failure is not cached: the same string verified again is decided afresh (here with
    a verifier whose leeway lets the not-yet-valid token through)."""
    token = _signed(role="anon", nbf=int(time.time()) + 60)
    strict = JwtVerifier(SECRET, leeway=0)
    assert strict.role(token) is None
    assert len(strict) == 0
    assert JwtVerifier(SECRET, leeway=120).role(token) == "anon"


def test_cached_tokens_expire_on_use() -> None:
    """A cached token's exp is checked on every use: once the clock passes it, it is refused
    and dropped from the cache."""
    now = time.time()
    clock = [now]
    verifier = JwtVerifier(SECRET, leeway=0, clock=lambda: clock[0])
    token = _signed(role="anon", exp=int(now) + 5)
    assert verifier.role(token) == "anon"
    assert len(verifier) == 1
    clock[0] = now + 10
    assert verifier.role(token) is None
    assert len(verifier) == 0
