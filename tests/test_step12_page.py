"""Step 12: rooms in the chat page, in a real browser. (Shared browser fixtures: tests/page.py.)"""
import re

from page import browser, expect, open_tab, send_from_python  # noqa: F401


def test_two_rooms_do_not_see_each_others_messages_or_presence(start_server, open_tab, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    one, two = open_tab(server, "/#grupo-1"), open_tab(server, "/#grupo-2")
    for tab, name in ((one, "ana"), (two, "bea")):
        expect(tab.status()).to_have_text("online")
        tab.page.fill("#name", name)
        tab.page.dispatch_event("#name", "change")  # reconnect with the name, so presence lists it
    expect(one.page.locator("#presence")).to_have_text("1 online: ana")
    expect(two.page.locator("#presence")).to_have_text("1 online: bea")
    one.send("hola uno")
    two.send("hola dos")
    expect(one.messages("hola uno")).to_have_count(1)
    expect(two.messages("hola dos")).to_have_count(1)
    send_from_python(server, ["from python to grupo-1"], room="grupo-1")
    expect(one.messages("from python to grupo-1")).to_have_count(1)
    assert one.messages().locator("p").all_text_contents() == ["hola uno", "from python to grupo-1"]
    assert two.messages().locator("p").all_text_contents() == ["hola dos"]
    expect(one.page.locator("#room-list a[aria-current=page]")).to_have_text("grupo-1")


def test_switching_rooms_loads_that_rooms_history_and_the_address_remembers_it(start_server, open_tab):
    server = start_server()
    send_from_python(server, ["g1", "g2"])
    send_from_python(server, ["uno-1", "uno-2", "uno-3"], room="grupo-1")
    tab = open_tab(server)
    expect(tab.messages()).to_have_count(2)
    expect(tab.page.locator("#room-list a")).to_have_text(["general", "grupo-1"])
    expect(tab.status()).to_have_text("online")

    tab.page.click("#room-list a >> text=grupo-1")
    expect(tab.page).to_have_url(re.compile(r"/#grupo-1$"))
    expect(tab.messages()).to_have_count(3)
    assert tab.messages().locator("p").all_text_contents() == ["uno-1", "uno-2", "uno-3"]
    send_from_python(server, ["g3"])  # general's: not shown here
    send_from_python(server, ["uno-4"], room="grupo-1")
    expect(tab.messages("uno-4")).to_have_count(1)
    expect(tab.messages("g3")).to_have_count(0)

    tab.page.reload()  # the address keeps the room
    expect(tab.messages()).to_have_count(4)
    expect(tab.page.locator("#room-list a[aria-current=page]")).to_have_text("grupo-1")

    tab.page.fill("#room-name", "grupo-9")  # a new room, from the box
    tab.page.press("#room-name", "Enter")
    expect(tab.page).to_have_url(re.compile(r"/#grupo-9$"))
    expect(tab.messages()).to_have_count(0)
    expect(tab.status()).to_have_text("online")
    tab.page.fill("#name", "ana")
    tab.send("first in grupo-9")
    expect(tab.messages("first in grupo-9")).to_have_count(1)
    expect(tab.page.locator("#room-list a[aria-current=page]")).to_have_text("grupo-9")

    tab.page.click("#room-list a >> text=general")
    expect(tab.messages()).to_have_count(3)
    assert tab.messages().locator("p").all_text_contents() == ["g1", "g2", "g3"]


def test_an_address_that_names_no_valid_room_opens_general(start_server, open_tab):
    server = start_server()
    send_from_python(server, ["in general"])
    tab = open_tab(server, "/#Grupo%201!")
    expect(tab.messages("in general")).to_have_count(1)
    expect(tab.status()).to_have_text("online")
    expect(tab.page.locator("#room-list a[aria-current=page]")).to_have_text("general")
