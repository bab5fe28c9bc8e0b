"""Configuration: which source wins, every ConfigError message, and passwords hidden."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from toolkit import config
from toolkit.config import (
    DeclaredFlags,
    Rate,
    ServerSettings,
    Target,
    database_url,
    load_environment,
    redact_url,
)
from toolkit.errors import ConfigError

TARGET = {
    "SUPABASE_URL": "http://127.0.0.1:54321",
    "SUPABASE_ANON_KEY": "anon",
    "SUPABASE_SERVICE_ROLE_KEY": "service",
}
SERVER = {**TARGET, "SUPABASE_JWT_SECRET": "s" * 32}


def dotenv(path: Path, **values: str) -> Path:
    path.write_text("".join(f'{k}="{v}"\n' for k, v in values.items()))
    return path


# -- precedence -------------------------------------------------------------------------


def test_an_explicit_env_file_wins_over_exported_variables(tmp_path: Path) -> None:
    """--env-file: the file's value wins; exported variables it does not name fill in."""
    file = dotenv(tmp_path / "env", SUPABASE_DB_URL="postgresql://file/db", CHAT_RESPONDER="none")
    exported = {"SUPABASE_DB_URL": "postgresql://shell/db", "CHAT_RESPONDER": "rules", "X": "1"}
    env = load_environment(exported, file)
    assert (env["SUPABASE_DB_URL"], env["CHAT_RESPONDER"], env["X"]) == (
        "postgresql://file/db",
        "none",
        "1",
    )


def test_an_env_file_naming_a_target_is_the_whole_target(tmp_path: Path) -> None:
    """A file with any SUPABASE_* variable drops every exported SUPABASE_* one: the file's
    project is never combined with the shell's database."""
    file = dotenv(tmp_path / "env", **TARGET)
    exported = {"SUPABASE_DB_URL": "postgresql://other/db", "OPENAI_API_KEY": "k"}
    env = load_environment(exported, file)
    assert "SUPABASE_DB_URL" not in env
    assert env["OPENAI_API_KEY"] == "k"
    assert env["SUPABASE_URL"] == TARGET["SUPABASE_URL"]


def test_an_env_file_without_a_target_keeps_the_exported_one(tmp_path: Path) -> None:
    """A file of other settings (no SUPABASE_*) leaves the exported target as it is."""
    file = dotenv(tmp_path / "env", CHAT_RESPONDER="none")
    env = load_environment({"SUPABASE_URL": "http://shell"}, file)
    assert (env["SUPABASE_URL"], env["CHAT_RESPONDER"]) == ("http://shell", "none")


def test_without_env_file_the_environment_wins_over_dot_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --env-file: exported variables win over `.env`, key by key, as python-dotenv does."""
    monkeypatch.chdir(tmp_path)
    dotenv(tmp_path / ".env", SUPABASE_URL="http://dotenv", SUPABASE_ANON_KEY="from-file")
    env = load_environment({"SUPABASE_URL": "http://shell"})
    assert (env["SUPABASE_URL"], env["SUPABASE_ANON_KEY"]) == ("http://shell", "from-file")


def test_without_env_file_or_dot_env_the_environment_is_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No `.env` in the working folder is not an error."""
    monkeypatch.chdir(tmp_path)
    assert load_environment({"A": "1"}) == {"A": "1"}


def test_the_environment_passed_in_is_the_only_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_environment reads the mapping it is given, never os.environ itself."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPABASE_URL", "http://exported")
    assert load_environment({}) == {}


# -- every ConfigError message ----------------------------------------------------------

_FAQ_MISSING = "/nonexistent/faq.md"
MESSAGES = [
    (
        lambda: load_environment({}, "/nonexistent/env"),
        "env file /nonexistent/env does not exist",
    ),
    (
        lambda: database_url({}, needed_by="`rollout status`"),
        "SUPABASE_DB_URL is not set; `rollout status` reads the database "
        "(supabase start: postgresql://postgres:postgres@127.0.0.1:54322/postgres)",
    ),
    (
        lambda: Target.from_env({**TARGET, "SUPABASE_DB_URL": "mysql://u:p@h/db"}),
        "SUPABASE_DB_URL is not a postgresql:// URL",
    ),
    (
        lambda: Target.from_env({**TARGET, "SUPABASE_ANON_KEY": " "}),
        "SUPABASE_ANON_KEY is not set",
    ),
    (
        lambda: Target.from_env({}),
        "SUPABASE_URL is not set (e.g. http://127.0.0.1:54321; `chat-toolkit stack env` "
        "prints one)",
    ),
    (
        lambda: Target.from_env({**TARGET, "SUPABASE_URL": "ftp://u:secret@host"}),
        "SUPABASE_URL='ftp://u:***@host' is not an http(s) URL",
    ),
    (
        lambda: DeclaredFlags.from_env({"CHAT_SYNC_ALLOW_BOOTSTRAP": "maybe"}),
        "CHAT_SYNC_ALLOW_BOOTSTRAP='maybe' is not a boolean (use true or false)",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "SUPABASE_REST_TIMEOUT_SECONDS": "soon"}),
        "SUPABASE_REST_TIMEOUT_SECONDS='soon' is not a number",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "CHAT_MAX_BODY_BYTES": "10"}),
        "CHAT_MAX_BODY_BYTES='10' must be at least 1024",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "CHAT_RATE_SYNC": "90 per minute"}),
        "CHAT_RATE_SYNC='90 per minute' must be REQUESTS/SECONDS, e.g. 60/60",
    ),
    (
        lambda: ServerSettings.from_env(
            {**SERVER, "CHAT_RATE_LIMIT_REDIS_URL": "http://u:secret@127.0.0.1:6379"}
        ),
        "CHAT_RATE_LIMIT_REDIS_URL='http://u:***@127.0.0.1:6379' is not a redis://, rediss:// "
        "or unix:// URL (e.g. redis://127.0.0.1:6379/0)",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "CHAT_TRUSTED_PROXIES": "10.0.0.0/33"}),
        "CHAT_TRUSTED_PROXIES='10.0.0.0/33' must be IP addresses or CIDRs, comma-separated",
    ),
    (
        lambda: ServerSettings.from_env({**TARGET}),
        "SUPABASE_JWT_SECRET is not set; it is needed to verify callers' JWTs "
        "(or set FUNCTIONS_VERIFY_JWT=false behind a gateway that checks them)",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "CHAT_RESPONDER": "GPT"}),
        "CHAT_RESPONDER='gpt' must be rules, openai or none",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "CHAT_RESPONDER": "openai"}),
        "OPENAI_API_KEY is not set (needed by CHAT_RESPONDER=openai)",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "CHAT_FAQ_FILE": _FAQ_MISSING}),
        f"CHAT_FAQ_FILE='{_FAQ_MISSING}' does not exist",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "CHAT_CURSOR_KEY": "short"}),
        "CHAT_CURSOR_KEY must be at least 32 characters "
        '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")',
    ),
]


@pytest.mark.parametrize(("read", "message"), MESSAGES, ids=[m for _, m in MESSAGES])
def test_config_error_message(read: object, message: str) -> None:
    """Each malformed or missing setting is a ConfigError with exactly this one line."""
    assert callable(read)
    with pytest.raises(ConfigError) as caught:
        read()
    assert str(caught.value) == message


def test_every_config_error_in_config_py_is_covered() -> None:
    """Each `raise ConfigError(...)` in config.py has a literal part found in a case above."""
    source = ast.parse(Path(config.__file__).read_text())
    expected = [message for _, message in MESSAGES]
    sites = [
        node.exc
        for node in ast.walk(source)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and getattr(node.exc.func, "id", None) == "ConfigError"
    ]
    uncovered = []
    for call in sites:
        message = call.args[0]
        pieces = message.values if isinstance(message, ast.JoinedStr) else [message]
        parts = [
            str(p.value) for p in pieces if isinstance(p, ast.Constant) and str(p.value).strip()
        ]
        if not any(all(part in m for part in parts) for m in expected):
            uncovered.append(f"line {call.lineno}: {parts}")
    assert len(sites) == 17
    assert uncovered == []


def test_settings_read_from_the_mapping_given() -> None:
    """Defaults hold when unset; set values are parsed (CONTRACT §7)."""
    settings = ServerSettings.from_env({**SERVER, "CHAT_RATE_SYNC": "5/10"})
    assert settings.rate_sync == Rate(5, 10)
    assert settings.rate_message == Rate(20, 60)
    assert Target.from_env(TARGET).functions_url == "http://127.0.0.1:54321/functions/v1"


# -- redact_url -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
            "postgresql://postgres:***@127.0.0.1:54322/postgres",
        ),
        (
            "postgresql://postgres.ref:p%40ss@aws-0.pooler.supabase.com:6543/postgres?sslmode=require",
            "postgresql://postgres.ref:***@aws-0.pooler.supabase.com:6543/postgres?sslmode=require",
        ),
        (
            "postgresql://u@h/db?sslmode=require&password=secret",
            "postgresql://u@h/db?sslmode=require&password=***",
        ),
        ("postgresql://u@127.0.0.1/db", "postgresql://u@127.0.0.1/db"),
        ("http://127.0.0.1:54321", "http://127.0.0.1:54321"),
    ],
)
def test_redact_url_hides_the_password_only(url: str, shown: str) -> None:
    """The password (in the userinfo or a password= parameter) becomes ***; the rest stays."""
    assert redact_url(url) == shown
