"""The browser chat page at / in a real browser (tutorial steps 4-6).

Playwright drives Debian's headless chromium against a real `python app.py`: live messages, history,
text never run as HTML, login, presence, a phone-sized screen, and catching up after the server restarts. Needs
`apt-get install -y chromium` and `pip install -r tests/requirements.txt` (never `playwright install`).
"""
import os
import pathlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests
import socketio

from conftest import disconnect_all

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the browser fixture explains what to install
    sync_playwright = None

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
    """open_tab(server, **context_options) opens the chat page in a new browser context.

    After the test, every tab must have requested nothing but the server, and thrown no JS error.
    """
    tabs, contexts = [], []

    def open_(server, **options):
        context = browser.new_context(**options)
        contexts.append(context)
        tab = Tab(context.new_page(), server.url)
        tab.page.set_default_timeout(TIMEOUT_MS)
        tab.page.on("request", lambda request: tab.requests.append(request.url))
        tab.page.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
        tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
        tab.page.on("console", lambda message: tab.console.append(f"{message.type}: {message.text}"))
        tab.page.goto(server.url)
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


def messages_saved(server):
    """The texts GET /messages holds, oldest first."""
    return [message["text"] for message in requests.get(server.url + "/messages", timeout=5).json()]


def send_from_python(server, texts):
    """Another client (python-socketio) sends messages, each acknowledged as saved."""
    client = socketio.Client()
    client.connect(server.url, auth={"name": "bot"}, wait_timeout=5)
    try:
        acks = [client.call("event_message", {"text": text, "author": "bot"}, timeout=5) for text in texts]
    finally:
        client.disconnect()
    assert all(ack["ok"] for ack in acks), acks


def test_two_pages_show_a_message_once_with_author_and_local_time(start_server, open_tab, tmp_path):
    server = start_server()
    ana = open_tab(server, locale="en-GB", timezone_id="Asia/Kolkata")
    bea = open_tab(server, viewport={"width": 390, "height": 760})  # a phone
    for tab in (ana, bea):
        expect(tab.status()).to_have_text("online")
        expect(tab.page.locator("#send-button")).to_be_enabled()
    expect(bea.page.locator("#presence")).to_have_text("2 online")
    ana.page.fill("#name", "ana")
    ana.send("hola")
    for tab in (ana, bea):
        expect(tab.messages("hola")).to_have_count(1)
        expect(tab.messages("hola").locator("strong")).to_have_text("ana")
    expect(ana.page.locator("#text")).to_have_value("")
    created_at = ana.messages("hola").locator("time").get_attribute("datetime")
    assert created_at.endswith("Z")
    local = datetime.fromisoformat(created_at).astimezone(ZoneInfo("Asia/Kolkata"))
    expect(ana.messages("hola").locator("time")).to_have_text(local.strftime("%H:%M"))

    ana.send("second")  # arrives after any duplicate of "hola" would have
    expect(bea.messages("second")).to_have_count(1)
    expect(bea.messages("hola")).to_have_count(1)

    screenshots = [tmp_path / "chat-desktop.png", tmp_path / "chat-phone.png"]
    ana.page.screenshot(path=screenshots[0])
    bea.page.screenshot(path=screenshots[1])
    print("screenshots:", *screenshots)

    ana.page.reload()  # history on a fresh load; the name is remembered and sent in the handshake
    expect(ana.page.locator("#name")).to_have_value("ana")
    expect(bea.page.locator("#presence")).to_have_text("2 online: ana")
    expect(ana.messages()).to_have_count(2)
    assert ana.messages().locator("p").all_text_contents() == ["hola", "second"]
    assert any("/socket.io/" in url for url in ana.requests)
    assert any("/messages?" in url for url in ana.requests)


def test_text_is_shown_as_text_never_run_as_html(start_server, open_tab):
    server = start_server()
    ana, bea = open_tab(server), open_tab(server)
    expect(bea.status()).to_have_text("online")
    ana.page.fill("#name", XSS)
    ana.send(XSS)
    expect(bea.messages(XSS)).to_have_count(1)
    expect(bea.messages(XSS).locator("strong")).to_have_text(XSS)
    carol = open_tab(server)  # and from the history
    expect(carol.messages(XSS)).to_have_count(1)
    for tab in (ana, bea, carol):
        expect(tab.page.locator("#messages img")).to_have_count(0)
        assert tab.dialogs == []
        assert not any(url.endswith("/x") for url in tab.requests)


def test_a_refused_message_shows_why_next_to_the_input(start_server, open_tab):
    server = start_server()
    ana = open_tab(server)
    expect(ana.status()).to_have_text("online")
    ana.page.fill("#name", "ana")
    ana.send("   ")  # not empty for the browser, empty for the server
    expect(ana.page.locator("#send-error")).to_have_text("text must not be empty")
    expect(ana.page.locator("#text")).to_have_value("   ")  # kept, to fix
    ana.send("fixed")
    expect(ana.messages("fixed")).to_have_count(1)
    expect(ana.page.locator("#send-error")).to_have_text("")
    expect(ana.messages()).to_have_count(1)


def test_load_older_pages_back_through_the_history(start_server, open_tab):
    server = start_server(RATE_LIMIT_BURST="0")
    send_from_python(server, [f"m{n}" for n in range(1, 61)])
    tab = open_tab(server)
    expect(tab.messages()).to_have_count(50)
    expect(tab.messages().first.locator("p")).to_have_text("m11")
    expect(tab.messages().last.locator("p")).to_have_text("m60")
    tab.page.click("#older")
    expect(tab.messages()).to_have_count(60)
    expect(tab.messages().first.locator("p")).to_have_text("m1")
    expect(tab.page.locator("#older")).to_be_hidden()


def test_login_required_shows_the_form_then_chats_under_the_users_name(start_server, open_tab):
    server = start_server(AUTH_REQUIRED="true")
    bob_credentials = {"username": "bob", "password": "bob-password"}
    requests.post(server.url + "/auth/register", json=bob_credentials, timeout=5).raise_for_status()
    bob_token = requests.post(server.url + "/auth/login", json=bob_credentials,
                              timeout=5).json()["access_token"]
    bob = socketio.Client()  # another client, to see the broadcast itself
    broadcasts, received = [], threading.Event()
    bob.on("new_message", lambda message: (broadcasts.append(message), received.set()))
    bob.connect(server.url, auth={"token": bob_token}, wait_timeout=5)

    tab = open_tab(server)
    expect(tab.page.locator("#login")).to_be_visible()
    expect(tab.page.locator("#chat")).to_be_hidden()
    tab.page.fill("#username", "ana")
    tab.page.fill("#password", "wrong-password")
    tab.page.get_by_role("button", name="Log in", exact=True).click()
    expect(tab.page.locator("#login-error")).to_have_text("wrong username or password")
    tab.page.fill("#password", "ana-password")
    tab.page.get_by_role("button", name="Register and log in").click()
    expect(tab.status()).to_have_text("online")
    expect(tab.page.locator("#me-name")).to_have_text("ana")
    expect(tab.page.locator("#name-field")).to_be_hidden()
    expect(tab.page.locator("#presence")).to_have_text("2 online: ana, bob")

    tab.send("hola")
    expect(tab.messages("hola").locator("strong")).to_have_text("ana")
    assert received.wait(TIMEOUT_MS / 1000)
    bob.disconnect()
    assert [(m["author"], m["text"]) for m in broadcasts] == [("ana", "hola")]

    tab.page.reload()  # the token is remembered
    expect(tab.status()).to_have_text("online")
    expect(tab.messages("hola")).to_have_count(1)


def test_a_bad_token_brings_back_the_login_form(start_server, open_tab):
    server = start_server(AUTH_REQUIRED="true")
    tab = open_tab(server)
    tab.page.evaluate("localStorage.setItem('chat.token', 'not-a-jwt')")
    tab.page.reload()
    expect(tab.page.locator("#login")).to_be_visible()
    expect(tab.page.locator("#login-error")).to_contain_text("invalid token")
    assert tab.page.evaluate("localStorage.getItem('chat.token')") is None


def test_a_token_the_restarted_server_refuses_brings_back_the_login_form(start_server, open_tab):
    server = start_server(AUTH_REQUIRED="true", JWT_SECRET_KEY="first-key-" * 4)
    tab = open_tab(server)
    tab.page.fill("#username", "ana")
    tab.page.fill("#password", "ana-password")
    tab.page.get_by_role("button", name="Register and log in").click()
    expect(tab.status()).to_have_text("online")
    server.stop()
    start_server(port=server.port, AUTH_REQUIRED="true", JWT_SECRET_KEY="other-key-" * 4)
    # The page reconnects; on_connect refuses the old token, so the page asks to log in again.
    expect(tab.page.locator("#login-error")).to_contain_text("invalid token")
    expect(tab.page.locator("#login")).to_be_visible()
    tab.page.fill("#password", "ana-password")
    tab.page.get_by_role("button", name="Log in", exact=True).click()
    expect(tab.status()).to_have_text("online")


def test_after_a_server_restart_the_page_reconnects_and_catches_up(start_server, open_tab):
    server = start_server()
    tab = open_tab(server)
    expect(tab.status()).to_have_text("online")
    tab.page.fill("#name", "ana")
    tab.send("before")
    expect(tab.messages("before")).to_have_count(1)

    # Hold the page's reconnection attempts until the other client's message is saved, so that
    # message can only reach the page through the catch-up request, not live.
    tab.page.route("**/socket.io/**", lambda route: route.abort())
    server.stop()
    expect(tab.status()).to_have_text("reconnecting")
    expect(tab.page.locator("#send-button")).to_be_disabled()
    server = start_server(port=server.port)
    send_from_python(server, ["sent while you were away"])
    expect(tab.status()).to_have_text("reconnecting")
    with tab.page.expect_response(lambda response: "after=" in response.url):
        tab.page.unroute("**/socket.io/**")
        expect(tab.status()).to_have_text("online")
    expect(tab.messages("sent while you were away")).to_have_count(1)
    tab.send("after")
    expect(tab.messages("after")).to_have_count(1)
    assert tab.messages().locator("p").all_text_contents() == [
        "before", "sent while you were away", "after"]


def test_names_typed_after_the_page_loaded_reach_presence(start_server, open_tab, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    send_from_python(server, ["earlier"])
    ana, bea = open_tab(server), open_tab(server)
    for tab in (ana, bea):
        expect(tab.status()).to_have_text("online")
    expect(ana.page.locator("#presence")).to_have_text("2 online")
    for tab, name in ((ana, "ana"), (bea, "bea")):
        tab.page.fill("#name", name)
        # Leaving the field (change) reconnects with the new name; the catch-up follows.
        with tab.page.expect_response(lambda response: "after=" in response.url):
            tab.page.press("#name", "Tab")
    for tab in (ana, bea):
        expect(tab.page.locator("#presence")).to_have_text("2 online: ana, bea")
    ana.send("hola")
    for tab in (ana, bea):
        expect(tab.messages("hola").locator("strong")).to_have_text("ana")
        assert tab.messages().locator("p").all_text_contents() == ["earlier", "hola"]  # no copies


def test_presence_is_cleared_while_offline_and_comes_back_after(start_server, open_tab, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    remembered_name = {"origin": server.url, "localStorage": [{"name": "chat.name", "value": "ana"}]}
    tab = open_tab(server, storage_state={"origins": [remembered_name]})
    presence = tab.page.locator("#presence")
    expect(presence).to_have_text("1 online: ana")
    server.stop(kill=True)
    expect(tab.status()).to_have_text("reconnecting")
    expect(presence).to_have_text("")  # no stale count while nobody can be seen
    start_server(port=server.port, ASYNC_MODE=async_mode)
    expect(tab.status()).to_have_text("online")
    expect(presence).to_have_text("1 online: ana")


def test_the_newest_message_stays_in_view_on_a_narrow_phone(start_server, open_tab):
    server = start_server(RATE_LIMIT_BURST="0")
    send_from_python(server, [f"message {n}" for n in range(1, 31)])
    names = ["alexandra", "bartholomew", "cassiopeia", "dimitrios", "evangeline"]
    others = [socketio.Client() for _ in names]  # a presence list too long for one line
    try:
        for client, name in zip(others, names):
            client.connect(server.url, auth={"name": name}, wait_timeout=5)
        tab = open_tab(server, viewport={"width": 380, "height": 640})
        expect(tab.page.locator("#presence")).to_contain_text("evangeline")
        tab.page.wait_for_function(NEWEST_MESSAGE_IN_VIEW)
        send_from_python(server, ["the newest"])
        expect(tab.messages().last.locator("p")).to_have_text("the newest")
        tab.page.wait_for_function(NEWEST_MESSAGE_IN_VIEW)
    finally:
        disconnect_all(others)


def test_sending_without_a_name_asks_for_one_and_sends_nothing(start_server, open_tab):
    server = start_server()
    tab = open_tab(server)
    expect(tab.status()).to_have_text("online")
    tab.send("hola")
    expect(tab.page.locator("#send-error")).to_have_text("Type your name first")
    expect(tab.page.locator("#send-error")).to_be_visible()
    expect(tab.page.locator("#name")).to_be_focused()
    expect(tab.page.locator("#text")).to_have_value("hola")  # kept for when the name is there
    tab.page.fill("#name", "ana")
    tab.page.press("#name", "Enter")  # sends the kept text under the new name
    expect(tab.messages("hola").locator("strong")).to_have_text("ana")
    expect(tab.page.locator("#send-error")).to_have_text("")
    assert messages_saved(server) == ["hola"]  # once: the first Enter sent nothing
