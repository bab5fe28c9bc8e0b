"""The rollout decision (toolkit.rollout.decide): a pure function of the figures."""

from __future__ import annotations

import dataclasses

import pytest

from toolkit.config import DeclaredFlags
from toolkit.errors import ConfigError
from toolkit.ops.rollout import (
    DISABLE_BOOTSTRAP,
    DONE,
    ENFORCE_TOKEN,
    KEEP_WATCHING,
    Figures,
    NextStep,
    decide,
)

START = DeclaredFlags(allow_bootstrap=True, enforce_token=False)
BOOTSTRAP_OFF = DeclaredFlags(allow_bootstrap=False, enforce_token=False)
BOTH_FLIPPED = DeclaredFlags(allow_bootstrap=False, enforce_token=True)
OUT_OF_ORDER = DeclaredFlags(allow_bootstrap=True, enforce_token=True)
QUIET = Figures(
    window_days=7,
    unhashed_active=0,
    unhashed_active_recent=0,
    token_bootstrapped=0,
    tokenless_accepted=0,
    token_issued=0,
    flags=START,
)
AGAIN = "chat-toolkit rollout status --days 7"


def figures(**changes: object) -> Figures:
    return dataclasses.replace(QUIET, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (figures(), (DISABLE_BOOTSTRAP, 3)),
        (figures(token_bootstrapped=1), (KEEP_WATCHING, 2)),
        (figures(unhashed_active=1, unhashed_active_recent=1), (KEEP_WATCHING, 2)),
        (figures(unhashed_active=5), (DISABLE_BOOTSTRAP, 3)),
        (figures(tokenless_accepted=9, token_issued=9), (DISABLE_BOOTSTRAP, 3)),
        (figures(flags=BOOTSTRAP_OFF, tokenless_accepted=1), (KEEP_WATCHING, 2)),
        (figures(flags=BOOTSTRAP_OFF, token_bootstrapped=4), (ENFORCE_TOKEN, 4)),
        (figures(flags=BOOTSTRAP_OFF, unhashed_active_recent=3), (ENFORCE_TOKEN, 4)),
        (figures(flags=BOOTSTRAP_OFF), (ENFORCE_TOKEN, 4)),
        (figures(flags=BOTH_FLIPPED, tokenless_accepted=2, token_bootstrapped=2), (DONE, 5)),
        (figures(flags=OUT_OF_ORDER, token_bootstrapped=1), (KEEP_WATCHING, 2)),
        (figures(flags=OUT_OF_ORDER), (DISABLE_BOOTSTRAP, 3)),
    ],
    ids=[
        "quiet-bootstrap-on",
        "recent-mint",
        "recent-unhashed",
        "only-idle-unhashed",
        "tokenless-does-not-hold-bootstrap",
        "bootstrap-off-tokenless",
        "bootstrap-off-old-mints-irrelevant",
        "bootstrap-off-unhashed-irrelevant",
        "bootstrap-off-quiet",
        "both-flipped",
        "enforce-first-recent-mint",
        "enforce-first-quiet",
    ],
)
def test_decision_table(case: Figures, expected: tuple[str, int]) -> None:
    """Each combination of flags and figures maps to exactly one step of the seed's list."""
    step = decide(case)
    assert (step.step, step.seed_step) == expected


def test_keep_watching_names_the_figures_and_the_recheck_command() -> None:
    """With bootstrap on, recent mints and unhashed conversations are counted in the reason."""
    step = decide(figures(token_bootstrapped=3, unhashed_active=4, unhashed_active_recent=1))
    assert step == NextStep(
        KEEP_WATCHING,
        2,
        "3 bootstrap mints and 1 active conversation without a token in the last 7 days: "
        "visitors may still need bootstrap to resume; wait for a 7-day window without any",
        AGAIN,
    )


def test_disable_bootstrap_gives_the_secrets_command() -> None:
    """A quiet window with bootstrap on says to switch it off with `supabase secrets set`."""
    assert decide(figures(unhashed_active=2)) == NextStep(
        DISABLE_BOOTSTRAP,
        3,
        "0 bootstrap mints and 0 active conversations without a token in the last 7 days "
        "(2 conversations without a token idle for longer); once off, no sync or message "
        "mints a token from an id and visitorId, and tokenless messages are accepted without "
        "one until enforcement",
        "supabase secrets set CHAT_SYNC_ALLOW_BOOTSTRAP=false",
    )


def test_tokenless_messages_hold_back_enforcement() -> None:
    """With bootstrap off, tokenless messages in the window keep enforcement off."""
    assert decide(figures(flags=BOOTSTRAP_OFF, tokenless_accepted=1, window_days=1)) == NextStep(
        KEEP_WATCHING,
        2,
        "1 message accepted without a token in the last 1 day: enforcing now would answer "
        "them 401; not yet ENFORCE_VISITOR_CONVERSATION_TOKEN=true",
        "chat-toolkit rollout status --days 1",
    )


def test_enforce_gives_the_secrets_command() -> None:
    """With bootstrap off and no tokenless message in the window, enforcement is next."""
    assert decide(figures(flags=BOOTSTRAP_OFF, window_days=14)) == NextStep(
        ENFORCE_TOKEN,
        4,
        "bootstrap is off and 0 messages were accepted without a token in the last 14 days",
        "supabase secrets set ENFORCE_VISITOR_CONVERSATION_TOKEN=true",
    )


def test_done_points_at_verify_write() -> None:
    """With both flags flipped the rollout is done and the last step is `verify --write`."""
    step = decide(figures(flags=BOTH_FLIPPED))
    assert (step.step, step.seed_step, step.command) == (DONE, 5, "chat-toolkit verify --write")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, DeclaredFlags(allow_bootstrap=True, enforce_token=False)),
        (
            {"CHAT_SYNC_ALLOW_BOOTSTRAP": "false", "ENFORCE_VISITOR_CONVERSATION_TOKEN": "TRUE"},
            DeclaredFlags(allow_bootstrap=False, enforce_token=True),
        ),
        (
            {"CHAT_SYNC_ALLOW_BOOTSTRAP": " ", "ENFORCE_VISITOR_CONVERSATION_TOKEN": "0"},
            DeclaredFlags(allow_bootstrap=True, enforce_token=False),
        ),
    ],
)
def test_declared_flags_follow_the_contract_defaults(
    env: dict[str, str], expected: DeclaredFlags
) -> None:
    """Unset flags mean bootstrap on and enforcement off (CONTRACT §7)."""
    assert DeclaredFlags.from_env(env) == expected


def test_malformed_flag_names_the_variable() -> None:
    """A flag that is not a boolean is a one-line error naming it."""
    with pytest.raises(ConfigError, match="CHAT_SYNC_ALLOW_BOOTSTRAP='maybe' is not a boolean"):
        DeclaredFlags.from_env({"CHAT_SYNC_ALLOW_BOOTSTRAP": "maybe"})
