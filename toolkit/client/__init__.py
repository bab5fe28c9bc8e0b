"""The visitor side: what a website visitor's browser does, as a Python library and a terminal.

visitor   VisitorClient: send through handle-chat-message, keep up with chat-visitor-sync
          (long-poll), load older history, resume and drop sessions as the widget does
answers   reading the functions' answers: merging by id, typed fields, error mapping
session   the stored session (`tradeitm_chat_session_v1`) and visitor id, mode 0600
retry     jittered backoff and Retry-After parsing
terminal  `chat-toolkit chat`: the client in a terminal
"""

from toolkit.client.retry import MIN_DELAY, backoff_delay, parse_retry_after
from toolkit.client.session import SESSION_KEY, VISITOR_KEY, Session, SessionStore
from toolkit.client.visitor import Sent, Update, VisitorClient, merge_messages

__all__ = [
    "MIN_DELAY",
    "SESSION_KEY",
    "VISITOR_KEY",
    "Sent",
    "Session",
    "SessionStore",
    "Update",
    "VisitorClient",
    "backoff_delay",
    "merge_messages",
    "parse_retry_after",
]
