"""The toolkit's one error hierarchy.

    ToolkitError                    anything the toolkit reports to a person
    ├── ConfigError                 a missing or malformed setting (names the variable)
    ├── StackError                  the embedded stack could not start, stop or be found
    ├── MigrationError              a migration was refused or failed (the database is unchanged)
    └── FunctionError               an answer of the edge functions, with HTTP status and code
        ├── InvalidRequest          400 invalid_request
        ├── Unauthorized            401 unauthorized (no or bad Authorization JWT)
        ├── TokenRequired           401 token_required
        ├── Forbidden               403 forbidden (wrong token and unknown conversation alike)
        ├── NotFound                404 not_found (no such function)
        ├── MethodNotAllowed        405 method_not_allowed
        ├── PayloadTooLarge         413 payload_too_large
        ├── RateLimited             429 rate_limited
        └── UpstreamUnavailable     503 upstream_unavailable (Supabase REST down or slow)

The CLI prints `str(error)` on one line; the functions server renders a FunctionError as
`{"error": message, "code": code}` in one place.
"""

from __future__ import annotations

from toolkit import protocol

__all__ = [
    "ConfigError",
    "Forbidden",
    "FunctionError",
    "InvalidRequest",
    "MethodNotAllowed",
    "MigrationError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "StackError",
    "TokenRequired",
    "ToolkitError",
    "Unauthorized",
    "UpstreamUnavailable",
]


class ToolkitError(Exception):
    """Base of every error the toolkit raises on purpose."""


class ConfigError(ToolkitError):
    """A setting is missing or malformed."""


class StackError(ToolkitError):
    """The embedded stack could not be started, stopped or found."""


class MigrationError(ToolkitError):
    """A migration was refused or failed; nothing was changed."""


class FunctionError(ToolkitError):
    """An error answer of an edge function."""

    status: int = 500
    code: str = protocol.INTERNAL_ERROR

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidRequest(FunctionError):
    status, code = 400, protocol.INVALID_REQUEST


class Unauthorized(FunctionError):
    status, code = 401, protocol.UNAUTHORIZED


class TokenRequired(FunctionError):
    status, code = 401, protocol.TOKEN_REQUIRED


class Forbidden(FunctionError):
    status, code = 403, protocol.FORBIDDEN


class NotFound(FunctionError):
    status, code = 404, protocol.NOT_FOUND


class MethodNotAllowed(FunctionError):
    status, code = 405, protocol.METHOD_NOT_ALLOWED


class PayloadTooLarge(FunctionError):
    status, code = 413, protocol.PAYLOAD_TOO_LARGE


class RateLimited(FunctionError):
    status, code = 429, protocol.RATE_LIMITED


class UpstreamUnavailable(FunctionError):
    status, code = 503, protocol.UPSTREAM_UNAVAILABLE
