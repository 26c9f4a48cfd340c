"""Step 5: the database. Every message saved before it is broadcast; history over GET /messages."""
import re
import sqlite3
import sys
import time

import pytest
import requests
import socketio
from sqlalchemy.exc import OperationalError

import app as chat
from conftest import UNIT_DB_DIR, WAIT
from test_step4_gateway import count_messages, real_client


def add_messages(count):
    with chat.app.app_context():
        for n in range(1, count + 1):
            chat.db.session.add(chat.Message(author="ana", text=f"m{n}"))
        chat.db.session.commit()


def test_a_sent_message_is_in_the_database_before_anyone_hears_of_it(connect, monkeypatch):
    in_database_when_broadcast = []
    broadcast = chat.socketio.emit

    def checking_emit(event, data, **kwargs):
        if event == "new_message":
            with chat.app.app_context():  # a fresh session sees only committed rows
                row = chat.db.session.get(chat.Message, data["id"])
                in_database_when_broadcast.append(row is not None and row.text == data["text"])
        return broadcast(event, data, **kwargs)

    monkeypatch.setattr(chat.socketio, "emit", checking_emit)
    ana, bea = connect(auth={"name": "ana"}), connect(auth={"name": "bea"})
    ack = ana.emit("event_message", {"text": "hola"})
    assert bea.wait_for("new_message") == [ack["message"]]
    assert in_database_when_broadcast == [True]


def test_created_at_is_utc_with_a_trailing_z(connect, client):
    ana = connect(auth={"name": "ana"})
    message = ana.emit("event_message", {"text": "hola"})["message"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", message["created_at"])
    assert client.get("/messages").get_json() == [message]  # same shape over REST


def test_a_database_failure_refuses_the_message_and_the_server_goes_on(connect):
    ana, bea = connect(auth={"name": "ana"}), connect(auth={"name": "bea"})
    locker = sqlite3.connect(UNIT_DB_DIR + "/chat.db", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another program holds the write lock: inserts fail
    try:
        ack = ana.emit("event_message", {"text": "lost?"})
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert ack == {"ok": False, "error": "database unavailable: message not saved, try again"}
    assert ana.wait_for("message_error") == [{"error": ack["error"]}]
    assert bea.received("new_message") == []
    assert count_messages() == 0  # nothing half-saved
    assert ana.emit("event_message", {"text": "back"})["ok"] is True
    assert [m["text"] for m in bea.wait_for("new_message")] == ["back"]


def texts(response):
    assert response.status_code == 200, response.get_json()
    return [m["text"] for m in response.get_json()]


def test_history_is_the_newest_fifty_oldest_first(client):
    add_messages(60)
    assert texts(client.get("/messages")) == [f"m{n}" for n in range(11, 61)]


def test_history_is_served_from_the_primary_key(app):
    with app.app_context():
        for where in ("id < 100 ORDER BY id DESC", "id > 100 ORDER BY id"):
            plan = chat.db.session.execute(chat.db.text(
                f"EXPLAIN QUERY PLAN SELECT * FROM message WHERE {where} LIMIT 50")).all()
            detail = " ".join(row[-1] for row in plan)
            assert "USING INTEGER PRIMARY KEY" in detail and "TEMP B-TREE" not in detail, detail


@pytest.mark.parametrize("query, error", [
    ("limit=0", "limit must be a whole number from 1 to 200"),
    ("limit=201", "limit must be a whole number from 1 to 200"),
    ("limit=abc", "limit must be a whole number from 1 to 200"),
    ("limit=", "limit must be"),
    ("limit=1.5", "limit must be"),
    ("limit=%2B5", "limit must be"),
])
def test_bad_history_parameters_are_400(client, query, error):
    response = client.get(f"/messages?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(error)


def test_history_survives_a_restart(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    events = []
    ana = real_client(server, events, "ana", auth={"name": "ana"})
    acks = [ana.call("event_message", {"text": f"m{n}"}, timeout=WAIT) for n in range(3)]
    ana.disconnect()
    server.stop()
    again = start_server(ASYNC_MODE=async_mode)  # same database file
    assert requests.get(again.url + "/messages", timeout=WAIT).json() == [a["message"] for a in acks]


def test_error_bodies_are_json_in_the_same_style_as_successes(client):
    """One JSON style: compact, ending in a newline, for errors as for answers."""
    ok, error = client.get("/messages?limit=1"), client.get("/messages?limit=abc")
    assert ok.data.endswith(b"]\n") and b": " not in ok.data and b", " not in ok.data
    assert error.data == b'{"error":"limit must be a whole number from 1 to 200"}\n'
    assert client.get("/no-such-page").data.endswith(b'"}\n')


def test_a_database_error_in_history_is_json_not_a_crash(client, monkeypatch):
    def locked(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(chat.db.session, "scalars", locked)
    assert client.get("/messages").status_code == 500
    monkeypatch.undo()
    assert client.get("/messages").status_code == 200  # and the next request is fine


def test_the_limit_carries_its_bounds(spec):
    params = {p["name"]: p for p in spec["paths"]["/messages"]["get"]["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"], params["limit"]["default"]) == (1, 200, 50)


def test_try_it_out_example_works(client, spec):
    # What Swagger UI sends with the documented defaults.
    limit = {p["name"]: p for p in spec["paths"]["/messages"]["get"]["parameters"]}["limit"]["default"]
    assert client.get(f"/messages?limit={limit}").status_code == 200


def test_the_error_example_is_what_the_server_says(client, spec):
    example = spec["definitions"]["Error"]["properties"]["error"]["example"]
    assert client.get("/messages?limit=0").get_json() == {"error": example}


def chat_between_two_clients(url):
    """ana and bea connect over websocket; ana's message reaches both and the history."""
    clients, received = [], []
    try:
        for name in ("ana", "bea"):
            client = socketio.Client(reconnection=False)
            client.on("new_message", lambda message, name=name: received.append((name, message)))
            client.connect(url, auth={"name": name}, transports=["websocket"], wait_timeout=WAIT)
            clients.append(client)
        ack = clients[0].call("event_message", {"text": "hola"}, timeout=WAIT)
        assert ack["ok"] is True, ack
        wait_until(lambda: len(received) == 2)
        assert sorted(received, key=lambda pair: pair[0]) == [("ana", ack["message"]), ("bea", ack["message"])]
        assert requests.get(url + "/messages", timeout=WAIT).json()[-1] == ack["message"]
        return clients[0]
    finally:
        for client in clients:
            client.disconnect()


FLASK_RUN = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", "{port}"]


def test_flask_run_chats_and_keeps_the_history_in_threading_mode(start_server, project_copy):
    """`flask --app app run`, what every Flask user types: not a script, so threading mode."""
    server = start_server(command=FLASK_RUN, cwd=project_copy)
    chat_between_two_clients(server.url)


def test_flask_run_debug_reloads_an_edited_app_py_and_chats_again(start_server, project_copy):
    server = start_server(command=[*FLASK_RUN, "--debug"], cwd=project_copy)
    chat_between_two_clients(server.url)
    app_py = project_copy / "app.py"  # a student edits the code while the server runs
    app_py.write_text(app_py.read_text().replace('"MAX_MESSAGE_LENGTH", "1000"', '"MAX_MESSAGE_LENGTH", "5"'))
    wait_until(lambda: "Detected change in" in server.log() and server.log().count("Debugger PIN") == 2)
    wait_until(server.answers)
    client = socketio.Client(reconnection=False)
    client.connect(server.url, auth={"name": "ana"}, transports=["websocket"], wait_timeout=WAIT)
    try:  # the edited code is the one running
        assert client.call("event_message", {"text": "too long"}, timeout=WAIT) == {
            "ok": False, "error": "text is longer than 5 characters"}
    finally:
        client.disconnect()
    chat_between_two_clients(server.url)


def wait_until(condition, timeout=WAIT * 3):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
