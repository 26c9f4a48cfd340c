"""Step 12: rooms. Messages and presence go to a room, `join` moves a connection, history and
GET /rooms per room, the upgrade of a database made by the previous release, index range scans, and
rooms across two processes sharing Redis."""
import itertools
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import requests
import socketio

import app as chat
from conftest import ROOT, WAIT, disconnect_all
from test_step4_gateway import presence_when_online
from test_step6_auth import auth_on  # noqa: F401 (a fixture)
from test_step10_processes import (Listener, fresh_postgres, postgres, redis_url,  # noqa: F401
                                  two_processes, wait_until)
from test_step11_hostile import measured_twice_if_only_slow

BAD_ROOMS = ["Grupo-1", "grupo 1", "", "x" * 33, "grupo/1", "sala-ñ", 7, None, ["general"]]
ROOM_RULE = "room must be 1-32 characters of a-z, 0-9, - and _"
# The previous release of app.py, before rooms: the one whose databases this step must open.
PREVIOUS_RELEASE = "05b8dff"


def history(client, **query):
    response = client.get("/messages", query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- Messages go to a room ----------------------------------------------------------------------

def test_a_message_reaches_its_room_only_and_says_which(connect):
    ana = connect(auth={"name": "ana"})  # general
    bea = connect(auth={"name": "bea", "room": "grupo-1"})
    cid = connect(auth={"name": "cid"}, query_string="room=grupo-1")  # Postman's way
    ack = bea.emit("event_message", {"text": "hola grupo"})
    assert ack["ok"] is True and ack["message"]["room"] == "grupo-1"
    assert cid.wait_for("new_message") == [ack["message"]]
    assert bea.wait_for("new_message") == [ack["message"]]
    general = ana.emit("event_message", {"text": "hola general"})["message"]
    assert general["room"] == "general"
    assert ana.wait_for("new_message") == [general]  # never bea's message
    assert bea.received("new_message") == cid.received("new_message") == [ack["message"]]


def test_join_moves_a_connection_and_acks(connect):
    ana = connect(auth={"name": "ana"})
    bea = connect(auth={"name": "bea"})
    assert bea.emit("join", {"room": "grupo-2"}) == {"ok": True, "room": "grupo-2"}
    first = ana.emit("event_message", {"text": "in general"})["message"]
    assert ana.wait_for("new_message") == [first]
    assert bea.received("new_message") == []
    assert ana.emit("join", {"room": "grupo-2"}) == {"ok": True, "room": "grupo-2"}
    second = ana.emit("event_message", {"text": "in grupo-2"})["message"]
    assert second["room"] == "grupo-2"
    assert bea.wait_for("new_message") == [second]
    assert bea.emit("join", {"room": "grupo-2"}) == {"ok": True, "room": "grupo-2"}  # already there


@pytest.mark.parametrize("room", BAD_ROOMS)
def test_a_bad_room_name_is_refused_and_nothing_moves(connect, room):
    ana = connect(auth={"name": "ana"})
    assert ana.emit("join", {"room": room}) == {"ok": False, "error": ROOM_RULE}
    assert ana.emit("event_message", {"text": "still here"})["message"]["room"] == "general"


def test_a_room_name_may_be_32_characters_not_33(connect):
    ana = connect(auth={"name": "ana"})
    assert ana.emit("join", {"room": "x" * 32}) == {"ok": True, "room": "x" * 32}
    assert ana.emit("join", {"room": "x" * 33}) == {"ok": False, "error": ROOM_RULE}


@pytest.mark.parametrize("payload", [None, "grupo-1", ["grupo-1"], 3])
def test_join_without_an_object_is_refused(connect, payload):
    ack = connect(auth={"name": "ana"}).emit("join", payload)
    assert ack == {"ok": False, "error": 'payload must be a JSON object like {"room": "grupo-1"}'}


@pytest.mark.parametrize("room", ["Grupo-1", "", "x" * 33, 7])
def test_a_handshake_with_a_bad_room_is_refused(app, room):
    client = chat.socketio.test_client(app, auth={"name": "ana", "room": room})
    assert not client.is_connected()
    assert chat.connections == {}


def test_joins_count_against_the_rate_limit(connect):
    ana = connect(auth={"name": "ana"})
    acks = [ana.emit("join", {"room": f"r{n}"}) for n in range(chat.app.config["RATE_LIMIT_BURST"] + 1)]
    assert all(ack["ok"] for ack in acks[:-1])
    assert acks[-1] == {"ok": False, "error": "rate limit exceeded"}


# --- Presence per room --------------------------------------------------------------------------

def test_presence_is_per_room_and_follows_a_join(connect):
    ana = connect(auth={"name": "ana"})
    bea = connect(auth={"name": "bea", "room": "grupo-1"})
    assert presence_when_online(bea, 1) == {"room": "grupo-1", "online": 1, "users": ["bea"]}
    assert presence_when_online(ana, 1) == {"room": "general", "online": 1, "users": ["ana"]}
    seen = len(ana.received("presence"))
    bea.emit("join", {"room": "general"})
    assert presence_when_online(ana, 2) == {"room": "general", "online": 2, "users": ["ana", "bea"]}
    assert all(p["room"] == "general" for p in ana.received("presence")[seen:])
    cid = connect(auth={"name": "cid", "room": "grupo-1"})
    assert presence_when_online(cid, 1) == {"room": "grupo-1", "online": 1, "users": ["cid"]}  # bea left


def test_leaving_a_room_updates_that_rooms_presence(connect):
    ana = connect(auth={"name": "ana"})
    bea = connect(auth={"name": "bea"})
    presence_when_online(ana, 2)
    assert bea.emit("join", {"room": "grupo-1"}) == {"ok": True, "room": "grupo-1"}
    assert presence_when_online(ana, 1) == {"room": "general", "online": 1, "users": ["ana"]}


# --- History and rooms over REST ----------------------------------------------------------------

def test_history_is_per_room_and_general_by_default(client, connect):
    ana = connect(auth={"name": "ana", "room": "grupo-1"})
    bea = connect(auth={"name": "bea"})
    texts = {}
    for n in range(3):
        texts.setdefault("grupo-1", []).append(ana.emit("event_message", {"text": f"g{n}"})["message"]["text"])
        texts.setdefault("general", []).append(bea.emit("event_message", {"text": f"m{n}"})["message"]["text"])
    assert [m["text"] for m in history(client)] == texts["general"]
    assert [m["text"] for m in history(client, room="grupo-1")] == texts["grupo-1"]
    assert all(m["room"] == "grupo-1" for m in history(client, room="grupo-1"))
    newest = history(client, room="grupo-1", limit=1)
    assert [m["text"] for m in newest] == ["g2"]
    older = history(client, room="grupo-1", before=newest[0]["id"])
    assert [m["text"] for m in older] == ["g0", "g1"]
    assert [m["text"] for m in history(client, room="grupo-1", after=older[0]["id"])] == ["g1", "g2"]
    assert history(client, room="nadie") == []


@pytest.mark.parametrize("room", ["Grupo-1", "grupo 1", "", "x" * 33])
def test_history_of_a_bad_room_name_is_a_400(client, room):
    response = client.get("/messages", query_string={"room": room})
    assert response.status_code == 400
    assert response.get_json() == {"error": ROOM_RULE}


def test_rooms_lists_every_room_that_holds_a_message_the_one_written_in_last_first(client, connect):
    assert client.get("/rooms").get_json() == []
    ana = connect(auth={"name": "ana", "room": "alfa"})
    first_alfa = ana.emit("event_message", {"text": "a"})["message"]["id"]
    ana.emit("join", {"room": "zeta"})
    last = [ana.emit("event_message", {"text": str(n)})["message"]["id"] for n in range(2)][-1]
    ana.emit("join", {"room": "empty"})  # joined, never written to: not listed
    assert client.get("/rooms").get_json() == [
        {"name": "zeta", "messages": 2, "last_id": last},
        {"name": "alfa", "messages": 1, "last_id": first_alfa}]
    ana.emit("join", {"room": "alfa"})
    newest = ana.emit("event_message", {"text": "b"})["message"]["id"]
    assert [room["name"] for room in client.get("/rooms").get_json()] == ["alfa", "zeta"]
    assert client.get("/rooms").get_json()[0] == {"name": "alfa", "messages": 2, "last_id": newest}


def make_rooms(count, start=1):
    """`count` rooms that hold one message each, as the room table counts them: room-<n> has last_id n."""
    with chat.app.app_context():
        chat.db.session.execute(chat.db.insert(chat.Room), [
            {"name": f"room-{n:06}", "messages": 1, "last_id": n} for n in range(start, start + count)])
        chat.db.session.commit()


def test_rooms_come_a_page_at_a_time_and_before_gives_the_next_page(client):
    make_rooms(250)
    first = client.get("/rooms").get_json()
    assert len(first) == 100  # the default, and the most a page holds
    assert [room["last_id"] for room in first] == list(range(250, 150, -1))
    pages, cursor = [], None
    while True:
        query = {"limit": 40} | ({} if cursor is None else {"before": cursor})
        page = client.get("/rooms", query_string=query).get_json()
        if not page:
            break
        assert len(page) <= 40
        pages += page
        cursor = page[-1]["last_id"]
    assert [room["name"] for room in pages] == [f"room-{n:06}" for n in range(250, 0, -1)]  # each once
    assert client.get("/rooms?limit=1&before=7").get_json() == [
        {"name": "room-000006", "messages": 1, "last_id": 6}]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "before=-1", "before=1.5"])
def test_a_bad_page_of_rooms_is_a_400(client, query):
    response = client.get("/rooms?" + query)
    assert response.status_code == 400
    assert set(response.get_json()) == {"error"}


@pytest.mark.parametrize("url", ["/rooms", "/rooms?before=500&limit=10"])
def test_a_page_of_rooms_is_read_in_order_from_an_index(client, url):
    """The newest rooms come from the last_id index, not a sort of every room: as fast among
    100,000 rooms as among ten."""
    make_rooms(3)
    statements = [s for s in captured_queries(client, url) if "FROM room" in s[0]]
    assert len(statements) == 1
    plan = query_plan(*statements[0])
    assert "INDEX room_last_id" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


# --- New rooms, per client address --------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch):
    """app.py's time.monotonic(), moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(chat.time, "monotonic", lambda: now[0])
    return now


def test_one_address_opens_ten_new_rooms_a_minute(connect, clock):
    """A room is new until it holds a message; one address opens NEW_ROOMS_PER_MINUTE of them a
    minute, all its connections together. The same room counts once, general and rooms that hold
    messages are free, and a refused join leaves the connection where it was."""
    assert chat.NEW_ROOMS_PER_MINUTE == 10
    ana, bea = connect(auth={"name": "ana"}), connect(auth={"name": "bea"})
    with chat.app.app_context():
        chat.save_message("cid", "hola", "grupo-a")  # grupo-a holds a message: not new
    for n in range(10):
        clock[0] += 0.5  # within the per-connection rate limit
        assert (ana if n % 2 else bea).emit("join", {"room": f"new-{n}"})["ok"]
    clock[0] += 1
    refused = ana.emit("join", {"room": "new-10"})
    assert refused == {"ok": False, "error": "too many new rooms from your address: at most 10 a minute"}
    assert ana.emit("event_message", {"text": "still here"})["message"]["room"] == "new-9"  # it stays
    assert ana.emit("join", {"room": "new-2"})["ok"]  # opened already: counted once
    assert ana.emit("join", {"room": "grupo-a"})["ok"] and ana.emit("join", {"room": "general"})["ok"]
    refused_handshake = chat.socketio.test_client(chat.app, auth={"name": "dan", "room": "new-11"})
    assert not refused_handshake.is_connected()
    assert connect(auth={"name": "eva", "room": "new-3"}).emit("event_message", {"text": "hi"})["ok"]
    clock[0] += 60  # a minute after the first ones
    assert ana.emit("join", {"room": "new-10"}) == {"ok": True, "room": "new-10"}
    assert ana.test_client.is_connected() and bea.test_client.is_connected()


def test_a_handshake_into_one_new_room_too_many_is_refused_with_the_reason(start_server):
    server = start_server()
    opened = [socketio.Client() for _ in range(10)]  # NEW_ROOMS_PER_MINUTE
    try:
        for n, client in enumerate(opened):
            client.connect(f"{server.url}?room=new-{n}", transports=["websocket"], wait_timeout=WAIT)
        refused, reasons = socketio.Client(), []
        refused.on("connect_error", reasons.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            refused.connect(server.url + "?room=one-too-many", transports=["websocket"], wait_timeout=WAIT)
        assert reasons == [{"message": "too many new rooms from your address: at most 10 a minute"}]
    finally:
        disconnect_all(opened)


@pytest.mark.timeout(240)  # twice 120: measured_twice_if_only_slow may run it again
@measured_twice_if_only_slow
def test_a_script_opening_rooms_from_one_address(start_server, async_mode):
    """The attack: 4 connections of one address join a new room and write in it, as fast as their
    rate limits allow (20 new rooms a second before this limit). While it runs the probe chats in
    general: its p95 stays low, and the address has opened at most NEW_ROOMS_PER_MINUTE rooms."""
    from hostile import SioClient
    from test_step11_hostile import LIMITS, attack_and_measure, report

    server = start_server(ASYNC_MODE=async_mode, **LIMITS)
    attackers = [SioClient(server.port, auth={"name": f"spam{n}"}) for n in range(4)]
    prefix = f"spam{time.monotonic_ns() % 10**6}-"  # this run's rooms (a second run shares the database)
    joins = []

    def attack():
        stop = time.monotonic() + 3

        def spam(client, n):
            for i in itertools.count():
                if time.monotonic() > stop or client.kicked:
                    return
                try:
                    joins.append(client.call("join", {"room": f"{prefix}{n}-{i}"}))
                    client.emit("event_message", {"text": "x"}, ack=False)
                except Exception:  # the server cut this connection off: its part of the attack is over
                    return
                time.sleep(0.05)
        threads = [threading.Thread(target=spam, args=(client, n)) for n, client in enumerate(attackers)]
        for thread in threads:
            thread.start()

        def finish():
            for thread in threads:
                thread.join(15)
            return {"joins": len(joins), "refused": sum(not (ack or {}).get("ok") for ack in joins)}
        return finish, 3

    try:
        figures, failures = attack_and_measure(server, attack)
    finally:
        for client in attackers:
            client.close()
    rooms = [room["name"] for room in requests.get(server.url + "/rooms", timeout=WAIT).json()]
    figures["rooms"] = len(rooms)
    spam = [name for name in rooms if name.startswith(prefix)]
    if len(spam) > 10:  # NEW_ROOMS_PER_MINUTE
        failures.append(f"one address opened {len(spam)} rooms in 3 s")
    if "too many new rooms from your address: at most 10 a minute" not in [
            (ack or {}).get("error") for ack in joins]:
        failures.append("no join was refused with the reason")
    report(failures, figures)
def test_announce_posts_in_the_room_it_names(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["announce", "--room", "grupo-1", "recreo"])
    assert result.exit_code == 0, result.output
    assert [(m["room"], m["author"], m["text"]) for m in history(client, room="grupo-1")] == [
        ("grupo-1", "system", "recreo")]
    assert history(client) == []
    refused = runner.invoke(args=["announce", "--room", "Grupo 1", "x"])
    assert refused.exit_code != 0 and ROOM_RULE in refused.output


def test_announce_reaches_the_room_it_names_and_no_other(app, connect):
    here = connect(auth={"name": "ana", "room": "grupo-1"})
    elsewhere = connect(auth={"name": "bea"})  # general
    result = app.test_cli_runner().invoke(args=["announce", "--room", "grupo-1", "recreo"])
    assert result.exit_code == 0, result.output
    assert [m["text"] for m in here.wait_for("new_message")] == ["recreo"]
    assert elsewhere.received("new_message") == [], "an announcement for grupo-1 reached general"


def test_an_announcement_the_database_refuses_reaches_nobody(app, connect, monkeypatch):
    ana = connect(auth={"name": "ana"})

    def locked():
        raise chat.SQLAlchemyError("database is locked")
    with app.app_context():
        monkeypatch.setattr(chat.db.engine, "begin", locked)
    result = app.test_cli_runner().invoke(args=["announce", "recreo"])
    assert result.exit_code != 0 and "database unavailable" in result.output
    assert ana.received("new_message") == []


def test_rooms_need_a_token_when_login_is_required(client, auth_on):
    assert client.get("/rooms").status_code == 401
    assert client.get("/rooms").get_json()["error"]


# --- The history query is an index range scan ---------------------------------------------------

def captured_queries(client, url):
    """The SQL statements (with their parameters) that answering `url` ran."""
    statements = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    with chat.app.app_context():
        engine = chat.db.engine
    chat.event.listen(engine, "before_cursor_execute", keep)
    try:
        assert client.get(url).status_code == 200
    finally:
        chat.event.remove(engine, "before_cursor_execute", keep)
    return statements


def query_plan(statement, parameters):
    """SQLite's plan for a statement: how it finds the rows."""
    with chat.app.app_context(), chat.db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        return " | ".join(row[-1] for row in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters))


@pytest.mark.parametrize("url", ["/messages?room=grupo-1&limit=50", "/messages?room=grupo-1&before=500",
                                 "/messages?room=grupo-1&after=10"])
def test_history_of_a_room_is_a_range_scan_of_its_index(client, url):
    statements = [s for s in captured_queries(client, url) if "FROM message" in s[0]]
    assert len(statements) == 1
    plan = query_plan(*statements[0])
    assert "USING COVERING INDEX message_room_id" in plan or "USING INDEX message_room_id" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # no sort: the index gives the order


def test_the_list_of_rooms_reads_no_message(client):
    statements = captured_queries(client, "/rooms")
    assert statements and not [s for s in statements if "message" in s[0].replace("messages", "")]


# --- A database made by the previous release ----------------------------------------------------

def test_a_database_made_by_the_previous_release_opens_with_its_messages_in_general(tmp_path, start_server):
    """The previous release's app.py, from git history, makes a chat.db and saves messages in it
    (`flask announce`); this app.py then serves them in `general`, counts them, and adds rooms."""
    old = tmp_path / "previous"
    old.mkdir()
    source = subprocess.run(["git", "show", f"{PREVIOUS_RELEASE}:app.py"], cwd=ROOT, capture_output=True,
                            text=True, timeout=30)
    assert source.returncode == 0, f"git history is needed (a full clone): {source.stderr}"
    assert "room" not in source.stdout.split("class Message")[1].split("def to_dict")[0]
    (old / "app.py").write_text(source.stdout)
    database = f"sqlite:///{tmp_path}/chat.db"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ASYNC_MODE")}
    env.update(DATABASE_URL=database, ASYNC_MODE="threading")
    for text in ("uno", "dos"):
        made = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "announce", text], cwd=old,
                              env=env, capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr[-2000:]
    with sqlite3.connect(tmp_path / "chat.db") as raw:
        assert "room" not in [row[1] for row in raw.execute("PRAGMA table_info(message)")]

    server = start_server(ASYNC_MODE="threading")  # the same database, this release
    old_messages = requests.get(server.url + "/messages", timeout=WAIT).json()
    assert [(m["room"], m["text"]) for m in old_messages] == [("general", "uno"), ("general", "dos")]
    assert requests.get(server.url + "/rooms", timeout=WAIT).json() == [
        {"name": "general", "messages": 2, "last_id": old_messages[-1]["id"]}]
    client = socketio.Client()
    client.connect(server.url, auth={"name": "ana", "room": "grupo-1"}, wait_timeout=WAIT)
    try:
        ack = client.call("event_message", {"text": "tres"}, timeout=WAIT)
    finally:
        client.disconnect()
    assert ack["ok"] and ack["message"]["room"] == "grupo-1" and ack["message"]["id"] > old_messages[-1]["id"]
    assert [r["name"] for r in requests.get(server.url + "/rooms", timeout=WAIT).json()] == ["grupo-1", "general"]
    with sqlite3.connect(tmp_path / "chat.db") as raw:
        indexes = [row[1] for row in raw.execute("PRAGMA index_list(message)")]
    assert "message_room_id" in indexes


# --- Real servers, both async modes -------------------------------------------------------------

def test_rooms_on_a_real_server(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    refused, reasons = socketio.Client(), []
    refused.on("connect_error", reasons.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(server.url + "?room=Grupo-1", transports=["websocket"], wait_timeout=WAIT)
    assert reasons == [{"message": ROOM_RULE}]
    ana, bea, cid = (Listener(server.url, name) for name in ("ana", "bea", "cid"))
    try:
        assert bea.client.call("join", {"room": "grupo-1"}, timeout=WAIT) == {"ok": True, "room": "grupo-1"}
        assert cid.client.call("join", {"room": "grupo-1"}, timeout=WAIT)["ok"]
        ack = bea.client.call("event_message", {"text": "solo el grupo"}, timeout=WAIT)
        wait_until(lambda: len(cid.messages) == 1, what="the message in grupo-1")
        hello = ana.client.call("event_message", {"text": "general"}, timeout=WAIT)
        wait_until(lambda: len(ana.messages) == 1, what="the message in general")
        assert ana.messages == [hello["message"]] and bea.messages == cid.messages == [ack["message"]]
        wait_until(lambda: bea.presence and bea.presence[-1] == {"room": "grupo-1", "online": 2,
                                                                  "users": ["bea", "cid"]}, what="presence")
        wait_until(lambda: ana.presence and ana.presence[-1] == {"room": "general", "online": 1,
                                                                  "users": ["ana"]}, what="presence")
        assert requests.get(server.url + "/messages?room=grupo-1", timeout=WAIT).json() == [ack["message"]]
    finally:
        disconnect_all([ana.client, bea.client, cid.client])


def test_rooms_across_two_processes_sharing_redis(two_processes):
    a, b = two_processes
    ana = Listener(a.url, "ana")
    bea, cid = Listener(b.url, "bea"), Listener(b.url, "cid")
    try:
        for listener in (ana, bea):
            assert listener.client.call("join", {"room": "grupo-1"}, timeout=WAIT)["ok"]
        ack = ana.client.call("event_message", {"text": "de a para b"}, timeout=WAIT)
        wait_until(lambda: bea.messages, what="the message on the other process")
        other = cid.client.call("event_message", {"text": "general"}, timeout=WAIT)
        wait_until(lambda: cid.messages, what="cid's own message")
        assert ana.messages == bea.messages == [ack["message"]] and cid.messages == [other["message"]]
        # presence counts the connections of a process in a room (per server process, as documented)
        wait_until(lambda: bea.presence and bea.presence[-1] == {"room": "grupo-1", "online": 1,
                                                                  "users": ["bea"]}, what="b's presence")
        wait_until(lambda: ana.presence and ana.presence[-1] == {"room": "grupo-1", "online": 1,
                                                                  "users": ["ana"]}, what="a's presence")
        rooms = requests.get(b.url + "/rooms", timeout=WAIT).json()
        assert [(r["name"], r["messages"]) for r in rooms] == [("general", 1), ("grupo-1", 1)]
    finally:
        disconnect_all([ana.client, bea.client, cid.client])


def test_the_first_message_of_a_new_room_from_two_processes_at_once_is_saved_twice(two_processes):
    """Both processes create the room's row: one gets IntegrityError and counts again."""
    a, b = two_processes
    clients = [Listener(server.url, name) for server, name in ((a, "ana"), (b, "bea"))]
    try:
        for round_ in range(10):
            room = f"nueva-{round_}"
            for listener in clients:
                assert listener.client.call("join", {"room": room}, timeout=WAIT)["ok"]
            acks = []
            senders = [threading.Thread(target=lambda l=listener: acks.append(
                l.client.call("event_message", {"text": "primero"}, timeout=WAIT))) for listener in clients]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join(WAIT * 2)
            assert len(acks) == 2 and all(ack["ok"] for ack in acks), acks
        rooms = {r["name"]: r["messages"] for r in requests.get(a.url + "/rooms", timeout=WAIT).json()}
        assert rooms == {f"nueva-{n}": 2 for n in range(10)}
    finally:
        disconnect_all([listener.client for listener in clients])


def test_the_docs_page_describes_rooms(client):
    spec = client.get("/apispec.json").get_json()
    assert [p["name"] for p in spec["paths"]["/messages"]["get"]["parameters"]][0] == "room"
    assert spec["paths"]["/rooms"]["get"]["responses"]["200"]["schema"]["items"] == {"$ref": "#/definitions/Room"}
    assert spec["definitions"]["Room"]["required"] == ["name", "messages", "last_id"]
    assert "room" in spec["definitions"]["Message"]["required"]
    events = client.get("/asyncapi.json").get_json()
    join = events["channels"]["chat"]["messages"]["receive_join"]
    assert join["examples"] == [{"payload": {"room": "grupo-1"}}]
    assert "room" in events["channels"]["chat"]["messages"]["receive_connect"]["payload"]["properties"]
    assert "room" in events["channels"]["chat"]["bindings"]["ws"]["query"]["properties"]  # ?room=
    assert events["channels"]["chat"]["messages"]["send_presence"]["payload"]["required"][0] == "room"


def test_rooms_counts_among_the_reads_of_an_address(client, monkeypatch):
    """/rooms shares the budget of REST reads per address (READS_PER_ADDRESS, step 11)."""
    monkeypatch.setitem(chat.app.config, "READS_PER_ADDRESS", 1)  # 10 per 10 seconds
    assert [client.get("/rooms").status_code for _ in range(9)] == [200] * 9
    assert client.get("/health").status_code == 200  # the tenth read
    assert client.get("/rooms").status_code == 429
