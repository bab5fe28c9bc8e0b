"""Configuration: which source wins, every ConfigError message, and passwords hidden."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from toolkit import config, key_settings
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
from toolkit.key_settings import legacy_keys_deactivated

TARGET = {
    "SUPABASE_URL": "http://127.0.0.1:54321",
    "SUPABASE_ANON_KEY": "anon",
    "SUPABASE_SERVICE_ROLE_KEY": "service",
}
SERVER = {**TARGET, "SUPABASE_JWT_SECRET": "s" * 32}
PUBLISHABLE = "sb_publishable_" + "p" * 32
SECRET = "sb_secret_" + "s" * 32
NEW_TARGET = {
    "SUPABASE_URL": "http://127.0.0.1:54321",
    "SUPABASE_PUBLISHABLE_KEY": PUBLISHABLE,
    "SUPABASE_SECRET_KEY": SECRET,
}
JWKS = (
    '{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256",'
    '"x":"D3Gmf3Xz6fsgxHN53HMnctmdda3U_MfBjhsWUVI9zRw",'
    '"y":"px_AH1kK8CP8fjmpKySIgSkK_zdX6LgS-AKF0IBWUnA"}]}'
)


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
        "neither SUPABASE_PUBLISHABLE_KEY nor SUPABASE_ANON_KEY is set",
    ),
    (
        lambda: Target.from_env({**TARGET, "SUPABASE_SERVICE_ROLE_KEY": ""}),
        "neither SUPABASE_SECRET_KEY nor SUPABASE_SERVICE_ROLE_KEY is set",
    ),
    (
        lambda: Target.from_env({**TARGET, "SUPABASE_PUBLISHABLE_KEY": SECRET}),
        "SUPABASE_PUBLISHABLE_KEY is not a publishable key (those start with sb_publishable_)",
    ),
    (
        lambda: Target.from_env({**TARGET, "SUPABASE_SECRET_KEYS": '{"default": "sb_x"}'}),
        'SUPABASE_SECRET_KEYS["default"] is not a secret key (those start with sb_secret_)',
    ),
    (
        lambda: Target.from_env({**TARGET, "SUPABASE_PUBLISHABLE_KEYS": f'["{PUBLISHABLE}"]'}),
        'SUPABASE_PUBLISHABLE_KEYS is not a JSON object of keys, e.g. {"default": '
        '"sb_publishable_..."}',
    ),
    (
        lambda: Target.from_env({**TARGET, "SUPABASE_JWKS_URL": "jwks.json"}),
        "SUPABASE_JWKS_URL='jwks.json' is not an http(s) URL",
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
        "no caller check is configured: set SUPABASE_PUBLISHABLE_KEY, SUPABASE_JWKS_URL or "
        "SUPABASE_JWT_SECRET (or FUNCTIONS_AUTH=none behind a gateway that checks callers)",
    ),
    (
        lambda: ServerSettings.from_env({"SUPABASE_URL": "http://h", "SUPABASE_JWT_SECRET": "s"}),
        "neither SUPABASE_SECRET_KEY nor SUPABASE_SERVICE_ROLE_KEY is set; the functions "
        "reach PostgREST with one",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "FUNCTIONS_AUTH": "publishable,anon"}),
        "FUNCTIONS_AUTH='publishable,anon' must list publishable, secret, user, legacy "
        "(comma-separated), or be none",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "FUNCTIONS_AUTH": "publishable,legacy"}),
        "FUNCTIONS_AUTH names publishable, but SUPABASE_PUBLISHABLE_KEY (or "
        "SUPABASE_PUBLISHABLE_KEYS) is not set",
    ),
    (
        lambda: ServerSettings.from_env(
            {**SERVER, "FUNCTIONS_AUTH": "legacy", "FUNCTIONS_VERIFY_JWT": "false"}
        ),
        "FUNCTIONS_AUTH='legacy' asks for a caller check that FUNCTIONS_VERIFY_JWT=false turns "
        "off; unset one of them",
    ),
    (
        lambda: ServerSettings.from_env(
            {**SERVER, "SUPABASE_JWKS": JWKS, "SUPABASE_JWKS_URL": "http://h/jwks.json"}
        ),
        "set SUPABASE_JWKS or SUPABASE_JWKS_URL, not both",
    ),
    (
        lambda: ServerSettings.from_env({**SERVER, "SUPABASE_JWKS": '{"kid": "k1"}'}),
        'SUPABASE_JWKS is not a JWKS (a JWKS is a JSON object {"keys": [...]})',
    ),
    (
        lambda: ServerSettings.from_env(
            {**SERVER, "SUPABASE_JWKS": '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}'}
        ),
        "SUPABASE_JWKS holds no ES256 or RS256 key",
    ),
    (
        lambda: legacy_keys_deactivated({"SUPABASE_LEGACY_KEYS": "Off"}),
        "SUPABASE_LEGACY_KEYS='off' must be active or deactivated",
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
    """Each `raise ConfigError(...)` in config.py and key_settings.py has a literal part
    found in a case above."""
    expected = [message for _, message in MESSAGES]
    sites = [
        node.exc
        for module in (config, key_settings)
        for node in ast.walk(ast.parse(Path(module.__file__ or "").read_text()))
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
    assert len(sites) == 28
    assert uncovered == []


def test_settings_read_from_the_mapping_given() -> None:
    """Defaults hold when unset; set values are parsed (CONTRACT §7)."""
    settings = ServerSettings.from_env({**SERVER, "CHAT_RATE_SYNC": "5/10"})
    assert settings.rate_sync == Rate(5, 10)
    assert settings.rate_message == Rate(20, 60)
    assert Target.from_env(TARGET).functions_url == "http://127.0.0.1:54321/functions/v1"


# -- the key system -------------------------------------------------------------------


def test_a_target_with_only_the_new_keys_prefers_them() -> None:
    """Only publishable and secret keys: the visitor uses the publishable key, servers the
    secret key, and no legacy key is needed."""
    target = Target.from_env(NEW_TARGET)
    assert (target.visitor_key, target.server_key) == (PUBLISHABLE, SECRET)
    assert (target.anon_key, target.service_role_key) == ("", "")
    assert (target.visitor_key_name, target.server_key_name) == (
        "SUPABASE_PUBLISHABLE_KEY",
        "SUPABASE_SECRET_KEY",
    )


def test_a_legacy_target_uses_the_legacy_keys() -> None:
    """Only the legacy JWT keys: they are the visitor's and the server's keys."""
    target = Target.from_env(TARGET)
    assert (target.visitor_key, target.server_key) == ("anon", "service")
    assert target.visitor_key_name == "SUPABASE_ANON_KEY"


def test_the_json_key_forms_give_the_default_key_first() -> None:
    """SUPABASE_PUBLISHABLE_KEYS / SUPABASE_SECRET_KEYS as the function runtime provides them:
    "default" is the key used; every value is accepted by the functions."""
    other = "sb_publishable_" + "o" * 32
    env = {
        "SUPABASE_URL": "http://127.0.0.1:54321",
        "SUPABASE_PUBLISHABLE_KEYS": f'{{"web": "{other}", "default": "{PUBLISHABLE}"}}',
        "SUPABASE_SECRET_KEYS": f'{{"default": "{SECRET}"}}',
    }
    assert Target.from_env(env).publishable_key == PUBLISHABLE
    settings = ServerSettings.from_env(env)
    assert settings.publishable_keys == (PUBLISHABLE, other)
    assert (settings.rest_key, settings.auth) == (SECRET, ("publishable",))


def test_a_visitor_only_target_reads_no_server_key() -> None:
    """`chat` (service_role=False) works with only the publishable key in the env."""
    env = {"SUPABASE_URL": "http://h", "SUPABASE_PUBLISHABLE_KEY": PUBLISHABLE}
    target = Target.from_env(env, service_role=False)
    assert (target.visitor_key, target.server_key) == (PUBLISHABLE, "")


@pytest.mark.parametrize(
    ("extra", "auth", "rest_key"),
    [
        ({}, ("legacy",), "service"),
        ({"SUPABASE_PUBLISHABLE_KEY": PUBLISHABLE}, ("publishable", "legacy"), "service"),
        (
            {"SUPABASE_SECRET_KEY": SECRET, "SUPABASE_JWKS_URL": "http://h/jwks.json"},
            ("user", "legacy"),
            SECRET,
        ),
        ({"SUPABASE_JWKS": JWKS}, ("user", "legacy"), "service"),
        ({"FUNCTIONS_AUTH": "legacy, legacy"}, ("legacy",), "service"),
        ({"FUNCTIONS_AUTH": "none"}, (), "service"),
        ({"FUNCTIONS_VERIFY_JWT": "false"}, (), "service"),
    ],
    ids=["legacy", "publishable", "jwks-url", "jwks-inline", "explicit", "none", "verify-off"],
)
def test_functions_auth_defaults_to_what_is_configured(
    extra: dict[str, str], auth: tuple[str, ...], rest_key: str
) -> None:
    """Unset FUNCTIONS_AUTH is publishable,user,legacy less what the env cannot check; the
    functions reach PostgREST with the secret key when there is one."""
    settings = ServerSettings.from_env({**SERVER, **extra})
    assert (settings.auth, settings.rest_key) == (auth, rest_key)


@pytest.mark.parametrize(
    ("extra", "cursor_secret"),
    [
        ({}, "service"),
        ({"SUPABASE_SECRET_KEY": SECRET}, SECRET),
        ({"SUPABASE_SECRET_KEYS": f'{{"default": "{SECRET}"}}'}, SECRET),
        ({"SUPABASE_SECRET_KEY": SECRET, "CHAT_CURSOR_KEY": "k" * 32}, "k" * 32),
    ],
    ids=["service-role", "secret", "secret-keys", "cursor-key"],
)
def test_cursors_are_sealed_with_the_cursor_key_else_the_rest_key(
    extra: dict[str, str], cursor_secret: str
) -> None:
    """CHAT_CURSOR_KEY when set, else the key the functions reach PostgREST with (secret,
    else service_role): every worker reads the same env, so each opens the others' cursors."""
    settings = ServerSettings.from_env({**SERVER, **extra})
    assert settings.cursor_secret == cursor_secret


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
