"""Step 12: rooms in the chat page, in a real browser. (Shared browser fixtures: tests/page.py.)"""
import re
import sqlite3

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


def test_a_hundred_thousand_rooms_take_one_line_and_the_messages_keep_their_space(start_server, open_tab, tmp_path):
    """However many rooms there are (a year of classes, or a script's), the page lists ours, general
    and the ten written in last on one line, and the message list keeps its height, on a laptop and a
    phone; any other room is one name away."""
    server = start_server()
    send_from_python(server, ["in general"])
    tabs, heights = {}, {}
    for size in ((1280, 720), (380, 720)):
        tab = tabs[size] = open_tab(server, viewport={"width": size[0], "height": size[1]})
        expect(tab.messages("in general")).to_have_count(1)
        expect(tab.page.locator("#room-list a")).to_have_text(["general"])
        heights[size] = [tab.page.locator(part).bounding_box()["height"] for part in ("#rooms", "#messages")]
    long = "x" * 20
    with sqlite3.connect(tmp_path / "chat.db") as db:  # 100,000 rooms that hold a message each
        db.executemany("INSERT INTO room (name, messages, last_id) VALUES (?, 1, ?)",
                       ((f"room-{n:06}-{long}", 1000 + n) for n in range(100_000)))
    for size, tab in tabs.items():
        tab.page.reload()
        expect(tab.page.locator("#room-list a")).to_have_text(
            ["general"] + [f"room-{n:06}-{long}" for n in range(99_999, 99_989, -1)])
        assert [tab.page.locator(part).bounding_box()["height"] for part in ("#rooms", "#messages")] == \
            heights[size], (size, "the rooms took more than one line, or the messages lost space")
        tab.page.fill("#room-name", f"room-000005-{long}")  # any other room, by its name
        tab.page.press("#room-name", "Enter")
        expect(tab.page.locator("#room-list a[aria-current=page]")).to_have_text(f"room-000005-{long}")
        tab.page.click("#room-list a >> text=general")
        expect(tab.messages("in general")).to_have_count(1)
