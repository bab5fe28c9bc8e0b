"""Parsing and validating the two functions' request bodies (pure, no I/O)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from toolkit.errors import InvalidRequest
from toolkit.functions.bodies import (
    MessageRequest,
    SyncRequest,
    parse_json_object,
    parse_message,
    parse_sync,
)
from toolkit.functions.cursor import Position, Since, encode_before

CONVERSATION = "0b5c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"
SECRET_TOKEN = "s3cr3t-T0KEN-value-that-must-never-be-echoed-back-xyz"


def message(**fields: Any) -> dict[str, Any]:
    return {"visitorId": "visitor-1", "message": "hello", **fields}


def invalid(parse: Any, data: Any) -> str:
    with pytest.raises(InvalidRequest) as info:
        parse(data)
    assert info.value.status == 400
    assert info.value.code == "invalid_request"
    return info.value.message


# -- parse_json_object ------------------------------------------------------------------


def test_json_object_is_parsed() -> None:
    """A UTF-8 JSON object is returned as a dict, non-ASCII text intact."""
    body = '{"visitorId": "v", "message": "مرحبا 👋🏽"}'.encode()
    assert parse_json_object(body) == {"visitorId": "v", "message": "مرحبا 👋🏽"}


@pytest.mark.parametrize("body", [b"", b"not json", b"{", b'{"a": 1,}', b"\xff\xfe"])
def test_malformed_json_is_invalid(body: bytes) -> None:
    """A body that is not valid JSON is "body must be valid JSON"."""
    assert invalid(parse_json_object, body) == "body must be valid JSON"


@pytest.mark.parametrize("body", [b"[]", b'[{"visitorId": "v"}]', b"null", b"1", b'"x"', b"true"])
def test_non_object_json_is_invalid(body: bytes) -> None:
    """Valid JSON that is not an object is "body must be a JSON object"."""
    assert invalid(parse_json_object, body) == "body must be a JSON object"


# -- parse_message ----------------------------------------------------------------------


def test_minimal_message_is_parsed() -> None:
    """visitorId and message alone give a request for a new conversation."""
    assert parse_message(message()) == MessageRequest(visitor_id="visitor-1", message="hello")


def test_full_message_is_parsed_and_trimmed() -> None:
    """Every field is read; message, name and email are trimmed, the uuid normalised."""
    parsed = parse_message(
        message(
            message="  hi there \n",
            conversationId=CONVERSATION.upper(),
            conversationToken="tok",
            visitorName="  Ada ",
            visitorEmail=" ada@example.com ",
            clientMessageId="c-1",
        )
    )
    assert parsed == MessageRequest(
        visitor_id="visitor-1",
        message="hi there",
        conversation_id=CONVERSATION,
        token="tok",
        visitor_name="Ada",
        visitor_email="ada@example.com",
        client_message_id="c-1",
    )


def test_braced_uuid_is_normalised() -> None:
    """A uuid in any form Python accepts is normalised to lowercase hyphenated text."""
    parsed = parse_message(message(conversationId="{" + CONVERSATION.replace("-", "") + "}"))
    assert parsed.conversation_id == CONVERSATION


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"message": "hi"}, "visitorId is required"),
        ({"visitorId": None, "message": "hi"}, "visitorId is required"),
        ({"visitorId": "", "message": "hi"}, "visitorId must not be empty"),
        ({"visitorId": 42, "message": "hi"}, "visitorId must be a string"),
        ({"visitorId": ["v"], "message": "hi"}, "visitorId must be a string"),
        ({"visitorId": "v" * 129, "message": "hi"}, "visitorId is longer than 128 characters"),
        ({"visitorId": "v\x00", "message": "hi"}, "visitorId must not contain NUL characters"),
        ({"visitorId": "v"}, "message is required"),
        ({"visitorId": "v", "message": None}, "message is required"),
        ({"visitorId": "v", "message": "   \n\t "}, "message must not be empty"),
        ({"visitorId": "v", "message": {"text": "hi"}}, "message must be a string"),
        ({"visitorId": "v", "message": 7}, "message must be a string"),
        ({"visitorId": "v", "message": "a\x00b"}, "message must not contain NUL characters"),
        ({"visitorId": "v", "message": "x" * 4001}, "message is longer than 4000 characters"),
        (message(visitorEmail="not-an-email"), "visitorEmail is not a valid email address"),
        (message(visitorEmail="a@b"), "visitorEmail is not a valid email address"),
        (message(visitorEmail="a b@c.de"), "visitorEmail is not a valid email address"),
        (message(visitorEmail=3), "visitorEmail must be a string"),
        (message(visitorName="n" * 101), "visitorName is longer than 100 characters"),
        (message(conversationId="not-a-uuid"), "conversationId must be a UUID"),
        (message(conversationId=12), "conversationId must be a string"),
        (message(conversationToken=12), "conversationToken must be a string"),
        (message(conversationToken="t" * 257), "conversationToken is longer than 256 characters"),
        (message(clientMessageId="c" * 129), "clientMessageId is longer than 128 characters"),
    ],
)
def test_message_validation(data: dict[str, Any], error: str) -> None:
    """Each invalid field is a 400 invalid_request whose message names it."""
    assert invalid(parse_message, data) == error


def test_message_is_measured_after_trimming() -> None:
    """4000 characters plus surrounding whitespace is accepted; 4001 after trimming is not."""
    padded = "  " + "é" * 4000 + "\n"
    assert parse_message(message(message=padded)).message == "é" * 4000
    long = "  " + "é" * 4001 + "  "
    assert invalid(parse_message, message(message=long)) == (
        "message is longer than 4000 characters"
    )


def test_visitor_id_of_128_is_accepted() -> None:
    """A visitorId of exactly 128 characters is accepted as is."""
    assert parse_message(message(visitorId="v" * 128)).visitor_id == "v" * 128


def test_blank_optional_fields_are_absent() -> None:
    """Empty or whitespace-only optional fields read as not given."""
    parsed = parse_message(message(visitorName="  ", visitorEmail=" ", conversationId=""))
    assert (parsed.visitor_name, parsed.visitor_email, parsed.conversation_id) == (
        None,
        None,
        None,
    )


# -- parse_sync -------------------------------------------------------------------------


def test_sync_without_since() -> None:
    """conversationId and token alone give a full sync."""
    parsed = parse_sync({"conversationId": CONVERSATION.upper(), "conversationToken": "tok"})
    assert parsed == SyncRequest(conversation_id=CONVERSATION, token="tok")


def test_sync_with_cursor() -> None:
    """A cursor in `since` becomes a transaction-id start point."""
    cursor_v1 = base64.urlsafe_b64encode(b"v1:981").decode().rstrip("=")
    parsed = parse_sync({"conversationId": CONVERSATION, "since": cursor_v1})
    assert parsed.since == Since(after_xid=981)


def test_sync_with_timestamp_and_visitor() -> None:
    """An ISO `since` becomes a UTC timestamp, and visitorId is kept for bootstrap."""
    parsed = parse_sync(
        {"conversationId": CONVERSATION, "since": "2026-03-27T05:40:00Z", "visitorId": "v-9"}
    )
    assert parsed == SyncRequest(
        conversation_id=CONVERSATION,
        since=Since(timestamp=datetime(2026, 3, 27, 5, 40, tzinfo=UTC)),
        visitor_id="v-9",
    )


def test_sync_page_size_history_and_wait() -> None:
    """limit, before and wait are read; an integral float is an integer, as in JSON Schema."""
    position = Position(datetime(2026, 3, 27, 5, 40, 0, 1, tzinfo=UTC), CONVERSATION)
    parsed = parse_sync(
        {
            "conversationId": CONVERSATION,
            "limit": 500.0,
            "before": encode_before(position),
            "wait": 2.5,
            "since": "v2.anything-sealed",
        }
    )
    assert parsed == SyncRequest(
        conversation_id=CONVERSATION,
        since=Since(sealed="v2.anything-sealed"),
        limit=500,
        before=position,
        wait=2.5,
    )
    assert parse_sync({"conversationId": CONVERSATION, "limit": None, "wait": 0}) == SyncRequest(
        conversation_id=CONVERSATION, limit=100, wait=0.0
    )


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "conversationId is required"),
        ({"conversationId": None}, "conversationId is required"),
        ({"conversationId": ""}, "conversationId is required"),
        ({"conversationId": "nope"}, "conversationId must be a UUID"),
        ({"conversationId": CONVERSATION + "0"}, "conversationId must be a UUID"),
        ({"conversationId": 5}, "conversationId must be a string"),
        ({"conversationId": "x" * 65}, "conversationId is longer than 64 characters"),
        (
            {"conversationId": CONVERSATION, "since": "last tuesday"},
            "since must be the cursor returned by the previous sync or an ISO-8601 timestamp",
        ),
        ({"conversationId": CONVERSATION, "since": 1711518000}, "since must be a string"),
        (
            {"conversationId": CONVERSATION, "conversationToken": 1},
            "conversationToken must be a string",
        ),
        (
            {"conversationId": CONVERSATION, "visitorId": "v" * 129},
            "visitorId is longer than 128 characters",
        ),
        ({"conversationId": CONVERSATION, "limit": 0}, "limit must be an integer from 1 to 500"),
        ({"conversationId": CONVERSATION, "limit": 501}, "limit must be an integer from 1 to 500"),
        ({"conversationId": CONVERSATION, "limit": 2.5}, "limit must be an integer from 1 to 500"),
        ({"conversationId": CONVERSATION, "limit": "9"}, "limit must be an integer from 1 to 500"),
        ({"conversationId": CONVERSATION, "limit": True}, "limit must be an integer from 1 to 500"),
        ({"conversationId": CONVERSATION, "wait": -1}, "wait must be a number from 0 to 25"),
        ({"conversationId": CONVERSATION, "wait": 25.5}, "wait must be a number from 0 to 25"),
        ({"conversationId": CONVERSATION, "wait": False}, "wait must be a number from 0 to 25"),
        (
            {"conversationId": CONVERSATION, "before": "p1.short"},
            "before must be the value returned by a previous sync",
        ),
    ],
)
def test_sync_validation(data: dict[str, Any], error: str) -> None:
    """Each invalid sync field is a 400 invalid_request whose message names it."""
    assert invalid(parse_sync, data) == error


# -- no token in error messages ---------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        message(conversationId=SECRET_TOKEN, conversationToken=SECRET_TOKEN),
        message(visitorEmail=SECRET_TOKEN),
        message(message=SECRET_TOKEN + "\x00"),
        message(conversationToken=SECRET_TOKEN * 6),
        message(conversationToken=SECRET_TOKEN + "\x00"),
        {"visitorId": SECRET_TOKEN * 3, "message": "hi", "conversationToken": SECRET_TOKEN},
    ],
)
def test_message_errors_never_echo_the_token(data: dict[str, Any]) -> None:
    """A rejected message's error never contains the submitted token value."""
    assert SECRET_TOKEN not in invalid(parse_message, data)


@pytest.mark.parametrize(
    "data",
    [
        {"conversationId": SECRET_TOKEN, "conversationToken": SECRET_TOKEN},
        {"conversationId": CONVERSATION, "since": SECRET_TOKEN},
        {"conversationId": CONVERSATION, "conversationToken": SECRET_TOKEN * 6},
        {"conversationId": CONVERSATION, "conversationToken": SECRET_TOKEN + "\x00"},
    ],
)
def test_sync_errors_never_echo_the_token(data: dict[str, Any]) -> None:
    """A rejected sync's error never contains the submitted token value."""
    assert SECRET_TOKEN not in invalid(parse_sync, data)
