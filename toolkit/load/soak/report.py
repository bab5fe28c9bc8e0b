"""The soak's report: every figure of a run as a JSON-ready dict, the invariants that decide
pass or fail, and the summary a person reads."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from toolkit.load.soak.accounting import Accounting, View, percentile, rounded

if TYPE_CHECKING:
    from toolkit.load.soak.gauges import Gauges
    from toolkit.load.soak.model import Run, Visitor
    from toolkit.load.soak.wire import Wire

__all__ = ["INVARIANTS", "build_report", "format_summary"]

INVARIANTS = (
    "lost",
    "duplicated",
    "leaked",
    "internal_seen",
    "acked_missing",
    "resets",
    "unstarted",
    "unsynced",
    "crashed",
    "errors_5xx",
    "errors_network",
)
"""Report keys that must all be 0 for a soak to pass."""


def build_report(
    run: Run,
    visitors: list[Visitor],
    wire: Wire,
    accounting: Accounting,
    gauges: Gauges,
    views: list[View | None],
    unsynced: int,
    crashed: list[str],
) -> dict[str, Any]:
    """Every figure of the run; `ok` when no invariant is broken (`violations` names those)."""
    options = run.options
    latency = {
        endpoint: {
            "count": len(values),
            **{f"p{p}": rounded(percentile(values, p)) for p in (50, 95, 99)},
            "max": rounded(max(values, default=None)),
        }
        for endpoint, values in wire.latency_ms.items()
    }
    errors = wire.failures()
    seen = accounting.seen_per_visitor
    sends: Counter[str] = Counter()
    for v in visitors:
        sends.update(v.sends)
    report: dict[str, Any] = {
        "visitors": options.visitors,
        "duration_s": options.duration,
        "interval_s": options.interval,
        "wait_s": options.wait,
        "requests": wire.requests(),
        "requests_by_endpoint": dict(sorted(wire.calls.items())),
        "errors_by_status": errors,
        "error_codes": dict(sorted(wire.codes.items())),
        "errors_5xx": sum(n for k, n in errors.items() if k.isdigit() and int(k) >= 500),
        "errors_network": sum(n for k, n in errors.items() if not k.isdigit()),
        "latency_ms": latency,
        "p50_ms_sync": latency["sync"]["p50"],
        "p99_ms_sync": latency["sync"]["p99"],
        "p50_ms_message": latency["message"]["p50"],
        "p99_ms_message": latency["message"]["p99"],
        "conversations": sum(1 for v in views if v is not None),
        "messages_written": sum(accounting.written.values()) + accounting.internal_written,
        "written_by_sender": accounting.written,
        "internal_notes_written": accounting.internal_written,
        "messages_visible": accounting.visible,
        "messages_seen": accounting.seen,
        "seen_per_visitor": {
            "min": min(seen) if seen else 0,
            "median": statistics.median(seen) if seen else 0,
            "max": max(seen) if seen else 0,
        },
        "lost": accounting.lost,
        "duplicated": accounting.duplicated,
        "leaked": accounting.leaked,
        "internal_seen": accounting.internal_seen,
        "acked_missing": accounting.acked_missing,
        "overlap_redelivered": accounting.overlap,
        "examples": accounting.examples,
        "sends": dict(sorted(sends.items())),
        "resets": sum(max(0, len(v.conversations) - 1) for v in visitors)
        + sum(1 for v, view in zip(visitors, views, strict=True) if v.conversations and not view),
        "unstarted": sum(1 for v in visitors if not v.conversations),
        "unsynced": unsynced,
        "crashed": len(crashed),
        "crashes": crashed[:5],
        "client_loop_failures": dict(Counter(v.failure for v in visitors if v.failure)),
        "typing_seen_by": sum(1 for v in visitors if v.typing_seen),
        "team": dict(sorted(run.team.items())),
        "rss_mb_start": gauges.rss[0] if gauges.rss else None,
        "rss_mb_end": gauges.rss[-1] if gauges.rss else None,
        "rss_mb_peak": max(gauges.rss, default=None),
        "rss_basis": "sum of VmRSS over the functions server's process tree",
        **gauges.figures,
    }
    report["violations"] = {k: report[k] for k in INVARIANTS if report[k]}
    report["ok"] = not report["violations"]
    return report


def format_summary(report: Mapping[str, Any]) -> str:
    """The soak's figures as a person reads them."""
    lines = [
        f"soak       {report['visitors']} visitors, {report['duration_s']:g} s, "
        + (
            f"long-polling (wait {report['wait_s']:g} s)"
            if report.get("wait_s")
            else f"polling every {report['interval_s']:g} s"
        )
        + f", against {report.get('target', '?')}",
        f"requests   {report['requests']} (sync {report['requests_by_endpoint'].get('sync', 0)}, "
        f"message {report['requests_by_endpoint'].get('message', 0)}); not 200: "
        + (
            ", ".join(f"{k} x{n}" for k, n in report["errors_by_status"].items())
            if report["errors_by_status"]
            else "none"
        ),
        "latency    endpoint   count      p50      p95      p99      max   (ms; timed phase)",
    ]
    for endpoint, figures in report["latency_ms"].items():
        cells = [
            "-" if figures[k] is None else f"{figures[k]:.1f}" for k in ("p50", "p95", "p99", "max")
        ]
        lines.append(
            f"           {endpoint:<9}{figures['count']:>7}" + "".join(f"{c:>9}" for c in cells)
        )
    written = report["written_by_sender"]
    seen = report["seen_per_visitor"]
    lines += [
        f"messages   written {report['messages_written']} ("
        + ", ".join(f"{k} {n}" for k, n in written.items())
        + f", internal notes {report['internal_notes_written']}) in "
        f"{report['conversations']} conversations",
        f"           seen after dedupe: {report['messages_seen']} of "
        f"{report['messages_visible']} visible; per visitor min {seen['min']}, "
        f"median {seen['median']}, max {seen['max']}",
        f"           overlap re-delivered and deduped by the client: "
        f"{report['overlap_redelivered']} (allowed)",
        "invariants " + "  ".join(f"{k} {report[k]}" for k in INVARIANTS),
        f"team       {report['team'].get('replies', 0)} replies, "
        f"{report['team'].get('internal_notes', 0)} internal notes, "
        f"{report['team'].get('typing_on', 0)} typing starts; typing seen by "
        f"{report['typing_seen_by']} visitors",
    ]
    if report["rss_mb_start"] is None:
        lines.append("functions  RSS not measured (the server is not a local process)")
    else:
        lines.append(
            f"functions  RSS {report['rss_mb_start']} MB at start, {report['rss_mb_end']} MB at "
            f"end, peak {report['rss_mb_peak']} MB (sum over its processes)"
        )
    cpu, lag = report["cpu_percent"], report["loop_lag_ms"]
    server_cpu = "-" if cpu["functions_server"] is None else cpu["functions_server"]
    lines += [
        f"cpu        load generator {cpu['load_generator']} %, functions server {server_cpu} % "
        f"(100 % = one core; {cpu['cores']} cores, load average {cpu['load_average_1m']})",
        f"           load generator's event loop late by p99 {lag['p99']} ms, max {lag['max']} ms",
    ]
    for name, figures in (report["server_ms"] or {}).items():
        lines.append(
            f"           {name} as timed by the functions server: p50 {figures['p50']} ms, "
            f"p99 {figures['p99']} ms"
        )
    if report["ok"]:
        lines.append("result     PASS: every invariant holds")
    else:
        broken = ", ".join(f"{k}={v}" for k, v in report["violations"].items())
        lines.append(f"result     FAIL: {broken}")
        for kind, ids in report["examples"].items():
            lines.append(f"           {kind} e.g. {', '.join(ids)}")
        lines += [f"           crash: {c}" for c in report["crashes"]]
    return "\n".join(lines)
