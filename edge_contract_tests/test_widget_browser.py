"""The reference widget (widget/chat-widget.js) in a real browser: Debian's Chromium driven
by Playwright, headless. The page is served from another origin than the API, so the CORS
preflight, localStorage and rendering are the browser's own."""

from __future__ import annotations

import functools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, sync_playwright

from edge_contract_tests.helpers import Stacks, auth_headers, call
from toolkit.config import ServerSettings, Target
from toolkit.functions.handle_chat_message import ESCALATION_NOTICE
from toolkit.ops import team
from toolkit.stack import testing
from toolkit.tokens import hash_token, mint_token

pytestmark = [pytest.mark.browser, pytest.mark.writes]

WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"
CHROMIUM = Path("/usr/bin/chromium")
# No network here: nothing may try to reach Google's services in the background.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-gpu",
]
SESSION_KEY = "tradeitm_chat_session_v1"
RULES_REPLY = ServerSettings.__dataclass_fields__["rules_reply"].default
XSS = '<img src=x onerror="window.__xss=1">'
ESCALATED_TEXT = "A member of our team has been notified and will reply here."


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """widget/ served by a plain static server on its own loopback port: another origin."""
    handler = functools.partial(_QuietHandler, directory=str(WIDGET_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found; install Debian's chromium with ./scripts/setup.sh")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture()
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: empty localStorage, a new visitor."""
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture()
def console(target: Target, http: httpx.Client) -> team.TeamConsole:
    return team.TeamConsole(target, http)


def open_widget(context: BrowserContext, page_origin: str, api_url: str, key: str) -> Page:
    page = context.new_page()
    query = urlencode({"url": api_url, "key": key})
    page.goto(f"{page_origin}/index.html?{query}")
    page.get_by_test_id("chat-widget").wait_for()
    return page


def send(page: Page, text: str) -> None:
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("chat-send").click()


def shown(page: Page) -> list[tuple[str, str]]:
    """(data-sender-type, text) of every message the widget shows, in order."""
    return [
        (str(kind), str(text))
        for kind, text in page.evaluate(
            """() => [...document.querySelectorAll('[data-testid=chat-message]')].map((m) =>
                 [m.dataset.senderType, m.querySelector('[data-testid=chat-text]').textContent])"""
        )
    ]


def wait_for_messages(page: Page, count: int) -> list[tuple[str, str]]:
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=chat-message]').length >= n", arg=count
    )
    return shown(page)


def stored_session(page: Page) -> dict[str, str] | None:
    raw = page.evaluate(f"() => localStorage.getItem('{SESSION_KEY}')")
    return json.loads(raw) if raw else None


def messages_of(http: httpx.Client, target: Target, conversation_id: str) -> list[str]:
    response = http.get(
        f"{target.url}/rest/v1/chat_messages",
        params={"conversation_id": f"eq.{conversation_id}", "select": "message_text"},
        headers=auth_headers(target.service_role_key),
    )
    assert response.status_code == 200
    return [row["message_text"] for row in response.json()]


def test_send_and_receive_from_another_origin(
    context: BrowserContext, page_origin: str, target: Target, http: httpx.Client
) -> None:
    """A page on another origin sends; the rules reply appears; the session is stored."""
    assert page_origin != target.url  # the browser's own CORS preflight is in the path
    page = open_widget(context, page_origin, target.url, target.anon_key)
    send(page, "Hello from the browser")
    assert wait_for_messages(page, 2) == [
        ("visitor", "Hello from the browser"),
        ("ai", RULES_REPLY),
    ]
    session = stored_session(page)
    assert session is not None and set(session) == {"conversationId", "conversationToken", "apiUrl"}
    assert session["apiUrl"] == f"{target.url}/functions/v1"
    row = http.get(
        f"{target.url}/rest/v1/chat_conversations",
        params={"id": f"eq.{session['conversationId']}", "select": "visitor_id,access_token_hash"},
        headers=auth_headers(target.service_role_key),
    ).json()[0]
    assert row["visitor_id"] == page.evaluate(
        "() => localStorage.getItem('tradeitm_chat_visitor_id')"
    )
    assert row["access_token_hash"] == hash_token(session["conversationToken"])
    assert page.get_by_test_id("chat-input").input_value() == ""


def test_team_reply_and_typing_appear_and_a_note_never(
    context: BrowserContext, page_origin: str, target: Target, console: team.TeamConsole
) -> None:
    """Escalation shows; a team reply and typing show once written (the held sync wakes);
    a note written before the typing never shows, and stopping the typing hides it."""
    page = open_widget(context, page_origin, target.url, target.anon_key)
    send(page, "I want to talk to a human")
    assert wait_for_messages(page, 2) == [
        ("visitor", "I want to talk to a human"),
        ("system", ESCALATION_NOTICE),
    ]
    state = page.get_by_test_id("chat-state")
    assert state.get_attribute("data-status") == "escalated"
    assert state.inner_text() == ESCALATED_TEXT
    typing = page.get_by_test_id("chat-typing")
    assert not typing.is_visible()
    session = stored_session(page)
    assert session is not None
    cid = session["conversationId"]
    now = datetime.now(UTC).isoformat()  # the database stamps its own time over it
    console.send(
        team.message_request(cid, "Dana", "Hi, Dana here. How can I help?", internal=False)
    )
    console.send(team.message_request(cid, "Dana", "VIP: check the refund", internal=True))
    console.send(team.typing_request(cid, "Dana", True, now))
    # The answer that showed the typing was read after the note was written.
    typing.wait_for(state="visible")
    assert typing.inner_text() == "Dana is typing…"
    assert shown(page)[2:] == [("team", "Hi, Dana here. How can I help?")]
    assert page.locator("[data-sender-type=team] .chat-who").inner_text() == "Dana"
    console.send(team.typing_request(cid, "Dana", False, now))
    typing.wait_for(state="hidden")
    assert len(shown(page)) == 3


def test_merge_dedupes_by_id_and_orders_to_the_microsecond(
    context: BrowserContext, page_origin: str, target: Target
) -> None:
    """mergeMessages in the browser's own engine: one copy per id (the later wins), ordered
    by createdAt below the millisecond, then id."""
    page = open_widget(context, page_origin, target.url, target.anon_key)
    merged = page.evaluate(
        """async () => {
             const { mergeMessages } = await import('./chat-widget.js');
             const at = (us) => `2026-01-01T00:00:00.000${us}+00:00`;
             return mergeMessages(
               [{ id: 'z', createdAt: at('001'), text: 'old' }, { id: 'a', createdAt: at('002') }],
               [{ id: 'z', createdAt: at('001'), text: 'new' }, { id: 'm', createdAt: at('001') },
                { id: 'd', createdAt: '2025-12-31T23:59:59Z' }],
             ).map((m) => `${m.id}${m.text ? ':' + m.text : ''}`);
           }"""
    )
    assert merged == ["d", "m", "z:new", "a"]


def test_overlapping_syncs_show_each_message_once(
    context: BrowserContext, page_origin: str, target: Target, console: team.TeamConsole
) -> None:
    """While another transaction stays open (a v1 cursor could not advance past it, so
    every sync repeated the newer messages), the syncs that follow, woken by the team's
    typing starting and stopping, still leave each message shown once."""
    if target.db_url is None:
        pytest.skip("SUPABASE_DB_URL is not set: holding a transaction open needs the database")
    page = open_widget(context, page_origin, target.url, target.anon_key)
    with psycopg.connect(target.db_url) as holder:  # not autocommit: the transaction stays open
        holder.execute("select pg_current_xact_id()")
        send(page, "said once")
        wait_for_messages(page, 2)
        session = stored_session(page)
        assert session is not None
        cid, now = session["conversationId"], datetime.now(UTC).isoformat()
        typing = page.get_by_test_id("chat-typing")
        # Each wait ends with a sync answered after the change.
        console.send(team.typing_request(cid, "Dana", True, now))
        typing.wait_for(state="visible")
        console.send(team.typing_request(cid, "Dana", False, now))
        typing.wait_for(state="hidden")
        assert shown(page) == [("visitor", "said once"), ("ai", RULES_REPLY)]
        holder.rollback()


def test_the_widget_long_polls_when_the_server_offers_it(
    context: BrowserContext, page_origin: str, target: Target, console: team.TeamConsole
) -> None:
    """This server's sync answers say `longPoll: true` (its functions listen for changes):
    the widget's next sync carries the cursor and `wait`, is held, and brings the team's
    reply written meanwhile."""
    page = open_widget(context, page_origin, target.url, target.anon_key)

    def long_poll(request: Request) -> bool:
        body = json.loads(request.post_data or "{}")
        return request.url.endswith("/chat-visitor-sync") and "wait" in body

    with page.expect_request(long_poll) as waiting:
        send(page, "anyone there?")
    held = json.loads(waiting.value.post_data or "{}")
    assert held["wait"] == 20 and isinstance(held["since"], str)
    session = stored_session(page)
    assert session is not None
    reply = "Dana here, sorry for the wait."
    console.send(team.message_request(session["conversationId"], "Dana", reply, internal=False))
    response = waiting.value.response()
    assert response is not None and response.status == 200
    answer = response.json()
    assert [m["text"] for m in answer["messages"]] == [reply]
    assert answer["longPoll"] is True
    assert wait_for_messages(page, 3)[2:] == [("team", reply)]


@pytest.mark.parametrize(
    ("key", "bearer"), [("legacy", True), ("sb_publishable_0123456789abcdefABCDEF", False)]
)
def test_the_key_goes_as_apikey_and_as_bearer_only_when_it_is_a_jwt(
    context: BrowserContext, page_origin: str, target: Target, key: str, bearer: bool
) -> None:
    """A legacy anon key (a JWT) is sent as apikey and Bearer, as supabase-js does; a
    publishable key is not a JWT and goes only as apikey."""
    key = target.anon_key if key == "legacy" else key
    page = open_widget(context, page_origin, target.url, key)
    with page.expect_request(lambda r: r.url.endswith("/handle-chat-message")) as sent:
        send(page, "which headers?")
    headers = sent.value.headers
    assert headers["apikey"] == key
    assert headers.get("authorization") == (f"Bearer {key}" if bearer else None)


def test_reload_resumes_the_same_conversation(
    context: BrowserContext, page_origin: str, target: Target, http: httpx.Client
) -> None:
    """After a reload the stored session brings the history back and new messages join it."""
    page = open_widget(context, page_origin, target.url, target.anon_key)
    send(page, "before the reload")
    before = wait_for_messages(page, 2)
    session = stored_session(page)
    assert session is not None
    page.reload()
    assert wait_for_messages(page, 2) == before
    send(page, "after the reload")
    assert wait_for_messages(page, 4)[2:] == [("visitor", "after the reload"), ("ai", RULES_REPLY)]
    assert stored_session(page) == session
    assert messages_of(http, target, session["conversationId"]).count("after the reload") == 1


def test_a_stored_session_is_never_sent_to_another_api(
    context: BrowserContext, page_origin: str, target: Target
) -> None:
    """The page told to talk to another API (`?url=` is attacker-chosen on the demo page)
    sends nothing of the stored session there; back on its own API the session resumes."""
    page = open_widget(context, page_origin, target.url, target.anon_key)
    send(page, "my secret conversation")
    wait_for_messages(page, 2)
    session = stored_session(page)
    assert session is not None and session["conversationToken"]
    received: list[bytes] = []

    class Collector(SimpleHTTPRequestHandler):
        def do_OPTIONS(self) -> None:
            self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Headers", "*")
            self.end_headers()

        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("content-length", "0"))))
            self.send_response(403)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error":"no","code":"forbidden"}')

        def log_message(self, *_args: Any) -> None:
            pass

    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        elsewhere = open_widget(
            context, page_origin, f"http://127.0.0.1:{collector.server_port}", target.anon_key
        )
        elsewhere.wait_for_load_state("networkidle")
        elsewhere.close()
    finally:
        collector.shutdown()
        collector.server_close()
    assert not [body for body in received if session["conversationToken"].encode() in body]
    back = open_widget(context, page_origin, target.url, target.anon_key)
    assert wait_for_messages(back, 2)[0] == ("visitor", "my secret conversation")
    assert stored_session(back) == session


def test_revoked_session_is_cleared_and_the_typed_text_kept(
    context: BrowserContext, page_origin: str, target: Target, http: httpx.Client
) -> None:
    """The token revoked server-side: sync's 403 clears the session, not the draft; Send
    starts a new conversation with it."""
    page = open_widget(context, page_origin, target.url, target.anon_key)
    send(page, "first conversation")
    wait_for_messages(page, 2)
    old = stored_session(page)
    assert old is not None
    page.get_by_test_id("chat-input").fill("a draft typed meanwhile")
    revoked = http.patch(
        f"{target.url}/rest/v1/chat_conversations",
        params={"id": f"eq.{old['conversationId']}"},
        json={"access_token_hash": hash_token(mint_token())},
        headers=auth_headers(target.service_role_key),
    )
    assert revoked.status_code == 204
    status = page.get_by_test_id("chat-status")
    status.get_by_text("Your previous conversation has ended.").wait_for()
    assert status.inner_text() == (
        "Your previous conversation has ended. Send a message to start a new one."
    )
    assert shown(page) == []
    assert stored_session(page) is None
    assert page.get_by_test_id("chat-input").input_value() == "a draft typed meanwhile"
    page.get_by_test_id("chat-send").click()
    assert wait_for_messages(page, 2) == [
        ("visitor", "a draft typed meanwhile"),
        ("ai", RULES_REPLY),
    ]
    new = stored_session(page)
    assert new is not None and new["conversationId"] != old["conversationId"]


def test_foreign_session_is_refused_and_the_message_starts_a_new_conversation(
    context: BrowserContext, page_origin: str, target: Target, http: httpx.Client
) -> None:
    """Another conversation's id with a token not its own: the send is refused (403), the
    session cleared, and the same text goes into a new conversation; the other gets nothing."""
    other = call(
        http,
        target.functions_url,
        "handle-chat-message",
        {"visitorId": f"visitor-{uuid.uuid4()}", "message": "someone else"},
        target.anon_key,
    ).json()
    page = open_widget(context, page_origin, target.url, target.anon_key)
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if r.url.endswith("/handle-chat-message") else None,
    )
    foreign = {"conversationId": other["conversationId"], "conversationToken": mint_token()}
    # Stored and sent in one task, so the send (not a sync) is the first to meet it.
    page.evaluate(
        """([key, value, text]) => {
             localStorage.setItem(key, JSON.stringify(value));
             document.querySelector('[data-testid=chat-input]').value = text;
             document.querySelector('[data-testid=chat-send]').click();
           }""",
        [SESSION_KEY, foreign, "is anyone there?"],
    )
    assert wait_for_messages(page, 2) == [("visitor", "is anyone there?"), ("ai", RULES_REPLY)]
    assert statuses == [403, 200]
    assert page.get_by_test_id("chat-status").inner_text() == (
        "Your previous conversation could not be resumed; your message started a new one."
    )
    new = stored_session(page)
    assert new is not None and new["conversationId"] != other["conversationId"]
    assert messages_of(http, target, other["conversationId"]) == ["someone else", RULES_REPLY]


def test_markup_in_messages_renders_as_text(
    context: BrowserContext, page_origin: str, target: Target, console: team.TeamConsole
) -> None:
    """An <img onerror> from the visitor and from the team (text and name) shows as
    characters: no element is created and no script runs."""
    page = open_widget(context, page_origin, target.url, target.anon_key)
    send(page, XSS)
    wait_for_messages(page, 2)
    session = stored_session(page)
    assert session is not None
    console.send(team.message_request(session["conversationId"], XSS, XSS, internal=False))
    wait_for_messages(page, 3)
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("[data-testid=chat-widget] img").count() == 0
    assert [m for m in shown(page) if m[0] != "ai"] == [("visitor", XSS), ("team", XSS)]
    assert page.locator("[data-sender-type=team] .chat-who").inner_text() == XSS


def test_rate_limited_send_shows_its_wait(
    context: BrowserContext, page_origin: str, target: Target, serve: Callable[..., str]
) -> None:
    """CHAT_RATE_MESSAGE=1/60 (per conversation, after the one that creates it): the third
    message is 429; the widget shows the Retry-After wait, keeps the text, holds Send back."""
    api_url = serve(CHAT_RATE_LIMITS="on", CHAT_RATE_MESSAGE="1/60").removesuffix("/functions/v1")
    page = open_widget(context, page_origin, api_url, target.anon_key)
    send(page, "one")
    wait_for_messages(page, 2)
    send(page, "two")
    wait_for_messages(page, 4)
    with page.expect_response(lambda r: r.url.endswith("/handle-chat-message")) as answer:
        send(page, "three")
    assert answer.value.status == 429
    wait = int(answer.value.headers["retry-after"])
    status = page.get_by_test_id("chat-status")
    status.get_by_text("Too many messages").wait_for()
    assert status.inner_text() == f"Too many messages: please wait {wait} s, then send again."
    assert page.get_by_test_id("chat-input").input_value() == "three"
    assert page.get_by_test_id("chat-send").is_disabled()
    assert [m for m in shown(page) if m[0] == "visitor"] == [("visitor", "one"), ("visitor", "two")]


def test_unreachable_functions_keep_the_text_and_one_client_message_id(
    context: BrowserContext, page_origin: str, target: Target, http: httpx.Client, tmp_path: Path
) -> None:
    """Functions down: the send is retried, then left in the input with a Send-again notice;
    every attempt carries the same clientMessageId, and the message is stored once."""
    port = testing.free_port()
    env = {
        "SUPABASE_URL": target.url,
        "SUPABASE_SERVICE_ROLE_KEY": target.service_role_key,
        "SUPABASE_JWT_SECRET": target.jwt_secret or "",
        "CHAT_RATE_LIMITS": "off",
    }
    server = testing.serve_functions(env, port, tmp_path / "functions.log")
    try:
        page = open_widget(context, page_origin, f"http://127.0.0.1:{port}", target.anon_key)
        send(page, "one")
        wait_for_messages(page, 2)
        testing.stop_functions(server)
        ids: list[str] = []
        page.on(
            "request",
            lambda r: (
                ids.append(json.loads(r.post_data or "{}").get("clientMessageId"))
                if r.method == "POST" and r.url.endswith("/handle-chat-message")
                else None
            ),
        )
        send(page, "two")
        status = page.get_by_test_id("chat-status")
        status.get_by_text("Not sent").wait_for()
        assert status.inner_text() == (
            "Not sent: the chat service is unavailable. Press Send to try again."
        )
        assert page.get_by_test_id("chat-input").input_value() == "two"
        server = testing.serve_functions(env, port, tmp_path / "functions.log")
        page.get_by_test_id("chat-send").click()
        assert wait_for_messages(page, 4)[2:] == [("visitor", "two"), ("ai", RULES_REPLY)]
        assert len(ids) == 4 and len(set(ids)) == 1  # three attempts while down, one after
        session = stored_session(page)
        assert session is not None
        assert messages_of(http, target, session["conversationId"]).count("two") == 1
    finally:
        testing.stop_functions(server)


@pytest.mark.parametrize("allowed", [True, False])
def test_cors_allowlist_decides_which_pages_may_chat(
    context: BrowserContext,
    page_origin: str,
    target: Target,
    http: httpx.Client,
    serve: Callable[..., str],
    allowed: bool,
) -> None:
    """CORS_ALLOWED_ORIGINS: a listed page chats; the browser itself stops any other page
    before its message is sent, so nothing is stored."""
    origins = page_origin if allowed else "https://shop.example"
    api_url = serve(CORS_ALLOWED_ORIGINS=origins).removesuffix("/functions/v1")
    page = open_widget(context, page_origin, api_url, target.anon_key)
    send(page, "hello?")
    visitor = page.evaluate("() => localStorage.getItem('tradeitm_chat_visitor_id')")
    if allowed:
        assert wait_for_messages(page, 2) == [("visitor", "hello?"), ("ai", RULES_REPLY)]
    else:
        status = page.get_by_test_id("chat-status")
        status.get_by_text("Not sent").wait_for()
        assert status.inner_text() == (
            "Not sent: the chat service is unavailable. Press Send to try again."
        )
        assert shown(page) == [] and stored_session(page) is None
    stored = http.get(
        f"{target.url}/rest/v1/chat_conversations",
        params={"visitor_id": f"eq.{visitor}", "select": "id"},
        headers=auth_headers(target.service_role_key),
    ).json()
    assert len(stored) == (1 if allowed else 0)


def test_the_stack_gateway_serves_the_widget(
    embedded: bool, context: BrowserContext, target: Target, http: httpx.Client
) -> None:
    """/widget/ on the API's own origin: the files as they are in the repository, with a
    JavaScript type (module scripts need one), and a chat that works without ?url=."""
    if not embedded:
        pytest.skip("only the embedded stack's gateway serves /widget/")
    module = http.get(f"{target.url}/widget/chat-widget.js")
    assert module.status_code == 200
    assert module.headers["content-type"] == "text/javascript"
    assert module.content == (WIDGET_DIR / "chat-widget.js").read_bytes()
    page = context.new_page()
    page.goto(f"{target.url}/widget/?{urlencode({'key': target.anon_key})}")
    send(page, "same origin")
    assert wait_for_messages(page, 2) == [("visitor", "same origin"), ("ai", RULES_REPLY)]


@pytest.mark.parametrize("keys", ["new", "legacy"])
def test_the_printed_widget_url_chats_with_the_visitor_key_of_each_key_system(
    embedded: bool, context: BrowserContext, stacks: Stacks, http: httpx.Client, keys: str
) -> None:
    """The URL `stack up` prints, `<url>/widget/?key=<visitor key>`, on a `--keys new` stack
    (the publishable key, sent as apikey only) and on a `--keys legacy` one (the anon JWT,
    apikey and Bearer): the page loads with no apikey, the chat works, and a team reply sent
    with the server key (secret, or service_role) shows."""
    if not embedded:
        pytest.skip("only embedded stacks can be started in each key mode")
    target = Target.from_env(stacks.get(keys).env())
    key = target.visitor_key
    assert key.startswith("sb_publishable_" if keys == "new" else "eyJ")
    page = context.new_page()
    page.goto(f"{target.url}/widget/?{urlencode({'key': key})}")
    with page.expect_request(lambda r: r.url.endswith("/handle-chat-message")) as sent:
        send(page, f"hello from a {keys} stack")
    assert sent.value.headers["apikey"] == key
    assert sent.value.headers.get("authorization") == (None if keys == "new" else f"Bearer {key}")
    assert wait_for_messages(page, 2) == [
        ("visitor", f"hello from a {keys} stack"),
        ("ai", RULES_REPLY),
    ]
    session = stored_session(page)
    assert session is not None
    console = team.TeamConsole(target, http)
    assert console.key == ("secret key" if keys == "new" else "service-role key")
    console.send(team.message_request(session["conversationId"], "Dana", "Hi!", internal=False))
    assert wait_for_messages(page, 3)[2:] == [("team", "Hi!")]
