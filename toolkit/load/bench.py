"""`chat-toolkit bench`: chat-visitor-sync measured against raw PostgREST, in one run, on one
embedded stack, with one load generator (wrk), then sync at scale: a 20,000-message
conversation, a stalled transaction, and delivery to many visitors by poll and long-poll.

Benchmarks print figures; they are never test assertions. Every figure is set beside its
target in the final table (toolkit/load/figures.py), marked met or missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from toolkit import stack
from toolkit.client.visitor import DEFAULT_WAIT
from toolkit.config import Target
from toolkit.errors import ToolkitError, UsageError
from toolkit.load import scale
from toolkit.load.figures import format_table, plot
from toolkit.load.wrk import Case, Progress, WrkRunner
from toolkit.protocol import (
    CHAT_VISITOR_SYNC,
    CONTENT_TYPE,
    HANDLE_CHAT_MESSAGE,
    REST_PATH,
    api_key_headers,
)
from toolkit.tokens import hash_token

__all__ = ["BenchOptions", "command", "format_table", "plot", "run_bench"]

HISTORY_SIZES = (10, 1_000, 10_000)
LONG_HISTORY = 20_000
_CONVERSATIONS = 200
_MODES = ("poll", "longpoll")  # as the report lists them
_RAW_SELECT = (
    "id,status,escalated_at,escalation_reason,updated_at,"
    "chat_messages(id,sender_type,sender_name,message_text,created_at),"
    "team_typing_indicators(user_name,is_typing,updated_at)"
)


@dataclass(frozen=True)
class BenchOptions:
    """`duration` seconds per wrk case (the delivery window is three times that);
    `delivery_visitors` visitors connected at once while deliveries are timed."""

    duration: int = 10
    concurrency: tuple[int, ...] = (8, 32, 64)
    workers: int = os.cpu_count() or 1
    delivery_visitors: int = 1000


@dataclass
class _Seed:
    bodies: list[str]  # one steady-state sync body per conversation, with its own cursor
    message_bodies: list[str]
    raw_paths: list[str]  # the same reads, as one PostgREST GET each
    full_sync_body: str
    history_bodies: dict[int, str]  # incremental, by history length
    long_full_body: str  # LONG_HISTORY messages, no cursor


def command(args: argparse.Namespace, say: Progress) -> int:
    """`chat-toolkit bench` from its parsed flags: run, print the table, write JSON and plot."""
    try:
        concurrency = tuple(int(c) for c in args.concurrency.split(","))
    except ValueError:
        raise UsageError("--concurrency takes numbers separated by commas, e.g. 8,32,64") from None
    if args.duration < 1 or min(concurrency) < 1:
        raise UsageError("--duration and --concurrency must be at least 1")
    if args.delivery_visitors < 1:
        raise UsageError("--delivery-visitors must be at least 1")
    options = BenchOptions(
        duration=args.duration,
        concurrency=concurrency,
        workers=args.workers or BenchOptions().workers,
        delivery_visitors=args.delivery_visitors,
    )
    say("bench: a throwaway embedded stack")
    report = run_bench(options, progress=say)
    say("")
    say(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        say(f"figures written to {args.json}")
    if args.plot:
        plot(report, Path(args.plot))
        say(f"plot written to {args.plot}")
    return 0


def run_bench(options: BenchOptions, progress: Progress) -> dict[str, Any]:
    """Bring up a stack, seed it, run every case and return the report (all figures)."""
    if not Path("/usr/bin/wrk").is_file():
        raise ToolkitError("wrk not found; install the Debian package wrk (./scripts/setup.sh)")
    with stack.temporary(
        functions_env={"CHAT_RESPONDER": "none", "CHAT_RATE_LIMITS": "off"},
        functions_workers=options.workers,
    ) as state:
        env = state.env()
        progress(f"stack up; functions server with {options.workers} worker(s)")
        seed = _seed(state, env)
        progress(f"seeded {_CONVERSATIONS} conversations and histories of {HISTORY_SIZES}")
        run = WrkRunner(state, env, options.duration, progress)
        rest = f"http://127.0.0.1:{state.ports['rest']}"
        gateway = f"{state.api_url}{REST_PATH}"
        functions = env["SUPABASE_FUNCTIONS_URL"]
        sync = f"{functions}/{CHAT_VISITOR_SYNC}"
        message = f"{functions}/{HANDLE_CHAT_MESSAGE}"
        # Through the gateway with the key the functions use (secret, else service_role);
        # direct to PostgREST with the JWT the gateway would put in its place.
        server_key = Target.from_env(env).server_key
        direct = state.signing_key().mint_role_key("service_role") if state.new else server_key
        cases: list[Case] = []
        for c in options.concurrency:
            cases.append(run.get("raw_direct", rest, seed.raw_paths, direct, c))
            cases.append(run.get("raw_gateway", gateway, seed.raw_paths, server_key, c))
            cases.append(run.post("sync", sync, seed.bodies, c))
        mid = options.concurrency[len(options.concurrency) // 2]
        cases.append(run.post("sync_full_1000", sync, [seed.full_sync_body], mid))
        cases.append(run.post("message", message, seed.message_bodies, mid))
        for size in (*HISTORY_SIZES, LONG_HISTORY):
            cases.append(run.post(f"history_{size}", sync, [seed.history_bodies[size]], 4))
        cases.append(run.post("full_20000", sync, [seed.long_full_body], 4))
        per_sync = run.rest_requests(sync, seed.bodies[0])
        per_message = run.rest_requests(message, seed.message_bodies[0])
        report = _report(cases, per_sync, per_message, run.max_rss_mb, options)
        visitors = report["sustained_visitors"]
        if visitors:
            check = run.post(
                "sustained_check",
                sync,
                seed.bodies,
                min(visitors, 256),
                delay_ms=2000 * min(visitors, 256) / visitors,
            )
            cases.append(check)
            report["sustained_check"] = asdict(check)
        report["full_sync_20k"] = _full_sync(functions, env, seed.long_full_body, cases)
        report["stall"] = scale.measure_stall(
            state.db_url, functions, Target.from_env(env).visitor_key
        )
        progress(f"stall: {report['stall']}")
        report.update(asyncio.run(_delivery(state, env, options, progress)))
        report["cases"] = [asdict(c) for c in cases]
        report["server_rss_mb_max"] = round(run.max_rss_mb, 1)
    return report


def _full_sync(functions: str, env: dict[str, str], body: str, cases: list[Case]) -> dict[str, Any]:
    """One full sync of the LONG_HISTORY conversation: messages and bytes answered, and its
    p50 beside the incremental sync's of the same conversation."""
    with httpx.Client(timeout=30) as http:
        response = http.post(
            f"{functions}/{CHAT_VISITOR_SYNC}",
            content=body,
            headers={
                **api_key_headers(Target.from_env(env).visitor_key),
                CONTENT_TYPE: "application/json",
            },
        )
        response.raise_for_status()
    full = next(c for c in cases if c.name == "full_20000")
    incremental = next(c for c in cases if c.name == f"history_{LONG_HISTORY}")
    return {
        "messages": len(response.json()["messages"]),
        "bytes": len(response.content),
        "p50_ms": full.p50_ms,
        "incremental_p50_ms": incremental.p50_ms,
        "p50_ratio": round(full.p50_ms / incremental.p50_ms, 2) if incremental.p50_ms else None,
    }


async def _delivery(
    state: stack.StackState, env: dict[str, str], options: BenchOptions, progress: Progress
) -> dict[str, Any]:
    """Delivery latency and idle request rates, polling and long-polling, side by side."""
    functions, visitor_key = env["SUPABASE_FUNCTIONS_URL"], Target.from_env(env).visitor_key
    visitors = await scale.seed_visitors(
        state.db_url, functions, visitor_key, options.delivery_visitors
    )
    wait = min(DEFAULT_WAIT, 2.5 * options.duration)  # the client's long-poll; short in smoke
    window = 3.0 * options.duration
    progress(f"delivery: {len(visitors)} visitors; {window:g} s of team messages, 10 a second")
    results = {}
    # Long-poll first: polling this many visitors can overload the server, and what it
    # leaves queued must not count against long-poll.
    for mode, mode_wait in (("longpoll", wait), ("poll", 0.0)):
        run = await scale.measure_delivery(
            visitors,
            functions_url=functions,
            visitor_key=visitor_key,
            db_url=state.db_url,
            mode=mode,
            wait=mode_wait,
            interval=2.0,
            window=window,
            every=0.1,
        )
        results[mode] = run.summary()
        progress(f"delivery {mode:<8} {results[mode]}")
    return {
        "delivery_visitors": len(visitors),
        "longpoll_wait_s": wait,
        "delivery_ms": {m: {"p50": results[m]["p50"], "p99": results[m]["p99"]} for m in _MODES},
        "idle_requests_per_visitor_minute": {
            m: results[m]["idle_requests_per_visitor_minute"] for m in _MODES
        },
        "delivery": results,
    }


def _seed(state: stack.StackState, env: dict[str, str]) -> _Seed:
    tokens = {str(uuid.uuid4()): secrets.token_urlsafe(32) for _ in range(_CONVERSATIONS)}
    history = {
        size: (str(uuid.uuid4()), secrets.token_urlsafe(32))
        for size in (*HISTORY_SIZES, LONG_HISTORY)
    }
    everything = {**tokens, **dict(history.values())}
    with psycopg.connect(state.db_url, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "insert into chat_conversations (id, visitor_id, access_token_hash) "
                "values (%s, %s, %s)",
                [(cid, f"bench-{cid}", hash_token(t)) for cid, t in everything.items()],
            )
        conn.execute(
            "insert into chat_messages (conversation_id, sender_type, message_text, created_at) "
            "select c, 'visitor', 'message ' || g, now() - make_interval(secs => 20 - g) "
            "from unnest(%s::uuid[]) c, generate_series(1, 10) g",
            (list(tokens),),
        )
        for size, (cid, _token) in history.items():
            conn.execute(
                "insert into chat_messages (conversation_id, sender_type, message_text, "
                "created_at) select %s, 'visitor', 'message ' || g, "
                "now() - make_interval(secs => %s - g) from generate_series(1, %s) g",
                (cid, size + 10, size),
            )
        conn.execute("vacuum analyze")
        snapshot = conn.execute("select pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()
        assert snapshot is not None
        xmin = int(snapshot[0])
    # A cursor is sealed for its own conversation: each steady-state body gets its own.
    cursors = {}
    visitor_key = Target.from_env(env).visitor_key
    with httpx.Client(timeout=30) as http:
        for cid, token in everything.items():
            response = http.post(
                f"{env['SUPABASE_FUNCTIONS_URL']}/{CHAT_VISITOR_SYNC}",
                json={"conversationId": cid, "conversationToken": token},
                headers=api_key_headers(visitor_key),
            )
            response.raise_for_status()
            cursors[cid] = response.json()["cursor"]

    def sync_body(c: str, t: str, incremental: bool = True) -> str:
        body = {"conversationId": c, "conversationToken": t}
        return json.dumps(body | ({"since": cursors[c]} if incremental else {}))

    full_cid, full_token = history[1_000]
    return _Seed(
        bodies=[sync_body(c, t) for c, t in tokens.items()],
        message_bodies=[
            json.dumps(
                {
                    "visitorId": f"bench-{c}",
                    "conversationId": c,
                    "conversationToken": t,
                    "message": "bench message",
                }
            )
            for c, t in tokens.items()
        ],
        raw_paths=[
            f"/chat_conversations?id=eq.{c}&select={_RAW_SELECT}"
            f"&chat_messages.sync_xid=gte.{xmin}&chat_messages.is_internal=is.false"
            for c in tokens
        ],
        full_sync_body=sync_body(full_cid, full_token, incremental=False),
        history_bodies={size: sync_body(c, t) for size, (c, t) in history.items()},
        long_full_body=sync_body(*history[LONG_HISTORY], incremental=False),
    )


def _best(cases: list[Case], name: str) -> Case | None:
    matching = [c for c in cases if c.name == name]
    return max(matching, key=lambda c: c.rps) if matching else None


def _report(
    cases: list[Case], per_sync: float, per_message: float, rss: float, options: BenchOptions
) -> dict[str, Any]:
    sync, raw = _best(cases, "sync"), _best(cases, "raw_gateway")
    history = {c.name: c for c in cases if c.name.startswith("history_")}
    small, large = history.get("history_10"), history.get("history_10000")
    under_slo = [c for c in cases if c.name == "sync" and c.p99_ms < 250 and c.errors == 0]
    capacity = max((c.rps for c in under_slo), default=0.0)
    return {
        "duration_s": options.duration,
        "workers": options.workers,
        "sync_rps": sync.rps if sync else 0.0,
        "raw_gateway_rps": raw.rps if raw else 0.0,
        "sync_vs_raw_ratio": round(sync.rps / raw.rps, 3) if sync and raw and raw.rps else 0.0,
        "rest_requests_per_sync": round(per_sync, 2),
        "rest_requests_per_message": round(per_message, 2),
        "history_p50_ratio_10k_vs_10": (
            round(large.p50_ms / small.p50_ms, 3) if small and large and small.p50_ms else 0.0
        ),
        "server_rss_mb_max": round(rss, 1),
        # Each open widget polls every 2 s; keep 30 % headroom under the measured capacity.
        "sustained_visitors": int(capacity * 2 * 0.7),
    }
