"""Step 5: the chat page in a real browser: the history, and catching up after the server restarts.
(Shared browser fixtures: tests/page.py.)"""
from page import XSS, browser, expect, open_tab, send_from_python  # noqa: F401


def test_a_page_loaded_later_starts_with_the_history_shown_as_text(start_server, open_tab):
    server = start_server()
    send_from_python(server, ["hola", XSS])
    tab = open_tab(server)
    expect(tab.messages()).to_have_count(2)
    assert tab.messages().locator("p").all_text_contents() == ["hola", XSS]
    assert any("/messages?" in url for url in tab.requests)
    expect(tab.page.locator("#messages img")).to_have_count(0)  # history, too, is text, never HTML
    assert tab.dialogs == [] and not any(url.endswith("/x") for url in tab.requests)


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
