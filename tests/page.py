"""What the browser tests share (tests/test_step*_page.py, test_step3_docs.py): headless Chromium,
a chat tab, and helpers.

Playwright drives Debian's headless chromium against a real `python app.py`. Needs
`apt-get install -y chromium` and `pip install -r tests/requirements.txt` (never `playwright install`).
"""
import os
import pathlib
import re
from dataclasses import dataclass, field

import pytest
import requests
import socketio

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the workshop's light install: the browser fixture explains what to install
    expect = sync_playwright = None

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 15_000  # every wait is bounded; reconnecting takes up to the client's 5 s backoff
XSS = "<img src=x onerror=alert(1)>"
# True when the last message is inside the list's visible box, under the header, and on top there.
NEWEST_MESSAGE_IN_VIEW = """() => {
  const list = document.getElementById("messages"), newest = list.lastElementChild;
  const box = newest.getBoundingClientRect(), view = list.getBoundingClientRect();
  const header = document.querySelector("header").getBoundingClientRect();
  const onTop = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  return header.bottom <= view.top && view.top <= box.top && box.bottom <= view.bottom + 1
    && newest.contains(onTop);
}"""


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium; missing, it skips these tests, except in CI (CI set) where it fails."""
    if sync_playwright is None or not CHROMIUM.exists():
        why = ("the browser tests need Debian's chromium and Playwright: "
               "apt-get install -y chromium && pip install -r tests/requirements.txt")
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Tab:
    """The chat page in a browser tab of its own (own localStorage), and what happened in it."""
    page: object
    server_url: str
    requests: list = field(default_factory=list)
    dialogs: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    console: list = field(default_factory=list)  # printed after the test, shown if it fails

    def status(self):
        return self.page.locator("#status")

    def messages(self, text=None):
        """The <li> of every message shown, or of those whose whole text is `text`."""
        items = self.page.locator("#messages li")
        if text is None:
            return items
        return items.filter(has=self.page.locator("p", has_text=re.compile(f"^{re.escape(text)}$")))

    def send(self, text):
        """Type a message and press Enter, as a person would."""
        self.page.fill("#text", text)
        self.page.press("#text", "Enter")


@pytest.fixture
def open_tab(browser):
    """open_tab(server, path="", **context_options) opens the chat page (server.url + path, such as
    "/#grupo-1") in a new browser context.

    After the test, every tab must have requested nothing but the server, and thrown no JS error.
    """
    tabs, contexts = [], []

    def open_(server, path="", **options):
        context = browser.new_context(**options)
        contexts.append(context)
        tab = Tab(context.new_page(), server.url)
        tab.page.set_default_timeout(TIMEOUT_MS)
        tab.page.on("request", lambda request: tab.requests.append(request.url))
        tab.page.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
        tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
        tab.page.on("console", lambda message: tab.console.append(f"{message.type}: {message.text}"))
        tab.page.goto(server.url + path)
        tabs.append(tab)
        return tab

    yield open_
    for context in contexts:
        context.close()
    for tab in tabs:
        print(f"console of a tab on {tab.server_url}:", *tab.console, sep="\n  ")
        assert tab.errors == []
        assert [url for url in tab.requests
                if not url.startswith((tab.server_url + "/", "data:"))] == [], "the page left the server"


def send_from_python(server, texts, room=None):
    """Another client (python-socketio) sends messages, each acknowledged as saved; with `room`,
    in that room (step 12)."""
    client = socketio.Client()
    client.connect(server.url, auth={"name": "bot", **({"room": room} if room else {})}, wait_timeout=5)
    try:
        acks = [client.call("event_message", {"text": text, "author": "bot"}, timeout=5) for text in texts]
    finally:
        client.disconnect()
    assert all(ack["ok"] for ack in acks), acks
