"""API keys: minting local keys and reading their role back; JWTs checked with the legacy
secret and with a JWKS, the key always chosen by the token's algorithm."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from toolkit.keys import (
    MAX_JWT_BYTES,
    PUBLISHABLE_PREFIX,
    JwtVerifier,
    SigningKey,
    mint_key,
    new_api_key,
    public_keys,
    role_of,
)

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


# -- asymmetric signing keys and the JWKS ---------------------------------------------------

SIGNING = SigningKey.generate()
KEYS = public_keys(SIGNING.jwks())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_token(key: bytes, claims: dict[str, Any], **header: Any) -> str:
    """An HS256 JWT made by hand, with any bytes as the HMAC key (PyJWT refuses to use a
    public key as one, which is what an attacker's own code does)."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", **header}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def test_a_signing_key_publishes_only_its_public_half() -> None:
    """The JWKS holds the P-256 key with its kid and alg ES256, never the private `d`."""
    (jwk,) = SIGNING.jwks()["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["kid"]) == ("EC", "P-256", "ES256", SIGNING.kid)
    assert "d" not in jwk
    assert "d" in SIGNING.jwk


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
def test_es256_tokens_verify_with_the_jwks(role: str) -> None:
    """A token signed with the project's ES256 key (kid in the header) has its role."""
    now = int(time.time())
    token = SIGNING.sign({"role": role, "iat": now, "exp": now + 60})
    assert jwt.get_unverified_header(token)["kid"] == SIGNING.kid
    assert JwtVerifier(keys=KEYS).role(token) == role


def test_an_es256_token_without_kid_tries_every_key() -> None:
    """No kid: each ES256 key of the JWKS is tried, as PostgREST does."""
    private = jwt.PyJWK(SIGNING.jwk, algorithm="ES256").key
    token = jwt.encode({"role": "anon"}, private, algorithm="ES256")
    other = public_keys(SigningKey.generate().jwks())
    assert JwtVerifier(keys=other + KEYS).role(token) == "anon"


def test_a_token_of_another_signing_key_is_refused() -> None:
    """ES256 from a key the JWKS does not hold (same kid or none): refused; and the
    verifier says a fetch might find its kid."""
    stranger = SigningKey.generate()
    token = stranger.sign({"role": "service_role"})
    verifier = JwtVerifier(SECRET, keys=KEYS)
    assert verifier.role(token) is None
    assert verifier.lacks_key(token) is True
    assert verifier.lacks_key(SIGNING.sign({"role": "anon"})) is False
    forged = SigningKey({**stranger.jwk, "kid": SIGNING.kid}).sign({"role": "service_role"})
    assert verifier.role(forged) is None


def test_algorithm_confusion_is_refused() -> None:
    """HS256 tokens whose HMAC key is the public key (PEM, the JWK's JSON, the JWKS text) are
    refused, with and without the legacy secret configured: HS256 uses that secret only."""
    public = KEYS[0].key
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"role": "service_role", "exp": int(time.time()) + 60}
    for key in (pem, json.dumps(SIGNING.jwks()).encode(), json.dumps(SIGNING.jwks()["keys"][0])):
        raw = key if isinstance(key, bytes) else key.encode()
        for token in (_hmac_token(raw, claims), _hmac_token(raw, claims, kid=SIGNING.kid)):
            assert JwtVerifier(keys=KEYS).role(token) is None
            assert JwtVerifier(SECRET, keys=KEYS).role(token) is None


def test_hs256_needs_the_legacy_secret() -> None:
    """A genuine legacy key is refused by a verifier without the secret (new keys only) and
    accepted with it; an unsigned token (alg none) never is."""
    assert JwtVerifier(keys=KEYS).role(mint_key(SECRET, "anon")) is None
    assert JwtVerifier(SECRET, keys=KEYS).role(mint_key(SECRET, "anon")) == "anon"
    unsigned = jwt.encode({"role": "service_role"}, "", algorithm="none")
    assert JwtVerifier(SECRET, keys=KEYS).role(unsigned) is None


def test_rs256_keys_verify_rs256_only() -> None:
    """An RSA key of the JWKS checks RS256 tokens; an ES256 header never picks it."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "r1"}
    keys = public_keys({"keys": [jwk]})
    token = jwt.encode({"role": "anon"}, private, algorithm="RS256", headers={"kid": "r1"})
    assert JwtVerifier(keys=keys).role(token) == "anon"
    assert JwtVerifier(keys=keys).role(SIGNING.sign({"role": "anon"})) is None


def test_a_jwks_keeps_only_asymmetric_keys_and_drops_private_parts() -> None:
    """oct keys (an HMAC secret in a JWKS), P-384 keys and keys whose alg disagrees with
    their type are left out; a private `d` is dropped before use."""
    jwk = SIGNING.jwks()["keys"][0]
    document = {
        "keys": [
            {"kty": "oct", "k": _b64(SECRET.encode()), "alg": "HS256"},
            {**jwk, "alg": "HS256"},
            {**jwk, "crv": "P-384"},
            SIGNING.jwk,
        ]
    }
    (kept,) = public_keys(document)
    assert (kept.algorithm_name, kept.key_id) == ("ES256", SIGNING.kid)
    assert not hasattr(kept.key, "private_numbers")
    with pytest.raises(ValueError):
        public_keys({"kid": "x"})


def test_new_api_keys_are_random_and_prefixed() -> None:
    """Two publishable keys differ and carry Supabase's prefix and 192 random bits."""
    one, two = new_api_key(PUBLISHABLE_PREFIX), new_api_key(PUBLISHABLE_PREFIX)
    assert one != two
    assert one.startswith(PUBLISHABLE_PREFIX)
    assert len(one) == len(PUBLISHABLE_PREFIX) + 32
