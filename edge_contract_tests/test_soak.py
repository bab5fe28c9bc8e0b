"""The soak (issue 5): a short run on its own embedded stack keeps every invariant. The account
that judges it, and the command's exit codes, are tested without a stack in
tests/test_soak_account.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded

REPO = Path(__file__).resolve().parent.parent
REQUIRED_KEYS = (  # the JSON report's keys that issue 5 names
    "requests",
    "errors_5xx",
    "lost",
    "duplicated",
    "leaked",
    "p99_ms_sync",
    "p99_ms_message",
    "rss_mb_start",
    "rss_mb_end",
)


def test_short_soak_loses_duplicates_and_leaks_nothing(tmp_path: Path) -> None:
    """scripts/soak.py, 50 visitors for 10 s on its own embedded stack: every visitor opens a
    conversation and ends having seen every visible message, with no 5xx at all."""
    out = tmp_path / "soak.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
    script = [sys.executable, str(REPO / "scripts" / "soak.py"), "--embedded", "--seed", "5"]
    result = subprocess.run(
        [*script, "--visitors", "50", "--duration", "10", "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "soak: a throwaway embedded stack"
    report = json.loads(out.read_text())
    assert set(REQUIRED_KEYS) <= set(report)
    assert (report["lost"], report["duplicated"], report["leaked"]) == (0, 0, 0)
    assert (report["errors_5xx"], report["errors_network"], report["errors_by_status"]) == (
        0,
        0,
        {},
    )
    assert (report["internal_seen"], report["acked_missing"], report["resets"]) == (0, 0, 0)
    assert (report["conversations"], report["unstarted"], report["unsynced"]) == (50, 0, 0)
    assert report["messages_seen"] == report["messages_visible"]
    assert report["written_by_sender"]["visitor"] == report["written_by_sender"]["ai"]
    assert report["written_by_sender"]["visitor"] >= 50
    assert report["requests"] == sum(report["requests_by_endpoint"].values())
    assert report["p99_ms_sync"] is not None and report["p99_ms_message"] is not None
    assert report["rss_mb_start"] > 0 and report["rss_mb_end"] > 0
    assert report["violations"] == {} and report["ok"] is True
    assert result.stdout.strip().splitlines()[-2] == "result     PASS: every invariant holds"
