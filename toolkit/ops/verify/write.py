"""Verify's `--write` checks: the seed's five validations end to end, then the cleanup.

    write.*       the seed's five validations, on rows whose visitor_id starts with
                  `chat-toolkit-verify-<run>-`, always deleted afterwards (write.cleanup)

Team replies and typing rows are written as the team dashboard writes them: REST with the
service-role key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from toolkit.ops.verify.api import (
    VERIFY_PREFIX,
    ApiProbe,
    describe,
    error_code,
    json_body,
    transport_reason,
)
from toolkit.protocol import (
    CHAT_VISITOR_SYNC,
    HANDLE_CHAT_MESSAGE,
    PERMISSION_DENIED,
    TOKEN_REQUIRED,
)

__all__ = ["TEAM_NAME", "write_checks"]

TEAM_NAME = "chat-toolkit verify"


@dataclass(frozen=True)
class _Conversation:
    id: str
    visitor_id: str
    token: str


def write_checks(run: ApiProbe) -> None:
    prefix = f"{VERIFY_PREFIX}{uuid.uuid4().hex[:12]}-"
    try:
        conversation = _new_conversation(run, f"{prefix}new")
        if conversation is None:
            for check_id in ("resume", "message_sync", "typing_indicator", "no_anon_reads"):
                run.add(f"write.{check_id}", "SKIP", "needs write.new_conversation")
        else:
            _resume(run, conversation)
            _message_sync_and_typing(run, conversation)
            _no_anon_reads(run, conversation)
        _bootstrap(run, f"{prefix}legacy-sync")
        _enforce(run, f"{prefix}legacy-message")
    finally:
        _cleanup(run, prefix)


def _body(response: httpx.Response) -> dict[str, Any]:
    data = json_body(response)
    return data if isinstance(data, dict) else {}


def _new_conversation(run: ApiProbe, visitor: str) -> _Conversation | None:
    response = run.call(
        HANDLE_CHAT_MESSAGE, {"visitorId": visitor, "message": f"{TEAM_NAME}: new conversation"}
    )
    body = _body(response)
    if response.status_code != 200:
        run.fail("write.new_conversation", response, f"expected 200, got {describe(response)}")
        return None
    if not body.get("conversationId") or not body.get("conversationToken"):
        run.add("write.new_conversation", "FAIL", "200 without conversationId or conversationToken")
        return None
    run.add("write.new_conversation", "PASS", "200; conversation created and a token issued")
    return _Conversation(body["conversationId"], visitor, body["conversationToken"])


def _resume(run: ApiProbe, conversation: _Conversation) -> None:
    response = run.call(
        HANDLE_CHAT_MESSAGE,
        {
            "visitorId": conversation.visitor_id,
            "message": f"{TEAM_NAME}: resumed",
            "conversationId": conversation.id,
            "conversationToken": conversation.token,
        },
    )
    if response.status_code != 200:
        run.fail("write.resume", response, f"expected 200, got {describe(response)}")
        return
    run.judge(
        "write.resume",
        _body(response).get("conversationId") == conversation.id,
        "200; the token continued the same conversation",
        "200 but a different conversation came back",
    )


def _message_sync_and_typing(run: ApiProbe, conversation: _Conversation) -> None:
    auth = {"conversationId": conversation.id, "conversationToken": conversation.token}
    first = run.call(CHAT_VISITOR_SYNC, auth)
    full = _body(first)
    visitor_messages = [m for m in full.get("messages", []) if m.get("senderType") == "visitor"]
    if first.status_code != 200 or len(visitor_messages) != 2:
        run.fail(
            "write.message_sync",
            first,
            f"full sync: expected 200 with the 2 visitor messages, got {describe(first)} "
            f"with {len(visitor_messages)}",
        )
        run.add("write.typing_indicator", "SKIP", "needs write.message_sync")
        return
    # Written the way the team dashboard writes them: REST with a privileged key.
    team = run.rest(
        "POST",
        "chat_messages",
        prefer="return=representation",
        json={
            "conversation_id": conversation.id,
            "sender_type": "team",
            "sender_name": TEAM_NAME,
            "message_text": f"{TEAM_NAME}: team reply",
        },
    )
    typing = run.rest(
        "POST",
        "team_typing_indicators",
        prefer="resolution=merge-duplicates,return=minimal",
        json={
            "conversation_id": conversation.id,
            "user_id": str(uuid.uuid4()),
            "user_name": TEAM_NAME,
            "is_typing": True,
        },
    )
    after = run.call(CHAT_VISITOR_SYNC, {**auth, "since": full.get("cursor")})
    delta = _body(after)
    rows = json_body(team)
    team_id = rows[0].get("id") if team.status_code == 201 and isinstance(rows, list) else None
    new_ids = {m.get("id") for m in delta.get("messages", [])}
    if team_id is None:
        run.add(
            "write.message_sync",
            "FAIL",
            f"service-role insert of a team reply got {describe(team)}",
        )
    elif after.status_code != 200:
        run.fail("write.message_sync", after, f"incremental sync got {describe(after)}")
    else:
        run.judge(
            "write.message_sync",
            team_id in new_ids,
            f"full sync had both visitor messages; the team reply arrived after the cursor "
            f"({len(new_ids)} new)",
            "the team reply is missing from the incremental sync",
        )
    seen = delta.get("typing") or {}
    if typing.status_code not in (200, 201):
        run.add(
            "write.typing_indicator",
            "FAIL",
            f"service-role upsert of the typing row got {describe(typing)}",
        )
    else:
        run.judge(
            "write.typing_indicator",
            seen.get("isTyping") is True and seen.get("name") == TEAM_NAME,
            "sync reports the team member typing, by name",
            f"sync did not report the typing indicator ({describe(after)})",
        )


def _no_anon_reads(run: ApiProbe, conversation: _Conversation) -> None:
    answers = [
        run.anon_get("chat_conversations", {"id": f"eq.{conversation.id}", "select": "*"}),
        run.anon_get("chat_messages", {"conversation_id": f"eq.{conversation.id}", "select": "*"}),
    ]
    blocked = (401, PERMISSION_DENIED)
    open_ = [describe(a) for a in answers if (a.status_code, error_code(a)) != blocked]
    run.judge(
        "write.no_anon_reads",
        not open_,
        "anon GET of the new conversation and its messages: 401 42501",
        f"anon read of the new conversation got {', '.join(open_)}",
    )


def _legacy_conversation(run: ApiProbe, visitor: str) -> str | None:
    """A pre-cutover conversation (no token hash), written with the service role."""
    response = run.rest(
        "POST",
        "chat_conversations",
        prefer="return=representation",
        params={"select": "id"},
        json={"visitor_id": visitor},
    )
    rows = json_body(response)
    ok = response.status_code == 201 and isinstance(rows, list) and rows
    return str(rows[0]["id"]) if ok else None


def _bootstrap(run: ApiProbe, visitor: str) -> None:
    cid = _legacy_conversation(run, visitor)
    if cid is None:
        run.add(
            "write.bootstrap",
            "FAIL",
            "could not create a legacy conversation with the service role",
        )
        return
    response = run.call(CHAT_VISITOR_SYNC, {"conversationId": cid, "visitorId": visitor})
    declared = f"CHAT_SYNC_ALLOW_BOOTSTRAP={str(run.flags.allow_bootstrap).lower()}"
    if run.flags.allow_bootstrap:
        ok = response.status_code == 200 and bool(_body(response).get("conversationToken"))
        expected, outcome = "200 with a token", "200 and a token minted"
    else:
        ok = (response.status_code, error_code(response)) == (401, TOKEN_REQUIRED)
        expected = outcome = "401 token_required"
    if ok:
        run.add("write.bootstrap", "PASS", f"tokenless sync with visitorId: {outcome} ({declared})")
    else:
        run.fail(
            "write.bootstrap",
            response,
            f"tokenless sync with visitorId: expected {expected} ({declared} in the env), got "
            f"{describe(response)}; the deployed functions run with other flags than the env "
            "declares, or bootstrap is broken",
        )


def _enforce(run: ApiProbe, visitor: str) -> None:
    cid = _legacy_conversation(run, visitor)
    if cid is None:
        run.add(
            "write.enforce", "FAIL", "could not create a legacy conversation with the service role"
        )
        return
    response = run.call(
        HANDLE_CHAT_MESSAGE,
        {"visitorId": visitor, "conversationId": cid, "message": f"{TEAM_NAME}: tokenless"},
    )
    # CONTRACT §4: enforcement refuses; otherwise only bootstrap may mint from the pair.
    declared = f"ENFORCE_VISITOR_CONVERSATION_TOKEN={str(run.flags.enforce_token).lower()}"
    token = _body(response).get("conversationToken")
    if run.flags.enforce_token:
        ok = (response.status_code, error_code(response)) == (401, TOKEN_REQUIRED)
        expected = outcome = "401 token_required"
    elif run.flags.allow_bootstrap:
        ok = response.status_code == 200 and bool(token)
        expected, outcome = "200 with a token", "200 and a token issued"
    else:
        declared += ", CHAT_SYNC_ALLOW_BOOTSTRAP=false"
        ok = response.status_code == 200 and token is None
        expected, outcome = "200 without a token", "200, accepted and no token issued"
    what = "tokenless message on a legacy conversation"
    if ok:
        run.add("write.enforce", "PASS", f"{what}: {outcome} ({declared})")
    else:
        run.fail(
            "write.enforce",
            response,
            f"{what}: expected {expected} ({declared} in the env), got {describe(response)}",
        )


def _cleanup(run: ApiProbe, prefix: str) -> None:
    """Delete this run's conversations; messages and access events cascade."""
    marker = {"visitor_id": f"like.{prefix}*"}
    try:
        found = run.rest("GET", "chat_conversations", params={"select": "id", **marker})
        ids = [r["id"] for r in json_body(found)] if found.status_code == 200 else []
        if ids:  # typing rows too, should a live table lack the cascade
            run.rest(
                "DELETE",
                "team_typing_indicators",
                params={"conversation_id": f"in.({','.join(ids)})"},
            )
        deleted = run.rest("DELETE", "chat_conversations", params=marker)
        left = json_body(run.rest("GET", "chat_conversations", params={"select": "id", **marker}))
    except httpx.TransportError as exc:
        run.add(
            "write.cleanup",
            "FAIL",
            f"could not delete the {prefix}* rows ({transport_reason(exc)})",
        )
        return
    run.judge(
        "write.cleanup",
        deleted.status_code in (200, 204) and left == [],
        f"deleted {len(ids)} {VERIFY_PREFIX}* conversations and their rows",
        f"delete got {describe(deleted)}; remove conversations with visitor_id like "
        f"'{prefix}%' by hand",
    )
