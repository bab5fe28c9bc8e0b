"""The widget's stored session: `tradeitm_chat_session_v1` and the visitor id, kept in a JSON
file that stands in for the browser's localStorage."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import ConfigError

__all__ = ["SESSION_KEY", "VISITOR_KEY", "Session", "SessionStore"]

SESSION_KEY = "tradeitm_chat_session_v1"
VISITOR_KEY = "tradeitm_chat_visitor_id"


@dataclass(frozen=True)
class Session:
    """The widget's stored session; `token` is None for a pre-cutover (legacy) session."""

    conversation_id: str
    token: str | None = None

    def __repr__(self) -> str:  # the token is a secret: keep it out of logs and tracebacks
        token = "'***'" if self.token else "None"
        return f"Session(conversation_id={self.conversation_id!r}, token={token})"


class SessionStore:
    """A JSON file standing in for the widget's localStorage.

    `{"tradeitm_chat_session_v1": {"conversationId": ..., "conversationToken": ...},
    "tradeitm_chat_visitor_id": ...}`. Written atomically (temp file + rename) with mode
    0600, because it holds the conversation's secret.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> Session | None:
        raw = self._read().get(SESSION_KEY)
        # As the widget: a stored value of the wrong shape is no session at all.
        if not isinstance(raw, dict) or not isinstance(raw.get("conversationId"), str):
            return None
        token = raw.get("conversationToken")
        return Session(raw["conversationId"], token if isinstance(token, str) and token else None)

    def save(self, session: Session) -> None:
        value: dict[str, str] = {"conversationId": session.conversation_id}
        if session.token is not None:
            value["conversationToken"] = session.token
        self._write({**self._read(), SESSION_KEY: value})

    def clear(self) -> None:
        """Forget the conversation; the visitorId stays, as in the widget."""
        data = self._read()
        if SESSION_KEY in data:
            del data[SESSION_KEY]
            self._write(data)

    def visitor_id(self) -> str | None:
        value = self._read().get(VISITOR_KEY)
        return value if isinstance(value, str) and value else None

    def save_visitor_id(self, visitor_id: str) -> None:
        self._write({**self._read(), VISITOR_KEY: visitor_id})

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the chat session file {self.path}: {exc}") from exc
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            # Refuse rather than overwrite: the path may name some other file by mistake.
            raise ConfigError(f"{self.path} is not a chat session file (expected a JSON object)")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)  # mode 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, indent=2)
                    out.write("\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise ConfigError(f"cannot write the chat session file {self.path}: {exc}") from exc
