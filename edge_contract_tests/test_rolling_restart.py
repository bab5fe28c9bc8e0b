"""Rolling restarts: two functions servers behind the gateway (`stack up
--functions-instances 2`), restarted one after the other under a running soak, answer every
request with a 2xx and lose no message."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import psycopg
import pytest

from toolkit import stack
from toolkit.config import Target
from toolkit.load.soak import SoakOptions, format_summary
from toolkit.load.soak.simulation import soak
from toolkit.stack import testing

pytestmark = pytest.mark.embedded

SETTINGS = {"CHAT_RATE_LIMITS": "off"}


def _conversations(db_url: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("select count(*) from chat_conversations").fetchone()
        return int(row[0]) if row else 0


@pytest.mark.parametrize("wait", [0.0, 10.0], ids=["polling", "long-polling"])
def test_restarting_each_instance_under_a_soak_drops_nothing(wait: float) -> None:
    """30 visitors for 20 s through the gateway, polling or long-polling (syncs held up to
    `wait` s, answered on SIGTERM); once they are writing, `functions` and then `functions-2`
    each get SIGTERM and start again. Every answer is 2xx, nothing is lost, duplicated or
    leaked, and both instances served requests before and after."""
    with stack.temporary(functions_instances=2, functions_env=SETTINGS) as state:
        assert sorted(p for p in state.pids if p.startswith("functions")) == [
            "functions",
            "functions-2",
        ]
        target = Target.from_env(state.env())
        options = SoakOptions(
            visitors=30, duration=20, interval=1.0, message_every=5, seed=11, wait=wait
        )
        report: dict[str, Any] = {}
        failure: list[BaseException] = []

        def run() -> None:
            try:
                report.update(asyncio.run(soak(target, options)))
            except BaseException as exc:  # re-raised below, in the test's thread
                failure.append(exc)

        soaking = threading.Thread(target=run)
        soaking.start()
        seeded = _conversations(state.db_url)
        while _conversations(state.db_url) < seeded + 10 and soaking.is_alive():
            time.sleep(0.2)  # sequencing only: restart once visitors are writing
        restarted = []
        for part in ("functions", "functions-2"):
            old = state.pids[part]
            testing.restart_functions(state, part, SETTINGS)
            restarted.append(state.pids[part] != old)
        soaking.join()
    assert not failure, failure
    print(format_summary(report))
    assert restarted == [True, True]
    assert report["requests"] > 0
    assert (report["errors_by_status"], report["errors_network"]) == ({}, 0)
    assert (report["lost"], report["duplicated"], report["leaked"]) == (0, 0, 0)
    assert (report["acked_missing"], report["unsynced"], report["unstarted"]) == (0, 0, 0)
