"""The soak's command line (`scripts/soak.py`): which stack to soak, the run, the summary and
the exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolkit.config import Target, load_environment
from toolkit.errors import ConfigError, ToolkitError
from toolkit.load.soak.model import SoakOptions
from toolkit.load.soak.report import format_summary
from toolkit.load.soak.simulation import Progress, quiet, soak
from toolkit.stack import lifecycle as stack

__all__ = ["main", "run_soak"]


def run_soak(
    options: SoakOptions,
    env: Mapping[str, str],
    *,
    embedded: bool = False,
    allow_writes: bool = False,
    workers: int = 1,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Soak the stack `env` names (SUPABASE_URL, ...), or a fresh embedded one that is always
    stopped, when `embedded` or when `env` names none."""
    if not embedded and env.get("SUPABASE_URL", "").strip():
        target = Target.from_env(env)
        if not allow_writes:
            raise ConfigError(
                f"the soak writes {options.visitors} conversations to {target.url}; pass "
                "--allow-writes to soak that project, or --embedded for a throwaway stack"
            )
        report = asyncio.run(soak(target, options, progress=progress))
        report["target"] = target.url
        return report
    progress(f"starting an embedded stack (functions server with {workers} worker(s))")
    with stack.temporary(functions_workers=workers) as state:
        target = Target.from_env(state.env())
        report = asyncio.run(
            soak(
                target,
                options,
                server_pid=state.pids["functions"],
                server_log=Path(state.directory) / "logs" / "functions.log",
                progress=progress,
            )
        )
    report["target"] = f"an embedded stack ({workers} functions worker(s))"
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """`scripts/soak.py`: 0 when every invariant holds, 1 when one breaks, 2 when it cannot run."""
    parser = argparse.ArgumentParser(
        prog="soak.py",
        description="Simulated visitors against the chat functions, then an exact account.",
    )
    parser.add_argument("--visitors", type=int, default=SoakOptions.visitors)
    parser.add_argument("--duration", type=float, default=SoakOptions.duration, help="seconds")
    parser.add_argument("--interval", type=float, default=SoakOptions.interval, help="poll, s")
    parser.add_argument(
        "--wait", type=float, default=SoakOptions.wait, help="long-poll, s (0: poll)"
    )
    parser.add_argument(
        "--message-every", type=float, default=SoakOptions.message_every, help="mean s"
    )
    parser.add_argument("--json", type=Path, help="also write the report to this file")
    parser.add_argument("--workers", type=int, default=1, help="embedded functions workers")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--env-file", help="dotenv file naming the target (default ./.env)")
    parser.add_argument("--embedded", action="store_true", help="ignore SUPABASE_URL")
    parser.add_argument(
        "--allow-writes", action="store_true", help="soak the project SUPABASE_URL names"
    )
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        options = SoakOptions(
            visitors=args.visitors,
            duration=args.duration,
            interval=args.interval,
            wait=args.wait,
            message_every=args.message_every,
            seed=args.seed,
        )
        if args.workers < 1:
            raise ConfigError("--workers must be at least 1")
        report = run_soak(
            options,
            load_environment(args.env_file),
            embedded=args.embedded,
            allow_writes=args.allow_writes,
            workers=args.workers,
            progress=say,
        )
    except ToolkitError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    say(format_summary(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        say(f"report written to {args.json}")
    return 0 if report["ok"] else 1
