"""Step 13: moderators are made by the teacher, not claimed. `flask --app app moderator NAME` makes
(or takes over) the account; a moderator's name cannot be registered over the API; anonymous names
may not be a moderator's or an account's, nor mix scripts; deletions are limited per account."""
import http.client
import json
import time

import pytest
import requests

import app as chat
from conftest import WAIT
from test_step6_auth import register_and_login
from test_step13_messages import flask_moderator, send_as

PASSWORDS = "correct horse\ncorrect horse\n"  # typed twice, as the command asks


def moderator_command(app, name, typed=PASSWORDS):
    return app.test_cli_runner().invoke(args=["moderator", name], input=typed)


def account(name):
    with chat.app.app_context():
        return chat.db.session.scalar(chat.db.select(chat.User).where(chat.User.username == name))


def login(client, name, password="correct horse"):
    return client.post("/auth/login", json={"username": name, "password": password})


# --- flask moderator ------------------------------------------------------------------------------

def test_flask_moderator_makes_an_account_that_deletes_any_message(app, client, connect):
    result = moderator_command(app, "profe")
    assert result.exit_code == 0, result.output
    assert result.output.endswith("made the moderator account profe\n")
    assert account("profe").moderator and chat.app.config["MODERATORS"] == set()
    anonymous, _ = send_as(connect, name="cid")
    token = login(client, "profe").get_json()["access_token"]
    answer = client.delete(f"/messages/{anonymous['id']}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 204
    assert 'data-moderators="profe"' in client.get("/").get_data(as_text=True)  # its Delete buttons


@pytest.mark.parametrize("typed, why", [("correct horse\nsomething else\n", "do not match"),
                                        ("short\nshort\n", "8-128 characters")])
def test_the_password_is_typed_twice_the_same_and_long_enough(app, typed, why):
    result = moderator_command(app, "profe", typed)
    assert result.exit_code != 0 and why in result.output, result.output
    assert account("profe") is None


@pytest.mark.parametrize("name", ["system", "SYSTEM", "pro fe", "x" * 33, ""])
def test_a_name_that_cannot_be_an_account_is_refused(app, name):
    result = moderator_command(app, name)
    assert result.exit_code == 2 and "Invalid value for NAME" in result.output, result.output
    assert "Traceback" not in result.output


def test_it_takes_over_an_account_someone_registered_first(client, connect, monkeypatch):
    """A student registered Teacher before the teacher: the command gives the account the teacher's
    password and a new id. The student's token and password stop working; its messages stay its own."""
    student_token = register_and_login(client, "Teacher", "student password")
    message, student_socket = send_as(connect, "Teacher")
    old_id = account("Teacher").id
    result = moderator_command(chat.app, "teacher")
    assert result.exit_code == 0, result.output
    assert result.output.endswith(
        "teacher is now a moderator, with this password; tokens made before no longer work\n")
    teacher = account("teacher")
    assert teacher.moderator and teacher.id != old_id and account("Teacher") is None
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {student_token}"}).status_code == 401
    assert login(client, "Teacher", "student password").status_code == 401
    real_clock = time.monotonic  # a socket's token is checked again before a message, at most once a second:
    monkeypatch.setattr(chat.time, "monotonic", lambda: real_clock() + 2)  # a while later
    refused = student_socket.emit("event_message", {"text": "still me?"})
    assert refused == {"ok": False, "error": "invalid token: logged out or account deleted, log in again"}
    token = login(client, "teacher").get_json()["access_token"]
    edited = client.patch(f"/messages/{message['id']}", json={"text": "mine"},
                          headers={"Authorization": f"Bearer {token}"})
    assert edited.status_code == 200  # the message came with the account


def test_the_command_reads_two_lines_from_a_pipe_on_a_real_database(tmp_path, start_server):
    server = start_server()
    output, status = flask_moderator(tmp_path, "profe")
    assert status == 0 and output.strip().endswith("made the moderator account profe"), output
    answer = requests.post(server.url + "/auth/login", json={"username": "profe", "password": "correct horse"},
                           timeout=WAIT)
    assert answer.status_code == 200
    output, status = flask_moderator(tmp_path, "profe", password="new password")
    assert status == 0 and "now a moderator" in output, output


def test_a_password_that_is_not_text_is_refused_in_one_line(tmp_path):
    """Bytes that are not UTF-8 (here ff fe) from a pipe: refused like register refuses them, no traceback."""
    output, status = flask_moderator(tmp_path, "profe", password="ab\udcff\udcfecdefgh")
    assert status == 2 and "valid text" in output and "Traceback" not in output, output


# --- Names nobody else may take -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["profe", "Profe", "PROFE"])
def test_registering_a_moderators_name_is_refused_in_any_case(client, name, monkeypatch):
    monkeypatch.setitem(chat.app.config, "MODERATORS", {"profe"})
    answer = client.post("/auth/register", json={"username": name, "password": "correct horse"})
    assert answer.status_code == 409 and answer.get_json() == {"error": "username already taken"}
    assert account(name) is None


ALPHABETS = "author must not mix letters of different alphabets"


@pytest.mark.parametrize("name, error", [
    ("profe", "author profe is the name of an account: log in to use it"),  # a moderator, no account yet
    ("Profe", "author Profe is the name of an account: log in to use it"),
    ("ｐｒｏｆｅ", "author ｐｒｏｆｅ is the name of an account: log in to use it"),  # full width
    ("ana", "author ana is the name of an account: log in to use it"),
    ("ANA", "author ANA is the name of an account: log in to use it"),
    ("teаcher", ALPHABETS),  # a Cyrillic а among Latin letters
    ("Αnna", ALPHABETS),  # a Greek capital alpha
])
def test_an_anonymous_name_may_not_be_an_accounts_nor_mix_alphabets(client, connect, monkeypatch, name, error):
    monkeypatch.setitem(chat.app.config, "MODERATORS", {"profe"})
    register_and_login(client, "ana")
    refused = chat.socketio.test_client(chat.app, auth={"name": name})
    assert not refused.is_connected()
    bea = connect(auth={"name": "bea"})
    assert bea.emit("event_message", {"text": "hola", "author": name}) == {"ok": False, "error": error}
    assert bea.received("message_error") == [{"error": error}]
    assert client.get("/messages").get_json() == []


@pytest.mark.parametrize("name", ["José", "Zoë", "山田さん", "Ελένη", "Анна", "ana2", "O'Brien 3"])
def test_names_in_one_alphabet_are_welcome(client, connect, name):
    register_and_login(client, "ana")
    sender = connect(auth={"name": name})
    ack = sender.emit("event_message", {"text": "hola"})
    assert ack["ok"] and ack["message"]["author"] == name, ack


@pytest.mark.parametrize("name", ["ana", "Ana", "someone else"])
def test_a_logged_in_client_may_send_any_handshake_name_its_token_names_it(client, connect, name):
    """The page sends its name at the handshake; logged in, that is the account's own name."""
    token = register_and_login(client, "ana")
    ana = connect(auth={"token": token, "name": name})
    ack = ana.emit("event_message", {"text": "hola"})
    assert ack["ok"] and ack["message"]["author"] == "ana", ack


def test_a_connection_looks_its_author_up_once(connect, monkeypatch):
    asked = []
    real = chat.an_accounts_name
    monkeypatch.setattr(chat, "an_accounts_name", lambda name: asked.append(name) or real(name))
    bea = connect(auth={"name": "bea"})  # the handshake name, once
    for n in range(5):
        assert bea.emit("event_message", {"text": str(n)})["ok"]  # no author: the handshake's
    for n in range(3):
        assert bea.emit("event_message", {"text": str(n), "author": "cid"})["ok"]
    assert asked == ["bea", "bea", "cid"]  # at connect, at her first message, at the new name


# --- Deletions per account ----------------------------------------------------------------------

def test_an_account_deletes_at_most_30_a_minute_from_any_number_of_addresses(client, connect):
    ids = [send_as(connect, name=f"s{n % 9}", text=str(n))[0]["id"] for n in range(33)]
    for name in ("profe", "otra"):
        assert moderator_command(chat.app, name).exit_code == 0
    profe, otra = ({"Authorization": f"Bearer {login(client, name).get_json()['access_token']}"}
                   for name in ("profe", "otra"))
    answers = [client.delete(f"/messages/{message_id}", headers=profe,
                             environ_base={"REMOTE_ADDR": f"127.0.4.{n}"}) for n, message_id in enumerate(ids[:32])]
    assert [a.status_code for a in answers] == [204] * 30 + [429] * 2
    assert answers[-1].get_json() == {"error": "too many deletions from your account: wait a minute"}
    other = client.delete(f"/messages/{ids[32]}", headers=otra, environ_base={"REMOTE_ADDR": "127.0.4.99"})
    assert other.status_code == 204  # another account is not slowed by it


def raw_delete(port, message_id, token, source):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT, source_address=(source, 0))
    try:
        connection.request("DELETE", f"/messages/{message_id}", headers={"Authorization": f"Bearer {token}"})
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.timeout(120)
def test_the_teachers_name_cannot_be_taken_on_a_real_server(start_server, tmp_path, async_mode):
    """The attack of the issue: with MODERATORS=teacher, a student registers Teacher first, chats as
    teacher, Teacher or teаcher, and deletes everyone's messages from many addresses."""
    from hostile import SioClient

    server = start_server(ASYNC_MODE=async_mode, MODERATORS="teacher")
    taken = requests.post(server.url + "/auth/register", json={"username": "Teacher", "password": "student pw"},
                          timeout=WAIT)
    assert taken.status_code == 409, "a student registered the teacher's name"
    for name in ("teacher", "Teacher", "teаcher"):
        with pytest.raises(ConnectionError):
            SioClient(server.port, auth={"name": name}).close()
    assert flask_moderator(tmp_path, "teacher")[1] == 0
    token = requests.post(server.url + "/auth/login", json={"username": "teacher", "password": "correct horse"},
                          timeout=WAIT).json()["access_token"]
    writers = [SioClient(server.port, source=f"127.0.5.{n}", auth={"name": f"s{n}"}) for n in range(8)]
    try:
        ids = []
        for round_ in range(5):
            for writer in writers:
                ack = writer.call("event_message", {"text": f"m{round_}"})
                assert ack and ack["ok"], ack
                ids.append(ack["message"]["id"])
        started = time.monotonic()
        statuses = [raw_delete(server.port, message_id, token, f"127.0.6.{n % 20 + 1}")
                    for n, message_id in enumerate(ids)]
        seconds = time.monotonic() - started
    finally:
        for writer in writers:
            writer.close()
    print("figures:", json.dumps({"deleted": statuses.count(204), "refused_429": statuses.count(429),
                                  "seconds": round(seconds, 2)}))
    assert statuses.count(204) == 30 and set(statuses) == {204, 429}, statuses
