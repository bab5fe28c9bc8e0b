"""Reading the functions' answers on the visitor side (pure: no I/O): merging messages,
typed fields, and the FunctionError for an error answer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx

from toolkit.errors import FUNCTION_ERRORS_BY_CODE, FunctionError, UpstreamUnavailable
from toolkit.protocol import RETRY_AFTER

__all__ = ["Message", "error_for", "field_of", "merge_messages", "text_of"]

Message = dict[str, Any]


def merge_messages(existing: Iterable[Message], incoming: Iterable[Message]) -> list[Message]:
    """Both lists deduplicated by `id` (the later copy wins), ordered by (createdAt, id)."""
    by_id = {m["id"]: m for m in existing}
    by_id.update((m["id"], m) for m in incoming)
    return sorted(by_id.values(), key=lambda m: (_instant(m.get("createdAt")), str(m["id"])))


def _instant(value: Any) -> datetime:
    # Timestamps are compared as instants, not as text: offsets and precision may differ.
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def error_for(
    name: str, status: int, answer: Any, headers: httpx.Headers | dict[str, str]
) -> FunctionError:
    """The FunctionError for a non-200 answer, chosen by its `code` (else by its status)."""
    answer = answer if isinstance(answer, dict) else {}
    code = answer.get("code") if isinstance(answer.get("code"), str) else None
    message = answer.get("error") if isinstance(answer.get("error"), str) else None
    cls = FUNCTION_ERRORS_BY_CODE.get(code or "")
    if cls is None:
        by_status = [c for c in FUNCTION_ERRORS_BY_CODE.values() if c.status == status]
        cls = by_status[0] if len(by_status) == 1 else None
    if cls is None and (status >= 500 or status == 200):
        cls = UpstreamUnavailable
    extra = {RETRY_AFTER: headers[RETRY_AFTER]} if RETRY_AFTER in headers else {}
    text = message or f"{name} answered HTTP {status}"
    if cls is None:
        error = FunctionError(text, headers=extra)
        error.status, error.code = status, code or "unexpected_status"
        return error
    return cls(text, headers=extra)


def text_of(answer: dict[str, Any], name: str) -> str | None:
    value = answer.get(name)
    return value if isinstance(value, str) and value else None


def field_of(answer: dict[str, Any], name: str, kind: type) -> Any:
    value = answer.get(name)
    if not isinstance(value, kind):
        raise UpstreamUnavailable(f"the chat function's answer has no valid {name}")
    return value
