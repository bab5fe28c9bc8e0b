"""The `chat-toolkit` command line: the one edge where arguments and the environment are read,
and where errors become one line on stderr and an exit code (toolkit/errors.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from toolkit.config import load_environment, redact_url
from toolkit.db import migrations
from toolkit.db.connect import hide_password
from toolkit.errors import (
    CheckFailed,
    ConfigError,
    Interrupted,
    ToolkitError,
    UsageError,
)
from toolkit.load.soak import command as soak_command
from toolkit.ops import erasure, team, tokens
from toolkit.stack import command as stack_command

__all__ = ["BUG_EXIT_CODE", "ENV_FILE_HELP", "main"]

BUG_EXIT_CODE = 70  # EX_SOFTWARE (sysexits.h): an unexpected exception is a bug
ENV_FILE_HELP = "dotenv file; it wins over exported variables (default: .env, which they win over)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code comes from the error's class (argparse's own: 2)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ToolkitError as exc:
        print(f"chat-toolkit: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("chat-toolkit: interrupted", file=sys.stderr)
        return Interrupted.exit_code
    except Exception as exc:
        if os.environ.get("CHAT_TOOLKIT_DEBUG"):
            raise
        print(
            f"chat-toolkit: unexpected {type(exc).__name__}: {exc} "
            "(set CHAT_TOOLKIT_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return BUG_EXIT_CODE


def _say(line: str) -> None:
    print(line, flush=True)


def _environment(args: argparse.Namespace) -> dict[str, str]:
    """The one read of the process environment: with --env-file, the file wins over it."""
    return load_environment(os.environ, args.env_file)


# -- migrate ----------------------------------------------------------------------------


def _migrate(args: argparse.Namespace) -> int:
    db_url = args.db_url or _environment(args).get("SUPABASE_DB_URL", "").strip()
    if not db_url:
        raise ConfigError(
            "SUPABASE_DB_URL is not set; pass --db-url postgresql://... "
            "(supabase start: postgresql://postgres:postgres@127.0.0.1:54322/postgres)"
        )
    dry = " (dry run: nothing is written)" if args.dry_run else ""
    _say(f"migrate: {hide_password(db_url)}{dry}")
    if args.rollback:
        migrations.rollback(db_url, args.rollback, dry_run=args.dry_run, progress=_say)
        return 0
    if args.dry_run:
        for line in migrations.inspect(db_url).lines():
            _say(line)
        return 0
    applied = migrations.migrate(db_url, progress=_say)
    _say(f"{len(applied)} applied; database is up to date")
    return 0


# -- serve ------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from toolkit.functions.server import hand_over, run
    from toolkit.protocol import FUNCTIONS_PATH

    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    settings = hand_over(_environment(args), os.environ)
    _say(
        f"serve: http://{args.host}:{args.port}{FUNCTIONS_PATH} on "
        f"{redact_url(settings.supabase_url)}, {args.workers} worker(s)"
    )
    run(host=args.host, port=args.port, workers=args.workers)
    return 0


# -- chat -------------------------------------------------------------------------------


def _chat(args: argparse.Namespace) -> int:
    from toolkit.client.terminal import run_chat
    from toolkit.config import Target

    if not args.interval >= 0.1:
        raise UsageError("--interval must be at least 0.1 seconds")
    if not 0 <= args.wait <= 25:
        raise UsageError("--wait must be from 0 to 25 seconds (0 polls every --interval)")
    target = Target.from_env(_environment(args), service_role=False)
    _say(f"chat: {redact_url(target.functions_url)}")
    return run_chat(
        target,
        args.session,
        visitor_id=args.visitor_id,
        interval=args.interval,
        wait=args.wait,
    )


def _bench(args: argparse.Namespace) -> int:
    from toolkit.load import bench

    return bench.command(args, _say)


def _soak(args: argparse.Namespace) -> int:
    return soak_command.run(args, _environment(args), progress=_say)


def _team(args: argparse.Namespace) -> int:
    return team.run(args, _environment(args), progress=_say)


# -- verify, rollout, env ---------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    from toolkit.config import DeclaredFlags, Target
    from toolkit.key_settings import legacy_keys_deactivated
    from toolkit.ops.verify import verify

    env = _environment(args)
    target = Target.from_env(env)
    flags = DeclaredFlags.from_env(env)
    deactivated = args.legacy_keys_deactivated or legacy_keys_deactivated(env)
    if not args.json:
        database = f" and {redact_url(target.db_url)}" if target.db_url else ""
        note = " (--write: its test rows are deleted afterwards)" if args.write else ""
        _say(f"verify: {redact_url(target.url)}{database}{note}")
    report = verify(
        target,
        flags,
        write=args.write,
        legacy_deactivated=deactivated,
        on_check=(lambda _check: None) if args.json else (lambda check: _say(check.line())),
    )
    _say(json.dumps(report.to_json(), indent=2) if args.json else report.summary())
    failed = [c.id for c in report.checks if c.status == "FAIL"]
    if failed:
        raise CheckFailed(f"{len(failed)} check(s) FAILed: {', '.join(failed)}")
    return 0


def _rollout_status(args: argparse.Namespace) -> int:
    from toolkit.ops.rollout import rollout_status

    status = rollout_status(_environment(args), args.days)
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
        raise UsageError(
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
    env_flag = argparse.ArgumentParser(add_help=False)
    env_flag.add_argument("--env-file", help=ENV_FILE_HELP)

    stack_command.add_parser(commands)

    p = commands.add_parser(
        "migrate",
        parents=[env_flag],
        help="apply sql/migrations, recorded as the Supabase CLI does",
    )
    p.add_argument("--db-url", help="Postgres URL (default: SUPABASE_DB_URL)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the history (the toolkit's and the project's own) and change nothing; "
        "with --rollback, say what would be undone",
    )
    p.add_argument(
        "--rollback",
        metavar="VERSION",
        help="undo VERSION, which must be the newest applied toolkit migration",
    )
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

    p = commands.add_parser(
        "soak",
        help="simulated visitors and team against the functions, then an exact account",
        description=soak_command.DESCRIPTION,
    )
    soak_command.add_arguments(p)
    p.set_defaults(run=_soak)

    p = commands.add_parser(
        "serve", parents=[env_flag], help="serve the two edge functions at /functions/v1"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=54329, help="port to listen on (default 54329)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.set_defaults(run=_serve)

    p = commands.add_parser(
        "chat",
        parents=[env_flag],
        help="chat as a visitor from the terminal (local development)",
        description="Chat as a website visitor through the two edge functions at "
        "SUPABASE_FUNCTIONS_URL with SUPABASE_PUBLISHABLE_KEY (else SUPABASE_ANON_KEY). Type a "
        "line and press Enter to send; replies and 'team is typing…' appear as they arrive. "
        "The session file keeps the conversation (and its token) so the next start resumes "
        "it. Ctrl-D or Ctrl-C quits.",
    )
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

    p = commands.add_parser("team", help=team.HELP, description=team.DESCRIPTION)
    team.add_arguments(p)
    p.set_defaults(run=_team)

    p = commands.add_parser("tokens", help=tokens.HELP, description=tokens.DESCRIPTION)
    tokens.add_arguments(p, [env_flag])
    p.set_defaults(run=lambda a: tokens.run(a, _environment(a), _say))
    p = commands.add_parser("visitor", help=erasure.HELP, description=erasure.DESCRIPTION)
    erasure.add_arguments(p, [env_flag])
    p.set_defaults(run=lambda a: erasure.run(a, _environment(a), _say))

    p = commands.add_parser(
        "verify",
        parents=[env_flag],
        help="check the cutover: schema, anon reads, functions, hardening",
        description="Check the project the env points at (embedded stack, `supabase start` or "
        "live): catalog (with SUPABASE_DB_URL), anon and service REST reads, both functions, "
        "and hardening warnings. Prints `PASS|FAIL|WARN|SKIP  <check id>  <reason>` per check; "
        "never prints keys, tokens or hashes. Exits 0 when nothing FAILs, 1 when a check "
        "FAILs, 2 on a configuration error, 3 when the project cannot be reached.",
    )
    p.add_argument("--json", action="store_true", help='print {"checks": [...], "passed": bool}')
    p.add_argument(
        "--write",
        action="store_true",
        help="also run the seed's five validations end to end, on rows marked "
        "chat-toolkit-verify-* that are deleted afterwards",
    )
    p.add_argument(
        "--legacy-keys-deactivated",
        action="store_true",
        help="the project's legacy anon / service_role keys are deactivated: check that they "
        "are refused (also SUPABASE_LEGACY_KEYS=deactivated)",
    )
    p.set_defaults(run=_verify)

    p = commands.add_parser("rollout", help="the seed's post-cutover rollout")
    rollout_commands = p.add_subparsers(required=True, metavar="ACTION")
    p = rollout_commands.add_parser(
        "status",
        parents=[env_flag],
        help="figures from the database and the next step to take",
        description="Count unhashed active conversations and bootstrap / tokenless events in "
        "the window (from SUPABASE_DB_URL), show the flags the env declares, and name the next "
        "step of the rollout with the command that applies it.",
    )
    p.add_argument("--days", type=int, default=7, metavar="N", help="window in days (default 7)")
    p.add_argument("--json", action="store_true", help="print the figures and step as JSON")
    p.set_defaults(run=_rollout_status)

    p = commands.add_parser(
        "env",
        help="write the toolkit's SUPABASE_* variables in dotenv form",
        description="Turn `supabase status -o env` output into SUPABASE_URL, "
        "SUPABASE_PUBLISHABLE_KEY, SUPABASE_SECRET_KEY, SUPABASE_ANON_KEY, "
        "SUPABASE_SERVICE_ROLE_KEY, SUPABASE_DB_URL, SUPABASE_FUNCTIONS_URL, SUPABASE_JWT_SECRET "
        "and SUPABASE_JWKS_URL (those it has), printed to stdout, e.g. "
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
