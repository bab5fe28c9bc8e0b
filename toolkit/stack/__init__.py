"""The embedded stack: PostgreSQL 15, PostgREST 12, the functions server and an nginx gateway
with Supabase's URL layout, in one folder on loopback ports.

    lifecycle  up / down / status, the stack's state and env file
    probes     what an anon and a service-role read of the chat tables answer
"""

from toolkit.stack.lifecycle import (
    StackOptions,
    StackState,
    down,
    free_port,
    kill_part,
    read_state,
    restart_postgrest,
    serve_functions,
    status,
    stop_functions,
    temporary,
    up,
    wait_foreground,
)

__all__ = [
    "StackOptions",
    "StackState",
    "down",
    "free_port",
    "kill_part",
    "read_state",
    "restart_postgrest",
    "serve_functions",
    "status",
    "stop_functions",
    "temporary",
    "up",
    "wait_foreground",
]
