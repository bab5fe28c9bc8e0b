"""The embedded stack: PostgreSQL 15, PostgREST 12, the functions server and an nginx gateway
with Supabase's URL layout, in one folder on loopback ports.

    lifecycle  up / down / status / temporary / the foreground wait
    state      StackState: state.json and the env file (mode 0600)
    parts      PostgreSQL (and the schema), PostgREST, the functions server: binaries,
               configuration, start
    gateway    the nginx configuration and start
    processes  launching and recording parts, readiness, stopping, log tails, port choice
    probes     what an anon and a service-role read of the chat tables answer
    command    `chat-toolkit stack up | down | status | env`: flags and what each prints
    testing    fault injection used only by the tests (kill or restart a part)
"""

from toolkit.stack.lifecycle import (
    PARTS,
    StackOptions,
    down,
    log_tails,
    status,
    temporary,
    up,
    wait_foreground,
)
from toolkit.stack.state import KEY_MODES, StackState, read_state

__all__ = [
    "KEY_MODES",
    "PARTS",
    "StackOptions",
    "StackState",
    "down",
    "log_tails",
    "read_state",
    "status",
    "temporary",
    "up",
    "wait_foreground",
]
