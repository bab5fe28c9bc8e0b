"""`chat-toolkit bench`: chat-visitor-sync measured against raw PostgREST, in one run, on one
embedded stack, with one load generator (wrk).

Benchmarks print figures; they are never test assertions. Every figure is set beside its
target in the final table, marked met or missed.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from toolkit import stack
from toolkit.errors import ToolkitError
from toolkit.load import procstat
from toolkit.tokens import hash_token

__all__ = ["BenchOptions", "format_table", "plot", "run_bench"]

Progress = Callable[[str], None]
HISTORY_SIZES = (10, 1_000, 10_000)
_CONVERSATIONS = 200
_RAW_SELECT = (
    "id,status,escalated_at,escalation_reason,updated_at,"
    "chat_messages(id,sender_type,sender_name,message_text,created_at),"
    "team_typing_indicators(user_name,is_typing,updated_at)"
)


@dataclass(frozen=True)
class BenchOptions:
    duration: int = 10
    concurrency: tuple[int, ...] = (8, 32, 64)
    workers: int = os.cpu_count() or 1


@dataclass
class Case:
    """One wrk run: throughput, latency percentiles, errors and where the CPU went."""

    name: str
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    server_cpu_ms_per_request: float | None
    loadgen_cpu_percent: float


@dataclass
class _Seed:
    bodies: list[str]  # one steady-state sync body per conversation
    message_bodies: list[str]
    raw_paths: list[str]  # the same reads, as one PostgREST GET each
    full_sync_body: str
    history_bodies: dict[int, str]


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
        run = _Runner(state, env, options.duration, progress)
        rest = f"http://127.0.0.1:{state.ports['rest']}"
        gateway = f"{state.api_url}/rest/v1"
        functions = env["SUPABASE_FUNCTIONS_URL"]
        service = env["SUPABASE_SERVICE_ROLE_KEY"]
        cases: list[Case] = []
        for c in options.concurrency:
            cases.append(run.get("raw_direct", rest, seed.raw_paths, service, c))
            cases.append(run.get("raw_gateway", gateway, seed.raw_paths, service, c))
            cases.append(run.post("sync", f"{functions}/chat-visitor-sync", seed.bodies, c))
        mid = options.concurrency[len(options.concurrency) // 2]
        cases.append(
            run.post("sync_full_1000", f"{functions}/chat-visitor-sync", [seed.full_sync_body], mid)
        )
        cases.append(
            run.post("message", f"{functions}/handle-chat-message", seed.message_bodies, mid)
        )
        for size in HISTORY_SIZES:
            cases.append(
                run.post(
                    f"history_{size}",
                    f"{functions}/chat-visitor-sync",
                    [seed.history_bodies[size]],
                    4,
                )
            )
        per_sync = run.rest_requests(f"{functions}/chat-visitor-sync", seed.bodies[0])
        per_message = run.rest_requests(f"{functions}/handle-chat-message", seed.message_bodies[0])
        report = _report(cases, per_sync, per_message, run.max_rss_mb, options)
        visitors = report["sustained_visitors"]
        if visitors:
            check = run.post(
                "sustained_check",
                f"{functions}/chat-visitor-sync",
                seed.bodies,
                min(visitors, 256),
                delay_ms=2000 * min(visitors, 256) / visitors,
            )
            cases.append(check)
            report["sustained_check"] = asdict(check)
        report["cases"] = [asdict(c) for c in cases]
        report["server_rss_mb_max"] = round(run.max_rss_mb, 1)
    return report


def _seed(state: stack.StackState, env: dict[str, str]) -> _Seed:
    tokens = {str(uuid.uuid4()): secrets.token_urlsafe(32) for _ in range(_CONVERSATIONS)}
    history = {size: (str(uuid.uuid4()), secrets.token_urlsafe(32)) for size in HISTORY_SIZES}
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
    cid, token = next(iter(tokens.items()))
    with httpx.Client(timeout=10) as http:
        response = http.post(
            f"{env['SUPABASE_FUNCTIONS_URL']}/chat-visitor-sync",
            json={"conversationId": cid, "conversationToken": token},
            headers={"Authorization": f"Bearer {env['SUPABASE_ANON_KEY']}"},
        )
        response.raise_for_status()
        cursor = response.json()["cursor"]

    def sync_body(c: str, t: str, since: str | None = cursor) -> str:
        body = {"conversationId": c, "conversationToken": t}
        return json.dumps(body | ({"since": since} if since else {}))

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
        full_sync_body=sync_body(full_cid, full_token, None),
        history_bodies={size: sync_body(c, t) for size, (c, t) in history.items()},
    )


class _Runner:
    """Runs wrk cases and samples the functions server's CPU and memory around them."""

    def __init__(
        self, state: stack.StackState, env: dict[str, str], duration: int, progress: Progress
    ) -> None:
        self._state = state
        self._anon = env["SUPABASE_ANON_KEY"]
        self._duration = duration
        self._progress = progress
        self._server = state.pids["functions"]
        self.max_rss_mb = 0.0

    def get(self, name: str, base: str, paths: list[str], key: str, c: int) -> Case:
        lua = [
            f"local paths = {{{', '.join(_lua_string(p) for p in paths)}}}",
            f'wrk.headers["apikey"] = {_lua_string(key)}',
            f'wrk.headers["Authorization"] = {_lua_string("Bearer " + key)}',
            "local i = 0",
            "request = function() i = i % #paths + 1 "
            "return wrk.format('GET', wrk.path:gsub('/$', '') .. paths[i]) end",
        ]
        return self._wrk(name, base, lua, c)

    def post(
        self, name: str, url: str, bodies: list[str], c: int, delay_ms: float | None = None
    ) -> Case:
        lua = [
            f"local bodies = {{{', '.join(_lua_string(b) for b in bodies)}}}",
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f'wrk.headers["Authorization"] = {_lua_string("Bearer " + self._anon)}',
            "local i = 0",
            "request = function() i = i % #bodies + 1 "
            "return wrk.format(nil, nil, nil, bodies[i]) end",
        ]
        if delay_ms is None:
            return self._wrk(name, url, lua, c)
        # Paced like real widgets: each connection waits between polls; long enough to settle.
        lua.append(f"delay = function() return {delay_ms:.0f} end")
        return self._wrk(name, url, lua, c, duration=max(self._duration, 10))

    def rest_requests(self, url: str, body: str, calls: int = 20) -> float:
        """REST requests per function call, counted in the gateway's /rest/v1 access log."""
        log = Path(self._state.directory) / "logs" / "rest_access.log"
        before = _lines(log)
        with httpx.Client(timeout=10) as http:
            for _ in range(calls):
                http.post(
                    url,
                    content=body,
                    headers={
                        "Authorization": f"Bearer {self._anon}",
                        "Content-Type": "application/json",
                    },
                )
        return (_lines(log) - before) / calls

    def _wrk(
        self, name: str, url: str, lua: list[str], c: int, duration: int | None = None
    ) -> Case:
        lua.append(_DONE)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write("\n".join(lua))
        cpu_before, child_before = procstat.cpu_seconds(self._server), _children_cpu()
        started = time.monotonic()
        result = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{c}",
                f"-d{duration or self._duration}s",
                "--timeout",
                "5s",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - started
        os.unlink(script.name)
        # The largest resident set among the server's processes: the figure is per worker.
        self.max_rss_mb = max(self.max_rss_mb, *procstat.rss_mb(self._server).values())
        line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH ")), None)
        if line is None:
            raise ToolkitError(f"wrk failed for {name}: {(result.stderr or result.stdout)[-300:]}")
        data = json.loads(line[6:])
        requests = max(int(data["requests"]), 1)
        server_cpu = procstat.cpu_seconds(self._server) - cpu_before
        case = Case(
            name=name,
            concurrency=c,
            requests=int(data["requests"]),
            rps=round(data["requests"] / (data["duration_us"] / 1e6), 1),
            p50_ms=data["p50"] / 1000,
            p95_ms=data["p95"] / 1000,
            p99_ms=data["p99"] / 1000,
            errors=int(data["errors"]) + int(data["status_errors"]),
            server_cpu_ms_per_request=(
                round(server_cpu * 1000 / requests, 3)
                if name not in ("raw_direct", "raw_gateway")
                else None
            ),
            loadgen_cpu_percent=round((_children_cpu() - child_before) * 100 / wall, 1),
        )
        self._progress(
            f"{name:<16} c={c:<4} {case.rps:>8.0f} req/s  p50 {case.p50_ms:6.1f} ms  "
            f"p99 {case.p99_ms:6.1f} ms  errors {case.errors}"
        )
        return case


_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"errors":%d,"status_errors":%d,'
    .. '"p50":%d,"p95":%d,"p99":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def _lines(path: Path) -> int:
    deadline = time.monotonic() + 2
    count = -1
    while time.monotonic() < deadline:  # nginx writes unbuffered; allow it a moment
        new = len(path.read_text().splitlines()) if path.exists() else 0
        if new == count:
            return count
        count = new
        time.sleep(0.1)
    return count


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


def format_table(report: dict[str, Any]) -> str:
    """The closing table: each figure beside its target, met or missed."""
    check = report.get("sustained_check") or {}
    rows = [
        (
            "REST requests per steady-state sync",
            report["rest_requests_per_sync"],
            "= 1",
            report["rest_requests_per_sync"] == 1,
        ),
        (
            "REST requests per message (existing conv.)",
            report["rest_requests_per_message"],
            "<= 3",
            report["rest_requests_per_message"] <= 3,
        ),
        (
            "sync / raw PostgREST via gateway (req/s)",
            report["sync_vs_raw_ratio"],
            ">= 0.6",
            report["sync_vs_raw_ratio"] >= 0.6,
        ),
        (
            "incremental p50 at 10k / at 10 messages",
            report["history_p50_ratio_10k_vs_10"],
            "<= 1.2",
            0 < report["history_p50_ratio_10k_vs_10"] <= 1.2,
        ),
        (
            "functions RSS per worker (MB)",
            report["server_rss_mb_max"],
            "< 150",
            report["server_rss_mb_max"] < 150,
        ),
        (
            "2 s-polling visitors at p99 < 250 ms",
            report["sustained_visitors"],
            f"checked: p99 {check.get('p99_ms', float('nan')):.0f} ms",
            bool(check) and check["p99_ms"] < 250 and check["errors"] == 0,
        ),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'figure':<{width}}  {'value':>10}  {'target':<20} result"]
    for label, value, target, met in rows:
        lines.append(f"{label:<{width}}  {value!s:>10}  {target:<20} {'met' if met else 'MISSED'}")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    """PNG of throughput and p99 against concurrency: raw PostgREST beside sync."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ToolkitError("--plot needs matplotlib: .venv/bin/pip install matplotlib") from None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, label in (
        ("raw_direct", "PostgREST direct"),
        ("raw_gateway", "PostgREST via gateway"),
        ("sync", "chat-visitor-sync"),
    ):
        points = sorted(
            (c["concurrency"], c["rps"], c["p99_ms"]) for c in report["cases"] if c["name"] == name
        )
        if points:
            xs = [p[0] for p in points]
            left.plot(xs, [p[1] for p in points], marker="o", label=label)
            right.plot(xs, [p[2] for p in points], marker="o", label=label)
    left.set(title="Throughput", xlabel="concurrent connections", ylabel="requests/s")
    right.set(title="p99 latency", xlabel="concurrent connections", ylabel="ms")
    for axis in (left, right):
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
