"""Who answers the visitor: a pluggable responder chosen by CHAT_RESPONDER.

- `rules` (default): deterministic. An explicit request for a human escalates; otherwise
  the first FAQ entry (CHAT_FAQ_FILE) whose keyword appears, else the canned reply.
- `openai`: any OpenAI-compatible chat-completions endpoint; on any failure it escalates
  rather than failing the visitor's message.
- `none`: no automatic reply (a human team answers everything).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from toolkit.config import ServerSettings
from toolkit.errors import ConfigError
from toolkit.protocol import AUTHORIZATION

__all__ = ["Reply", "Responder", "build_responder", "wants_human"]

log = logging.getLogger("toolkit.functions")

_HUMAN = re.compile(
    r"\b(human|real person|live (agent|person|chat)|agent|representative|operator|"
    r"talk to (a |the )?(person|someone|team|support)|speak to (a |the )?(person|someone|team))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Reply:
    text: str | None = None
    escalation_reason: str | None = None


class Responder(Protocol):
    async def reply(self, message: str) -> Reply: ...


def wants_human(message: str) -> bool:
    """True for an explicit request to talk to a person."""
    return _HUMAN.search(message) is not None


class NoReply:
    async def reply(self, message: str) -> Reply:
        return Reply()


class RulesResponder:
    def __init__(self, default_reply: str, faq: list[tuple[tuple[str, ...], str]]) -> None:
        self._default = default_reply
        self._faq = faq

    async def reply(self, message: str) -> Reply:
        if wants_human(message):
            return Reply(escalation_reason="visitor_requested_human")
        lowered = message.lower()
        for keywords, answer in self._faq:
            if any(k in lowered for k in keywords):
                return Reply(text=answer)
        return Reply(text=self._default)


class OpenAIResponder:
    def __init__(self, client: httpx.AsyncClient, settings: ServerSettings) -> None:
        self._client = client
        self._url = f"{settings.openai_base_url}/chat/completions"
        self._headers = {AUTHORIZATION: f"Bearer {settings.openai_api_key}"}
        self._model = settings.openai_model
        self._timeout = settings.openai_timeout

    async def reply(self, message: str) -> Reply:
        if wants_human(message):
            return Reply(escalation_reason="visitor_requested_human")
        payload = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": "You are a concise, friendly support assistant."},
                {"role": "user", "content": message},
            ],
        }
        try:
            response = await self._client.post(
                self._url, json=payload, headers=self._headers, timeout=self._timeout
            )
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"].strip()
        except (
            httpx.HTTPError,
            ValueError,
            KeyError,
            IndexError,
            TypeError,
            AttributeError,
        ) as exc:
            log.warning("responder_error %s", type(exc).__name__)
            return Reply(escalation_reason="assistant_unavailable")
        return Reply(text=text) if text else Reply(escalation_reason="assistant_unavailable")


def _load_faq(path: str | None) -> list[tuple[tuple[str, ...], str]]:
    """CHAT_FAQ_FILE: a JSON list of {"keywords": [...], "reply": "..."}."""
    if path is None:
        return []
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
        return [(tuple(k.lower() for k in e["keywords"]), str(e["reply"])) for e in entries]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(
            f'CHAT_FAQ_FILE={path!r} must be a JSON list of {{"keywords": [...], "reply": "..."}}'
        ) from None


def build_responder(settings: ServerSettings, client: httpx.AsyncClient) -> Responder:
    if settings.responder == "none":
        return NoReply()
    if settings.responder == "openai":
        return OpenAIResponder(client, settings)
    return RulesResponder(settings.rules_reply, _load_faq(settings.faq_file))
