"""`supabase status -o env` output turned into the toolkit's SUPABASE_* variables (pure).

The CLI prints `KEY="value"` lines (godotenv's format: double quotes, backslash escapes):
API_URL, DB_URL, FUNCTIONS_URL, ANON_KEY, SERVICE_ROLE_KEY, JWT_SECRET, PUBLISHABLE_KEY,
SECRET_KEY and more. Both key systems are kept: the publishable and secret keys (which every
client of the toolkit prefers) and the legacy JWT keys with their secret. SUPABASE_JWKS_URL
is where the stack's Auth publishes its signing keys (API_URL + /auth/v1/.well-known/jwks.json).
"""

from __future__ import annotations

import re

from toolkit.errors import ConfigError
from toolkit.protocol import FUNCTIONS_PATH, JWKS_PATH

__all__ = ["REQUIRED", "parse_status_env", "to_dotenv", "toolkit_env"]

# Toolkit variable ← `supabase status -o env` key, in the order they are printed (the ones
# the output lacks are left out).
_MAPPING = (
    ("SUPABASE_URL", "API_URL"),
    ("SUPABASE_PUBLISHABLE_KEY", "PUBLISHABLE_KEY"),
    ("SUPABASE_SECRET_KEY", "SECRET_KEY"),
    ("SUPABASE_ANON_KEY", "ANON_KEY"),
    ("SUPABASE_SERVICE_ROLE_KEY", "SERVICE_ROLE_KEY"),
    ("SUPABASE_DB_URL", "DB_URL"),
    ("SUPABASE_FUNCTIONS_URL", "FUNCTIONS_URL"),
    ("SUPABASE_JWT_SECRET", "JWT_SECRET"),
)
REQUIRED = (
    ("API_URL",),
    ("PUBLISHABLE_KEY", "ANON_KEY"),
    ("SECRET_KEY", "SERVICE_ROLE_KEY"),
    ("DB_URL",),
)
"""What the output must hold: each group names alternatives (either key system will do)."""

_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*?)\s*$")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), raw[1:-1])
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    return raw


def parse_status_env(text: str) -> dict[str, str]:
    """The KEY=value pairs of the output; other lines (notices, blanks, comments) are skipped."""
    values = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            values[match["key"]] = _unquote(match["value"])
    return values


def toolkit_env(status: dict[str, str]) -> dict[str, str]:
    """The toolkit's variables; a ConfigError names every required key that is missing."""
    missing = [
        " or ".join(group)
        for group in REQUIRED
        if not any(status.get(key, "").strip() for key in group)
    ]
    if missing:
        raise ConfigError(
            f"`supabase status -o env` output lacks {', '.join(missing)}; is the stack running "
            "(`supabase start`), and was it `-o env` output?"
        )
    api = status["API_URL"].strip().rstrip("/")
    found = {name: status.get(key, "").strip() for name, key in _MAPPING}
    found["SUPABASE_FUNCTIONS_URL"] = found["SUPABASE_FUNCTIONS_URL"] or api + FUNCTIONS_PATH
    env = {name: value for name, value in found.items() if value}
    env["SUPABASE_JWKS_URL"] = api + JWKS_PATH
    return env


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dotenv(env: dict[str, str]) -> str:
    """Dotenv text, one `KEY="value"` per line, as `chat-toolkit stack env` writes it."""
    return "".join(f"{key}={_quote(value)}\n" for key, value in env.items())
