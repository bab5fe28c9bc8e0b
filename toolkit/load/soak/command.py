"""`chat-toolkit soak`'s flags and run: which stack to soak, the run, the summary, and a
CheckFailed (exit 1) when an invariant breaks. The CLI reads the environment and passes it in.

The simulation (and aiohttp under it) is imported when a soak runs, not when the CLI starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from toolkit.config import Target, redact_url
from toolkit.errors import CheckFailed, UsageError
from toolkit.load.soak.model import SoakOptions
from toolkit.load.soak.report import format_summary
from toolkit.load.soak.simulation import soak

__all__ = ["DESCRIPTION", "add_arguments", "run", "run_soak"]

Progress = Callable[[str], None]

DESCRIPTION = (
    "Simulated visitors poll (or long-poll) and write through the toolkit's client while a "
    "simulated team replies and types; then every message is accounted for. Against the "
    "project the env's SUPABASE_URL names (with --allow-writes), else on an embedded stack "
    "it starts and always stops. Exits 0 when every invariant holds, 1 when one breaks, 2 on "
    "a usage or configuration error."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The soak's flags (`scripts/soak.py` takes the same)."""
    d = SoakOptions()
    parser.add_argument(
        "--visitors",
        type=int,
        default=d.visitors,
        metavar="N",
        help=f"simulated visitors (default {d.visitors})",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=d.duration,
        metavar="S",
        help=f"seconds of load (default {d.duration:g})",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=d.interval,
        metavar="S",
        help=f"seconds between a visitor's polls when not long-polling (default {d.interval:g})",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=d.wait,
        metavar="S",
        help=f"long-poll: seconds the server may hold each sync (default {d.wait:g}: poll)",
    )
    parser.add_argument(
        "--message-every",
        type=float,
        default=d.message_every,
        metavar="S",
        help=f"mean seconds between a visitor's messages (default {d.message_every:g})",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report here")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="functions workers of the embedded stack (default 1)",
    )
    parser.add_argument("--seed", type=int, help="random seed, for a repeatable run")
    parser.add_argument("--env-file", help="dotenv file naming the target (default: .env)")
    parser.add_argument("--embedded", action="store_true", help="ignore SUPABASE_URL")
    parser.add_argument(
        "--allow-writes", action="store_true", help="soak the project SUPABASE_URL names"
    )


def run(args: argparse.Namespace, env: Mapping[str, str], progress: Progress) -> int:
    """Soak as the flags say, on the target `env` names (the CLI read it); print the summary;
    0, or CheckFailed naming what broke."""
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    options = SoakOptions(
        visitors=args.visitors,
        duration=args.duration,
        interval=args.interval,
        wait=args.wait,
        message_every=args.message_every,
        seed=args.seed,
    )
    target = None
    if not args.embedded and env.get("SUPABASE_URL", "").strip():
        target = Target.from_env(env)
        if not args.allow_writes:
            raise UsageError(
                f"the soak writes {options.visitors} conversations to {target.url}; pass "
                "--allow-writes to soak that project, or --embedded for a throwaway stack"
            )
    progress(f"soak: {redact_url(target.url) if target else 'a throwaway embedded stack'}")
    report = run_soak(options, target, workers=args.workers, progress=progress)
    progress(format_summary(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        progress(f"report written to {args.json}")
    if not report["ok"]:
        broken = ", ".join(f"{k}={v}" for k, v in report["violations"].items())
        raise CheckFailed(f"soak: an invariant broke: {broken}")
    return 0


def run_soak(
    options: SoakOptions,
    target: Target | None,
    *,
    workers: int = 1,
    progress: Progress = lambda _line: None,
) -> dict[str, Any]:
    """Soak `target`, or (None) a fresh embedded stack with `workers` functions workers that
    is always stopped; return the report."""
    from toolkit import stack

    if target is not None:
        report = asyncio.run(soak(target, options, progress=progress))
        report["target"] = target.url
        return report
    progress(f"starting an embedded stack (functions server with {workers} worker(s))")
    with stack.temporary(functions_workers=workers) as state:
        report = asyncio.run(
            soak(
                Target.from_env(state.env()),
                options,
                server_pid=state.pids["functions"],
                server_log=Path(state.directory) / "logs" / "functions.log",
                progress=progress,
            )
        )
    report["target"] = f"an embedded stack ({workers} functions worker(s))"
    return report
