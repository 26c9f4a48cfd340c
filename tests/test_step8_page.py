"""Step 8: the chat page in a real browser pages back through the history (`before`), and a chat
session under `flask run --debug` leaves a plain, quiet log. (Shared browser fixtures: tests/page.py.)"""
import sys
import time

from conftest import NO_PER_ADDRESS_LIMITS, WAIT
from page import browser, expect, open_tab, send_from_python  # noqa: F401


def test_load_older_pages_back_through_the_history(start_server, open_tab):
    server = start_server(RATE_LIMIT_BURST="0", **NO_PER_ADDRESS_LIMITS)
    send_from_python(server, [f"m{n}" for n in range(1, 61)])
    tab = open_tab(server)
    expect(tab.messages()).to_have_count(50)
    expect(tab.messages().first.locator("p")).to_have_text("m11")
    expect(tab.messages().last.locator("p")).to_have_text("m60")
    tab.page.click("#older")
    expect(tab.messages()).to_have_count(60)
    expect(tab.messages().first.locator("p")).to_have_text("m1")
    expect(tab.page.locator("#older")).to_be_hidden()


FLASK_DEBUG = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", "{port}", "--debug"]


def test_a_chat_tab_under_flask_run_debug_leaves_a_plain_quiet_log(start_server, project_copy, open_tab):
    """What a student editing app.py runs: no colour codes, no line per Socket.IO request, and a tab
    that closes logs its disconnect, never a 500 or a traceback."""
    server = start_server(command=FLASK_DEBUG, cwd=project_copy)
    tab = open_tab(server)
    expect(tab.status()).to_have_text("online")
    tab.page.fill("#name", "ana")
    tab.send("hola")
    expect(tab.messages("hola")).to_have_count(1)
    tab.page.close()  # the student closes the tab: its websocket ends
    deadline = time.monotonic() + WAIT
    while "disconnect " not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    watch_until = time.monotonic() + 1  # a broken end shows within milliseconds: watch the log a second
    while time.monotonic() < watch_until:
        assert " 500 " not in server.log() and "Traceback" not in server.log(), server.log()
        time.sleep(0.05)
    log = server.log()
    assert "Running on http://127.0.0.1:" in log and "Debugger PIN" in log, log  # what a student needs
    assert "\x1b[" not in log, f"colour codes in the log:\n{log}"
    assert "/socket.io/" not in log, f"a line per Socket.IO request:\n{log}"
    assert "Error" not in log, log

