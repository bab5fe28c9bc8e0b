"""Conversation tokens: minting, hashing and constant-time matching."""

from __future__ import annotations

import base64
import hashlib
import re

from toolkit.tokens import hash_token, mint_token, token_matches

URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
URL_SAFE_43 = re.compile(r"^[A-Za-z0-9_-]{43}$")


def test_minted_token_is_43_url_safe_characters() -> None:
    """A token is 256 random bits as 43 characters of the URL-safe base64 alphabet."""
    token = mint_token()
    assert len(token) == 43
    assert URL_SAFE.fullmatch(token) is not None


def test_minted_tokens_are_distinct() -> None:
    """A thousand mints give a thousand different tokens."""
    tokens = {mint_token() for _ in range(1000)}
    assert len(tokens) == 1000


def test_hash_is_lowercase_hex_sha256() -> None:
    """The stored hash is hashlib's lowercase hex SHA-256 of the UTF-8 token."""
    token = "abc-_XYZ0123456789"
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode("utf-8")).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest) is not None


def test_hash_of_known_value() -> None:
    """The hash of "abc" is the published SHA-256 test vector."""
    assert hash_token("abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_token_matches_its_own_hash() -> None:
    """A token matches the hash it was stored as."""
    token = mint_token()
    assert token_matches(token, hash_token(token)) is True


def test_token_does_not_match_another_hash() -> None:
    """A token does not match the hash of a different token."""
    assert token_matches(mint_token(), hash_token(mint_token())) is False


def test_token_does_not_match_uppercase_hash() -> None:
    """Only the lowercase hex form stored by hash_token matches."""
    token = mint_token()
    assert token_matches(token, hash_token(token).upper()) is False


def test_no_stored_hash_never_matches() -> None:
    """A conversation without a hash (None) or with an empty one matches no token."""
    assert token_matches(mint_token(), None) is False
    assert token_matches("", None) is False
    assert token_matches("", "") is False


def test_ten_thousand_tokens_are_distinct_url_safe_and_full_length() -> None:
    """10,000 minted tokens are all different, URL-safe, 43 characters and 256 bits each."""
    tokens = [mint_token() for _ in range(10_000)]
    assert len(set(tokens)) == 10_000
    assert all(URL_SAFE_43.match(token) for token in tokens)
    assert {len(base64.urlsafe_b64decode(token + "=")) for token in tokens} == {32}
    assert len({hash_token(token) for token in tokens}) == 10_000
