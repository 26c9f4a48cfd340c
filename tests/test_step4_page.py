"""Step 4: the chat page in a real browser: live messages, text never run as HTML, presence, a
phone-sized screen. (Shared browser fixtures: tests/page.py.)"""
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import socketio

from conftest import WAIT, disconnect_all, NO_PER_ADDRESS_LIMITS
from page import NEWEST_MESSAGE_IN_VIEW, XSS, browser, expect, open_tab, send_from_python  # noqa: F401


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

    ana.page.reload()  # the name is remembered and sent in the handshake
    expect(ana.page.locator("#name")).to_have_value("ana")
    expect(bea.page.locator("#presence")).to_have_text("2 online: ana")
    assert any("/socket.io/" in url for url in ana.requests)


def test_text_is_shown_as_text_never_run_as_html(start_server, open_tab):
    server = start_server()
    ana, bea = open_tab(server), open_tab(server)
    expect(bea.status()).to_have_text("online")
    ana.page.fill("#name", XSS)
    ana.send(XSS)
    expect(bea.messages(XSS)).to_have_count(1)
    expect(bea.messages(XSS).locator("strong")).to_have_text(XSS)
    for tab in (ana, bea):
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


def test_the_next_message_typed_before_the_last_ack_arrives_is_kept(start_server, open_tab):
    """The box empties when the server acknowledges a message, but only if it still holds that message:
    a quick typist (or a slow server) may have the next one in it already. The page's websocket goes
    through Playwright, which holds the acknowledgement back until the next message is typed."""
    server = start_server()
    tab = open_tab(server)
    sockets, upgraded, held = [], [], []

    def through_playwright(page_socket):
        server_socket = page_socket.connect_to_server()
        sockets.append(page_socket)
        page_socket.on_message(lambda frame: (upgraded.append(frame == "5"), server_socket.send(frame)))
        # Acks of a saved message ('43<id>[{"ok":true,"message":...') wait in `held`; every other
        # frame (`typing`'s ack, from step 14, included) goes straight on to the page.
        saved_ack = re.compile(r'43\d+\[\{"ok":true,"message"')
        server_socket.on_message(lambda frame: held.append(frame) if saved_ack.match(frame)
                                 else page_socket.send(frame))

    def soon(condition):
        """condition() within WAIT s. Playwright calls the handlers above only while the page waits."""
        deadline = time.monotonic() + WAIT
        while not condition() and time.monotonic() < deadline:
            tab.page.wait_for_timeout(20)
        return condition()

    tab.page.route_web_socket(re.compile(r"/socket\.io/"), through_playwright)
    tab.page.evaluate("localStorage.setItem('chat.name', 'ana')")  # so it connects once, as ana
    tab.page.reload()
    assert soon(lambda: any(upgraded)), "the page never moved from long-polling to its websocket"
    tab.send("uno")
    expect(tab.messages("uno")).to_have_count(1)  # broadcast; its ack is held
    tab.page.fill("#text", "dos")  # the next message, typed before the ack arrives
    # The server sends the ack right after the broadcast; it may reach Playwright a moment later.
    assert soon(lambda: len(held) == 1), f"{len(held)} saved-message acks held, not 1"
    sockets[-1].send(held.pop())  # the ack arrives now...
    send_from_python(server, ["tres"])  # ...and this comes after it on the same websocket
    expect(tab.messages("tres")).to_have_count(1)
    expect(tab.page.locator("#text")).to_have_value("dos")  # before the fix: emptied, "dos" lost


def test_names_typed_after_the_page_loaded_reach_presence(start_server, open_tab, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
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
        assert tab.messages().locator("p").all_text_contents() == ["hola"]  # no copies


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
    server = start_server(RATE_LIMIT_BURST="0", **NO_PER_ADDRESS_LIMITS)
    names = ["alexandra", "bartholomew", "cassiopeia", "dimitrios", "evangeline"]
    others = [socketio.Client() for _ in names]  # a presence list too long for one line
    try:
        tab = open_tab(server, viewport={"width": 380, "height": 640})
        expect(tab.status()).to_have_text("online")
        send_from_python(server, [f"message {n}" for n in range(1, 31)])  # more than the screen holds
        expect(tab.messages()).to_have_count(30)
        for client, name in zip(others, names):  # then the header's presence line grows
            client.connect(server.url, auth={"name": name}, wait_timeout=5)
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
    send_from_python(server, ["after"])  # anything the first Enter had sent would show before this
    expect(tab.messages("after")).to_have_count(1)
    assert tab.messages().locator("p").all_text_contents() == ["hola", "after"]  # the first Enter sent nothing


# --- The page the student writes: static/mini.html and static/mini.js ---------------------------

def open_mini_page(browser, server, name):
    """Step 4's own page, as the tutorial has the student type it, its prompt answered with `name`."""
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("dialog", lambda dialog: dialog.accept(name))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/static/mini.html")
    return context, page, errors


def test_the_page_the_student_writes_chats_with_itself_and_with_the_full_page(start_server, browser, open_tab):
    server = start_server()
    (ana_context, ana, ana_errors), (bea_context, bea, bea_errors) = (
        open_mini_page(browser, server, "ana"), open_mini_page(browser, server, "bea"))
    full = open_tab(server)  # the repository's page, with no name yet: counted, not listed
    try:
        expect(bea.locator("#presence")).to_have_text("3 online: ana, bea")
        ana.fill("#text", XSS)
        ana.press("#text", "Enter")
        for page in (ana, bea):
            expect(page.locator("#messages li")).to_have_text([f"ana: {XSS}"])  # as text
            expect(page.locator("#messages img")).to_have_count(0)  # never as HTML
        expect(ana.locator("#text")).to_have_value("")  # the ack said ok
        expect(full.messages(XSS)).to_have_count(1)
        bea.fill("#text", "   ")
        bea.press("#text", "Enter")
        expect(bea.locator("#error")).to_have_text("text must not be empty")  # the ack's reason
        expect(bea.locator("#text")).to_have_value("   ")
        full.page.fill("#name", "cid")
        full.send("from the full page")
        expect(ana.locator("#messages li").last).to_have_text("cid: from the full page")
        expect(ana.locator("#messages li")).to_have_count(2)  # nothing refused was shown
    finally:
        ana_context.close()
        bea_context.close()
    assert ana_errors == bea_errors == []


def test_the_page_the_student_writes_says_why_it_was_refused(start_server, browser):
    server = start_server()
    context, page, errors = open_mini_page(browser, server, "x" * 33)
    try:
        expect(page.locator("#error")).to_have_text("name is longer than 32 characters")
    finally:
        context.close()
    assert errors == []
