"""chat-toolkit: token-scoped visitor chat for Supabase."""

from toolkit.config import ServerSettings, Target, load_environment
from toolkit.errors import (
    CheckFailed,
    ConfigError,
    Forbidden,
    FunctionError,
    InvalidRequest,
    MigrationError,
    StackError,
    TokenRequired,
    ToolkitError,
    Unauthorized,
    Unreachable,
    UpstreamUnavailable,
    UsageError,
)

__all__ = [
    "CheckFailed",
    "ConfigError",
    "Forbidden",
    "FunctionError",
    "InvalidRequest",
    "MigrationError",
    "ServerSettings",
    "StackError",
    "Target",
    "TokenRequired",
    "ToolkitError",
    "Unauthorized",
    "Unreachable",
    "UpstreamUnavailable",
    "UsageError",
    "load_environment",
]
