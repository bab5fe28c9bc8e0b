"""`chat-toolkit stack up | down | status | env`: the embedded stack's commands, their flags
and what each prints (the CLI's other commands live in toolkit/cli.py)."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from toolkit import stack
from toolkit.config import Target
from toolkit.errors import CheckFailed, StackError
from toolkit.stack import probes

__all__ = ["add_parser"]


def _say(line: str) -> None:
    print(line, flush=True)


def add_parser(commands: Any) -> None:
    """Add `stack` and its actions to the CLI's subcommands (argparse's _SubParsersAction)."""
    stack_parser = commands.add_parser("stack", help="the embedded local stack")
    stack_commands = stack_parser.add_subparsers(required=True, metavar="ACTION")
    dir_flag = argparse.ArgumentParser(add_help=False)
    dir_flag.add_argument(
        "--dir", type=Path, default=Path(".stack"), help="stack folder (default .stack)"
    )

    p = stack_commands.add_parser("up", parents=[dir_flag], help="start the stack")
    p.add_argument("--detach", action="store_true", help="return once every part is ready")
    p.add_argument(
        "--baseline-only",
        action="store_true",
        help="stop before the migrations: the pre-cutover, leaking schema",
    )
    p.add_argument(
        "--no-auto-expose",
        action="store_true",
        help="model the 2026 default: no automatic grants on new tables",
    )
    p.add_argument("--no-functions", action="store_true", help="do not start the functions server")
    p.add_argument(
        "--keys",
        choices=tuple(stack.KEY_MODES),
        default="both",
        help="API key system: legacy, new (legacy keys deactivated) or both (default)",
    )
    p.add_argument("--workers", type=int, default=1, help="functions server worker processes")
    p.add_argument(
        "--functions-instances",
        type=int,
        default=1,
        metavar="N",
        help="functions servers behind the gateway, for rolling restarts (default 1)",
    )
    for name in ("api", "db", "rest", "functions"):
        p.add_argument(
            f"--{name}-port",
            type=int,
            default=0,
            metavar="PORT",
            help=f"{name} port (default: a free one)",
        )
    p.set_defaults(run=_stack_up)
    for name, run, text in (
        ("down", _stack_down, "stop the stack"),
        ("status", _stack_status, "what runs where"),
        ("env", _stack_env, "print the stack's env file"),
    ):
        stack_commands.add_parser(name, parents=[dir_flag], help=text).set_defaults(run=run)


def _stack_up(args: argparse.Namespace) -> int:
    options = stack.StackOptions(
        directory=args.dir,
        keys=args.keys,
        baseline_only=args.baseline_only,
        auto_expose=not args.no_auto_expose,
        functions=not args.no_functions,
        api_port=args.api_port,
        db_port=args.db_port,
        rest_port=args.rest_port,
        functions_port=args.functions_port,
        functions_workers=args.workers,
        functions_instances=args.functions_instances,
    )
    started = time.monotonic()
    # SIGTERM stops a starting stack as Ctrl-C does: every part started is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    state = stack.up(options, progress=_say, started=_hold_for_tests)
    _say(f"stack up in {time.monotonic() - started:.1f}s; env written to {args.dir / 'env'}")
    env = state.env()
    _say(f"keys: {args.keys} ({stack.KEY_MODES[args.keys]})")
    for key, value in env.items():
        _say(f"  {key}={value}")
    target = Target.from_env(env)
    _say(f"widget {target.url}/widget/?key={target.visitor_key}")
    for line in probes.read_summary(target.url, target.visitor_key, target.server_key):
        _say(line)
    if args.detach:
        _say(f"stop it with: chat-toolkit stack down --dir {shlex.quote(str(args.dir))}")
        return 0
    _say("running; press Ctrl-C to stop")
    reason = stack.wait_foreground(state)
    _say(f"stack {reason}")
    return 0 if reason == "stopped" else StackError.exit_code


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _hold_for_tests(stage: str) -> None:
    """CHAT_TOOLKIT_STACK_HOLD=<stage> pauses `stack up` once that stage (postgres, schema,
    postgrest, functions, nginx) is under way, until a signal: how the tests interrupt
    each stage."""
    if os.environ.get("CHAT_TOOLKIT_STACK_HOLD") == stage:
        _say(f"holding at {stage} (CHAT_TOOLKIT_STACK_HOLD) until a signal")
        signal.pause()


def _stack_down(args: argparse.Namespace) -> int:
    stopped = stack.down(args.dir)
    _say(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def _stack_status(args: argparse.Namespace) -> int:
    rows = stack.status(args.dir)
    for part, state, where in rows:
        _say(f"{part:<10} {state:<22} {where}")
    if not all(s.startswith("running") for _, s, _ in rows):
        raise CheckFailed(f"not every part of the stack in {args.dir} is running")
    return 0


def _stack_env(args: argparse.Namespace) -> int:
    path = args.dir / "env"
    if stack.read_state(args.dir.resolve()) is None or not path.is_file():
        raise StackError(f"no running stack in {args.dir}; start one with `chat-toolkit stack up`")
    sys.stdout.write(path.read_text())
    return 0
