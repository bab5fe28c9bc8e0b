"""The bench's closing table (each figure beside its target, met or missed) and its plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError
from toolkit.protocol import CHAT_VISITOR_SYNC

__all__ = ["format_table", "plot"]


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
        *_scale_rows(report),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'figure':<{width}}  {'value':>12}  {'target':<22} result"]
    for label, value, target, met in rows:
        lines.append(f"{label:<{width}}  {value!s:>12}  {target:<22} {_verdict(met)}")
    return "\n".join(lines)


def _verdict(met: bool | None) -> str:
    return "-" if met is None else "met" if met else "MISSED"


def _scale_rows(report: dict[str, Any]) -> list[tuple[str, Any, str, bool | None]]:
    """Issue 14's targets: delivery, idle cost, full sync of 20,000 messages, the stall."""
    visitors = report["delivery_visitors"]
    longpoll, poll = report["delivery_ms"]["longpoll"], report["delivery_ms"]["poll"]
    idle = report["idle_requests_per_visitor_minute"]
    full, stall = report["full_sync_20k"], report["stall"]
    enough = visitors >= 1000

    def at_most(value: float | None, limit: float) -> bool:
        return value is not None and value <= limit

    return [
        (
            f"long-poll delivery p50 ms ({visitors} visitors)",
            longpoll["p50"],
            "<= 50, >= 1,000 vis.",
            enough and at_most(longpoll["p50"], 50),
        ),
        (
            f"long-poll delivery p99 ms ({visitors} visitors)",
            longpoll["p99"],
            "<= 250, >= 1,000 vis.",
            enough and at_most(longpoll["p99"], 250),
        ),
        ("polling delivery p50 / p99 ms", f"{poll['p50']} / {poll['p99']}", "for comparison", None),
        (
            "idle long-poll requests/visitor/min",
            idle["longpoll"],
            f"<= 3 (polling {idle['poll']})",
            at_most(idle["longpoll"], 3),
        ),
        (
            "full sync of 20,000 messages (bytes)",
            full["bytes"],
            "<= 262,144",
            full["bytes"] <= 256 * 1024,
        ),
        (
            "full / incremental sync p50 (20,000)",
            full["p50_ratio"],
            "<= 2",
            at_most(full["p50_ratio"], 2),
        ),
        (
            f"max messages per sync, held transaction ({stall['new_messages']} new)",
            stall["max_messages_per_sync"],
            "<= 2",
            stall["max_messages_per_sync"] <= 2,
        ),
    ]


def plot(report: dict[str, Any], path: Path) -> None:
    """PNG of throughput and p99 against concurrency (raw PostgREST beside sync), and of
    delivery latency by polling and by long-poll."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ToolkitError("--plot needs matplotlib: .venv/bin/pip install matplotlib") from None
    fig, (left, right, delivery) = plt.subplots(1, 3, figsize=(15, 4))
    for name, label in (
        ("raw_direct", "PostgREST direct"),
        ("raw_gateway", "PostgREST via gateway"),
        ("sync", CHAT_VISITOR_SYNC),
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
    modes = report["delivery_ms"]
    for offset, percentile in ((-0.2, "p50"), (0.2, "p99")):
        delivery.bar(
            [i + offset for i in range(len(modes))],
            [modes[m][percentile] or 0 for m in modes],
            width=0.4,
            label=percentile,
        )
    delivery.set_xticks(range(len(modes)), [f"{m} ({report['delivery_visitors']})" for m in modes])
    delivery.set(title="Team message to visitor", ylabel="ms")
    for axis in (left, right, delivery):
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
