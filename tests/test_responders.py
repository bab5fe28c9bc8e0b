"""Responders: the rules responder, the human-request detector, and the OpenAI-compatible
responder against a mocked transport (no network, no server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from toolkit.config import ServerSettings
from toolkit.functions.responders import (
    NoReply,
    OpenAIResponder,
    Reply,
    RulesResponder,
    build_responder,
    wants_human,
)

DEFAULT = "Thanks! We will get back to you."
FAQ = [
    (("shipping", "delivery"), "Orders ship within 2 business days."),
    (("refund",), "Refunds take 5 to 10 days."),
]
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "  Your order ships tomorrow.  "},
            "finish_reason": "stop",
        }
    ],
}
UNAVAILABLE = Reply(escalation_reason="assistant_unavailable")


def rules_reply(message: str) -> Reply:
    return asyncio.run(RulesResponder(DEFAULT, FAQ).reply(message))


def settings(**overrides: object) -> ServerSettings:
    base: dict[str, object] = {
        "supabase_url": "http://127.0.0.1:1",
        "rest_key": "service",
        "jwt_secret": None,
        "responder": "openai",
        "openai_base_url": "https://llm.test/v1",
        "openai_api_key": "sk-test",
        "openai_model": "test-model",
        "openai_timeout": 3.0,
    }
    return ServerSettings(**{**base, **overrides})  # type: ignore[arg-type]


def openai_reply(handler: Callable[[httpx.Request], httpx.Response], message: str) -> Reply:
    async def run() -> Reply:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await OpenAIResponder(client, settings()).reply(message)

    return asyncio.run(run())


# -- wants_human / RulesResponder -------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "Can I talk to a human?",
        "I want a REAL PERSON please",
        "live agent",
        "Let me speak to someone",
        "talk to the team",
        "get me a representative",
    ],
)
def test_explicit_requests_want_a_human(message: str) -> None:
    """An explicit request for a person is detected."""
    assert wants_human(message) is True


@pytest.mark.parametrize(
    "message",
    [
        "my order is late",
        "Where is my refund?",
        "hello",
        "humanity is great",
        "what are your agency fees",
        "",
    ],
)
def test_ordinary_messages_do_not_want_a_human(message: str) -> None:
    """Ordinary questions, and words that merely contain "human"/"agent", are not requests."""
    assert wants_human(message) is False


def test_rules_escalate_a_request_for_a_human() -> None:
    """ "Can I talk to a human?" escalates with reason visitor_requested_human and no text."""
    assert rules_reply("Can I talk to a human?") == Reply(
        text=None, escalation_reason="visitor_requested_human"
    )


def test_rules_answer_from_the_faq() -> None:
    """The first FAQ entry whose keyword appears (case-insensitively) answers."""
    assert rules_reply("When is DELIVERY to Berlin?") == Reply(
        text="Orders ship within 2 business days."
    )
    assert rules_reply("how long does a refund take") == Reply(text="Refunds take 5 to 10 days.")


def test_rules_first_matching_entry_wins() -> None:
    """With two entries matching, the earlier one in the file answers."""
    assert rules_reply("refund for a shipping error") == Reply(
        text="Orders ship within 2 business days."
    )


def test_rules_default_reply() -> None:
    """A message matching no FAQ keyword gets the canned default reply."""
    assert rules_reply("my order is late") == Reply(text=DEFAULT, escalation_reason=None)


def test_build_responder_picks_by_setting() -> None:
    """CHAT_RESPONDER none gives no reply at all; rules with no FAQ gives the canned one."""

    async def run() -> tuple[Reply, Reply]:
        async with httpx.AsyncClient() as client:
            none = build_responder(settings(responder="none"), client)
            rules = build_responder(settings(responder="rules", rules_reply=DEFAULT), client)
            assert isinstance(none, NoReply)
            return await none.reply("hello"), await rules.reply("hello")

    assert asyncio.run(run()) == (Reply(), Reply(text=DEFAULT))


# -- OpenAIResponder --------------------------------------------------------------------


def test_openai_success_returns_the_trimmed_completion() -> None:
    """A normal completion is the reply text, trimmed, sent with model, key and message."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=COMPLETION)

    assert openai_reply(handler, "where is my order") == Reply(text="Your order ships tomorrow.")
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://llm.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    sent = json.loads(request.content)
    assert sent["model"] == "test-model"
    assert sent["messages"][-1] == {"role": "user", "content": "where is my order"}


def test_openai_human_request_escalates_without_a_call() -> None:
    """A request for a human escalates before the endpoint is asked."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=COMPLETION)

    assert openai_reply(handler, "Can I talk to a human?") == Reply(
        escalation_reason="visitor_requested_human"
    )
    assert seen == []


def _status(code: int) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _request: httpx.Response(code, json={"error": {"message": "boom"}})


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _body(content: bytes) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _request: httpx.Response(
        200, content=content, headers={"content-type": "application/json"}
    )


def _json(payload: object) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _request: httpx.Response(200, json=payload)


@pytest.mark.parametrize(
    "handler",
    [
        _status(500),
        _status(429),
        _status(401),
        _timeout,
        _refused,
        _body(b"{not json"),
        _body(b"<html>502</html>"),
        _json({}),
        _json({"choices": []}),
        _json({"choices": [{"message": {}}]}),
        _json({"choices": [{"message": {"content": None}}]}),
        _json({"choices": [{"message": {"content": "   "}}]}),
        _json([1, 2, 3]),
    ],
    ids=[
        "500",
        "429",
        "401",
        "timeout",
        "refused",
        "malformed-json",
        "html",
        "no-choices",
        "empty-choices",
        "no-content",
        "null-content",
        "blank-content",
        "json-array",
    ],
)
def test_openai_failure_escalates(handler: Callable[[httpx.Request], httpx.Response]) -> None:
    """Any endpoint failure escalates with reason assistant_unavailable instead of raising."""
    assert openai_reply(handler, "where is my order") == UNAVAILABLE
