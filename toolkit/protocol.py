"""Facts of the wire, written once: paths, header names, CORS, function names, chat tables and
error codes, as Supabase, PostgREST and CONTRACT.md fix them.

Everything that speaks HTTP in the toolkit (the functions server, the visitor client, verify,
the probes, the load tools) takes these from here, so the two sides cannot drift apart.
"""

from __future__ import annotations

__all__ = [
    "APIKEY",
    "AUTHORIZATION",
    "CHAT_TABLES",
    "CHAT_VISITOR_SYNC",
    "CLIENT_INFO",
    "CONTENT_TYPE",
    "CORS_ALLOW_HEADERS",
    "CORS_ALLOW_HEADERS_VALUE",
    "CORS_ALLOW_METHODS",
    "FORBIDDEN",
    "FUNCTIONS",
    "FUNCTIONS_PATH",
    "HANDLE_CHAT_MESSAGE",
    "INTERNAL_ERROR",
    "INVALID_REQUEST",
    "JWKS_PATH",
    "METHOD_NOT_ALLOWED",
    "NOT_FOUND",
    "PAYLOAD_TOO_LARGE",
    "PERMISSION_DENIED",
    "PREFER",
    "RATE_LIMITED",
    "READ_TABLES",
    "REST_PATH",
    "RETRY_AFTER",
    "SB_API_KEY",
    "TOKEN_REQUIRED",
    "UNAUTHORIZED",
    "UPSTREAM_UNAVAILABLE",
    "api_key_headers",
]

# -- paths under the project URL (the API gateway) ----------------------------------------
REST_PATH = "/rest/v1"
FUNCTIONS_PATH = "/functions/v1"
JWKS_PATH = "/auth/v1/.well-known/jwks.json"
"""Where Supabase Auth publishes the public keys of its JWT signing keys."""

# -- header names (HTTP compares them case-insensitively) ---------------------------------
APIKEY = "apikey"
AUTHORIZATION = "Authorization"
CLIENT_INFO = "x-client-info"
CONTENT_TYPE = "Content-Type"
RETRY_AFTER = "Retry-After"
PREFER = "Prefer"
SB_API_KEY = "sb-api-key"
"""What Supabase's gateway puts a publishable / secret key's role JWT in, on /functions/v1/."""

# -- CORS: the headers Supabase's function template allows (supabase/functions/_shared/cors.ts)
CORS_ALLOW_HEADERS = ("authorization", "x-client-info", "apikey", "content-type")
CORS_ALLOW_HEADERS_VALUE = ", ".join(CORS_ALLOW_HEADERS)
CORS_ALLOW_METHODS = "POST, OPTIONS"

# -- the two edge functions (CONTRACT §4, §5) ---------------------------------------------
HANDLE_CHAT_MESSAGE = "handle-chat-message"
CHAT_VISITOR_SYNC = "chat-visitor-sync"
FUNCTIONS = (HANDLE_CHAT_MESSAGE, CHAT_VISITOR_SYNC)

# -- tables -------------------------------------------------------------------------------
READ_TABLES = ("chat_conversations", "chat_messages")
"""The tables the visitor reads went to before the cutover: anon must be refused on both."""
CHAT_TABLES = (*READ_TABLES, "team_typing_indicators", "chat_access_events")
"""Every table of the chat, as verify's hardening checks and lints cover them."""

# -- error codes --------------------------------------------------------------------------
PERMISSION_DENIED = "42501"
"""PostgreSQL's insufficient_privilege: PostgREST's answer (401 for anon) to a revoked grant."""
INVALID_REQUEST = "invalid_request"
UNAUTHORIZED = "unauthorized"
TOKEN_REQUIRED = "token_required"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
PAYLOAD_TOO_LARGE = "payload_too_large"
RATE_LIMITED = "rate_limited"
UPSTREAM_UNAVAILABLE = "upstream_unavailable"
INTERNAL_ERROR = "internal_error"


def api_key_headers(key: str) -> dict[str, str]:
    """The headers the toolkit sends with a key. A legacy JWT key: `apikey` and
    `Authorization: Bearer <key>`, as supabase-js does. A publishable or secret key (`sb_`):
    `apikey` only, as the Supabase CLI and its function template do, since it is no JWT;
    Supabase's gateway puts the role's JWT in its place."""
    if key.startswith("sb_"):
        return {APIKEY: key}
    return {APIKEY: key, AUTHORIZATION: f"Bearer {key}"}
