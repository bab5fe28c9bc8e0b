"""The pre-cutover schema leaks: the same probes that pass after the migrations fail here.

This is the proof that test_anon_reads.py can fail: against a `--baseline-only` stack,
anyone with the anon key reads every visitor's conversations and messages.
"""

from __future__ import annotations

import httpx
import pytest

from edge_contract_tests.helpers import auth_headers
from toolkit.config import Target

pytestmark = pytest.mark.embedded


def test_baseline_anon_key_reads_other_visitors_conversations(
    http: httpx.Client, baseline_target: Target
) -> None:
    """Before the cutover, anon GET chat_conversations is 200 with two visitors' rows and emails."""
    response = http.get(
        f"{baseline_target.url}/rest/v1/chat_conversations",
        params={"select": "visitor_id,visitor_email"},
        headers=auth_headers(baseline_target.anon_key),
    )
    assert response.status_code == 200
    rows = response.json()
    assert {r["visitor_id"] for r in rows} >= {"seed-visitor-alice", "seed-visitor-bob"}
    assert any(r["visitor_email"] for r in rows)


def test_baseline_anon_key_reads_other_visitors_messages(
    http: httpx.Client, baseline_target: Target
) -> None:
    """Before the cutover, anon GET chat_messages is 200 with both conversations' messages."""
    response = http.get(
        f"{baseline_target.url}/rest/v1/chat_messages",
        params={"select": "conversation_id,message_text"},
        headers=auth_headers(baseline_target.anon_key),
    )
    assert response.status_code == 200
    assert len({r["conversation_id"] for r in response.json()}) >= 2


@pytest.mark.parametrize("table", ["chat_conversations", "chat_messages"])
def test_baseline_fails_the_anon_read_contract(
    http: httpx.Client, baseline_target: Target, table: str
) -> None:
    """The post-cutover assertion (401 42501) does not hold on the baseline."""
    response = http.get(
        f"{baseline_target.url}/rest/v1/{table}", headers=auth_headers(baseline_target.anon_key)
    )
    assert response.status_code != 401
