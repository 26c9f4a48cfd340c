"""Step 14: who is typing, and a colour per author, in a real browser. (Shared fixtures: tests/page.py.)"""
from page import browser, expect, open_tab  # noqa: F401


def colour_of(tab, text):
    return tab.messages(text).locator("strong").evaluate("author => getComputedStyle(author).color")


def name_and_wait(tab, name):
    expect(tab.status()).to_have_text("online")
    tab.page.fill("#name", name)
    tab.page.dispatch_event("#name", "change")
    expect(tab.page.locator("#presence")).to_contain_text(name)


def test_one_page_shows_who_is_typing_on_another_in_its_room_only(start_server, open_tab, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    ana, bea, cid = open_tab(server, "/#grupo-1"), open_tab(server, "/#grupo-1"), open_tab(server, "/#grupo-2")
    for tab, name in ((ana, "ana"), (bea, "bea"), (cid, "cid")):
        name_and_wait(tab, name)
    ana.page.type("#text", "hol")
    expect(bea.page.locator("#typing")).to_have_text("ana is typing…")
    expect(ana.page.locator("#typing")).to_have_text("")  # not to herself
    ana.page.press("#text", "Enter")  # her message arrives: she is no longer typing
    expect(bea.messages("hol")).to_have_count(1)
    expect(bea.page.locator("#typing")).to_have_text("")
    cid.send("in grupo-2")
    expect(cid.messages("in grupo-2")).to_have_count(1)
    expect(cid.page.locator("#typing")).to_have_text("")  # ana typed in another room

    ana.page.type("#text", "otra")  # then stops: gone after 3 s without news
    expect(bea.page.locator("#typing")).to_have_text("ana is typing…")
    assert cid.page.locator("#typing").text_content() == ""  # grupo-2 hears nothing of grupo-1
    expect(bea.page.locator("#typing")).to_have_text("", timeout=6_000)


def test_each_author_has_a_colour_of_their_own_the_same_on_every_page(start_server, open_tab):
    server = start_server()
    ana, bea = open_tab(server), open_tab(server)
    name_and_wait(ana, "ana")
    name_and_wait(bea, "bea")
    ana.send("de ana")
    bea.send("de bea")
    for tab in (ana, bea):
        expect(tab.messages("de bea")).to_have_count(1)
        expect(tab.messages("de ana")).to_have_count(1)
    assert colour_of(ana, "de ana") == colour_of(bea, "de ana")
    assert colour_of(ana, "de bea") == colour_of(bea, "de bea")
    assert colour_of(ana, "de ana") != colour_of(ana, "de bea")


def test_fifty_typists_take_one_line_and_the_messages_keep_their_space(start_server, open_tab):
    """However many type (a script's 50 connections, long names), the page says it on one line, and
    the message list keeps its height, on a laptop and on a phone."""
    server = start_server()
    for width, height in ((1280, 720), (380, 720)):
        tab = open_tab(server, viewport={"width": width, "height": height})
        expect(tab.status()).to_have_text("online")
        messages = tab.page.locator("#messages")
        before = messages.bounding_box()["height"]
        line = tab.page.locator("#typing").bounding_box()["height"]
        tab.page.evaluate("for (let n = 0; n < 50; n++) isTyping(`t${n}-${'x'.repeat(n % 3 ? 3 : 28)}`)")
        expect(tab.page.locator("#typing")).to_have_text(
            f"t0-{'x' * 28}, t1-xxx and 48 others are typing…")
        assert tab.page.locator("#typing").bounding_box()["height"] == line, (width, "more than one line")
        assert messages.bounding_box()["height"] == before, (width, "the messages lost their space")
        tab.page.evaluate("isTyping('ana'); notTyping('ana')")  # the count follows, still one line
        expect(tab.page.locator("#typing")).to_contain_text("and 48 others are typing…")
