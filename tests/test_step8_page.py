"""Step 8: the chat page in a real browser pages back through the history (`before`). (Shared browser
fixtures: tests/page.py.)"""
from conftest import NO_PER_ADDRESS_LIMITS
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
