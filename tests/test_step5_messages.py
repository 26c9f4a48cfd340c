"""Step 5: the database. Every message saved before it is broadcast; history over GET /messages."""
import re
import sqlite3

import pytest
import requests
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


def test_health_is_503_when_the_database_does_not_answer(client, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("unable to open database file"))

    monkeypatch.setattr(chat.db.session, "execute", down)
    response = client.get("/health")
    assert response.status_code == 503 and response.get_json() == {"error": "database unavailable"}


def texts(response):
    assert response.status_code == 200, response.get_json()
    return [m["text"] for m in response.get_json()]


def test_history_is_the_newest_fifty_oldest_first(client):
    add_messages(60)
    assert texts(client.get("/messages")) == [f"m{n}" for n in range(11, 61)]


def test_history_limit_before_and_after(client):
    add_messages(10)
    ids = [m["id"] for m in client.get("/messages").get_json()]
    assert texts(client.get("/messages?limit=3")) == ["m8", "m9", "m10"]
    assert texts(client.get(f"/messages?limit=3&before={ids[7]}")) == ["m5", "m6", "m7"]
    assert texts(client.get(f"/messages?limit=3&after={ids[1]}")) == ["m3", "m4", "m5"]
    assert texts(client.get(f"/messages?after={ids[-1]}")) == []
    assert texts(client.get("/messages?before=0")) == []
    assert texts(client.get("/messages?after=0&limit=200")) == [f"m{n}" for n in range(1, 11)]


def test_paging_back_visits_every_message_once(client):
    add_messages(25)
    seen, before = [], ""
    while page := client.get(f"/messages?limit=7{before}").get_json():
        seen = page + seen
        before = f"&before={page[0]['id']}"
    assert [m["text"] for m in seen] == [f"m{n}" for n in range(1, 26)]


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
    ("before=-1", "before must be a whole number from 0 to"),
    ("after=-1", "after must be a whole number from 0 to"),
    ("before=99999999999999999999999", "before must be"),
    ("before=5&after=2", "use before or after, not both"),
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


def test_the_sqlite_database_runs_in_wal_mode(app):
    with app.app_context():
        assert chat.db.session.execute(chat.db.text("PRAGMA journal_mode")).scalar() == "wal"
        assert chat.db.session.execute(chat.db.text("PRAGMA synchronous")).scalar() == 1  # NORMAL
