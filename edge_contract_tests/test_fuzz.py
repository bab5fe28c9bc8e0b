"""Schema-driven fuzzing of both functions against /functions/v1/openapi.json (schemathesis).

Every response must have a documented status, body and headers, never a 5xx, and never
carry a token hash, SQL text or a stack trace. Schema-valid requests must be accepted and
schema-violating ones rejected, so the document stays true in both directions. Cases are
derandomized (the same every run); FUZZ_CASES sets how many per endpoint (default 200,
half schema-valid, half schema-violating; `scripts/fuzz.sh` runs 2,000).
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from edge_contract_tests.helpers import auth_headers, call, open_conversation
from toolkit.config import Target
from toolkit.tokens import hash_token

pytestmark = pytest.mark.writes

CASES = int(os.environ.get("FUZZ_CASES", "200"))
# A token hash (64 lowercase hex), SQL or PostgREST text, or a Python stack trace.
LEAK = re.compile(r"[0-9a-f]{64}|select |from public|syntax error|Traceback|PGRST", re.IGNORECASE)
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Conversation:
    id: str
    visitor_id: str
    token: str


@dataclass
class Tally:
    """What one endpoint's fuzzing saw: cases per mode, statuses, and every failure."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def api_schema(target: Target) -> schemathesis.BaseSchema:
    """The document exactly as the functions server publishes it."""
    return schemathesis.openapi.from_url(f"{target.functions_url}/openapi.json")


@pytest.fixture(scope="module")
def conversations(target: Target) -> dict[str, Conversation]:
    """Real conversations that some schema-valid cases are pointed at, to reach the 200 paths.

    The one that sync reads also holds a team reply with metadata, an internal note and a
    typing row (written with the service role, as the team app would); the one that
    messages write to is separate, so fuzzed text is never read back.
    """
    made = {}
    service = {**auth_headers(target.server_key), "Prefer": "return=minimal"}
    with httpx.Client(timeout=10.0) as http:
        for name in ("handle-chat-message", "chat-visitor-sync"):
            data = open_conversation(http, target, message="fuzz fixture")
            made[name] = Conversation(
                data["conversationId"], data["visitorId"], data["conversationToken"]
            )
        cid = made["chat-visitor-sync"].id
        team = {"conversation_id": cid}
        note = {**team, "sender_type": "team", "sender_name": "Agent"}
        rows = {
            "chat_messages": [
                {**note, "message_text": "team reply", "is_internal": False, "metadata": {"k": 1}},
                {**note, "message_text": "internal note", "is_internal": True, "metadata": {}},
            ],
            "team_typing_indicators": [
                {**team, "user_id": str(uuid.uuid4()), "user_name": "Agent", "is_typing": True}
            ],
        }
        for table, payload in rows.items():
            response = http.post(f"{target.url}/rest/v1/{table}", json=payload, headers=service)
            assert response.status_code == 201, response.text
    return made


def _point_at(case: Case[Any], conversation: Conversation, index: int) -> None:
    """Aim a schema-valid case at a real conversation: with its token, or with its id only."""
    if not isinstance(case.body, dict) or index % 3 == 0:
        return
    case.body["conversationId"] = conversation.id
    if "message" in case.body:
        case.body["visitorId"] = conversation.visitor_id
    if index % 3 == 1:
        case.body["conversationToken"] = conversation.token


def _fuzz(
    api_schema: schemathesis.BaseSchema,
    target: Target,
    name: str,
    conversation: Conversation,
    mode: GenerationMode,
    examples: int,
    tally: Tally,
) -> None:
    operation = api_schema[f"/{name}"]["POST"]
    checks: list[Callable[..., Any]] = [
        *CONFORMANCE,
        positive_data_acceptance if mode is GenerationMode.POSITIVE else negative_data_rejection,
    ]
    known_hash = hash_token(conversation.token)
    strategy = operation.as_strategy(
        generation_mode=mode, headers={"Authorization": f"Bearer {target.visitor_key}"}
    )

    with requests.Session() as session:

        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Case[Any]) -> None:
            index = tally.cases[mode.value]
            tally.cases[mode.value] += 1
            if mode is GenerationMode.POSITIVE:
                _point_at(case, conversation, index)
            response = case.call(base_url=target.functions_url, session=session, timeout=15)
            tally.statuses[response.status_code] += 1
            problems = []
            try:
                case.validate_response(response, checks=checks)
            except FailureGroup as group:
                problems += [f"{failure.title}: {failure.message}" for failure in group.exceptions]
            leak = LEAK.search(response.text)
            if leak or known_hash in response.text:
                problems.append(f"response body leaks {leak.group(0) if leak else known_hash!r}")
            if problems:
                tally.failures.append(
                    f"{mode.value} case {index}: {response.status_code} {response.text[:300]}\n"
                    + "\n".join(f"  - {p}" for p in problems)
                    + f"\n  reproduce: {case.as_curl_command()}"
                )

        run()


@pytest.mark.parametrize("name", ["handle-chat-message", "chat-visitor-sync"])
def test_fuzz_conforms_to_the_published_document(
    api_schema: schemathesis.BaseSchema,
    target: Target,
    conversations: dict[str, Conversation],
    name: str,
) -> None:
    """FUZZ_CASES derandomized cases get documented, leak-free, non-5xx answers only."""
    tally = Tally()
    positive = CASES // 2
    for mode, examples in (
        (GenerationMode.POSITIVE, positive),
        (GenerationMode.NEGATIVE, CASES - positive),
    ):
        _fuzz(api_schema, target, name, conversations[name], mode, examples, tally)
    total = sum(tally.cases.values())
    statuses = dict(sorted(tally.statuses.items()))
    print(
        f"\nfuzz {name}: {total} cases ({tally.cases['positive']} schema-valid, "
        f"{tally.cases['negative']} schema-violating), statuses {statuses}, "
        f"{len(tally.failures)} failures"
    )
    for failure in tally.failures:
        print(f"FAIL {name} {failure}")
    assert tally.failures == []
    assert total >= CASES
    assert 200 in tally.statuses and 400 in tally.statuses


@pytest.mark.parametrize(
    "since",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2016-12-31T23:59:60Z"],
    ids=["before-year-1-in-utc", "after-year-9999-in-utc", "leap-second"],
)
def test_since_accepts_every_documented_timestamp(
    http: httpx.Client, target: Target, conversations: dict[str, Conversation], since: str
) -> None:
    """A `since` that is a valid RFC 3339 date-time, as documented, is read with 200."""
    mine = conversations["chat-visitor-sync"]
    body = {"conversationId": mine.id, "conversationToken": mine.token, "since": since}
    response = call(http, target.functions_url, "chat-visitor-sync", body, target.visitor_key)
    assert response.status_code == 200, response.text
