"""Step 13: editing and deleting in the chat page, in a real browser: what one page does shows on the
other, a moderator deletes, and a page that was away catches up. (Shared fixtures: tests/page.py.)"""
import requests

from conftest import WAIT
from page import browser, expect, open_tab  # noqa: F401
from test_step13_messages import flask_moderator


def log_in(tab, username, button="Register and log in"):
    """Register and log in through the page's form, as a student does (or only log in)."""
    tab.page.fill("#username", username)
    tab.page.fill("#password", "correct horse")
    tab.page.get_by_role("button", name=button, exact=True).click()
    expect(tab.status()).to_have_text("online")


def test_an_edit_and_a_delete_on_one_page_show_on_the_other(start_server, open_tab, tmp_path):
    server = start_server(AUTH_REQUIRED="true")
    assert flask_moderator(tmp_path, "profe")[1] == 0  # the teacher's account, made on the server
    ana, profe = open_tab(server), open_tab(server)
    log_in(ana, "ana")
    log_in(profe, "profe", "Log in")
    ana.send("hola")
    ana_item, profe_item = ana.messages("hola"), profe.messages("hola")
    expect(profe_item).to_have_count(1)
    expect(ana_item.get_by_role("button")).to_have_text(["Edit", "Delete"])  # her own message
    expect(profe_item.get_by_role("button")).to_have_text(["Delete"])  # a moderator's view
    profe.send("from the teacher")
    expect(ana.messages("from the teacher").get_by_role("button")).to_have_count(0)  # not hers

    ana_item.get_by_role("button", name="Edit").click()
    box = ana.page.get_by_role("textbox", name="Edit the message")
    box.fill("hola, editado")
    box.press("Enter")
    for tab in (ana, profe):
        expect(tab.messages("hola, editado")).to_have_count(1)
        expect(tab.messages("hola, editado").locator(".edited")).to_have_text("(edited)")
    expect(ana.messages("hola")).to_have_count(0)

    delete = profe.messages("hola, editado").get_by_role("button", name="Delete")
    delete.click()
    expect(delete).to_have_text("Delete?")  # one click only asks
    delete.click()
    for tab in (ana, profe):
        expect(tab.messages("hola, editado")).to_have_count(0)
    assert [m["text"] for m in requests.get(server.url + "/messages", timeout=WAIT,
                                            headers=token_header(server, "ana")).json()] == ["from the teacher"]


def token_header(server, username):
    credentials = {"username": username, "password": "correct horse"}
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_page_back_after_a_restart_shows_the_edits_and_deletions_it_missed(start_server, open_tab):
    server = start_server(AUTH_REQUIRED="true")
    tab = open_tab(server)
    log_in(tab, "ana")
    for text in ("uno", "dos", "tres"):
        tab.send(text)
        expect(tab.messages(text)).to_have_count(1)
    ids = [int(i) for i in tab.messages().evaluate_all("items => items.map(item => item.dataset.id)")]

    # Hold the page's reconnection until the changes are made, so it can only learn of them by
    # reading its messages again once it is back.
    tab.page.route("**/socket.io/**", lambda route: route.abort())
    server.stop()
    expect(tab.status()).to_have_text("reconnecting")
    server = start_server(port=server.port, AUTH_REQUIRED="true")
    headers = token_header(server, "ana")
    assert requests.patch(f"{server.url}/messages/{ids[0]}", json={"text": "uno, editado"}, headers=headers,
                          timeout=WAIT).status_code == 200
    assert requests.delete(f"{server.url}/messages/{ids[2]}", headers=headers, timeout=WAIT).status_code == 204
    expect(tab.messages()).to_have_count(3)  # still the old state while away
    tab.page.unroute("**/socket.io/**")
    expect(tab.status()).to_have_text("online")
    expect(tab.messages("uno, editado").locator(".edited")).to_have_text("(edited)")
    expect(tab.messages("tres")).to_have_count(0)
    assert tab.messages().locator("p").all_text_contents() == ["uno, editado", "dos"]
