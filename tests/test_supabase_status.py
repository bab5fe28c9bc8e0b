"""`supabase status -o env` output into the toolkit's variables (toolkit.supabase_status)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from dotenv import dotenv_values

from toolkit.errors import ConfigError
from toolkit.keys import mint_key, role_of
from toolkit.paths import REPO_ROOT
from toolkit.supabase_status import parse_status_env, to_dotenv, toolkit_env

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
ANON = mint_key(SECRET, "anon")
SERVICE = mint_key(SECRET, "service_role")

# What Supabase CLI 2.x prints for a default `supabase start` project (keys are the
# CLI's public local demo keys, which mint_key reproduces).
SAMPLE = f"""ANON_KEY="{ANON}"
API_URL="http://127.0.0.1:54321"
DB_URL="postgresql://postgres:postgres@127.0.0.1:54322/postgres"
FUNCTIONS_URL="http://127.0.0.1:54321/functions/v1"
GRAPHQL_URL="http://127.0.0.1:54321/graphql/v1"
INBUCKET_URL="http://127.0.0.1:54324"
JWT_SECRET="{SECRET}"
MAILPIT_URL="http://127.0.0.1:54324"
MCP_URL="http://127.0.0.1:54321/mcp"
PUBLISHABLE_KEY="sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"
S3_PROTOCOL_ACCESS_KEY_ID="625729a08b95bf1b7ff351a663f3a23c"
S3_PROTOCOL_ACCESS_KEY_SECRET="850181e4652dd023b7a98c58ae0d2d34bd487ee0cc3254aed6eda37307425907"
S3_PROTOCOL_REGION="local"
SECRET_KEY="sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"
SERVICE_ROLE_KEY="{SERVICE}"
STORAGE_S3_URL="http://127.0.0.1:54321/storage/v1/s3"
STUDIO_URL="http://127.0.0.1:54323"
"""

EXPECTED = {
    "SUPABASE_URL": "http://127.0.0.1:54321",
    "SUPABASE_PUBLISHABLE_KEY": "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH",
    "SUPABASE_SECRET_KEY": "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz",
    "SUPABASE_ANON_KEY": ANON,
    "SUPABASE_SERVICE_ROLE_KEY": SERVICE,
    "SUPABASE_DB_URL": "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
    "SUPABASE_FUNCTIONS_URL": "http://127.0.0.1:54321/functions/v1",
    "SUPABASE_JWT_SECRET": SECRET,
    "SUPABASE_JWKS_URL": "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json",
}


def without(*keys: str) -> str:
    return "".join(line + "\n" for line in SAMPLE.splitlines() if line.split("=")[0] not in keys)


def test_sample_maps_to_both_key_systems() -> None:
    """The CLI sample yields the publishable and secret keys beside the legacy JWT keys and
    their secret, and where Auth publishes its signing keys."""
    env = toolkit_env(parse_status_env(SAMPLE))
    assert env == EXPECTED
    assert role_of(env["SUPABASE_ANON_KEY"], SECRET) == "anon"
    assert role_of(env["SUPABASE_SERVICE_ROLE_KEY"], SECRET) == "service_role"


def test_either_key_system_alone_is_enough() -> None:
    """Output with only the new keys, or only the legacy ones, maps to what it has."""
    new = toolkit_env(parse_status_env(without("ANON_KEY", "SERVICE_ROLE_KEY", "JWT_SECRET")))
    assert "SUPABASE_ANON_KEY" not in new
    assert new["SUPABASE_SECRET_KEY"] == EXPECTED["SUPABASE_SECRET_KEY"]
    legacy = toolkit_env(parse_status_env(without("PUBLISHABLE_KEY", "SECRET_KEY")))
    assert "SUPABASE_PUBLISHABLE_KEY" not in legacy
    assert legacy["SUPABASE_ANON_KEY"] == ANON


def test_parser_unquotes_escapes_and_skips_notices() -> None:
    """Quoted values lose their quotes and escapes; comments and notice lines are skipped."""
    text = (
        "# exported by supabase\n"
        "Stopped services: [supabase_imgproxy_app]\n"
        'export API_URL="http://127.0.0.1:54321"\n'
        'NOTE="say \\"hi\\"\\n"\n'
        "PORT=54322\n"
        "\n"
    )
    assert parse_status_env(text) == {
        "API_URL": "http://127.0.0.1:54321",
        "NOTE": 'say "hi"\n',
        "PORT": "54322",
    }


def test_functions_url_defaults_to_the_api_url() -> None:
    """Without FUNCTIONS_URL (older CLIs), it is API_URL + /functions/v1."""
    env = toolkit_env(parse_status_env(without("FUNCTIONS_URL")))
    assert env["SUPABASE_FUNCTIONS_URL"] == "http://127.0.0.1:54321/functions/v1"


def test_missing_keys_are_named_in_one_line() -> None:
    """Every missing required key is named, in one message."""
    with pytest.raises(ConfigError) as caught:
        toolkit_env(parse_status_env(without("ANON_KEY", "PUBLISHABLE_KEY", "DB_URL")))
    assert str(caught.value) == (
        "`supabase status -o env` output lacks PUBLISHABLE_KEY or ANON_KEY, DB_URL; is the "
        "stack running (`supabase start`), and was it `-o env` output?"
    )


def test_pretty_status_output_is_refused() -> None:
    """The table `supabase status` prints without `-o env` has none of the keys."""
    pretty = "         API URL: http://127.0.0.1:54321\n     DB URL: postgresql://...\n"
    with pytest.raises(ConfigError, match="lacks API_URL, PUBLISHABLE_KEY or ANON_KEY, SECRET"):
        toolkit_env(parse_status_env(pretty))


def test_dotenv_output_round_trips_through_python_dotenv() -> None:
    """The printed dotenv text reads back (as load_environment reads it) to the same values."""
    env = {**EXPECTED, "SUPABASE_DB_URL": 'postgresql://u:p"w\\d@h:5432/postgres'}
    text = to_dotenv(env)
    assert text.splitlines()[0] == 'SUPABASE_URL="http://127.0.0.1:54321"'
    assert dotenv_values(stream=io.StringIO(text)) == env


def test_cli_reads_stdin_and_prints_dotenv() -> None:
    """`chat-toolkit env --from-supabase-status` (stdin) prints the variables and exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "env", "--from-supabase-status"],
        input=SAMPLE,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == to_dotenv(EXPECTED)


def test_cli_missing_keys_is_a_one_line_error() -> None:
    """A file lacking both server keys is a ConfigError: exit 2, one stderr line, no output."""
    result = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "env", "--from-supabase-status", "-"],
        input=without("SERVICE_ROLE_KEY", "SECRET_KEY"),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "chat-toolkit: `supabase status -o env` output lacks SECRET_KEY or SERVICE_ROLE_KEY; "
        "is the stack running (`supabase start`), and was it `-o env` output?"
    ]
