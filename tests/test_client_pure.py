"""The visitor client without a server: merging, backoff, the session file, error mapping."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from toolkit.client import (
    MIN_DELAY,
    SESSION_KEY,
    VISITOR_KEY,
    Session,
    SessionStore,
    Update,
    VisitorClient,
    backoff_delay,
    merge_messages,
    parse_retry_after,
)
from toolkit.errors import ConfigError, Forbidden, FunctionError, TokenRequired, Unauthorized

CID = "6f1c1b1e-9a43-4c55-9d0e-3f1f2a7b8c9d"
OTHER_CID = "0b5a3c2d-1e4f-4a6b-8c7d-9e0f1a2b3c4d"


def msg(id_: str, at: str, text: str = "hi") -> dict[str, Any]:
    return {"id": id_, "senderType": "ai", "senderName": None, "text": text, "createdAt": at}


# -- merge_messages -------------------------------------------------------------------------


def test_merge_dedupes_by_id_and_the_later_copy_wins() -> None:
    """A message present in both lists appears once, with the incoming copy's fields."""
    old = [msg("a", "2026-03-27T10:00:00+00:00", "old text")]
    new = [msg("a", "2026-03-27T10:00:00+00:00", "new text")]
    assert merge_messages(old, new) == [msg("a", "2026-03-27T10:00:00+00:00", "new text")]


def test_merge_orders_by_created_at_then_id() -> None:
    """Messages are ordered by time, ties broken by id, whatever order they came in."""
    merged = merge_messages(
        [msg("c", "2026-03-27T10:00:01+00:00"), msg("b", "2026-03-27T10:00:00+00:00")],
        [msg("a", "2026-03-27T10:00:00+00:00"), msg("d", "2026-03-27T09:59:59+00:00")],
    )
    assert [m["id"] for m in merged] == ["d", "a", "b", "c"]


def test_merge_compares_instants_not_text() -> None:
    """Timestamps in other offsets and precisions are ordered by the instant they name."""
    merged = merge_messages(
        [],
        [
            msg("late", "2026-03-27T12:00:00.5+02:00"),  # 10:00:00.5 UTC
            msg("early", "2026-03-27T10:00:00.25+00:00"),
            msg("middle", "2026-03-27T10:00:00.3+00:00"),
        ],
    )
    assert [m["id"] for m in merged] == ["early", "middle", "late"]


def test_merge_of_nothing_is_empty_and_inputs_are_untouched() -> None:
    """Merging empty lists gives an empty list, and merging never mutates its inputs."""
    old = [msg("b", "2026-03-27T10:00:01+00:00")]
    new = [msg("a", "2026-03-27T10:00:00+00:00")]
    assert merge_messages([], []) == []
    merge_messages(old, new)
    assert [m["id"] for m in old] == ["b"] and [m["id"] for m in new] == ["a"]


# -- backoff --------------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    """With rng at its top, the delay doubles from `base` each attempt and stops at `cap`."""
    delays = [backoff_delay(n, base=0.5, cap=30.0, rng=lambda: 1.0) for n in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_backoff_is_full_jitter_over_the_window() -> None:
    """The delay is rng() times the window: 0.25 of attempt 3's 4 s window is 1 s."""
    assert backoff_delay(3, base=0.5, rng=lambda: 0.25) == 1.0
    assert backoff_delay(3, base=0.5, rng=lambda: 0.75) == 3.0


def test_backoff_never_returns_less_than_the_minimum() -> None:
    """An rng of 0 (or a zero base) still waits MIN_DELAY, so a retry loop cannot spin."""
    assert MIN_DELAY == 0.1
    assert backoff_delay(0, rng=lambda: 0.0) == 0.1
    assert backoff_delay(5, base=0.0, rng=lambda: 1.0) == 0.1
    assert backoff_delay(-3, rng=lambda: 0.0) == 0.1


def test_backoff_survives_huge_attempt_numbers() -> None:
    """A very long outage neither overflows nor exceeds the cap."""
    assert backoff_delay(10_000, cap=30.0, rng=lambda: 1.0) == 30.0


def test_backoff_honours_retry_after_exactly() -> None:
    """A Retry-After replaces the computed delay (even beyond the cap), floored at MIN_DELAY."""
    assert backoff_delay(0, rng=lambda: 1.0, retry_after=7.0) == 7.0
    assert backoff_delay(8, cap=30.0, rng=lambda: 1.0, retry_after=120.0) == 120.0
    assert backoff_delay(8, rng=lambda: 1.0, retry_after=0.0) == 0.1


def test_parse_retry_after_seconds_and_http_dates() -> None:
    """Delay-seconds and HTTP dates become seconds; junk, blanks and absence become None."""
    now = datetime(2026, 3, 27, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 12 ") == 12.0
    assert parse_retry_after("Fri, 27 Mar 2026 10:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Fri, 27 Mar 2026 09:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-1") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


# -- SessionStore ---------------------------------------------------------------------------


def test_session_store_round_trip_in_the_widget_shape(tmp_path: Path) -> None:
    """A saved session reads back equal and sits under the widget's key, next to the visitor."""
    store = SessionStore(tmp_path / "session.json")
    assert store.load() is None and store.visitor_id() is None
    store.save_visitor_id("visitor-1")
    store.save(Session(CID, "tok-123"))
    assert store.load() == Session(CID, "tok-123")
    assert store.visitor_id() == "visitor-1"
    assert json.loads(store.path.read_text()) == {
        VISITOR_KEY: "visitor-1",
        SESSION_KEY: {"conversationId": CID, "conversationToken": "tok-123"},
    }
    assert SESSION_KEY == "tradeitm_chat_session_v1"


def test_session_store_clear_forgets_the_conversation_but_not_the_visitor(
    tmp_path: Path,
) -> None:
    """clear() removes the session key only; clearing twice is harmless."""
    store = SessionStore(tmp_path / "session.json")
    store.save_visitor_id("visitor-1")
    store.save(Session(CID, "tok-123"))
    store.clear()
    store.clear()
    assert store.load() is None
    assert json.loads(store.path.read_text()) == {VISITOR_KEY: "visitor-1"}


def test_session_file_is_private_and_written_atomically(tmp_path: Path) -> None:
    """The file is mode 0600 after every write, and no temporary file is left behind."""
    store = SessionStore(tmp_path / "nested" / "session.json")
    store.save(Session(CID, "tok-123"))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    store.path.chmod(0o644)
    store.save(Session(OTHER_CID, "tok-456"))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["session.json"]


def test_legacy_session_has_no_token(tmp_path: Path) -> None:
    """A stored session with only conversationId loads with token None and saves that way."""
    path = tmp_path / "session.json"
    path.write_text(json.dumps({SESSION_KEY: {"conversationId": CID}, VISITOR_KEY: "v-1"}))
    store = SessionStore(path)
    assert store.load() == Session(CID, None)
    store.save(Session(OTHER_CID))
    assert json.loads(path.read_text())[SESSION_KEY] == {"conversationId": OTHER_CID}


def test_malformed_session_value_is_no_session(tmp_path: Path) -> None:
    """A session value of the wrong shape is ignored, as the widget ignores bad localStorage."""
    path = tmp_path / "session.json"
    path.write_text(json.dumps({SESSION_KEY: {"conversationToken": "t"}}))
    assert SessionStore(path).load() is None
    path.write_text(json.dumps({SESSION_KEY: "nonsense"}))
    assert SessionStore(path).load() is None


def test_a_file_that_is_not_json_is_refused_not_overwritten(tmp_path: Path) -> None:
    """Pointing --session at some other file is a ConfigError, and the file is unchanged."""
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n")
    with pytest.raises(ConfigError, match=r"notes\.txt is not a chat session file"):
        SessionStore(path).save(Session(CID, "t"))
    assert path.read_text() == "my notes\n"


def test_session_repr_hides_the_token() -> None:
    """A Session's repr never contains the token."""
    assert repr(Session(CID, "tok-secret")) == f"Session(conversation_id='{CID}', token='***')"


# -- VisitorClient against a scripted transport ---------------------------------------------


SYNC_OK = {
    "conversation": {"id": CID, "status": "active"},
    "messages": [msg("m1", "2026-03-27T10:00:00+00:00")],
    "typing": {"isTyping": False, "name": None},
    "cursor": "Y3Vyc29y",
}


def scripted(*answers: httpx.Response) -> tuple[httpx.AsyncClient, list[dict[str, Any]]]:
    """An AsyncClient whose transport answers with `answers` in turn and records bodies."""
    bodies: list[dict[str, Any]] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append({"path": request.url.path, **json.loads(request.content)})
        return queue.pop(0)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), bodies


def stored(tmp_path: Path, session: Session | None) -> SessionStore:
    store = SessionStore(tmp_path / "session.json")
    store.save_visitor_id("visitor-1")
    if session is not None:
        store.save(session)
    return store


def test_run_backs_off_with_jitter_and_honours_retry_after(tmp_path: Path) -> None:
    """A 503 waits the jittered backoff, a 429 its Retry-After (floored), then sync resumes."""
    store = stored(tmp_path, Session(CID, "tok"))
    updates: list[Update] = []

    async def scenario() -> None:
        http, bodies = scripted(
            httpx.Response(503, json={"error": "down", "code": "upstream_unavailable"}),
            httpx.Response(
                429,
                json={"error": "slow down", "code": "rate_limited"},
                headers={"Retry-After": "0"},
            ),
            httpx.Response(200, json=SYNC_OK),
        )
        async with http:
            client = VisitorClient(
                "http://fn.test/functions/v1",
                "anon",
                store,
                http=http,
                interval=0.01,
                rng=lambda: 0.5,
            )
            stop = asyncio.Event()

            def on_update(update: Update) -> None:
                updates.append(update)
                if update.error is None:
                    stop.set()

            await asyncio.wait_for(client.run(on_update, stop), timeout=5)
        assert [b["path"] for b in bodies] == ["/functions/v1/chat-visitor-sync"] * 3

    asyncio.run(scenario())
    assert [(u.error.code if u.error else None, u.retry_in) for u in updates] == [
        ("upstream_unavailable", 0.25),
        ("rate_limited", 0.1),
        (None, None),
    ]
    assert [m["id"] for m in updates[-1].messages] == ["m1"]


def test_sync_403_clears_the_session_and_reports_it(tmp_path: Path) -> None:
    """A 403 forbidden from sync clears the stored session and comes back as Update.reset."""
    store = stored(tmp_path, Session(CID, "stale"))

    async def scenario() -> Update:
        http, _ = scripted(
            httpx.Response(403, json={"error": "conversation not found", "code": "forbidden"})
        )
        async with http:
            client = VisitorClient("http://fn.test/functions/v1", "anon", store, http=http)
            return await client.sync()

    update = asyncio.run(scenario())
    assert isinstance(update.reset, Forbidden)
    assert str(update.reset) == "conversation not found"
    assert store.load() is None and store.visitor_id() == "visitor-1"


def test_send_401_token_required_clears_the_session_and_raises(tmp_path: Path) -> None:
    """A 401 token_required on send clears the session and raises TokenRequired."""
    store = stored(tmp_path, Session(CID))

    async def scenario() -> None:
        http, bodies = scripted(
            httpx.Response(401, json={"error": "token needed", "code": "token_required"})
        )
        async with http:
            client = VisitorClient("http://fn.test/functions/v1", "anon", store, http=http)
            with pytest.raises(TokenRequired, match="token needed"):
                await client.send("hi", client_message_id="c-1")
        assert bodies == [
            {
                "path": "/functions/v1/handle-chat-message",
                "visitorId": "visitor-1",
                "message": "hi",
                "clientMessageId": "c-1",
                "conversationId": CID,
            }
        ]

    asyncio.run(scenario())
    assert store.load() is None


def test_401_unauthorized_is_a_bad_key_and_keeps_the_session(tmp_path: Path) -> None:
    """A 401 unauthorized (bad API key) raises Unauthorized and leaves the session alone."""
    store = stored(tmp_path, Session(CID, "tok"))

    async def scenario() -> None:
        http, _ = scripted(
            httpx.Response(401, json={"error": "invalid JWT", "code": "unauthorized"})
        )
        async with http:
            client = VisitorClient("http://fn.test/functions/v1", "bad", store, http=http)
            with pytest.raises(Unauthorized, match="invalid JWT"):
                await client.sync()

    asyncio.run(scenario())
    assert store.load() == Session(CID, "tok")


def test_network_failure_and_bare_5xx_are_upstream_unavailable(tmp_path: Path) -> None:
    """A refused connection and a 502 without a JSON body both surface as UpstreamUnavailable."""
    store = stored(tmp_path, Session(CID, "tok"))

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def scenario() -> list[tuple[str, int]]:
        codes = []
        for transport in (
            httpx.MockTransport(refuse),
            httpx.MockTransport(lambda _r: httpx.Response(502, text="<html>bad gateway</html>")),
        ):
            async with httpx.AsyncClient(transport=transport) as http:
                client = VisitorClient("http://fn.test/functions/v1", "anon", store, http=http)
                try:
                    await client.sync()
                except FunctionError as exc:
                    codes.append((exc.code, exc.status))
        return codes

    assert asyncio.run(scenario()) == [("upstream_unavailable", 503)] * 2
    assert store.load() == Session(CID, "tok")


def test_explicit_other_visitor_id_drops_the_stored_session(tmp_path: Path) -> None:
    """A --visitor-id unlike the stored one replaces it and clears that visitor's session."""
    store = stored(tmp_path, Session(CID, "tok"))

    async def scenario() -> str:
        async with httpx.AsyncClient() as http:
            client = VisitorClient("http://fn.test", "anon", store, http=http, visitor_id="v-2")
            return client.visitor_id

    assert asyncio.run(scenario()) == "v-2"
    assert store.visitor_id() == "v-2" and store.load() is None


def test_interval_must_be_positive(tmp_path: Path) -> None:
    """An interval of 0 is a ConfigError, so the loop cannot be told to spin."""

    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            VisitorClient(
                "http://fn.test", "anon", SessionStore(tmp_path / "s"), http=http, interval=0
            )

    with pytest.raises(ConfigError, match="interval must be a positive number"):
        asyncio.run(scenario())


def page(
    *ids: str, cursor: str | None = "v2.c", has_more: bool = False, **extra: Any
) -> dict[str, Any]:
    """A sync answer holding messages `ids`; message "mN" was written at second N."""
    return {
        **SYNC_OK,
        "messages": [msg(i, f"2026-03-27T10:00:0{i[1:]}+00:00") for i in ids],
        "cursor": cursor,
        "hasMore": has_more,
        "before": None,
        **extra,
    }


def test_long_poll_is_asked_for_only_with_a_cursor(tmp_path: Path) -> None:
    """The first sync (no cursor) goes without `wait`; the next carries the cursor and it."""
    store = stored(tmp_path, Session(CID, "tok"))

    async def scenario() -> list[dict[str, Any]]:
        http, bodies = scripted(
            httpx.Response(200, json=page("m1", cursor="v2.first")),
            httpx.Response(200, json=page(cursor="v2.second")),
        )
        async with http:
            client = VisitorClient("http://fn.test/functions/v1", "anon", store, http=http)
            await client.sync(wait=20)
            await client.sync(wait=20)
        return bodies

    first, second = asyncio.run(scenario())
    assert "wait" not in first and "since" not in first
    assert (second["since"], second["wait"]) == ("v2.first", 20)


def test_load_older_walks_back_with_before_and_merges(tmp_path: Path) -> None:
    """A newest page with `before` makes older history loadable: load_older sends it,
    merges the older messages in order, and stops when the answer has no `before`."""
    store = stored(tmp_path, Session(CID, "tok"))

    async def scenario() -> tuple[list[Any], list[dict[str, Any]], list[str], bool]:
        newest = page("m3", "m4", has_more=True, before="p1.older")
        older = {**page("m1", "m2", cursor=None), "cursor": None}
        http, bodies = scripted(httpx.Response(200, json=newest), httpx.Response(200, json=older))
        async with http:
            client = VisitorClient("http://fn.test/functions/v1", "anon", store, http=http)
            update = await client.sync()
            assert update.has_older and client.has_older
            fresh = [m["id"] for m in await client.load_older(limit=2)]
            nothing = await client.load_older()
            return [fresh, nothing], bodies, [m["id"] for m in client.messages], client.has_older

    (fresh, nothing), bodies, everything, has_older = asyncio.run(scenario())
    assert (fresh, nothing, has_older) == (["m1", "m2"], [], False)
    assert (bodies[1]["before"], bodies[1]["limit"]) == ("p1.older", 2)
    assert "since" not in bodies[1] and len(bodies) == 2
    assert everything == ["m1", "m2", "m3", "m4"]


def test_pending_answer_is_followed_at_once_and_the_cursor_advances(tmp_path: Path) -> None:
    """An incremental answer with hasMore makes `run` sync again without waiting, from the
    new cursor; `pending` is set only on that answer."""
    store = stored(tmp_path, Session(CID, "tok"))
    updates: list[Update] = []

    async def scenario() -> list[dict[str, Any]]:
        http, bodies = scripted(
            httpx.Response(200, json=page("m1", cursor="v2.a")),
            httpx.Response(200, json=page("m2", cursor="v2.b", has_more=True)),
            httpx.Response(200, json=page("m3", cursor="v2.c")),
        )
        async with http:
            client = VisitorClient(
                "http://fn.test/functions/v1", "anon", store, http=http, interval=30, wait=5
            )
            stop = asyncio.Event()

            def on_update(update: Update) -> None:
                updates.append(update)
                if len(updates) == 3:
                    stop.set()

            await asyncio.wait_for(client.run(on_update, stop), timeout=5)
        return bodies

    bodies = asyncio.run(scenario())
    assert [b.get("since") for b in bodies] == [None, "v2.a", "v2.b"]
    assert [u.pending for u in updates] == [False, True, False]


def test_a_server_that_does_not_hold_is_polled_every_interval(tmp_path: Path) -> None:
    """Long-polling a server that answers at once with nothing new (no listener) waits
    `interval` between requests instead of asking again at once."""
    store = stored(tmp_path, Session(CID, "tok"))
    times: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        answers = [page("m1", cursor="v2.a"), page(cursor="v2.a"), page(cursor="v2.a")]

        def handle(request: httpx.Request) -> httpx.Response:
            times.append(loop.time())
            return httpx.Response(200, json=answers.pop(0))

        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
            client = VisitorClient(
                "http://fn.test/functions/v1", "anon", store, http=http, interval=0.3, wait=20
            )
            stop = asyncio.Event()
            await asyncio.wait_for(
                client.run(lambda _u: stop.set() if not answers else None, stop), timeout=5
            )

    asyncio.run(scenario())
    assert len(times) == 3
    assert times[2] - times[1] >= 0.3  # nothing new and not held: a poll interval apart
    assert times[1] - times[0] < 0.3  # news (the first page): asked again at once


def test_wait_must_be_within_what_the_server_accepts(tmp_path: Path) -> None:
    """A wait beyond 25 s (or negative) is a ConfigError naming the range."""

    async def scenario(wait: float) -> None:
        async with httpx.AsyncClient() as http:
            VisitorClient(
                "http://fn.test", "anon", SessionStore(tmp_path / "s"), http=http, wait=wait
            )

    for wait in (-1, 26):
        with pytest.raises(ConfigError, match="wait must be from 0 to 25 seconds"):
            asyncio.run(scenario(wait))
