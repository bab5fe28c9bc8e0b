"""The OpenAPI 3.0 document for both functions, served at /functions/v1/openapi.json.

It describes exactly what the functions accept and answer (requests.py, cursor.py and the
handlers), so that a schema-driven fuzzer can hold the server to it.
"""

from __future__ import annotations

from typing import Any

from toolkit.functions.bodies import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_MESSAGE_CHARS,
    MAX_SINCE_CHARS,
    MAX_VISITOR_ID_CHARS,
    MAX_WAIT_SECONDS,
)
from toolkit.functions.cursor import BEFORE_PATTERN, CURSOR_PATTERN
from toolkit.protocol import (
    APIKEY,
    CHAT_VISITOR_SYNC,
    CORS_ALLOW_HEADERS_VALUE,
    FORBIDDEN,
    FUNCTIONS_PATH,
    HANDLE_CHAT_MESSAGE,
    INVALID_REQUEST,
    METHOD_NOT_ALLOWED,
    PAYLOAD_TOO_LARGE,
    RATE_LIMITED,
    RETRY_AFTER,
    TOKEN_REQUIRED,
    UNAUTHORIZED,
    UPSTREAM_UNAVAILABLE,
)

__all__ = ["openapi_document"]

# The characters Python's str.strip() removes (str.isspace), spelled out so that every
# regex dialect (ECMA-262 in JSON Schema, Python's re) reads the patterns the same way.
_BLANK = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Every text field refuses NUL. Trimmed fields are measured after trimming, so their
# limits live in the pattern rather than in maxLength; a blank optional one is absent.
_NO_NUL = r"^[^\x00]*$"
_EMAIL = (
    rf"^[{_BLANK}]*(?:(?=[^{_BLANK}]{{3,254}}[{_BLANK}]*$)"
    rf"[^@\x00{_BLANK}]+@[^@\x00{_BLANK}]+\.[^@\x00{_BLANK}]+)?[{_BLANK}]*$"
)
# A cursor v1 is base64url("v1:" + 1..20 decimal digits) without padding (cursor.py):
# "djE6" encodes "v1:", each further group of four characters three digits.
_DIGITS_3 = "(?:[MN][DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]"
_DIGITS_2 = "(?:[MN][DTjz]|O[DT])[AEIMQUYcgk]"
_DIGITS_1 = "(?:[MN][AQgw]|O[AQ])"
_CURSOR_V1 = rf"^djE6(?:(?:{_DIGITS_3}){{0,6}}(?:{_DIGITS_2}|{_DIGITS_1})|(?:{_DIGITS_3}){{1,6}})$"

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}
_STATUS = {"type": "string", "enum": ["active", "escalated", "resolved", "closed"]}
_TOKEN = {"type": "string", "minLength": 43, "pattern": "^[A-Za-z0-9_-]+$"}
_ERRORS = {
    "400": ([INVALID_REQUEST], "Malformed JSON, wrong types, missing or invalid fields"),
    "401": (
        [UNAUTHORIZED, TOKEN_REQUIRED],
        "No accepted caller: no or unknown API key, or an invalid JWT (unauthorized), or a "
        "conversationToken is required (token_required)",
    ),
    "403": ([FORBIDDEN], "Wrong token, or no such conversation for this visitor (one answer)"),
    "405": ([METHOD_NOT_ALLOWED], "Only POST and OPTIONS"),
    "413": ([PAYLOAD_TOO_LARGE], "Body over the limit (default 64 KiB)"),
    "429": ([RATE_LIMITED], "Rate limited, where rate limiting is on; see Retry-After"),
    "503": ([UPSTREAM_UNAVAILABLE], "Supabase REST unreachable or timing out"),
}
# Every answer, errors included, carries Supabase's function CORS headers.
_CORS_HEADER = {
    "Access-Control-Allow-Headers": {
        "required": True,
        "schema": {"type": "string", "enum": [CORS_ALLOW_HEADERS_VALUE]},
    }
}


def _text(max_length: int) -> dict[str, Any]:
    """An optional field taken as sent (not trimmed)."""
    return {"type": "string", "maxLength": max_length, "pattern": _NO_NUL, "nullable": True}


def _trimmed(max_chars: int, *, required: bool) -> dict[str, Any]:
    """A field trimmed before it is checked: 1..max_chars characters remain (or none)."""
    kept = rf"[^\x00{_BLANK}](?:[^\x00]{{0,{max_chars - 2}}}[^\x00{_BLANK}])?"
    pattern = rf"^[{_BLANK}]*{kept if required else f'(?:{kept})?'}[{_BLANK}]*$"
    limit = f"{'1..' if required else 'at most '}{max_chars} characters after trimming"
    return {"type": "string", "pattern": pattern, "nullable": not required, "description": limit}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _error_responses() -> dict[str, Any]:
    responses = {}
    for status, (codes, description) in _ERRORS.items():
        headers = dict(_CORS_HEADER)
        if status == "429":
            headers[RETRY_AFTER] = {"required": True, "schema": {"type": "integer", "minimum": 1}}
        responses[status] = {
            "description": f"{description} (code {' or '.join(codes)})",
            "headers": headers,
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [
                            {"$ref": "#/components/schemas/Error"},
                            {"properties": {"code": {"type": "string", "enum": codes}}},
                        ]
                    }
                }
            },
        }
    return responses


def _operation(summary: str, request: str, response: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            # Either proof will do (FUNCTIONS_AUTH): the publishable key, or a JWT.
            "security": [{"apiKey": []}, {"bearerAuth": []}],
            "requestBody": {"required": True, "content": _json(request)},
            "responses": {
                "200": {"description": "OK", "headers": _CORS_HEADER, "content": _json(response)},
                **_error_responses(),
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    token = _text(256)
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error", "code"],
            "properties": {"error": _STRING, "code": _STRING},
            "additionalProperties": False,
        },
        "MessageRequest": {
            "type": "object",
            "required": ["visitorId", "message"],
            "description": "A null or empty optional field is absent.",
            "properties": {
                "visitorId": _trimmed(MAX_VISITOR_ID_CHARS, required=True),
                "message": _trimmed(MAX_MESSAGE_CHARS, required=True),
                "conversationId": {
                    "type": "string",
                    "nullable": True,
                    "anyOf": [{"format": "uuid"}, {"maxLength": 0}],
                    "description": "Absent, null or empty: start a new conversation",
                },
                "conversationToken": token,
                "visitorName": _trimmed(100, required=False),
                "visitorEmail": {
                    "type": "string",
                    "pattern": _EMAIL,
                    "nullable": True,
                    "description": "An email address of at most 254 characters after trimming",
                },
                "clientMessageId": {
                    **_text(128),
                    "description": "Idempotency key: the same key twice stores one message. "
                    "Without conversationId and with at least 32 characters (a random "
                    "UUID) it also keys the new conversation: a retry gets the same "
                    "conversation and token",
                },
            },
        },
        "MessageResponse": {
            "type": "object",
            "required": ["success", "conversationId", "messageId", "reply", "status", "escalated"],
            "properties": {
                "success": {"type": "boolean", "enum": [True]},
                "conversationId": _UUID,
                "conversationToken": _TOKEN,
                "messageId": _UUID,
                "reply": _NULLABLE_STRING,
                "status": _STATUS,
                "escalated": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
        "SyncRequest": {
            "type": "object",
            "required": ["conversationId"],
            "description": "A null or empty optional field is absent.",
            "properties": {
                "conversationId": _UUID,
                "conversationToken": token,
                "since": {
                    "type": "string",
                    "nullable": True,
                    "maxLength": MAX_SINCE_CHARS,
                    "anyOf": [
                        {"format": "date-time"},
                        {"pattern": CURSOR_PATTERN},
                        {"pattern": _CURSOR_V1},
                        {"maxLength": 0},
                    ],
                    "description": "The cursor of the previous sync (a cursor that cannot be "
                    "read here is answered with a full resync), or an ISO-8601 timestamp",
                },
                "visitorId": _trimmed(MAX_VISITOR_ID_CHARS, required=False),
                "limit": {
                    "type": "integer",
                    "nullable": True,
                    "minimum": 1,
                    "maximum": MAX_LIMIT,
                    "description": f"Messages per answer (default {DEFAULT_LIMIT}); answers "
                    "are also bounded in bytes",
                },
                "before": {
                    "type": "string",
                    "nullable": True,
                    "anyOf": [{"pattern": BEFORE_PATTERN}, {"maxLength": 0}],
                    "description": "The `before` of an earlier answer: the page of older "
                    "history (wins over `since`; the answer's cursor is null)",
                },
                "wait": {
                    "type": "number",
                    "nullable": True,
                    "minimum": 0,
                    "maximum": MAX_WAIT_SECONDS,
                    "description": "Long-poll: with a cursor and nothing new, hold the answer "
                    "up to this many seconds until the conversation changes",
                },
            },
        },
        "SyncResponse": {
            "type": "object",
            "required": [
                "conversation",
                "messages",
                "typing",
                "cursor",
                "hasMore",
                "before",
                "longPoll",
            ],
            "properties": {
                "conversation": {
                    "type": "object",
                    "required": [
                        "id",
                        "status",
                        "escalated",
                        "escalatedAt",
                        "escalationReason",
                        "updatedAt",
                    ],
                    "properties": {
                        "id": _UUID,
                        "status": _STATUS,
                        "escalated": {"type": "boolean"},
                        "escalatedAt": {**_TIME, "nullable": True},
                        "escalationReason": _NULLABLE_STRING,
                        "updatedAt": _TIME,
                    },
                    "additionalProperties": False,
                },
                "messages": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "senderType", "senderName", "text", "createdAt"],
                        "properties": {
                            "id": _UUID,
                            "senderType": {
                                "type": "string",
                                "enum": ["visitor", "ai", "team", "system"],
                            },
                            "senderName": _NULLABLE_STRING,
                            "text": _STRING,
                            "createdAt": _TIME,
                        },
                        "additionalProperties": False,
                    },
                },
                "typing": {
                    "type": "object",
                    "required": ["isTyping", "name"],
                    "properties": {"isTyping": {"type": "boolean"}, "name": _NULLABLE_STRING},
                    "additionalProperties": False,
                },
                "cursor": {
                    "type": "string",
                    "nullable": True,
                    "pattern": CURSOR_PATTERN,
                    "description": "Opaque: pass back as `since` next time (null for a "
                    "`before` page)",
                },
                "hasMore": {
                    "type": "boolean",
                    "description": "The answer was cut short: with `before`, older history "
                    "waits (pass it as `before`); without, newer messages do (sync again now)",
                },
                "before": {
                    "type": "string",
                    "nullable": True,
                    "pattern": BEFORE_PATTERN,
                    "description": "Opaque: pass as `before` for the next older page",
                },
                "longPoll": {
                    "type": "boolean",
                    "description": "This server holds a sync sent with `wait` (it listens for "
                    "changes): a client may long-poll instead of polling",
                },
                "resync": {
                    "type": "boolean",
                    "enum": [True],
                    "description": "Only when `since` was a cursor this database cannot have "
                    "issued (another key or database, a restore): a full sync answered it",
                },
                "conversationToken": {**_TOKEN, "description": "Only when bootstrap minted one"},
            },
            "additionalProperties": False,
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "chat-toolkit edge functions", "version": "1"},
        "servers": [{"url": FUNCTIONS_PATH}],
        "paths": {
            f"/{HANDLE_CHAT_MESSAGE}": _operation(
                "Send a visitor message (creates or continues a conversation)",
                "MessageRequest",
                "MessageResponse",
            ),
            f"/{CHAT_VISITOR_SYNC}": _operation(
                "Read a visitor's conversation with its token", "SyncRequest", "SyncResponse"
            ),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": APIKEY,
                    "description": "the project's publishable key (sb_publishable_...)",
                },
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }
