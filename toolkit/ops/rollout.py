"""`chat-toolkit rollout status`: where the seed's post-cutover rollout stands, and what next.

The seed's post-cutover list (CONTRACT §8): 1. the widget ships token sync, 2. watch
errors while it settles, 3. set CHAT_SYNC_ALLOW_BOOTSTRAP=false once resumes are stable,
4. set ENFORCE_VISITOR_CONVERSATION_TOKEN=true after that, 5. validate end to end.

Figures, read from the database over a window of the last N days (default 7):

    unhashed_active         active or escalated conversations with no access_token_hash
    unhashed_active_recent  those of them created, updated or messaged in the window
    token_bootstrapped      tokens minted from a conversation id + visitorId (bootstrap: a
                            tokenless chat-visitor-sync, or a tokenless handle-chat-message on
                            a conversation without a hash) in the window
    tokenless_accepted      messages handle-chat-message accepted without a token in the window
    token_issued            tokens of new conversations in the window (context only)

and the two flags as the env declares them (unset means the default: bootstrap on,
enforcement off).

Decision rules, `decide(figures)`, first match wins:

    1. bootstrap off and enforcement on            → "done": validate with
                                                     `chat-toolkit verify --write` (step 5)
    2. bootstrap on, and token_bootstrapped > 0 or unhashed_active_recent > 0
                                                   → "keep watching": visitors still resume
                                                     through bootstrap (step 2)
    3. bootstrap on otherwise                      → "set CHAT_SYNC_ALLOW_BOOTSTRAP=false" (step 3)
    4. bootstrap off, enforcement off, tokenless_accepted > 0
                                                   → "keep watching": enforcing now would turn
                                                     those messages into 401s (step 2)
    5. bootstrap off, enforcement off otherwise    → "set ENFORCE_VISITOR_CONVERSATION_TOKEN=true"
                                                     (step 4)

What each flag does to a message without a token (CONTRACT §4): while bootstrap is on, a
conversation without a hash gets its token minted (token_bootstrapped); once it is off,
nothing mints a token from an id + visitorId pair (those pairs were public before the
cutover), and the message is accepted without one (tokenless_accepted); once enforcement is
on, it is 401 token_required before any lookup, and the widget starts a new conversation.

Enforcement switched on while bootstrap is still on (out of the seed's order) falls under
rules 2 and 3: bootstrap comes off first. Unhashed conversations idle for longer than the
window do not hold the rollout back: such a visitor who returns after bootstrap is off is
accepted without a token until enforcement, then starts a new conversation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlparse

from toolkit.config import DeclaredFlags, database_url
from toolkit.db.connect import connect
from toolkit.errors import ToolkitError, UsageError

__all__ = [
    "DISABLE_BOOTSTRAP",
    "DONE",
    "ENFORCE_TOKEN",
    "KEEP_WATCHING",
    "Figures",
    "NextStep",
    "RolloutStatus",
    "decide",
    "read_figures",
    "rollout_status",
]

KEEP_WATCHING = "keep watching"
DISABLE_BOOTSTRAP = "set CHAT_SYNC_ALLOW_BOOTSTRAP=false"
ENFORCE_TOKEN = "set ENFORCE_VISITOR_CONVERSATION_TOKEN=true"
DONE = "done"
FLAG_NAMES = ("CHAT_SYNC_ALLOW_BOOTSTRAP", "ENFORCE_VISITOR_CONVERSATION_TOKEN")


@dataclass(frozen=True)
class Figures:
    """Everything the decision looks at."""

    window_days: int
    unhashed_active: int
    unhashed_active_recent: int
    token_bootstrapped: int
    tokenless_accepted: int
    token_issued: int
    flags: DeclaredFlags


@dataclass(frozen=True)
class NextStep:
    """What to do next: `step` is one of the four constants, `command` applies it."""

    step: str
    seed_step: int
    reason: str
    command: str


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def decide(figures: Figures) -> NextStep:
    """The next step of the rollout for these figures (pure; rules in the module docstring)."""
    window = f"the last {_plural(figures.window_days, 'day', 'days')}"
    again = f"chat-toolkit rollout status --days {figures.window_days}"
    flags = figures.flags
    if not flags.allow_bootstrap and flags.enforce_token:
        return NextStep(
            DONE,
            5,
            "bootstrap is off and tokens are enforced; validate creation, resume, sync, "
            "typing and the closed anon reads end to end",
            "chat-toolkit verify --write",
        )
    if flags.allow_bootstrap:
        mints, recent = figures.token_bootstrapped, figures.unhashed_active_recent
        if mints or recent:
            seen = " and ".join(
                part
                for count, part in (
                    (mints, _plural(mints, "bootstrap mint", "bootstrap mints")),
                    (
                        recent,
                        _plural(
                            recent,
                            "active conversation without a token",
                            "active conversations without a token",
                        ),
                    ),
                )
                if count
            )
            return NextStep(
                KEEP_WATCHING,
                2,
                f"{seen} in {window}: visitors may still need bootstrap to resume; "
                f"wait for a {figures.window_days}-day window without any",
                again,
            )
        unhashed = _plural(figures.unhashed_active, "conversation", "conversations")
        idle = f" ({unhashed} without a token idle for longer)" if figures.unhashed_active else ""
        return NextStep(
            DISABLE_BOOTSTRAP,
            3,
            f"0 bootstrap mints and 0 active conversations without a token in {window}{idle}; "
            "once off, no sync or message mints a token from an id and visitorId, and "
            "tokenless messages are accepted without one until enforcement",
            "supabase secrets set CHAT_SYNC_ALLOW_BOOTSTRAP=false",
        )
    if figures.tokenless_accepted:
        return NextStep(
            KEEP_WATCHING,
            2,
            f"{_plural(figures.tokenless_accepted, 'message', 'messages')} accepted without a "
            f"token in {window}: enforcing now would answer them 401; not yet "
            "ENFORCE_VISITOR_CONVERSATION_TOKEN=true",
            again,
        )
    return NextStep(
        ENFORCE_TOKEN,
        4,
        f"bootstrap is off and 0 messages were accepted without a token in {window}",
        "supabase secrets set ENFORCE_VISITOR_CONVERSATION_TOKEN=true",
    )


# -- I/O --------------------------------------------------------------------------------

_CONVERSATIONS = """
select
  count(*) filter (where access_token_hash is null),
  count(*) filter (where access_token_hash is null
                   and greatest(created_at, updated_at, last_message_at)
                       >= now() - make_interval(days => %(days)s))
from public.chat_conversations
where status in ('active', 'escalated')"""

_EVENTS = """
select event, count(*) from public.chat_access_events
where created_at >= now() - make_interval(days => %(days)s)
group by event"""

_READY = """
select to_regclass('public.chat_access_events') is not null,
       exists (select from pg_attribute
               where attrelid = to_regclass('public.chat_conversations')
                 and attname = 'access_token_hash' and not attisdropped)"""


def read_figures(db_url: str, days: int, flags: DeclaredFlags) -> Figures:
    """Count what `decide` needs, in one short read-only visit to the database."""
    if days < 1:
        raise UsageError("--days must be at least 1")
    with connect(db_url) as conn:
        row = conn.execute(_READY).fetchone()
        if row is None or not all(row):
            raise ToolkitError(
                "the rollout tables are missing (chat_access_events, "
                "chat_conversations.access_token_hash); run `chat-toolkit migrate`"
            )
        counts = conn.execute(_CONVERSATIONS, {"days": days}).fetchone()
        events: dict[str, int] = dict(conn.execute(_EVENTS, {"days": days}).fetchall())
    unhashed, recent = counts if counts is not None else (0, 0)
    return Figures(
        window_days=days,
        unhashed_active=int(unhashed),
        unhashed_active_recent=int(recent),
        token_bootstrapped=int(events.get("token_bootstrapped", 0)),
        tokenless_accepted=int(events.get("tokenless_accepted", 0)),
        token_issued=int(events.get("token_issued", 0)),
        flags=flags,
    )


@dataclass(frozen=True)
class RolloutStatus:
    """The figures, the decision, and where they came from (for printing)."""

    figures: Figures
    next_step: NextStep
    database: str
    defaulted: tuple[str, ...]

    def lines(self) -> list[str]:
        f, step = self.figures, self.next_step
        values = {
            "CHAT_SYNC_ALLOW_BOOTSTRAP": f.flags.allow_bootstrap,
            "ENFORCE_VISITOR_CONVERSATION_TOKEN": f.flags.enforce_token,
        }
        lines = [f"rollout status: {self.database}, last {_plural(f.window_days, 'day', 'days')}"]
        for name, value in values.items():
            source = "not set, default" if name in self.defaulted else "declared in the env"
            lines.append(f"  {name:<38} {str(value).lower()} ({source})")
        lines += [
            f"  {'active conversations without a token':<38} {f.unhashed_active} "
            f"({f.unhashed_active_recent} active in the window)",
            f"  {'token_bootstrapped events':<38} {f.token_bootstrapped}",
            f"  {'tokenless_accepted events':<38} {f.tokenless_accepted}",
            f"  {'token_issued events':<38} {f.token_issued}",
            f"next step: {step.step} (seed post-cutover step {step.seed_step})",
            f"  why: {step.reason}",
            f"  run: {step.command}",
        ]
        if step.command.startswith("supabase secrets set"):
            flag = step.command.rsplit(" ", 1)[1]
            lines.append(
                f"  then declare {flag} in the env file, so `verify` and `rollout status` know"
            )
        return lines

    def to_json(self) -> dict[str, Any]:
        figures = asdict(self.figures)
        flags = figures.pop("flags")
        return {
            "database": self.database,
            "window_days": figures.pop("window_days"),
            "figures": figures,
            "flags": {
                "CHAT_SYNC_ALLOW_BOOTSTRAP": flags["allow_bootstrap"],
                "ENFORCE_VISITOR_CONVERSATION_TOKEN": flags["enforce_token"],
            },
            "flags_defaulted": list(self.defaulted),
            "next_step": asdict(self.next_step),
        }


def rollout_status(env: Mapping[str, str], days: int = 7) -> RolloutStatus:
    """Read the figures for the database and flags `env` names, and decide."""
    db_url = database_url(env, needed_by="`rollout status`")
    parsed = urlparse(db_url)
    figures = read_figures(db_url, days, DeclaredFlags.from_env(env))
    return RolloutStatus(
        figures=figures,
        next_step=decide(figures),
        database=f"{parsed.hostname}:{parsed.port or 5432}{parsed.path or ''}",
        defaulted=tuple(n for n in FLAG_NAMES if not env.get(n, "").strip()),
    )
