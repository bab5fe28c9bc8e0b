"""Supabase's API keys and JWTs: the legacy HS256 `anon` / `service_role` keys, the 2026
publishable (`sb_publishable_...`) and secret (`sb_secret_...`) keys, asymmetric JWT signing
keys published as a JWKS, and JWT verification as strict as PostgREST's.

PostgREST (v12+) refuses a JWT whose signature, `exp`, `nbf` or `iat` does not check out,
allowing 30 seconds of clock skew, and a `role` that is not a string; the functions answer
every such caller 401, never 500 (CONTRACT §6).

The key that checks a signature is chosen by the token's `alg`, never the other way round:
HS256 only ever with the legacy secret, ES256 / RS256 only with an EC P-256 / RSA key of the
JWKS. So a token "signed" with HMAC over a public key (algorithm confusion) finds no key.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

__all__ = [
    "API_ROLES",
    "CLOCK_SKEW_SECONDS",
    "MAX_JWT_BYTES",
    "PUBLISHABLE_PREFIX",
    "SECRET_PREFIX",
    "JwtVerifier",
    "SigningKey",
    "mint_key",
    "new_api_key",
    "public_keys",
    "role_of",
    "unverified_role",
]

API_ROLES = frozenset({"anon", "authenticated", "service_role"})
CLOCK_SKEW_SECONDS = 30.0  # PostgREST's allowance on exp, nbf and iat
MAX_JWT_BYTES = 8192  # anything longer is refused unread; Supabase's own JWTs are < 2 KiB
PUBLISHABLE_PREFIX = "sb_publishable_"
SECRET_PREFIX = "sb_secret_"
_TIME_CLAIMS = ("exp", "nbf", "iat")
_LOCAL_EXPIRY = 1983812996  # the Supabase CLI's local keys expire then, too
# Asymmetric algorithms by JWK key type: the only ones a JWKS key is ever used with.
_JWKS_ALGORITHMS: dict[tuple[object, object], str] = {
    ("EC", "P-256"): "ES256",
    ("RSA", None): "RS256",
}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def mint_key(secret: str, role: str) -> str:
    """A key shaped like `supabase start`'s legacy anon / service_role keys (HS256)."""
    return jwt.encode(
        {"iss": "supabase-demo", "role": role, "exp": _LOCAL_EXPIRY}, secret, algorithm="HS256"
    )


def new_api_key(prefix: str) -> str:
    """A random publishable or secret key (`prefix` + 192 bits, URL-safe), as a project's."""
    return f"{prefix}{secrets.token_urlsafe(24)}"


@dataclass(frozen=True)
class SigningKey:
    """An ES256 (P-256) JWT signing key, as Supabase Auth holds one: `jwk` is the private
    JWK in the Supabase CLI's signing-keys format (`supabase gen signing-key`)."""

    jwk: dict[str, Any]

    @classmethod
    def generate(cls) -> SigningKey:
        private = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True)
        return cls(
            {
                **private,
                "kid": str(uuid.uuid4()),
                "alg": "ES256",
                "use": "sig",
                "key_ops": ["sign", "verify"],
                "ext": True,
            }
        )

    @property
    def kid(self) -> str:
        return str(self.jwk["kid"])

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWKS, as served at /auth/v1/.well-known/jwks.json."""
        public = {k: v for k, v in self.jwk.items() if k not in _PRIVATE_MEMBERS}
        return {"keys": [{**public, "key_ops": ["verify"]}]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A JWT over `claims`, ES256, with this key's `kid` in the header."""
        key = jwt.PyJWK(self.jwk, algorithm="ES256").key
        return jwt.encode(dict(claims), key, algorithm="ES256", headers={"kid": self.kid})

    def mint_role_key(self, role: str) -> str:
        """The role JWT a gateway puts in place of a publishable / secret key."""
        return self.sign({"iss": "supabase-demo", "role": role, "exp": _LOCAL_EXPIRY})


def public_keys(jwks: Mapping[str, Any]) -> tuple[jwt.PyJWK, ...]:
    """The verification keys of a JWKS document: EC P-256 keys for ES256 and RSA keys for
    RS256; any other key (a symmetric `oct` key above all) is left out, and private members
    are dropped. Raises ValueError when `jwks` is not `{"keys": [...]}`."""
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise ValueError('a JWKS is a JSON object {"keys": [...]}')
    found = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("every JWKS entry is a JSON object")
        crv = entry.get("crv") if entry.get("kty") == "EC" else None
        algorithm = _JWKS_ALGORITHMS.get((entry.get("kty"), crv))
        if algorithm is None or entry.get("alg", algorithm) != algorithm:
            continue
        public = {k: v for k, v in entry.items() if k not in _PRIVATE_MEMBERS}
        try:
            found.append(jwt.PyJWK(public, algorithm=algorithm))
        except jwt.PyJWTError as exc:
            raise ValueError(f"a JWKS key does not load ({exc})") from None
    return tuple(found)


def role_of(token: str, secret: str, *, leeway: float = CLOCK_SKEW_SECONDS) -> str | None:
    """The API role of a JWT signed with the legacy `secret`, or None when it is not a
    valid API key."""
    claims = JwtVerifier(secret, leeway=leeway, cache_size=0).claims(token)
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
    """Verifies callers' JWTs: HS256 with the legacy `secret` (when given) and ES256 / RS256
    with the JWKS `keys` (when given). Only successful verifications are cached.

    The cache holds at most `cache_size` entries (least recently used dropped first), keyed
    by the token's SHA-256, so neither junk tokens nor large ones stay in memory; a cached
    token's `exp` is checked again on every use against `clock`.
    """

    def __init__(
        self,
        secret: str | None = None,
        keys: tuple[jwt.PyJWK, ...] = (),
        *,
        leeway: float = CLOCK_SKEW_SECONDS,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._keys = keys
        self._leeway = leeway
        self._cache_size = cache_size
        self._clock = clock
        self._cache: OrderedDict[bytes, tuple[str, float | None]] = OrderedDict()

    def __len__(self) -> int:
        """How many verified tokens are cached."""
        return len(self._cache)

    def set_keys(self, keys: tuple[jwt.PyJWK, ...]) -> None:
        """Replace the JWKS keys (a JWKS fetched again). Cached tokens stay: each was
        verified, and its exp is still checked on every use."""
        self._keys = keys

    def lacks_key(self, token: str) -> bool:
        """True when `token` is an ES256 / RS256 JWT whose `kid` no JWKS key has: fetching the
        JWKS again (signing keys rotate) might find it."""
        header = _header(token)
        if header is None or header.get("alg") not in _JWKS_ALGORITHMS.values():
            return False
        return not self._candidates(header)

    def role(self, token: str) -> str | None:
        """The API role of `token`, or None when it is too long, forged, expired, not yet
        valid, or has a malformed claim."""
        if len(token) > MAX_JWT_BYTES:
            return None
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        cached = self._cache.get(key)
        if cached is None:
            verified = self.claims(token)
            if verified is None:
                return None
            cached = verified
            if self._cache_size:
                self._cache[key] = cached
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        role, expires = cached
        if expires is not None and expires <= self._clock() - self._leeway:
            self._cache.pop(key, None)
            return None
        if key in self._cache:
            self._cache.move_to_end(key)
        return role

    def claims(self, token: str) -> tuple[str, float | None] | None:
        """(role, exp) of a valid API-role JWT, uncached; None for any flaw. PyJWT checks the
        signature and exp/nbf/iat with the leeway; it also accepts numeric strings there,
        PostgREST does not, so the claim types are checked here too."""
        if len(token) > MAX_JWT_BYTES:
            return None
        header = _header(token)
        if header is None:
            return None
        for key, algorithm in self._keys_for(header):
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=[algorithm],
                    leeway=self._leeway,
                    options={"verify_aud": False},
                )
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
            return _api_claims(claims)
        return None

    def _keys_for(self, header: dict[str, Any]) -> list[tuple[Any, str]]:
        """The keys that may check a token with this header: chosen by its `alg`."""
        if header.get("alg") == "HS256":
            return [] if self._secret is None else [(self._secret, "HS256")]
        return [(k.key, k.algorithm_name) for k in self._candidates(header)]

    def _candidates(self, header: dict[str, Any]) -> list[jwt.PyJWK]:
        """JWKS keys for an asymmetric `alg`: the one its `kid` names, or all without one."""
        kid = header.get("kid")
        return [
            k
            for k in self._keys
            if k.algorithm_name == header.get("alg") and (kid is None or k.key_id == kid)
        ]


def _header(token: str) -> dict[str, Any] | None:
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    return header if isinstance(header, dict) else None


def _api_claims(claims: dict[str, Any]) -> tuple[str, float | None] | None:
    for name in _TIME_CLAIMS:
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            return None
    role = claims.get("role")
    if not isinstance(role, str) or role not in API_ROLES:
        return None
    exp = claims.get("exp")
    return role, (None if exp is None else float(exp))
