"""The stack's record of itself: ports, PIDs and secret in <dir>/state.json, and the
SUPABASE_* variables in <dir>/env. Both hold the JWT secret (or keys minted from it), so
every file here is created mode 0600 and replaced whole, never rewritten in place.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from toolkit.errors import StackError
from toolkit.keys import mint_key

__all__ = ["StackState", "read_state", "write_private"]


@dataclass
class StackState:
    """What `up` started: ports by name (api, db, rest, rest_admin, functions), PIDs by part
    (postgres, postgrest, functions, nginx), and the stack's JWT secret."""

    directory: str
    ports: dict[str, int]
    pids: dict[str, int]
    jwt_secret: str
    baseline_only: bool
    auto_expose: bool

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def db_url(self) -> str:
        # The server has no TLS; libpq and psycopg fall back to plain, but the Supabase CLI
        # (pgx) refuses a URL without sslmode=disable.
        port = self.ports["db"]
        return f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres?sslmode=disable"

    def env(self) -> dict[str, str]:
        return {
            "SUPABASE_URL": self.api_url,
            "SUPABASE_ANON_KEY": mint_key(self.jwt_secret, "anon"),
            "SUPABASE_SERVICE_ROLE_KEY": mint_key(self.jwt_secret, "service_role"),
            "SUPABASE_DB_URL": self.db_url,
            "SUPABASE_FUNCTIONS_URL": f"{self.api_url}/functions/v1",
            "SUPABASE_JWT_SECRET": self.jwt_secret,
        }

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
