#!/usr/bin/env python3
"""docs/widget.png: the README's screenshot of a conversation in the reference widget.

`.venv/bin/python scripts/widget_screenshot.py [OUT.png]` starts a throwaway embedded stack,
opens the widget its gateway serves in headless Chromium (Playwright, Debian's chromium),
chats as a visitor, answers with `chat-toolkit team reply` and `team typing`, saves the
picture and stops the stack.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Page, sync_playwright

from toolkit.cli import main
from toolkit.config import Target
from toolkit.stack import lifecycle as stack

ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--no-first-run", "--disable-sync", "--disable-gpu"]


def say(page: Page, text: str, count: int) -> None:
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("chat-send").click()
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=chat-message]').length >= n", arg=count
    )


def run(out: Path) -> None:
    with stack.temporary() as state, sync_playwright() as playwright:
        env = Path(state.directory) / "env"
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 960, "height": 600})
        key = Target.from_env(state.env()).visitor_key  # as `stack up` prints it
        page.goto(f"{state.api_url}/widget/?{urlencode({'key': key})}")
        say(page, "Hi! Do you ship to Canada?", 2)
        say(page, "Could I talk to a human, please?", 4)
        session = page.evaluate("() => JSON.parse(localStorage.tradeitm_chat_session_v1)")
        cid = session["conversationId"]
        team = ["--env-file", str(env), "--as", "Dana"]
        main(["team", "reply", cid, "Hi, Dana here. Yes, we ship to Canada in 3-5 days.", *team])
        main(["team", "typing", cid, *team])
        page.wait_for_function(
            "() => document.querySelectorAll('[data-sender-type=team]').length === 1"
            " && !document.querySelector('[data-testid=chat-typing]').hidden"
        )
        page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": 960, "height": 600})
        browser.close()
    print(f"screenshot written to {out}")


if __name__ == "__main__":
    run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/widget.png"))
