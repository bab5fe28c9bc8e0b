"""The wrk runner: one load case is one wrk run, with the functions server's CPU and memory
sampled around it (from /proc) and the load generator's own CPU share.

wrk reports through a Lua `done` hook that prints one `BENCH {...}` JSON line.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from toolkit import stack
from toolkit.config import Target
from toolkit.errors import ToolkitError
from toolkit.load import procstat
from toolkit.protocol import CONTENT_TYPE, api_key_headers

__all__ = ["Case", "Progress", "WrkRunner"]

Progress = Callable[[str], None]


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


class WrkRunner:
    """Runs wrk cases and samples the functions server's CPU and memory around them."""

    def __init__(
        self, state: stack.StackState, env: dict[str, str], duration: int, progress: Progress
    ) -> None:
        self._state = state
        # The widget's key: publishable (in `apikey` only), else the legacy anon JWT.
        self._visitor = api_key_headers(Target.from_env(env).visitor_key)
        self._duration = duration
        self._progress = progress
        self._server = state.pids["functions"]
        self.max_rss_mb = 0.0

    def get(self, name: str, base: str, paths: list[str], key: str, c: int) -> Case:
        lua = [
            f"local paths = {{{', '.join(_lua_string(p) for p in paths)}}}",
            *_lua_headers(api_key_headers(key)),
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
            f'wrk.headers[{_lua_string(CONTENT_TYPE)}] = "application/json"',
            *_lua_headers(self._visitor),
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
                        **self._visitor,
                        CONTENT_TYPE: "application/json",
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
        lines = path.read_text().splitlines() if path.exists() else []
        # The functions' periodic request-count batches are no part of any one call.
        new = sum(1 for line in lines if "/chat_function_requests " not in line)
        if new == count:
            return count
        count = new
        time.sleep(0.1)
    return count


def _lua_headers(headers: dict[str, str]) -> list[str]:
    return [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
