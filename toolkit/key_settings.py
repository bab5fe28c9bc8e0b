"""The key system's settings, read from an env mapping (config.py calls these): API keys
(SUPABASE_PUBLISHABLE_KEY(S), SUPABASE_SECRET_KEY(S)), the JWKS that checks user JWTs
(SUPABASE_JWKS) and who may call the functions (FUNCTIONS_AUTH).

The names are Supabase's own: the function runtime provides SUPABASE_PUBLISHABLE_KEYS /
SUPABASE_SECRET_KEYS as JSON objects (`{"default": "sb_publishable_..."}`), single-key
fallbacks SUPABASE_PUBLISHABLE_KEY / SUPABASE_SECRET_KEY, and SUPABASE_JWKS (inline) or
SUPABASE_JWKS_URL; `@supabase/server` names the modes publishable, secret and user.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from toolkit.errors import ConfigError
from toolkit.keys import PUBLISHABLE_PREFIX, SECRET_PREFIX, public_keys

__all__ = [
    "AUTH_MODES",
    "DEFAULT_AUTH",
    "functions_auth",
    "inline_jwks",
    "legacy_keys_deactivated",
    "publishable_keys",
    "secret_keys",
]

AUTH_MODES = ("publishable", "secret", "user", "legacy")
"""FUNCTIONS_AUTH's modes: a known publishable key, a known secret key, a JWT checked with the
JWKS (ES256 / RS256), a JWT checked with the legacy HS256 secret."""
DEFAULT_AUTH = ("publishable", "user", "legacy")
"""A project mid-migration: the widget's publishable key, users' JWTs, the legacy keys."""
_AUTH_NEEDS = {
    "publishable": "SUPABASE_PUBLISHABLE_KEY (or SUPABASE_PUBLISHABLE_KEYS)",
    "secret": "SUPABASE_SECRET_KEY (or SUPABASE_SECRET_KEYS)",
    "user": "SUPABASE_JWKS or SUPABASE_JWKS_URL",
    "legacy": "SUPABASE_JWT_SECRET",
}


def publishable_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """Every publishable key the env names, the one to use first (see `_api_keys`)."""
    return _api_keys(env, "PUBLISHABLE", PUBLISHABLE_PREFIX)


def secret_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """Every secret key the env names, the one to use first (see `_api_keys`)."""
    return _api_keys(env, "SECRET", SECRET_PREFIX)


def _api_keys(env: Mapping[str, str], kind: str, prefix: str) -> tuple[str, ...]:
    """SUPABASE_<kind>_KEY first, then the values of SUPABASE_<kind>_KEYS ("default" first).
    Each must carry Supabase's prefix, so that a secret key set where a publishable one
    belongs is refused at start-up, never sent from a browser. Messages never show a key."""
    single_name, many_name = f"SUPABASE_{kind}_KEY", f"SUPABASE_{kind}_KEYS"
    named = []
    if single := env.get(single_name, "").strip():
        named.append((single_name, single))
    if raw := env.get(many_name, "").strip():
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if not (
            isinstance(parsed, dict)
            and parsed
            and all(isinstance(v, str) and v.strip() for v in parsed.values())
        ):
            raise ConfigError(
                f'{many_name} is not a JSON object of keys, e.g. {{"default": "{prefix}..."}}'
            )
        for name, value in sorted(parsed.items(), key=lambda item: item[0] != "default"):
            named.append((f"{many_name}[{json.dumps(name)}]", value.strip()))
    for name, value in named:
        if not value.startswith(prefix):
            raise ConfigError(f"{name} is not a {kind.lower()} key (those start with {prefix})")
    return tuple(dict.fromkeys(value for _, value in named))


def inline_jwks(env: Mapping[str, str], *, url_set: bool) -> str | None:
    """SUPABASE_JWKS: inline JSON holding at least one ES256 / RS256 key, or None. At most
    one of SUPABASE_JWKS and SUPABASE_JWKS_URL (`url_set`) may be set."""
    inline = env.get("SUPABASE_JWKS", "").strip() or None
    if inline is None:
        return None
    if url_set:
        raise ConfigError("set SUPABASE_JWKS or SUPABASE_JWKS_URL, not both")
    try:
        keys = public_keys(json.loads(inline))
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"SUPABASE_JWKS is not a JWKS ({exc})") from None
    if not keys:
        raise ConfigError("SUPABASE_JWKS holds no ES256 or RS256 key")
    return inline


def functions_auth(
    env: Mapping[str, str], configured: Mapping[str, bool], *, verify_jwt: bool
) -> tuple[str, ...]:
    """FUNCTIONS_AUTH: the callers the functions accept, `()` for no check. Unset, it is
    DEFAULT_AUTH less the modes the env gives nothing to check with (`configured`); named
    explicitly, every mode must be configured. `verify_jwt` False (FUNCTIONS_VERIFY_JWT=false)
    keeps its old meaning: no check."""
    raw = env.get("FUNCTIONS_AUTH", "").strip().lower()
    if not verify_jwt:
        if raw not in ("", "none"):
            raise ConfigError(
                f"FUNCTIONS_AUTH={raw!r} asks for a caller check that FUNCTIONS_VERIFY_JWT=false "
                "turns off; unset one of them"
            )
        return ()
    if not raw:
        modes = tuple(m for m in DEFAULT_AUTH if configured[m])
        if not modes:
            raise ConfigError(
                "no caller check is configured: set SUPABASE_PUBLISHABLE_KEY, SUPABASE_JWKS_URL "
                "or SUPABASE_JWT_SECRET (or FUNCTIONS_AUTH=none behind a gateway that checks "
                "callers)"
            )
        return modes
    names = tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
    if names == ("none",):
        return ()
    if not names or any(n not in AUTH_MODES for n in names):
        raise ConfigError(
            f"FUNCTIONS_AUTH={raw!r} must list {', '.join(AUTH_MODES)} (comma-separated), "
            "or be none"
        )
    for name in names:
        if not configured[name]:
            raise ConfigError(f"FUNCTIONS_AUTH names {name}, but {_AUTH_NEEDS[name]} is not set")
    return names


def legacy_keys_deactivated(env: Mapping[str, str]) -> bool:
    """SUPABASE_LEGACY_KEYS: `active` (default) or `deactivated` (the project's legacy JWT keys
    were turned off; `verify` then checks that they are refused)."""
    raw = env.get("SUPABASE_LEGACY_KEYS", "").strip().lower() or "active"
    if raw not in ("active", "deactivated"):
        raise ConfigError(f"SUPABASE_LEGACY_KEYS={raw!r} must be active or deactivated")
    return raw == "deactivated"
