"""The `chat-toolkit` command line: stack, migrate, serve."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import migrations, probes, stack
from .config import load_environment
from .errors import ToolkitError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ToolkitError as exc:
        print(f"chat-toolkit: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("CHAT_TOOLKIT_DEBUG"):
            raise
        print(
            f"chat-toolkit: unexpected {type(exc).__name__}: {exc} "
            "(set CHAT_TOOLKIT_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1


def _say(line: str) -> None:
    print(line, flush=True)


# -- stack ------------------------------------------------------------------------------


def _stack_up(args: argparse.Namespace) -> int:
    options = stack.StackOptions(
        directory=args.dir,
        baseline_only=args.baseline_only,
        auto_expose=not args.no_auto_expose,
        functions=not args.no_functions,
        api_port=args.api_port,
        db_port=args.db_port,
        rest_port=args.rest_port,
        functions_port=args.functions_port,
    )
    started = time.monotonic()
    state = stack.up(options, progress=_say)
    _say(f"stack up in {time.monotonic() - started:.1f}s; env written to {args.dir / 'env'}")
    env = state.env()
    for key, value in env.items():
        _say(f"  {key}={value}")
    for line in probes.read_summary(
        env["SUPABASE_URL"], env["SUPABASE_ANON_KEY"], env["SUPABASE_SERVICE_ROLE_KEY"]
    ):
        _say(line)
    if args.detach:
        _say(f"stop it with: chat-toolkit stack down --dir {args.dir}")
        return 0
    _say("running; press Ctrl-C to stop")
    reason = stack.wait_foreground(state)
    _say(f"stack {reason}")
    return 0 if reason == "stopped" else 1


def _stack_down(args: argparse.Namespace) -> int:
    stopped = stack.down(args.dir)
    _say(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def _stack_status(args: argparse.Namespace) -> int:
    rows = stack.status(args.dir)
    for part, state, where in rows:
        _say(f"{part:<10} {state:<22} {where}")
    return 0 if all(s.startswith("running") for _, s, _ in rows) else 1


def _stack_env(args: argparse.Namespace) -> int:
    path = args.dir / "env"
    if stack.read_state(args.dir.resolve()) is None or not path.is_file():
        raise ToolkitError(
            f"no running stack in {args.dir}; start one with `chat-toolkit stack up`"
        )
    sys.stdout.write(path.read_text())
    return 0


# -- migrate ----------------------------------------------------------------------------


def _migrate(args: argparse.Namespace) -> int:
    db_url = args.db_url or load_environment(args.env_file).get("SUPABASE_DB_URL", "").strip()
    if not db_url:
        raise ToolkitError(
            "SUPABASE_DB_URL is not set; pass --db-url postgresql://... "
            "(supabase start: postgresql://postgres:postgres@127.0.0.1:54322/postgres)"
        )
    if args.rollback:
        migrations.rollback(db_url, args.rollback, progress=_say)
        return 0
    todo = migrations.migrate(db_url, dry_run=args.dry_run, progress=_say)
    if args.dry_run:
        for m in todo:
            _say(f"pending {m.version}_{m.name}")
        _say(f"{len(todo)} pending")
    else:
        _say(f"{len(todo)} applied; database is up to date")
    return 0


# -- serve ------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from .functions.server import run

    if args.workers < 1:
        raise ToolkitError("--workers must be at least 1")
    run(load_environment(args.env_file), host=args.host, port=args.port, workers=args.workers)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-toolkit", description="Token-scoped visitor chat for Supabase."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    stack_parser = commands.add_parser("stack", help="the embedded local stack")
    stack_commands = stack_parser.add_subparsers(required=True, metavar="ACTION")
    dir_flag = argparse.ArgumentParser(add_help=False)
    dir_flag.add_argument("--dir", type=Path, default=Path(".stack"), help="stack folder")

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

    p = commands.add_parser(
        "migrate", help="apply sql/migrations, recorded as the Supabase CLI does"
    )
    p.add_argument("--db-url", help="Postgres URL (default: SUPABASE_DB_URL)")
    p.add_argument("--env-file", help="dotenv file to read (default: .env)")
    p.add_argument("--dry-run", action="store_true", help="list pending migrations only")
    p.add_argument("--rollback", metavar="VERSION", help="undo the newest applied migration")
    p.set_defaults(run=_migrate)

    p = commands.add_parser("serve", help="serve the two edge functions at /functions/v1")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=54329)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--env-file", help="dotenv file to read (default: .env)")
    p.set_defaults(run=_serve)
    return parser


if __name__ == "__main__":
    sys.exit(main())
