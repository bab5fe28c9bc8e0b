"""chat-toolkit: token-scoped visitor chat for Supabase."""

from toolkit.config import ServerSettings, Target, load_environment
from toolkit.errors import (
    ConfigError,
    Forbidden,
    FunctionError,
    InvalidRequest,
    MigrationError,
    StackError,
    TokenRequired,
    ToolkitError,
    Unauthorized,
    UpstreamUnavailable,
)

__all__ = [
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
    "UpstreamUnavailable",
    "load_environment",
]
