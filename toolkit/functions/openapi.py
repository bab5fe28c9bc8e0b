"""The OpenAPI 3.0 document for both functions, served at /functions/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from .requests import MAX_MESSAGE_CHARS, MAX_VISITOR_ID_CHARS

__all__ = ["openapi_document"]

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}
_ERROR_CODES = {
    "400": ("invalid_request", "Malformed JSON, wrong types, missing or invalid fields"),
    "401": ("token_required", "Missing or invalid Authorization JWT, or a token is required"),
    "403": ("forbidden", "Wrong token, or no such conversation for this visitor (one answer)"),
    "405": ("method_not_allowed", "Only POST and OPTIONS"),
    "413": ("payload_too_large", "Body over the limit (default 64 KiB)"),
    "503": ("upstream_unavailable", "Supabase REST unreachable or timing out"),
}


def _error_responses() -> dict[str, Any]:
    return {
        status: {
            "description": f"{description} (code {code})",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status, (code, description) in _ERROR_CODES.items()
    }


def _operation(summary: str, request: str, response: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": [{"bearerAuth": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{request}"}}
                },
            },
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{response}"}}
                    },
                },
                **_error_responses(),
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    visitor_id = {"type": "string", "minLength": 1, "maxLength": MAX_VISITOR_ID_CHARS}
    token = {"type": "string", "minLength": 1, "maxLength": 256}
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error", "code"],
            "properties": {"error": _STRING, "code": _STRING},
        },
        "MessageRequest": {
            "type": "object",
            "required": ["visitorId", "message"],
            "properties": {
                "visitorId": visitor_id,
                "message": {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS},
                "conversationId": _UUID,
                "conversationToken": token,
                "visitorName": {"type": "string", "maxLength": 100},
                "visitorEmail": {"type": "string", "format": "email", "maxLength": 254},
                "clientMessageId": {"type": "string", "maxLength": 128},
            },
        },
        "MessageResponse": {
            "type": "object",
            "required": ["success", "conversationId", "messageId", "reply", "status", "escalated"],
            "properties": {
                "success": {"type": "boolean"},
                "conversationId": _UUID,
                "conversationToken": {"type": "string", "minLength": 43},
                "messageId": _UUID,
                "reply": _NULLABLE_STRING,
                "status": {"type": "string", "enum": ["active", "escalated", "resolved", "closed"]},
                "escalated": {"type": "boolean"},
            },
        },
        "SyncRequest": {
            "type": "object",
            "required": ["conversationId"],
            "properties": {
                "conversationId": _UUID,
                "conversationToken": token,
                "since": {
                    "type": "string",
                    "description": "The cursor of the previous sync, or an ISO-8601 timestamp",
                },
                "visitorId": visitor_id,
            },
        },
        "SyncResponse": {
            "type": "object",
            "required": ["conversation", "messages", "typing", "cursor"],
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
                        "status": _STRING,
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
                },
                "cursor": {"type": "string", "description": "Pass back as `since` next time"},
                "conversationToken": {
                    "type": "string",
                    "minLength": 43,
                    "description": "Only when bootstrap minted one",
                },
            },
            "additionalProperties": False,
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "chat-toolkit edge functions", "version": "1"},
        "servers": [{"url": "/functions/v1"}],
        "paths": {
            "/handle-chat-message": _operation(
                "Send a visitor message (creates or continues a conversation)",
                "MessageRequest",
                "MessageResponse",
            ),
            "/chat-visitor-sync": _operation(
                "Read a visitor's conversation with its token", "SyncRequest", "SyncResponse"
            ),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
