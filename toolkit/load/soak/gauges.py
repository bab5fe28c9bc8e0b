"""The soak's gauges: figures besides the requests, that tell a slow server from a busy load
generator (the functions server's memory, CPU and own timings; this process's CPU and loop lag).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from pathlib import Path
from typing import Any

import orjson

from toolkit.load import procstat
from toolkit.load.soak.accounting import percentile, rounded
from toolkit.load.soak.wire import ENDPOINTS

__all__ = ["Gauges"]


class Gauges:
    """The functions server's memory, CPU and own timings (when it runs on this machine), this
    process's CPU, and how late its event loop ran.

    Memory is the sum of VmRSS over the server's process tree (the server and its workers).
    A busy load generator inflates every latency it measures; the loop lag and the server's
    own timings tell that apart from a slow server.
    """

    def __init__(self, pid: int | None, server_log: Path | None) -> None:
        self._pid = pid
        self._log = server_log
        self._log_offset = _size(server_log)
        self._wall = time.monotonic()
        self._own = _own_cpu()
        self._server = procstat.cpu_seconds(pid) if pid is not None else 0.0
        self.lag_ms: list[float] = []
        self.rss: list[float] = []
        self.figures: dict[str, Any] = {}

    def sample(self) -> None:
        if self._pid is not None:
            self.rss.append(round(sum(procstat.rss_mb(self._pid).values()), 1))

    async def watch_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.05)
            self.lag_ms.append((time.perf_counter() - started - 0.05) * 1000)

    def end_of_load(self) -> None:
        """Freeze the timed phase's CPU shares and the server's own timings."""
        wall = time.monotonic() - self._wall
        server = None
        if self._pid is not None:
            server = round((procstat.cpu_seconds(self._pid) - self._server) * 100 / wall, 1)
        self.figures = {
            "cpu_percent": {
                "load_generator": round((_own_cpu() - self._own) * 100 / wall, 1),
                "functions_server": server,
                "cores": os.cpu_count() or 1,
                "load_average_1m": round(os.getloadavg()[0], 2),
            },
            "loop_lag_ms": {
                "p99": rounded(percentile(self.lag_ms, 99)),
                "max": rounded(max(self.lag_ms, default=None)),
            },
            "server_ms": self._server_timings(),
        }

    def _server_timings(self) -> dict[str, dict[str, float | None]] | None:
        """Percentiles of the functions' own request log lines written during the load."""
        if self._log is None:
            return None
        timings: dict[str, list[float]] = {}
        with contextlib.suppress(OSError), open(self._log, "rb") as log:
            log.seek(self._log_offset)
            for line in log:
                with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                    entry = orjson.loads(line)
                    name = ENDPOINTS.get(entry["fn"], "other")
                    timings.setdefault(name, []).append(float(entry["ms"]))
        return {
            name: {f"p{p}": rounded(percentile(values, p)) for p in (50, 99)}
            for name, values in sorted(timings.items())
        }


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
