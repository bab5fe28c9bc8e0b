"""`chat-toolkit bench` in smoke mode: it runs on its own stack and prints its full table.

Timings are never asserted here (benchmarks print figures; see README, Performance).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded

KEYS = {
    "sync_rps",
    "raw_gateway_rps",
    "sync_vs_raw_ratio",
    "rest_requests_per_sync",
    "rest_requests_per_message",
    "history_p50_ratio_10k_vs_10",
    "server_rss_mb_max",
    "sustained_visitors",
    "delivery_visitors",
    "delivery_ms",
    "idle_requests_per_visitor_minute",
    "full_sync_20k",
    "stall",
}


def test_bench_smoke_prints_the_table_and_writes_every_figure(tmp_path: Path) -> None:
    """A 1-second-per-case run exits 0, prints every target row and writes the JSON keys."""
    figures = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            "bench",
            "--duration",
            "1",
            "--concurrency",
            "4",
            "--delivery-visitors",
            "20",
            "--json",
            str(figures),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for row in (
        "REST requests per steady-state sync",
        "sync / raw PostgREST via gateway",
        "incremental p50 at 10k / at 10 messages",
        "functions RSS per worker",
        "2 s-polling visitors at p99 < 250 ms",
        "long-poll delivery p50 ms (20 visitors)",
        "idle long-poll requests/visitor/min",
        "full sync of 20,000 messages (bytes)",
        "max messages per sync, held transaction (40 new)",
    ):
        assert row in result.stdout
    report = json.loads(figures.read_text())
    assert set(report) >= KEYS
    assert report["rest_requests_per_sync"] == 1.0
    assert set(report["delivery_ms"]) == {"poll", "longpoll"}
    assert report["delivery"]["longpoll"]["delivered"] == report["delivery"]["longpoll"]["written"]
    assert report["full_sync_20k"]["messages"] == 100
    assert report["stall"] == {"new_messages": 40, "max_messages_per_sync": 1}
    assert {c["name"] for c in report["cases"]} >= {"raw_direct", "raw_gateway", "sync", "message"}
