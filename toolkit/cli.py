"""The `chat-toolkit` command line: stack, migrate, serve."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from toolkit.config import load_environment
from toolkit.db import migrations
from toolkit.errors import ToolkitError
from toolkit.stack import lifecycle as stack
from toolkit.stack import probes

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
        functions_workers=args.workers,
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
    from toolkit.functions.server import run

    if args.workers < 1:
        raise ToolkitError("--workers must be at least 1")
    run(load_environment(args.env_file), host=args.host, port=args.port, workers=args.workers)
    return 0


# -- chat -------------------------------------------------------------------------------


def _chat(args: argparse.Namespace) -> int:
    from toolkit.client.terminal import run_chat
    from toolkit.config import Target

    if not args.interval >= 0.1:
        raise ToolkitError("--interval must be at least 0.1 seconds")
    if not 0 <= args.wait <= 25:
        raise ToolkitError("--wait must be from 0 to 25 seconds (0 polls every --interval)")
    target = Target.from_env(load_environment(args.env_file), service_role=False)
    return run_chat(
        target,
        args.session,
        visitor_id=args.visitor_id,
        interval=args.interval,
        wait=args.wait,
    )


def _bench(args: argparse.Namespace) -> int:
    from toolkit.load import bench

    try:
        concurrency = tuple(int(c) for c in args.concurrency.split(","))
    except ValueError:
        raise ToolkitError(
            "--concurrency takes numbers separated by commas, e.g. 8,32,64"
        ) from None
    if args.duration < 1 or min(concurrency) < 1:
        raise ToolkitError("--duration and --concurrency must be at least 1")
    if args.delivery_visitors < 1:
        raise ToolkitError("--delivery-visitors must be at least 1")
    options = bench.BenchOptions(
        duration=args.duration,
        concurrency=concurrency,
        workers=args.workers or bench.BenchOptions().workers,
        delivery_visitors=args.delivery_visitors,
    )
    report = bench.run_bench(options, progress=_say)
    _say("")
    _say(bench.format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        _say(f"figures written to {args.json}")
    if args.plot:
        bench.plot(report, Path(args.plot))
        _say(f"plot written to {args.plot}")
    return 0


# -- verify, rollout, env ---------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    from toolkit.config import DeclaredFlags, Target
    from toolkit.ops.verify import verify

    env = load_environment(args.env_file)
    target = Target.from_env(env)
    flags = DeclaredFlags.from_env(env)
    if not args.json:
        note = " (--write: its test rows are deleted afterwards)" if args.write else ""
        _say(f"verify {target.url}{note}")
    report = verify(
        target,
        flags,
        write=args.write,
        on_check=(lambda _check: None) if args.json else (lambda check: _say(check.line())),
    )
    _say(json.dumps(report.to_json(), indent=2) if args.json else report.summary())
    return 0 if report.passed else 1


def _rollout_status(args: argparse.Namespace) -> int:
    from toolkit.ops.rollout import rollout_status

    status = rollout_status(load_environment(args.env_file), args.days)
    for line in [json.dumps(status.to_json(), indent=2)] if args.json else status.lines():
        _say(line)
    return 0


def _env_from_supabase_status(args: argparse.Namespace) -> int:
    from toolkit.supabase_status import parse_status_env, to_dotenv, toolkit_env

    source = args.from_supabase_status
    if source == "-":
        text = sys.stdin.read()
    elif Path(source).is_file():
        text = Path(source).read_text()
    else:
        raise ToolkitError(
            f"{source} does not exist; pipe the output in instead: "
            "supabase status -o env | chat-toolkit env --from-supabase-status"
        )
    sys.stdout.write(to_dotenv(toolkit_env(parse_status_env(text))))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-toolkit", description="Token-scoped visitor chat for Supabase."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

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
    p.add_argument("--workers", type=int, default=1, help="functions server worker processes")
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

    p = commands.add_parser("bench", help="measure sync against raw PostgREST on one stack")
    p.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="write throughput and p99 charts")
    p.add_argument("--duration", type=int, default=10, metavar="S", help="seconds per case")
    p.add_argument(
        "--concurrency",
        default="8,32,64",
        metavar="LIST",
        help="connection counts to compare (default 8,32,64)",
    )
    p.add_argument(
        "--workers", type=int, default=0, help="functions server workers (default: one per core)"
    )
    p.add_argument(
        "--delivery-visitors",
        type=int,
        default=1000,
        metavar="N",
        help="visitors connected while delivery is timed, polling and long-polling (default 1000)",
    )
    p.set_defaults(run=_bench)

    p = commands.add_parser("serve", help="serve the two edge functions at /functions/v1")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=54329, help="port to listen on (default 54329)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--env-file", help="dotenv file to read (default: .env)")
    p.set_defaults(run=_serve)

    p = commands.add_parser(
        "chat",
        help="chat as a visitor from the terminal (local development)",
        description="Chat as a website visitor through the two edge functions at "
        "SUPABASE_FUNCTIONS_URL with SUPABASE_ANON_KEY. Type a line and press Enter to "
        "send; replies and 'team is typing…' appear as they arrive. The session file keeps "
        "the conversation (and its token) so the next start resumes it. Ctrl-D or Ctrl-C quits.",
    )
    p.add_argument("--env-file", help="dotenv file to read (default: .env)")
    p.add_argument(
        "--session",
        type=Path,
        default=Path(".chat-session.json"),
        metavar="FILE",
        help="session file, written with mode 0600 (default: .chat-session.json)",
    )
    p.add_argument("--visitor-id", metavar="ID", help="visitor id (default: stored or new)")
    p.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between syncs when not long-polling (default 2)",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=25.0,
        metavar="S",
        help="long-poll: seconds the server may hold each sync (default 25; 0 polls)",
    )
    p.set_defaults(run=_chat)

    p = commands.add_parser(
        "verify",
        help="check the cutover: schema, anon reads, functions, hardening",
        description="Check the project the env points at (embedded stack, `supabase start` or "
        "live): catalog (with SUPABASE_DB_URL), anon and service REST reads, both functions, "
        "and hardening warnings. Prints `PASS|FAIL|WARN|SKIP  <check id>  <reason>` per check; "
        "never prints keys, tokens or hashes. Exits 1 if any check FAILs.",
    )
    p.add_argument("--env-file", help="dotenv file to read (default: .env)")
    p.add_argument("--json", action="store_true", help='print {"checks": [...], "passed": bool}')
    p.add_argument(
        "--write",
        action="store_true",
        help="also run the seed's five validations end to end, on rows marked "
        "chat-toolkit-verify-* that are deleted afterwards",
    )
    p.set_defaults(run=_verify)

    p = commands.add_parser("rollout", help="the seed's post-cutover rollout")
    rollout_commands = p.add_subparsers(required=True, metavar="ACTION")
    p = rollout_commands.add_parser(
        "status",
        help="figures from the database and the next step to take",
        description="Count unhashed active conversations and bootstrap / tokenless events in "
        "the window (from SUPABASE_DB_URL), show the flags the env declares, and name the next "
        "step of the rollout with the command that applies it.",
    )
    p.add_argument("--env-file", help="dotenv file to read (default: .env)")
    p.add_argument("--days", type=int, default=7, metavar="N", help="window in days (default 7)")
    p.add_argument("--json", action="store_true", help="print the figures and step as JSON")
    p.set_defaults(run=_rollout_status)

    p = commands.add_parser(
        "env",
        help="write the toolkit's SUPABASE_* variables in dotenv form",
        description="Turn `supabase status -o env` output into SUPABASE_URL, SUPABASE_ANON_KEY, "
        "SUPABASE_SERVICE_ROLE_KEY, SUPABASE_DB_URL, SUPABASE_FUNCTIONS_URL and "
        "SUPABASE_JWT_SECRET, printed to stdout, e.g. "
        "`supabase status -o env | chat-toolkit env --from-supabase-status > .env`.",
    )
    p.add_argument(
        "--from-supabase-status",
        nargs="?",
        const="-",
        required=True,
        metavar="FILE|-",
        help="file holding the output, or - (the default) for stdin",
    )
    p.set_defaults(run=_env_from_supabase_status)
    return parser


if __name__ == "__main__":
    sys.exit(main())
