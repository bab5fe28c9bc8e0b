"""The stack's record of itself: ports, PIDs, options and keys in <dir>/state.json, the
SUPABASE_* variables in <dir>/env and the ES256 signing key in <dir>/signing_keys.json. They
hold the JWT secret, the API keys or the private key, so every file here is created mode
0600 and replaced whole, never rewritten in place.

Key modes (`stack up --keys`), Supabase's key systems:

    legacy  the HS256 JWT secret and the anon / service_role JWT keys (before migrating)
    new     publishable and secret keys and an ES256 signing key; the legacy keys are
            deactivated (the gateway refuses them, PostgREST refuses HS256 tokens)
    both    all of them: a project mid-migration, like the Supabase CLI's local stack
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from toolkit.errors import StackError
from toolkit.keys import SigningKey, mint_key
from toolkit.protocol import FUNCTIONS_PATH, JWKS_PATH

__all__ = ["KEY_MODES", "StackState", "read_state", "write_private"]

KEY_MODES = {
    "legacy": "the legacy anon / service_role JWT keys and the HS256 JWT secret only",
    "new": "publishable and secret keys and an ES256 signing key; legacy keys deactivated",
    "both": "publishable, secret and the legacy keys: a project mid-migration",
}


@dataclass
class StackState:
    """What `up` started: ports by name (api, db, rest, rest_admin, functions), PIDs by part
    (postgres, postgrest, functions, nginx), the key mode and the stack's keys (the JWT
    secret and the publishable and secret keys; "" where the mode has none)."""

    directory: str
    ports: dict[str, int]
    pids: dict[str, int]
    jwt_secret: str
    baseline_only: bool
    auto_expose: bool
    keys: str = "both"
    publishable_key: str = ""
    secret_key: str = ""

    @property
    def legacy(self) -> bool:
        """The legacy JWT keys are active."""
        return self.keys in ("legacy", "both")

    @property
    def new(self) -> bool:
        """The publishable and secret keys and the ES256 signing key are active."""
        return self.keys in ("new", "both")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def db_url(self) -> str:
        # The server has no TLS; libpq and psycopg fall back to plain, but the Supabase CLI
        # (pgx) refuses a URL without sslmode=disable.
        port = self.ports["db"]
        return f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres?sslmode=disable"

    @property
    def signing_keys_path(self) -> Path:
        """The private ES256 key, in the Supabase CLI's signing-keys format (a JSON array
        of JWKs, as `supabase gen signing-key` writes and `[auth] signing_keys_path` reads)."""
        return Path(self.directory) / "signing_keys.json"

    def signing_key(self) -> SigningKey:
        """The stack's ES256 signing key (`new` and `both` modes)."""
        try:
            (jwk,) = json.loads(self.signing_keys_path.read_text())
        except (OSError, ValueError) as exc:
            raise StackError(
                f"{self.signing_keys_path} is unreadable ({exc}); run `stack up` again"
            ) from exc
        return SigningKey(jwk)

    def env(self) -> dict[str, str]:
        """The SUPABASE_* variables of this stack's key mode, the new keys first."""
        env = {"SUPABASE_URL": self.api_url}
        if self.new:
            env["SUPABASE_PUBLISHABLE_KEY"] = self.publishable_key
            env["SUPABASE_SECRET_KEY"] = self.secret_key
        if self.legacy:
            env["SUPABASE_ANON_KEY"] = mint_key(self.jwt_secret, "anon")
            env["SUPABASE_SERVICE_ROLE_KEY"] = mint_key(self.jwt_secret, "service_role")
        env["SUPABASE_DB_URL"] = self.db_url
        env["SUPABASE_FUNCTIONS_URL"] = f"{self.api_url}{FUNCTIONS_PATH}"
        if self.legacy:
            env["SUPABASE_JWT_SECRET"] = self.jwt_secret
        if self.new:
            env["SUPABASE_JWKS_URL"] = f"{self.api_url}{JWKS_PATH}"
        return env

    def record(self, part: str, pid: int) -> None:
        """Write down a started part, before it is waited on, so `down` can always stop it."""
        self.pids[part] = pid
        self.save()

    def save(self) -> None:
        write_private(Path(self.directory) / "state.json", json.dumps(asdict(self), indent=2))

    def write_env(self) -> None:
        """<dir>/env: the SUPABASE_* variables in dotenv form, for every other command."""
        env_text = "".join(f'{k}="{v}"\n' for k, v in self.env().items())
        write_private(Path(self.directory) / "env", env_text)


def read_state(directory: Path) -> StackState | None:
    """The state.json of the stack in `directory`, None when there is none."""
    path = directory / "state.json"
    if not path.is_file():
        return None
    try:
        return StackState(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise StackError(
            f"{path} is unreadable ({exc}); remove {directory} and run `stack up`"
        ) from exc


def write_private(path: Path, text: str) -> None:
    """Replace `path` by a file that is mode 0600 from its creation (mkstemp) on."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
