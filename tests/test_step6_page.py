"""Step 6: the chat page in a real browser: the login form, bad tokens, and a token that a restarted
server refuses. (Shared browser fixtures: tests/page.py.)"""
import threading

import requests
import socketio

from page import TIMEOUT_MS, browser, expect, open_tab  # noqa: F401


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
    expect(tab.page.locator("#login-error")).not_to_be_empty()  # why: from step 9 on, "invalid token: ..."
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
    expect(tab.page.locator("#login-error")).not_to_be_empty()  # why: from step 9 on, "invalid token: ..."
    expect(tab.page.locator("#login")).to_be_visible()
    tab.page.fill("#password", "ana-password")
    tab.page.get_by_role("button", name="Log in", exact=True).click()
    expect(tab.status()).to_have_text("online")
