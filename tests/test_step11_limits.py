"""Step 11: the rules behind the attack tests of test_step11_hostile.py. Logins limited per address,
hashing off the hub, logout and revoked tokens (REST, sockets, every process), name rules, presence of
at most 100 names, a full disk, malformed JSON, and logs with no token in them."""
import contextlib
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import types
from datetime import timedelta

import pytest
import requests
import simple_websocket
import socketio

import app as chat
from conftest import WAIT, no_garbage_collection
from test_step4_gateway import count_messages
from test_step6_auth import auth_on, mint, register_and_login  # noqa: F401 (auth_on: a fixture)
from test_step10_processes import (fresh_postgres, needs, postgres, redis_url, running_nginx,  # noqa: F401
                                  two_processes)

CREDENTIALS = {"username": "ana", "password": "correct horse"}


# --- Logins: 10 a minute per address ------------------------------------------------------------

@pytest.mark.parametrize("route", ["/auth/login", "/auth/register"])
def test_the_eleventh_try_in_a_minute_is_429_with_retry_after(client, route):
    answers = [client.post(route, json={"username": f"u{n}", "password": "correct horse"})
               for n in range(11)]
    assert all(a.status_code != 429 for a in answers[:10])
    assert answers[10].status_code == 429
    assert answers[10].get_json() == {"error": "too many attempts from your address: wait a minute"}
    assert 0 < int(answers[10].headers["Retry-After"]) <= 60


def test_another_address_is_not_slowed_by_it(client):
    for _ in range(11):
        client.post("/auth/login", json=CREDENTIALS)
    other = client.post("/auth/login", json=CREDENTIALS, environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 401  # not 429: a wrong password, answered


def test_the_rest_of_the_api_is_not_limited(client):
    assert all(client.get("/messages").status_code == 200 for _ in range(30))


def test_one_hash_at_a_time(app, monkeypatch):
    """Parallel registrations take turns with the password hash: memory stays bounded (~32 MB each)."""
    running, most = [0], [0]
    lock = threading.Lock()
    real_hash = chat.generate_password_hash

    def counting_hash(password):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return real_hash(password)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(chat, "generate_password_hash", counting_hash)

    def register(n):
        with app.test_client() as client:
            environ = {"REMOTE_ADDR": f"127.0.3.{n}"}
            client.post("/auth/register", json={"username": f"p{n}", "password": "correct horse"},
                        environ_base=environ)

    threads = [threading.Thread(target=register, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 4)
    assert most[0] == 1


def test_under_eventlet_the_hash_runs_on_a_native_thread(monkeypatch):
    """eventlet.tpool.execute is called (a stand-in: importing eventlet here would make every later
    fork of this process warn)."""
    ran = []
    tpool = types.ModuleType("eventlet.tpool")
    tpool.execute = lambda function, *args: ran.append(function) or "hash"
    eventlet = types.ModuleType("eventlet")
    eventlet.tpool = tpool
    monkeypatch.setitem(sys.modules, "eventlet", eventlet)
    monkeypatch.setitem(sys.modules, "eventlet.tpool", tpool)
    monkeypatch.setattr(chat, "ASYNC_MODE", "eventlet")
    assert chat.off_the_hub(chat.generate_password_hash, "correct horse") == "hash"
    assert ran == [chat.generate_password_hash]


def test_logins_are_counted_together_by_every_process(start_server, redis_url):
    """With MESSAGE_QUEUE set, both processes keep their counts in Redis: 6 + 5 tries make 11."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # counted afresh
    a = start_server(MESSAGE_QUEUE=redis_url)
    b = start_server(MESSAGE_QUEUE=redis_url)
    statuses = [requests.post(server.url + "/auth/login", json=CREDENTIALS, timeout=WAIT).status_code
                for server in [a] * 6 + [b] * 5]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429


# --- Malformed credentials ----------------------------------------------------------------------

@pytest.mark.parametrize("route", ["/auth/login", "/auth/register"])
@pytest.mark.parametrize("body", ["[" * 8000, b"\xff\xfe{", '{"username": "ana"'], ids=["deep", "not-utf-8", "cut"])
def test_a_body_that_is_not_a_json_object_is_a_400_and_no_error_is_logged(client, caplog, route, body):
    with no_garbage_collection():
        answer = client.post(route, data=body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json() == {"error": 'send a JSON object like {"username": "ana", "password": "at least 8 chars"}'}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_half_a_character_in_a_password_is_a_400(client):
    answer = client.post("/auth/register", data='{"username": "ana", "password": "abcdefgh\\ud800"}',
                         content_type="application/json")
    assert answer.status_code == 400 and answer.get_json() == {"error": "password must be valid text"}


# --- Logout, deleted accounts -------------------------------------------------------------------

def test_logout_revokes_the_token_on_rest(client, auth_on):
    token = register_and_login(client)
    header = {"Authorization": f"Bearer {token}"}
    assert client.post("/auth/logout", headers=header).status_code == 204
    for answer in (client.get("/auth/me", headers=header), client.get("/messages", headers=header),
                   client.post("/auth/logout", headers=header)):
        assert answer.status_code == 401
        assert answer.get_json() == {"error": "invalid token: logged out or account deleted, log in again"}
    fresh = client.post("/auth/login", json=CREDENTIALS).get_json()["access_token"]  # log in again
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_a_logged_out_token_stays_refused_until_it_would_have_expired(client, auth_on):
    """Logging out purges the revoked tokens that have expired, and only those."""
    ana, bea = register_and_login(client, "ana"), register_and_login(client, "bea")
    assert client.post("/auth/logout", headers={"Authorization": f"Bearer {ana}"}).status_code == 204
    with chat.app.app_context():  # a token logged out long ago, expired since
        chat.db.session.add(chat.RevokedToken(jti="old", expires_at=chat.utc_now() - timedelta(hours=1)))
        chat.db.session.commit()
    assert client.post("/auth/logout", headers={"Authorization": f"Bearer {bea}"}).status_code == 204
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {ana}"}).status_code == 401, \
        "ana's logged-out token works again after bea logged out"
    with chat.app.app_context():
        kept = set(chat.db.session.scalars(chat.db.select(chat.RevokedToken.jti)))
    assert len(kept) == 2 and "old" not in kept  # ana's and bea's; the expired one is gone


def test_logout_disconnects_that_tokens_sockets_on_this_process_at_once(client, connect, auth_on):
    token = register_and_login(client)
    other = client.post("/auth/login", json=CREDENTIALS).get_json()["access_token"]  # ana's second tab
    sockets = [connect(auth={"token": token}), connect(headers={"Authorization": f"Bearer {token}"}),
               connect(auth={"token": other})]
    assert client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert [s.test_client.is_connected() for s in sockets] == [False, False, True]
    assert count_messages() == 0


def test_a_token_logged_out_elsewhere_saves_nothing_after_a_second(client, connect, auth_on, monkeypatch):
    """Another process's logout reaches this one through the database: a logged-in connection's
    token is checked again before its message is saved, at most once a second."""
    clock = [1000.0]
    monkeypatch.setattr(chat.time, "monotonic", lambda: clock[0])
    token = register_and_login(client)
    ana = connect(auth={"token": token})
    assert ana.emit("event_message", {"text": "uno"})["ok"] is True  # checked now
    with chat.app.app_context():  # what POST /auth/logout on another process writes
        claims = chat.decode_token(token)
        chat.db.session.add(chat.RevokedToken(jti=claims["jti"], expires_at=chat.utc_now() + timedelta(hours=1)))
        chat.db.session.commit()
    clock[0] += 0.5
    assert ana.emit("event_message", {"text": "dos"})["ok"] is True  # within the second: not checked yet
    clock[0] += 0.5
    assert ana.emit("event_message", {"text": "tres"}) == {
        "ok": False, "error": "invalid token: logged out or account deleted, log in again"}
    assert count_messages() == 2


def test_me_says_whose_token_it_is_until_it_is_logged_out(client):
    token = register_and_login(client)
    header = {"Authorization": f"Bearer {token}"}
    me = client.get("/auth/me", headers=header)
    assert me.status_code == 200 and me.get_json() == {"id": me.get_json()["id"], "username": "ana"}
    assert client.post("/auth/logout", headers=header).status_code == 204
    assert client.get("/auth/me", headers=header).status_code == 401


def test_me_without_a_token_is_401(client):
    assert client.get("/auth/me").status_code == 401


def test_me_and_logout_are_locked_in_the_docs(spec):
    assert {"Bearer": []} in spec["paths"]["/auth/me"]["get"]["security"]
    assert {"Bearer": []} in spec["paths"]["/auth/logout"]["post"]["security"]


def test_a_token_signed_with_our_key_for_no_valid_username_cannot_connect(auth_on):
    forged = mint("ana\nadmin")  # only a leaked key can make one: its "name" would forge log lines
    refused = chat.socketio.test_client(chat.app, auth={"token": forged, "name": "mallory"})
    assert not refused.is_connected() and chat.connections == {}


def test_logout_needs_a_token(client):
    assert client.post("/auth/logout").status_code == 401


def delete_account(username):
    with chat.app.app_context():
        chat.db.session.execute(chat.db.delete(chat.User).where(chat.User.username == username))
        chat.db.session.commit()


def test_a_deleted_accounts_token_is_refused_on_rest_and_sockets(client, connect, auth_on):
    token = register_and_login(client)
    delete_account("ana")
    assert client.get("/messages", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    refused = chat.socketio.test_client(chat.app, auth={"token": token})
    assert not refused.is_connected()
    with chat.app.app_context():
        assert chat.read_token(token) == (None, "invalid token: logged out or account deleted, log in again")


def test_a_logged_out_token_cannot_connect(client, auth_on):
    token = register_and_login(client)
    client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert not chat.socketio.test_client(chat.app, auth={"token": token}).is_connected()


def logged_in_socket(url, token):
    client = socketio.Client(reconnection=False)
    dropped = threading.Event()
    client.on("disconnect", lambda *reason: dropped.set())
    client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=WAIT)
    return client, dropped


class SweepDone(Exception):
    """Raised by the stand-in sleep to end check_tokens_again() after one pass."""


def one_sweep_of_token_checks(monkeypatch):
    """Run check_tokens_again() once, in this thread, without its 15 s waits."""
    me, real_sleep, sleeps = threading.current_thread(), chat.socketio.sleep, []

    def sleep(seconds=0):
        if threading.current_thread() is not me:
            return real_sleep(seconds)  # the server's own background sweep, if running, is left alone
        if seconds and sleeps:
            raise SweepDone  # the second 15 s wait: one pass is done
        sleeps.append(seconds)

    monkeypatch.setattr(chat.socketio, "sleep", sleep)
    with pytest.raises(SweepDone):
        chat.check_tokens_again()
    monkeypatch.setattr(chat.socketio, "sleep", real_sleep)


def test_a_sockets_token_is_checked_again_whichever_way_it_came(client, connect, auth_on, monkeypatch):
    """The handshake auth object, an Authorization header or ?token=: after logout, each socket goes."""
    tokens = {name: register_and_login(client, name) for name in ("ana", "bea", "cid", "dan")}
    sockets = {"ana": connect(auth={"token": tokens["ana"]}),
               "bea": connect(headers={"Authorization": f"Bearer {tokens['bea']}"}),
               "cid": connect(query_string=f"token={tokens['cid']}"),
               "dan": connect(headers={"Authorization": f"Bearer {tokens['dan']}"})}  # stays logged in
    assert all(s.test_client.is_connected() for s in sockets.values())
    for name in ("ana", "bea", "cid"):
        assert client.post("/auth/logout", headers={"Authorization": f"Bearer {tokens[name]}"}).status_code == 204
    one_sweep_of_token_checks(monkeypatch)
    still = {name for name, s in sockets.items() if s.test_client.is_connected()}
    assert still == {"dan"}, f"logged out, yet still connected: {sorted(still - {'dan'})}"


SWEEP = 15  # seconds between two checks of the open sockets' tokens (app.check_tokens_again)


def test_open_sockets_are_dropped_after_logout_or_deletion_on_every_process(two_processes, fresh_postgres):
    """Two processes (Redis, PostgreSQL): a logout on one drops the sockets of that token on both."""
    a, b = two_processes
    tokens = {}
    for name in ("ana", "bea", "cho"):
        credentials = {"username": name, "password": "correct horse"}
        requests.post(a.url + "/auth/register", json=credentials, timeout=WAIT).raise_for_status()
        login = requests.post(a.url + "/auth/login", json=credentials, timeout=WAIT)
        assert login.status_code == 200, login.text
        tokens[name] = login.json()["access_token"]
    sockets = {name: [logged_in_socket(server.url, tokens[name]) for server in (a, b)]
               for name in ("ana", "bea", "cho")}
    assert requests.post(b.url + "/auth/logout", headers={"Authorization": f"Bearer {tokens['ana']}"},
                         timeout=WAIT).status_code == 204
    import psycopg

    with psycopg.connect(fresh_postgres["url"].replace("+psycopg", "")) as connection:
        connection.execute("DELETE FROM \"user\" WHERE username = 'bea'")  # the operator deletes bea
    try:
        # On b at once; on a, ana's token is checked again before her next message is saved.
        assert sockets["ana"][1][1].wait(WAIT), "ana's socket on the process that logged her out is still open"
        ack = sockets["ana"][0][0].call("event_message", {"text": "after logout"}, timeout=WAIT)
        assert ack == {"ok": False, "error": "invalid token: logged out or account deleted, log in again"}
        for name in ("ana", "bea"):
            for _, dropped in sockets[name]:
                assert dropped.wait(SWEEP + WAIT), f"{name}'s socket is still open"
        for client, dropped in sockets["cho"]:
            assert not dropped.is_set() and client.connected  # nobody else is dropped
    finally:
        for pair in sockets.values():
            for client, _ in pair:
                client.disconnect()


def test_an_expired_token_drops_its_open_socket(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode, JWT_EXPIRES_MINUTES="0.05")  # 3 s
    requests.post(server.url + "/auth/register", json=CREDENTIALS, timeout=WAIT).raise_for_status()
    token = requests.post(server.url + "/auth/login", json=CREDENTIALS, timeout=WAIT).json()["access_token"]
    client, dropped = logged_in_socket(server.url, token)
    try:
        assert dropped.wait(3 + SWEEP + WAIT)
    finally:
        client.disconnect()


# --- Names --------------------------------------------------------------------------------------

def test_usernames_are_unique_regardless_of_case(client):
    assert client.post("/auth/register", json=CREDENTIALS).status_code == 201
    for name in ("Ana", "ANA", "aNa"):
        answer = client.post("/auth/register", json={"username": name, "password": "correct horse"})
        assert answer.status_code == 409 and answer.get_json() == {"error": "username already taken"}


def test_the_database_itself_refuses_a_second_ana_in_another_case(app):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        chat.db.session.add(chat.User(username="ana", password_hash="x"))
        chat.db.session.commit()
        chat.db.session.add(chat.User(username="ANA", password_hash="x"))
        with pytest.raises(IntegrityError):
            chat.db.session.commit()
        chat.db.session.rollback()


@pytest.mark.parametrize("name", ["system", "System", "SYSTEM"])
def test_system_is_reserved(client, connect, name):
    answer = client.post("/auth/register", json={"username": name, "password": "correct horse"})
    assert answer.status_code == 409
    ana = connect(auth={"name": "ana"})
    ack = ana.emit("event_message", {"text": "hola", "author": name})
    assert ack == {"ok": False, "error": "author system is reserved for the server's announcements"}
    assert not chat.socketio.test_client(chat.app, auth={"name": name}).is_connected()
    assert count_messages() == 0


INVISIBLE = ["\u3164", "\uffa0", "\u2800", "\u115f\u1160", "\u0301", "\u0301\u0308", "\u3164 \u2800"]


@pytest.mark.parametrize("name", INVISIBLE)
def test_a_name_of_invisible_characters_is_refused(connect, name):
    ack = connect().emit("event_message", {"text": "hola", "author": name})
    assert ack == {"ok": False, "error": "author must show at least one letter, digit or symbol"}
    assert not chat.socketio.test_client(chat.app, auth={"name": name}).is_connected()
    assert count_messages() == 0


@pytest.mark.parametrize("name", ["\u202eana", "ana\u202d", "\u2066ana\u2069", "a\u200fb"])
def test_direction_overrides_are_refused(connect, name):
    ack = connect().emit("event_message", {"text": "hola", "author": name})
    assert ack["ok"] is False and count_messages() == 0


def test_names_are_stored_in_one_unicode_form(connect):
    decomposed = "Jose\u0301"  # "e" + combining acute: looks like "José"
    message = connect().emit("event_message", {"text": "hola", "author": decomposed})["message"]
    assert message["author"] == "Jos\u00e9"


def test_visible_names_from_every_script_still_work(connect):
    for name in ("ana", "José", "Zoë", "王芳", "Ана", "😀", "a b"):
        assert connect().emit("event_message", {"text": "hola", "author": name})["message"]["author"] == name


# --- Presence, unknown events -------------------------------------------------------------------

def test_presence_lists_at_most_100_names_but_counts_everyone(connect):
    clients = [connect(auth={"name": f"user{n:03}"}) for n in range(120)]
    latest = clients[0].wait_for("presence", timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while latest[-1]["online"] < 120:
        assert time.monotonic() < deadline, latest[-1]["online"]
        time.sleep(0.05)
        latest = clients[0].received("presence")
    assert latest[-1]["online"] == 120
    assert latest[-1]["users"] == [f"user{n:03}" for n in range(100)]


def test_one_address_may_send_a_burst_of_twice_its_rate_and_no_more(connect, monkeypatch):
    """RATE_LIMIT_PER_ADDRESS=3: six messages at once from one address, not a seventh, then 3 a second."""
    monkeypatch.setitem(chat.app.config, "RATE_LIMIT_PER_ADDRESS", 3)
    clock = [1000.0]
    monkeypatch.setattr(chat.time, "monotonic", lambda: clock[0])
    clients = [connect(auth={"name": f"n{n}"}) for n in range(4)]  # 2 each: under their own burst
    acks = [c.emit("event_message", {"text": f"{c_n}.{n}"}) for n in range(2) for c_n, c in enumerate(clients)]
    assert [ack["ok"] for ack in acks] == [True] * 6 + [False] * 2
    assert acks[-1] == {"ok": False, "error": "rate limit exceeded for your address"}
    clock[0] += 1 / 3  # a third of a second: one more
    assert clients[0].emit("event_message", {"text": "one more"})["ok"] is True
    assert clients[1].emit("event_message", {"text": "too soon"})["ok"] is False
    assert count_messages() == 7


def test_a_connection_is_cut_off_past_five_bursts_of_refusals_not_at_five(connect, monkeypatch):
    """RATE_LIMIT_BURST=2: 10 refused events in 10 s are tolerated, the 11th cuts the connection."""
    monkeypatch.setitem(chat.app.config, "RATE_LIMIT_BURST", 2)
    cut = []
    monkeypatch.setattr(chat, "cut_off", cut.append)  # the real cut-off: test_step11_hostile.py
    ana = connect(auth={"name": "ana"})
    for n in range(10):
        assert ana.emit("no_such_event", {})["ok"] is False
    assert cut == [], "cut off at 10 refused events: the limit is more than 5 x RATE_LIMIT_BURST"
    ana.emit("no_such_event", {})
    assert len(cut) == 1, "not cut off after 11 refused events"


def test_an_unknown_event_gets_an_error_ack(connect):
    ack = connect(auth={"name": "ana"}).test_client.emit("event_mesage", {"text": "hola"}, callback=True)
    assert ack == {"ok": False, "error": "unknown event 'event_mesage'"}
    assert count_messages() == 0


def test_a_bug_in_a_handler_answers_a_plain_error_and_logs_it(connect, monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(chat, "check_message", broken)
    ack = connect(auth={"name": "ana"}).emit("event_message", {"text": "hola"})
    assert ack == {"ok": False, "error": "internal server error"}
    assert "a bug" in caplog.text


def test_a_websocket_closed_by_both_of_its_threads_at_once_is_quiet(app):
    """Threading mode: after cut_off(), Engine.IO's writer thread may close a websocket that its reader
    thread has just closed (it saw the socket shut down). The loser must find it closed, not raise."""
    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

    ours, theirs = socket.socketpair()
    environ = {"werkzeug.socket": ours, "HTTP_HOST": "127.0.0.1", "HTTP_CONNECTION": "Upgrade",
               "HTTP_UPGRADE": "websocket", "HTTP_SEC_WEBSOCKET_VERSION": "13",
               "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ=="}
    websocket = SimpleWebSocketWSGI(None, None)
    websocket.ws = simple_websocket.Server(environ)
    try:
        assert websocket.ws.connected
        ours.close()  # the reader thread won the race: its socket is gone, it still says connected
        websocket.close()  # the writer thread's turn: before close_websocket(), OSError (EBADF)
    finally:
        theirs.close()


def test_a_websocket_stops_reading_while_its_frames_wait(app):
    """Threading mode: simple-websocket's reader thread kept every frame a client sent in a list until
    Engine.IO took it, so a flood piled up in our memory. PatientWebSocket reads no further while
    WEBSOCKET_BACKLOG frames wait; the rest waits in the socket, and nothing is lost."""
    import websocket as websocket_client

    ours, theirs = socket.socketpair()
    environ = {"werkzeug.socket": ours, "HTTP_HOST": "127.0.0.1", "HTTP_CONNECTION": "Upgrade",
               "HTTP_UPGRADE": "websocket", "HTTP_SEC_WEBSOCKET_VERSION": "13",
               "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ=="}
    ws = simple_websocket.Server(environ)
    try:
        sent = [f"{n:03} " + "x" * 1000 for n in range(100)]  # 100 KB: all fits in the socket's buffer
        theirs.sendall(b"".join(websocket_client.ABNF.create_frame(text, websocket_client.ABNF.OPCODE_TEXT)
                                .format() for text in sent))
        deadline = time.monotonic() + WAIT
        while len(ws.input_buffer) < chat.WEBSOCKET_BACKLOG and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(ws.input_buffer) >= chat.WEBSOCKET_BACKLOG
        most = chat.WEBSOCKET_BACKLOG + 4096 // 1000  # one read of the socket may bring 4 more frames
        deadline = time.monotonic() + 0.5  # before PatientWebSocket, all 100 were read within 5 ms
        while len(ws.input_buffer) <= most and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(ws.input_buffer) <= most
        received = []
        for _ in sent:
            received.append(ws.receive(timeout=WAIT))  # each one taken lets the reader read on
            assert len(ws.input_buffer) <= most
        assert received == sent
    finally:
        ws.close()
        theirs.close()


# --- A full disk --------------------------------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs for the database, which the test fills up (needs root, as in CI)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    needs(mounted.returncode == 0, f"mounting a tmpfs ({mounted.stderr.strip()})")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_makes_health_503_and_register_a_json_503(start_server, tiny_disk, async_mode):
    server = start_server(ASYNC_MODE=async_mode, DATABASE_URL=f"sqlite:///{tiny_disk}/chat.db")
    assert requests.get(server.url + "/health", timeout=WAIT).status_code == 200
    with open(tiny_disk / "filler", "wb") as filler:  # the disk fills up
        with contextlib.suppress(OSError):
            while True:
                filler.write(b"x" * 65536)
                filler.flush()
    health = requests.get(server.url + "/health", timeout=WAIT)
    assert health.status_code == 503 and health.json() == {"error": "database disk full"}
    with contextlib.suppress(OSError):  # fill what the page cache gave back, too
        with open(tiny_disk / "filler2", "wb") as more:
            more.write(b"x" * 1_000_000)
    answers = [requests.post(server.url + "/auth/register", timeout=WAIT,
                             json={"username": f"user{n}", "password": "correct horse"}) for n in range(3)]
    assert all(a.headers["Content-Type"] == "application/json" for a in answers)
    assert {a.status_code for a in answers} <= {201, 503} and answers[-1].status_code == 503, \
        [(a.status_code, a.text) for a in answers]
    assert answers[-1].json() == {"error": "database unavailable: account not saved, try again"}
    os.remove(tiny_disk / "filler")  # space again: healthy again
    assert requests.get(server.url + "/health", timeout=WAIT).status_code == 200


def test_health_reports_a_nearly_full_disk(client, monkeypatch):
    monkeypatch.setattr(chat.shutil, "disk_usage", lambda path: chat.shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))
    assert client.get("/health").status_code == 503


# --- Logs without tokens ------------------------------------------------------------------------

def test_no_token_reaches_the_app_log(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode, AUTH_REQUIRED="true")
    requests.post(server.url + "/auth/register", json=CREDENTIALS, timeout=WAIT).raise_for_status()
    token = requests.post(server.url + "/auth/login", json=CREDENTIALS, timeout=WAIT).json()["access_token"]
    client = socketio.Client(reconnection=False)
    client.connect(f"{server.url}?token={token}", transports=["websocket"], wait_timeout=WAIT)
    client.call("event_message", {"text": "hola"}, timeout=WAIT)
    requests.post(server.url + "/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=WAIT)
    client.disconnect()
    assert token not in server.log() and token.split(".")[2] not in server.log()


def test_no_token_reaches_nginx_logs_when_the_upstream_is_down(tmp_path, start_server):
    """nginx.conf in front of processes that are down: its error log must not quote ?token=."""
    from conftest import free_port

    token = mint()
    with running_nginx(tmp_path, free_port(), free_port(), wait=False) as url:  # nothing there
        for transport in ("polling", "websocket"):  # Postman sends its token so
            path = f"/socket.io/?EIO=4&transport={transport}&token={token}"
            assert requests.get(url + path, timeout=WAIT).status_code == 502
    logs = (tmp_path / "nginx.stderr").read_text()  # nginx.conf logs errors to stderr, and nothing else
    assert token not in logs and token.split(".")[2] not in logs


def test_handshakes_at_the_same_moment_cannot_pass_the_session_cap_together(app, monkeypatch):
    """The session cap counts the sessions an address holds, then Engine.IO opens one. In threading
    mode two handshakes at the same moment could both count 99 and both open (101, once in CI). Here
    the opening is made slow, and ten handshakes start together: four may open, no more."""
    monkeypatch.setitem(app.config, "MAX_CONNECTIONS_PER_IP", 2)  # a cap of 2 × 2 sessions
    server = chat.socketio.server
    opening = server.eio.handlers["connect"]

    def slow_opening(*args):
        time.sleep(0.05)  # a thread switch between the count and the new session, made long
        return opening(*args)

    monkeypatch.setitem(server.eio.handlers, "connect", slow_opening)
    statuses, start = [], threading.Barrier(10)

    def handshake():
        client = app.test_client()
        start.wait(WAIT)
        statuses.append(client.get("/socket.io/?EIO=4&transport=polling").status_code)

    threads = [threading.Thread(target=handshake) for _ in range(10)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert sorted(statuses) == [200] * 4 + [429] * 6
    finally:
        for session in list(server.eio.sockets.values()):  # the four, which would wait 45 s for a client
            session.close(wait=False, abort=True)


def test_a_look_alike_sid_parameter_does_not_dodge_the_session_cap(start_server):
    """Abandoned handshakes are capped at 2 × MAX_CONNECTIONS_PER_IP per address, whatever else the
    query says (a parameter named like "xsid=" once slipped through)."""
    server = start_server(MAX_CONNECTIONS_PER_IP="2")
    url = server.url + "/socket.io/?EIO=4&transport=polling&xsid=1"
    statuses = [requests.get(url, timeout=WAIT).status_code for _ in range(5)]
    assert statuses == [200] * 4 + [429]


def test_reads_from_one_address_are_limited_together_and_the_rest_is_not(client, monkeypatch):
    """READS_PER_ADDRESS a second, counted over 10 s and shared by every read route; the page, its files
    and the writes are not reads; 0 turns it off."""
    monkeypatch.setitem(chat.app.config, "READS_PER_ADDRESS", 1)  # 10 per 10 seconds
    reads = ["/health", "/messages", "/messages?limit=1", "/apispec.json", "/asyncapi.json", "/docs/",
             "/docs/events", "/auth/me", "/health", "/messages"]
    assert [client.get(path).status_code for path in reads] == [200, 200, 200, 200, 200, 200, 200, 401, 200, 200]
    refused = client.get("/messages")
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert refused.get_json() == {"error": "too many requests from your address: wait a few seconds"}
    assert client.get("/").status_code == client.get("/static/chat.js").status_code == 200
    assert client.post("/auth/register", json=CREDENTIALS).status_code == 201
    monkeypatch.setitem(chat.app.config, "READS_PER_ADDRESS", 0)
    assert client.get("/messages").status_code == 200


@pytest.mark.parametrize("name, value", [("MAX_CONNECTIONS_PER_IP", "lots"), ("RATE_LIMIT_PER_ADDRESS", "-1"),
                                         ("READS_PER_ADDRESS", "3.5"), ("FRAMES_PER_SECOND", ""),
                                         ("TRUSTED_PROXIES", "99")])
def test_a_wrong_limit_stops_the_start_in_one_line(project_copy, name, value):
    from test_step10_settings import refused, start

    refused(start(project_copy, **{name: value}), name)
