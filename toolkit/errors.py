"""The toolkit's one error hierarchy, each class with the exit code the CLI ends with.

    ToolkitError                    the command could not do its work              exit 4
    ├── CheckFailed                 it ran, and a check failed: a verify FAIL, a     exit 1
    │                               broken soak invariant, a stack part not running
    ├── UsageError                  a flag out of range or malformed               exit 2
    ├── ConfigError                 a missing or malformed setting (names it)      exit 2
    ├── Unreachable                 the API or the database did not answer         exit 3
    ├── Interrupted                 Ctrl-C                                         exit 130
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
        └── UpstreamUnavailable     503 upstream_unavailable (Supabase REST down or slow)  exit 3

Exit codes, as click's exception classes carry them: 0 success; 1 a check failed; 2 usage or
configuration (argparse's own errors exit 2 too); 3 a target could not be reached, so nothing
was checked; 4 any other failure to do the work; 130 interrupted; 70 (EX_SOFTWARE) an
unexpected exception, a bug. A script can tell "the project is broken" (1) from "the tool
could not look" (2, 3, 4).

`FUNCTION_ERRORS_BY_CODE` maps an answer's `code` to its class, for clients reading answers.
The CLI prints `str(error)` on one line; the functions server renders a FunctionError as
`{"error": message, "code": code}` in one place.
"""

from __future__ import annotations

from typing import ClassVar

from toolkit import protocol

__all__ = [
    "FUNCTION_ERRORS_BY_CODE",
    "CheckFailed",
    "ConfigError",
    "Forbidden",
    "FunctionError",
    "Interrupted",
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
    "Unreachable",
    "UpstreamUnavailable",
    "UsageError",
]


class ToolkitError(Exception):
    """Base of every error the toolkit raises on purpose."""

    exit_code: ClassVar[int] = 4


class CheckFailed(ToolkitError):
    """The command ran to the end and a check failed; the message names which."""

    exit_code = 1


class UsageError(ToolkitError):
    """A command-line flag is out of range or malformed."""

    exit_code = 2


class ConfigError(ToolkitError):
    """A setting is missing or malformed."""

    exit_code = 2


class Unreachable(ToolkitError):
    """The API or the database did not answer (refused, unknown host, timed out)."""

    exit_code = 3


class Interrupted(ToolkitError):
    """The command was interrupted (Ctrl-C)."""

    exit_code = 130


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
    exit_code = Unreachable.exit_code


FUNCTION_ERRORS_BY_CODE: dict[str, type[FunctionError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest,
        Unauthorized,
        TokenRequired,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        PayloadTooLarge,
        RateLimited,
        UpstreamUnavailable,
    )
}
"""Each function error class by the `code` its answers carry."""
