"""Configuration, read once at the edge (the CLI) from the environment and a dotenv file, then
passed in as frozen settings. Nothing below the CLI reads `os.environ`.

Which source wins (`load_environment`):

    --env-file FILE given   the file wins over exported variables. If it names any SUPABASE_*
                            variable it is the whole target: exported SUPABASE_* variables are
                            then ignored, so a target is never assembled from two projects.
    no --env-file           exported variables win over `.env` in the working folder (as
                            python-dotenv does), key by key.

A missing or malformed variable is a ConfigError whose message names it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values

from toolkit.errors import ConfigError
from toolkit.key_settings import functions_auth, inline_jwks, publishable_keys, secret_keys
from toolkit.keys import CLOCK_SKEW_SECONDS
from toolkit.protocol import FUNCTIONS_PATH

__all__ = [
    "TARGET_PREFIX",
    "DeclaredFlags",
    "Network",
    "Rate",
    "ServerSettings",
    "Target",
    "database_url",
    "flag",
    "load_environment",
    "redact_url",
]

Env = Mapping[str, str]
TARGET_PREFIX = "SUPABASE_"
"""The variables that together name one Supabase project (URL, keys, database, JWT secret)."""
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Rate:
    """`requests` per `seconds`, with bursts of up to `requests`."""

    requests: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "60/60" is 60 requests per 60 seconds; raises ValueError when malformed."""
        requests, _, seconds = text.partition("/")
        rate = cls(int(requests), float(seconds))
        if rate.requests < 1 or rate.seconds <= 0:
            raise ValueError(text)
        return rate


def load_environment(
    environ: Env, env_file: str | Path | None = None, *, default_file: Path = Path(".env")
) -> dict[str, str]:
    """The settings' variables: `environ` (the process environment, passed in by the CLI)
    merged with a dotenv file, by the precedence in this module's docstring.

    Raises ConfigError when `env_file` is named but does not exist.
    """
    if env_file is None:
        return {**_read_dotenv(default_file), **environ}
    path = Path(env_file)
    if not path.is_file():
        raise ConfigError(f"env file {path} does not exist")
    chosen = _read_dotenv(path)
    if any(name.startswith(TARGET_PREFIX) for name in chosen):
        environ = {k: v for k, v in environ.items() if not k.startswith(TARGET_PREFIX)}
    return {**environ, **chosen}


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def redact_url(url: str) -> str:
    """`url` with any password shown as `***`, for first lines and messages:
    postgresql://postgres:***@127.0.0.1:54322/postgres (a `password=` query value too)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{host}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query, flags=re.IGNORECASE)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def database_url(env: Env, *, needed_by: str) -> str:
    """SUPABASE_DB_URL, required: ConfigError naming it (and who needs it) when unset or not
    a postgresql:// URL."""
    value = _db_url(env)
    if value is None:
        raise ConfigError(
            f"SUPABASE_DB_URL is not set; {needed_by} reads the database "
            "(supabase start: postgresql://postgres:postgres@127.0.0.1:54322/postgres)"
        )
    return value


def _db_url(env: Env) -> str | None:
    value = env.get("SUPABASE_DB_URL", "").strip() or None
    if value is not None and urlsplit(value).scheme not in ("postgres", "postgresql"):
        raise ConfigError("SUPABASE_DB_URL is not a postgresql:// URL")
    return value


def _url(env: Env, name: str, default: str | None = None) -> str:
    """An http(s) URL without its trailing slash; `default` "" makes it optional ("")."""
    value = env.get(name, "").strip() or default
    if value == "":
        return ""
    if value is None:
        raise ConfigError(
            f"{name} is not set (e.g. http://127.0.0.1:54321; `chat-toolkit stack env` prints one)"
        )
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{name}={redact_url(value)!r} is not an http(s) URL")
    return value.rstrip("/")


def _redis_url(env: Env, name: str) -> str | None:
    value = env.get(name, "").strip() or None
    if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"{name}={redact_url(value)!r} is not a redis://, rediss:// or unix:// URL "
            "(e.g. redis://127.0.0.1:6379/0)"
        )
    return value


def flag(env: Env, name: str, default: bool) -> bool:
    """A boolean setting: true/false, 1/0, yes/no, on/off; anything else names the variable."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _number(env: Env, name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


def _rate(env: Env, name: str, default: Rate) -> Rate:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return Rate.parse(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be REQUESTS/SECONDS, e.g. 60/60") from None


def _networks(env: Env, name: str, default: tuple[Network, ...]) -> tuple[Network, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return tuple(ipaddress.ip_network(p.strip()) for p in raw.split(",") if p.strip())
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} must be IP addresses or CIDRs, comma-separated"
        ) from None


@dataclass(frozen=True)
class DeclaredFlags:
    """The rollout flags as the env declares them (CONTRACT §7 defaults)."""

    allow_bootstrap: bool = True
    enforce_token: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DeclaredFlags:
        return cls(
            allow_bootstrap=flag(env, "CHAT_SYNC_ALLOW_BOOTSTRAP", True),
            enforce_token=flag(env, "ENFORCE_VISITOR_CONVERSATION_TOKEN", False),
        )


@dataclass(frozen=True)
class Target:
    """A Supabase project to talk to as a client: embedded, `supabase start`, or live.

    A project carries the legacy JWT keys (anon, service_role), the 2026 keys (publishable,
    secret), or both during a migration; `visitor_key` and `server_key` prefer the new ones.
    """

    url: str
    anon_key: str  # "" when the env has no legacy anon key
    service_role_key: str  # "" without one, or when read for a visitor-only command
    functions_url: str
    db_url: str | None
    jwt_secret: str | None
    publishable_key: str = ""
    secret_key: str = ""  # "" without one, or when read for a visitor-only command
    jwks_url: str | None = None

    @property
    def visitor_key(self) -> str:
        """The key a visitor's browser holds: the publishable key, else the legacy anon key."""
        return self.publishable_key or self.anon_key

    @property
    def server_key(self) -> str:
        """The key servers and operator tools use: the secret key, else the service_role key."""
        return self.secret_key or self.service_role_key

    @property
    def visitor_key_name(self) -> str:
        """The variable `visitor_key` came from, for messages."""
        return "SUPABASE_PUBLISHABLE_KEY" if self.publishable_key else "SUPABASE_ANON_KEY"

    @property
    def server_key_name(self) -> str:
        return "SUPABASE_SECRET_KEY" if self.secret_key else "SUPABASE_SERVICE_ROLE_KEY"

    @classmethod
    def from_env(cls, env: Env, *, service_role: bool = True) -> Target:
        """Read the target; `service_role=False` for visitor-only commands (`chat`), which
        need no server key and never read one."""
        url = _url(env, "SUPABASE_URL")
        db_url = _db_url(env)
        publishable = publishable_keys(env)
        anon = env.get("SUPABASE_ANON_KEY", "").strip()
        if not (publishable or anon):
            raise ConfigError("neither SUPABASE_PUBLISHABLE_KEY nor SUPABASE_ANON_KEY is set")
        secret = secret_keys(env) if service_role else ()
        service = env.get("SUPABASE_SERVICE_ROLE_KEY", "").strip() if service_role else ""
        if service_role and not (secret or service):
            raise ConfigError("neither SUPABASE_SECRET_KEY nor SUPABASE_SERVICE_ROLE_KEY is set")
        jwks_url = _url(env, "SUPABASE_JWKS_URL", "") or None
        return cls(
            url=url,
            anon_key=anon,
            service_role_key=service,
            functions_url=_url(env, "SUPABASE_FUNCTIONS_URL", f"{url}{FUNCTIONS_PATH}"),
            db_url=db_url,
            jwt_secret=env.get("SUPABASE_JWT_SECRET", "").strip() or None,
            publishable_key=publishable[0] if publishable else "",
            secret_key=secret[0] if secret else "",
            jwks_url=jwks_url,
        )


_SYNC_RATE = Rate(90, 60)  # per conversation: three tabs polling every 2 s
_MESSAGE_RATE = Rate(20, 60)  # per conversation
_FAILURE_RATE = Rate(20, 60)  # failed token checks, per client IP
_CREATION_RATE = Rate(10, 60)  # new conversations, per client IP
_LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True)
class ServerSettings:
    """Everything the functions server needs, with CONTRACT §7's defaults."""

    supabase_url: str
    rest_key: str  # how the functions reach PostgREST: the secret key, else service_role
    jwt_secret: str | None = None
    publishable_keys: tuple[str, ...] = ()
    secret_keys: tuple[str, ...] = ()
    jwks: str | None = None  # inline JWKS JSON
    jwks_url: str | None = None
    auth: tuple[str, ...] = ()  # FUNCTIONS_AUTH's modes; () checks no caller
    jwt_leeway_seconds: float = CLOCK_SKEW_SECONDS
    enforce_token: bool = False
    allow_bootstrap: bool = True
    responder: str = "rules"
    rules_reply: str = "Thanks for your message! A member of our team will follow up here shortly."
    faq_file: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout: float = 15.0
    cors_origins: tuple[str, ...] = ("*",)
    max_body_bytes: int = 64 * 1024
    rest_timeout: float = 5.0
    typing_ttl_seconds: int = 8
    rate_limits: bool = True
    rate_sync: Rate = _SYNC_RATE
    rate_message: Rate = _MESSAGE_RATE
    rate_token_failures: Rate = _FAILURE_RATE
    rate_new_conversations: Rate = _CREATION_RATE
    rate_limit_redis_url: str | None = None
    token_max_age_days: float | None = None
    trusted_proxies: tuple[Network, ...] = _LOOPBACK
    db_url: str | None = None
    """Long-poll wake-ups (LISTEN); without it `wait` is answered at once."""
    cursor_secret: str = ""
    """Seals sync cursors: CHAT_CURSOR_KEY, else the REST key (secret, else service_role)."""

    @classmethod
    def from_env(cls, env: Env) -> ServerSettings:
        publishable = publishable_keys(env)
        secret = secret_keys(env)
        service = env.get("SUPABASE_SERVICE_ROLE_KEY", "").strip()
        if not (secret or service):
            raise ConfigError(
                "neither SUPABASE_SECRET_KEY nor SUPABASE_SERVICE_ROLE_KEY is set; the functions "
                "reach PostgREST with one"
            )
        jwt_secret = env.get("SUPABASE_JWT_SECRET", "").strip() or None
        jwks_url = _url(env, "SUPABASE_JWKS_URL", "") or None
        jwks = inline_jwks(env, url_set=jwks_url is not None)
        auth = functions_auth(
            env,
            {
                "publishable": bool(publishable),
                "secret": bool(secret),
                "user": bool(jwks or jwks_url),
                "legacy": jwt_secret is not None,
            },
            verify_jwt=flag(env, "FUNCTIONS_VERIFY_JWT", True),
        )
        responder = env.get("CHAT_RESPONDER", "rules").strip().lower() or "rules"
        if responder not in ("rules", "openai", "none"):
            raise ConfigError(f"CHAT_RESPONDER={responder!r} must be rules, openai or none")
        openai_key = env.get("OPENAI_API_KEY", "").strip() or None
        if responder == "openai" and openai_key is None:
            raise ConfigError("OPENAI_API_KEY is not set (needed by CHAT_RESPONDER=openai)")
        origins = tuple(
            o.strip() for o in env.get("CORS_ALLOWED_ORIGINS", "*").split(",") if o.strip()
        )
        faq_file = env.get("CHAT_FAQ_FILE", "").strip() or None
        if faq_file is not None and not Path(faq_file).is_file():
            raise ConfigError(f"CHAT_FAQ_FILE={faq_file!r} does not exist")
        defaults = cls(supabase_url="", rest_key="")
        rest_key = secret[0] if secret else service
        cursor_key = env.get("CHAT_CURSOR_KEY", "").strip()
        if cursor_key and len(cursor_key) < 32:
            raise ConfigError(
                "CHAT_CURSOR_KEY must be at least 32 characters "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        return cls(
            supabase_url=_url(env, "SUPABASE_URL"),
            rest_key=rest_key,
            jwt_secret=jwt_secret,
            publishable_keys=publishable,
            secret_keys=secret,
            jwks=jwks,
            jwks_url=jwks_url,
            auth=auth,
            jwt_leeway_seconds=_number(
                env, "FUNCTIONS_JWT_LEEWAY_SECONDS", defaults.jwt_leeway_seconds
            ),
            enforce_token=flag(env, "ENFORCE_VISITOR_CONVERSATION_TOKEN", False),
            allow_bootstrap=flag(env, "CHAT_SYNC_ALLOW_BOOTSTRAP", True),
            responder=responder,
            rules_reply=env.get("CHAT_RULES_REPLY", "").strip() or defaults.rules_reply,
            faq_file=faq_file,
            openai_base_url=_url(env, "OPENAI_BASE_URL", defaults.openai_base_url),
            openai_api_key=openai_key,
            openai_model=env.get("OPENAI_MODEL", "").strip() or defaults.openai_model,
            openai_timeout=_number(
                env, "OPENAI_TIMEOUT_SECONDS", defaults.openai_timeout, minimum=1
            ),
            cors_origins=origins or ("*",),
            max_body_bytes=int(
                _number(env, "CHAT_MAX_BODY_BYTES", defaults.max_body_bytes, minimum=1024)
            ),
            rest_timeout=_number(
                env, "SUPABASE_REST_TIMEOUT_SECONDS", defaults.rest_timeout, minimum=0.1
            ),
            typing_ttl_seconds=int(
                _number(env, "CHAT_TYPING_TTL_SECONDS", defaults.typing_ttl_seconds, minimum=1)
            ),
            rate_limits=flag(env, "CHAT_RATE_LIMITS", True),
            rate_sync=_rate(env, "CHAT_RATE_SYNC", defaults.rate_sync),
            rate_message=_rate(env, "CHAT_RATE_MESSAGE", defaults.rate_message),
            rate_token_failures=_rate(
                env, "CHAT_RATE_TOKEN_FAILURES", defaults.rate_token_failures
            ),
            rate_new_conversations=_rate(
                env, "CHAT_RATE_NEW_CONVERSATIONS", defaults.rate_new_conversations
            ),
            rate_limit_redis_url=_redis_url(env, "CHAT_RATE_LIMIT_REDIS_URL"),
            token_max_age_days=_number(env, "CHAT_TOKEN_MAX_AGE_DAYS", 0) or None,
            trusted_proxies=_networks(env, "CHAT_TRUSTED_PROXIES", defaults.trusted_proxies),
            db_url=_db_url(env),
            cursor_secret=cursor_key or rest_key,
        )
