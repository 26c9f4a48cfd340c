"""Step 13: messages by id. Read, edit (its account only), delete (its account or a moderator),
message_updated and message_deleted to its room after the commit, room counts kept, the limits, and
real servers (both async modes, two processes sharing Redis)."""
import logging
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest
import requests
import socketio

import app as chat
from conftest import APP_DIR, ROOT, WAIT, disconnect_all, no_garbage_collection
from test_step4_gateway import count_messages
from test_step6_auth import auth_on, mint, register_and_login  # noqa: F401 (auth_on: a fixture)
from test_step11_limits import CREDENTIALS, delete_account
from test_step10_processes import (Listener, fresh_postgres, postgres, redis_url,  # noqa: F401
                                  two_processes, wait_until)


@pytest.fixture
def moderators(monkeypatch):
    monkeypatch.setitem(chat.app.config, "MODERATORS", {"profe"})


def bearer(username):
    return {"Authorization": f"Bearer {mint(username)}"}


def send_as(connect, username=None, name="anon", room=None, text="hola"):
    """A message saved through a socket: logged in as `username`, or anonymous as `name`."""
    auth = {"token": mint(username)} if username else {"name": name}
    if room:
        auth["room"] = room
    client = connect(auth=auth)
    ack = client.emit("event_message", {"text": text})
    assert ack["ok"], ack
    return ack["message"], client


def test_a_message_has_edited_at_null_until_an_edit(connect, client):
    message, _ = send_as(connect, "ana")
    assert message["edited_at"] is None
    assert client.get(f"/messages/{message['id']}").get_json() == message
    assert client.get("/messages").get_json() == [message]


@pytest.mark.parametrize("message_id", ["999", "0", str(2**53 + 1), str(2**70)])
def test_an_unknown_id_is_a_404(client, message_id):
    response = client.get(f"/messages/{message_id}")
    assert response.status_code == 404
    assert response.get_json() == {"error": f"no message {message_id}"}
    assert client.delete(f"/messages/{message_id}", headers=bearer("ana")).status_code == 404


def test_reading_one_message_needs_a_token_when_login_is_required(connect, client, auth_on):
    message, _ = send_as(connect, "ana")
    assert client.get(f"/messages/{message['id']}").status_code == 401
    assert client.get(f"/messages/{message['id']}", headers=bearer("bea")).get_json() == message


def test_the_sender_edits_and_the_room_hears_after_the_commit(connect, client):
    message, ana = send_as(connect, "ana", room="grupo-1")
    elsewhere = connect(auth={"name": "cid"})  # in general: hears nothing of grupo-1
    response = client.patch(f"/messages/{message['id']}", json={"text": "  hola, editado "},
                            headers=bearer("ana"))
    assert response.status_code == 200
    edited = response.get_json()
    assert edited["text"] == "hola, editado" and edited["edited_at"].endswith("Z")
    assert {k: v for k, v in edited.items() if k not in ("text", "edited_at")} == {
        k: v for k, v in message.items() if k not in ("text", "edited_at")}
    assert ana.wait_for("message_updated") == [edited]
    assert client.get(f"/messages/{message['id']}").get_json() == edited  # committed before the event
    assert elsewhere.received("message_updated") == []


@pytest.mark.parametrize("who", ["bea", None])
def test_nobody_else_edits_a_message(connect, client, who, moderators):
    message, ana = send_as(connect, "ana")
    headers = bearer(who) if who else {}
    response = client.patch(f"/messages/{message['id']}", json={"text": "mine now"}, headers=headers)
    assert response.status_code == (401 if who is None else 403)
    assert client.get(f"/messages/{message['id']}").get_json() == message
    assert ana.received("message_updated") == []


def test_a_moderator_cannot_edit_either(connect, client, moderators):
    message, _ = send_as(connect, "ana")
    response = client.patch(f"/messages/{message['id']}", json={"text": "x"}, headers=bearer("profe"))
    assert response.status_code == 403
    assert response.get_json() == {"error": "only the account that sent a message can edit it"}


def test_an_anonymous_message_belongs_to_nobody(connect, client, moderators):
    message, _ = send_as(connect, name="ana")  # anonymous, though it says "ana"
    assert client.patch(f"/messages/{message['id']}", json={"text": "x"}, headers=bearer("ana")).status_code == 403
    assert client.delete(f"/messages/{message['id']}", headers=bearer("ana")).status_code == 403
    assert client.delete(f"/messages/{message['id']}", headers=bearer("profe")).status_code == 204


@pytest.mark.parametrize("body, error", [
    ({"text": ""}, "text must not be empty"),
    ({"text": "   "}, "text must not be empty"),
    ({"text": 7}, "text must be a string"),
    ({}, "text is required"),
    ({"text": "x" * 1001}, "text is longer than 1000 characters"),
    (["text"], 'send a JSON object like {"text": "hola"}'),
])
def test_a_bad_edit_is_a_400_and_changes_nothing(connect, client, body, error):
    message, _ = send_as(connect, "ana")
    response = client.patch(f"/messages/{message['id']}", json=body, headers=bearer("ana"))
    assert (response.status_code, response.get_json()) == (400, {"error": error})
    assert client.get(f"/messages/{message['id']}").get_json() == message


NOT_A_JSON_OBJECT = ["[" * 5000, b"\xff\xfe{", '{"text": "hola"', "7", ""]  # deep, not UTF-8, cut, a number


@pytest.mark.parametrize("body", NOT_A_JSON_OBJECT, ids=["deep", "not-utf-8", "cut", "number", "empty"])
def test_an_edit_body_that_is_not_a_json_object_is_a_400_and_no_error_is_logged(connect, client, caplog, body):
    message, _ = send_as(connect, "ana")
    with no_garbage_collection():
        response = client.patch(f"/messages/{message['id']}", data=body, content_type="application/json",
                                headers=bearer("ana"))
    assert (response.status_code, response.get_json()) == (400, {"error": 'send a JSON object like {"text": "hola"}'})
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert client.get(f"/messages/{message['id']}").get_json() == message


def test_the_sender_deletes_and_the_room_hears_after_the_commit(connect, client):
    message, ana = send_as(connect, "ana", room="grupo-1")
    elsewhere = connect(auth={"name": "cid"})  # in general: hears nothing of grupo-1
    response = client.delete(f"/messages/{message['id']}", headers=bearer("ana"))
    assert response.status_code == 204 and response.data == b""
    assert ana.wait_for("message_deleted") == [{"id": message["id"], "room": "grupo-1"}]
    assert elsewhere.received("message_deleted") == []
    assert client.get(f"/messages/{message['id']}").status_code == 404
    assert count_messages() == 0
    assert client.delete(f"/messages/{message['id']}", headers=bearer("ana")).status_code == 404


@pytest.mark.parametrize("who, status", [("bea", 403), (None, 401), ("profe", 204), ("PROFE", 204)])
def test_only_the_sender_or_a_moderator_deletes(connect, client, moderators, who, status):
    message, _ = send_as(connect, "ana")
    headers = bearer(who) if who else {}  # PROFE: names are unique regardless of case, so profe's
    response = client.delete(f"/messages/{message['id']}", headers=headers)
    assert response.status_code == status
    assert count_messages() == (0 if status == 204 else 1)


def test_deleting_keeps_the_room_counts_right(connect, client):
    first, _ = send_as(connect, "ana", room="sala", text="uno")
    second, _ = send_as(connect, "ana", room="sala", text="dos")
    rooms = lambda: client.get("/rooms").get_json()  # noqa: E731
    assert rooms() == [{"name": "sala", "messages": 2, "last_id": second["id"]}]
    client.delete(f"/messages/{second['id']}", headers=bearer("ana"))
    assert rooms() == [{"name": "sala", "messages": 1, "last_id": first["id"]}]
    client.delete(f"/messages/{first['id']}", headers=bearer("ana"))
    assert rooms() == []  # a room that holds no message is not listed


def test_deleting_keeps_each_rooms_last_id_its_own(connect, client):
    first, _ = send_as(connect, "ana", room="sala", text="uno")
    second, _ = send_as(connect, "ana", room="sala", text="dos")
    other, _ = send_as(connect, "ana", room="otra", text="tres")  # newer than both, in another room
    assert client.delete(f"/messages/{second['id']}", headers=bearer("ana")).status_code == 204
    assert client.get("/rooms").get_json() == [{"name": "otra", "messages": 1, "last_id": other["id"]},
                                               {"name": "sala", "messages": 1, "last_id": first["id"]}]


def failing_commits(monkeypatch):
    """Every commit from now on fails, as on a full disk or a locked database."""
    def commit():
        raise chat.SQLAlchemyError("disk I/O error")
    monkeypatch.setattr(chat.db.session, "commit", commit)


@pytest.mark.parametrize("change", ["edit", "delete"])
def test_a_change_that_fails_to_commit_is_a_503_and_the_room_hears_nothing(connect, client, monkeypatch,
                                                                             change):
    message, ana = send_as(connect, "ana")
    failing_commits(monkeypatch)
    if change == "edit":
        response = client.patch(f"/messages/{message['id']}", json={"text": "editado"}, headers=bearer("ana"))
    else:
        response = client.delete(f"/messages/{message['id']}", headers=bearer("ana"))
    verb = {"edit": "updated", "delete": "deleted"}[change]
    assert response.status_code == 503
    assert response.get_json() == {"error": f"database unavailable: message not {verb}, try again"}
    monkeypatch.undo()
    assert ana.received(f"message_{verb}") == [], f"message_{verb} went out for a change never committed"
    assert client.get(f"/messages/{message['id']}").get_json() == message  # unchanged


def test_a_deleted_messages_id_is_never_given_again(connect, client):
    first, ana = send_as(connect, "ana", text="uno")
    newest = ana.emit("event_message", {"text": "dos"})["message"]
    assert client.delete(f"/messages/{newest['id']}", headers=bearer("ana")).status_code == 204
    after = ana.emit("event_message", {"text": "tres"})["message"]
    assert after["id"] > newest["id"], f"the deleted message's id {newest['id']} was given to the next one"
    caught_up = client.get(f"/messages?after={newest['id']}").get_json()  # a client that saw "dos"
    assert [m["text"] for m in caught_up] == ["tres"]
    stale = client.delete(f"/messages/{newest['id']}", headers=bearer("ana"))  # a second tab's DELETE
    assert stale.status_code == 404 and client.get(f"/messages/{after['id']}").status_code == 200


def test_a_removed_accounts_id_is_never_given_again(client):
    for name in ("ana", "bea"):
        client.post("/auth/register", json={"username": name, "password": "correct horse"})
    with chat.app.app_context():
        bea = chat.db.session.scalar(chat.db.select(chat.User).where(chat.User.username == "bea"))
        bea_id = bea.id
        chat.db.session.delete(bea)
        chat.db.session.commit()
    assert client.post("/auth/register", json={"username": "cid", "password": "correct horse"}).status_code == 201
    with chat.app.app_context():
        cid_id = chat.db.session.scalar(chat.db.select(chat.User.id).where(chat.User.username == "cid"))
    assert cid_id > bea_id


def test_an_account_made_again_under_the_same_name_does_not_inherit_old_tokens(client, auth_on):
    """A token names its account's id (step 11), and no id is given twice (this step)."""
    old_token = register_and_login(client)
    delete_account("ana")  # the newest account: its id would be the next one's
    assert client.post("/auth/register", json=CREDENTIALS).status_code == 201  # another ana
    header = {"Authorization": f"Bearer {old_token}"}
    assert client.get("/auth/me", headers=header).status_code == 401
    assert not chat.socketio.test_client(chat.app, auth={"token": old_token}).is_connected()
    new_token = client.post("/auth/login", json=CREDENTIALS).get_json()["access_token"]
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {new_token}"}).status_code == 200


# The last release before ids were never given twice: its chat.db files have tables without AUTOINCREMENT.
RELEASE_THAT_REUSED_IDS = "f1b23de"


def test_a_database_whose_ids_were_reused_is_rebuilt_keeping_every_id(tmp_path, start_server):
    """A chat.db made by the release that reused ids: this app.py rebuilds its tables once, in place;
    every message and account keeps its id, its indexes, and no id is given twice from then on. (Its
    tokens named no account id: they are refused, and their users log in again.)"""
    old = tmp_path / "previous"
    old.mkdir()
    source = subprocess.run(["git", "show", f"{RELEASE_THAT_REUSED_IDS}:app.py"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert source.returncode == 0, f"git history is needed (a full clone): {source.stderr}"
    (old / "app.py").write_text(source.stdout)
    for name in ("templates", "static"):
        shutil.copytree(ROOT / name, old / name)
    server = start_server(ASYNC_MODE="threading", cwd=old)
    credentials = {"username": "ana", "password": "correct horse"}
    for name in ("ana", "bea"):
        requests.post(server.url + "/auth/register", json={**credentials, "username": name},
                      timeout=WAIT).raise_for_status()
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    client = socketio.Client()
    client.connect(server.url, auth={"token": token}, wait_timeout=WAIT)
    try:
        before = [client.call("event_message", {"text": t}, timeout=WAIT)["message"] for t in ("uno", "dos")]
    finally:
        client.disconnect()
    server.stop()
    with sqlite3.connect(tmp_path / "chat.db") as raw:
        assert "AUTOINCREMENT" not in raw.execute("SELECT sql FROM sqlite_master WHERE name = 'message'").fetchone()[0]

    server = start_server(ASYNC_MODE="threading")  # this release, the same database
    assert requests.get(server.url + "/messages", timeout=WAIT).json() == before
    with sqlite3.connect(tmp_path / "chat.db") as raw:
        for table in ("message", "user"):
            sql = raw.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
            assert "AUTOINCREMENT" in sql, table
        indexes = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        users = raw.execute('SELECT id, username FROM "user" ORDER BY id').fetchall()
    assert {"message_room_id", "user_username_lower"} <= indexes
    assert users == [(1, "ana"), (2, "bea")]
    old_token = {"Authorization": f"Bearer {token}"}  # from before tokens named their account's id
    assert requests.get(server.url + "/auth/me", headers=old_token, timeout=WAIT).status_code == 401
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}  # ana logs in again: the same account, id 1
    assert requests.delete(f"{server.url}/messages/{before[-1]['id']}", headers=headers, timeout=WAIT).status_code == 204
    client = socketio.Client()
    client.connect(server.url, auth={"token": token}, wait_timeout=WAIT)
    try:
        after = client.call("event_message", {"text": "tres"}, timeout=WAIT)["message"]
    finally:
        client.disconnect()
    assert after["id"] > before[-1]["id"]
    assert "rebuilt table message" in server.log() and "Traceback" not in server.log()
    server.stop()
    again = start_server(ASYNC_MODE="threading")  # a second start finds nothing to rebuild
    assert "rebuilt table" not in again.log()


def test_changes_are_limited_to_30_a_minute_per_address(connect, client):
    message, _ = send_as(connect, "ana")
    answers = [client.patch(f"/messages/{message['id']}", json={"text": f"v{n}"}, headers=bearer("ana"))
               for n in range(30)]
    assert all(a.status_code == 200 for a in answers)
    refused = client.delete(f"/messages/{message['id']}", headers=bearer("ana"))  # the same budget
    assert refused.status_code == 429
    assert refused.get_json() == {"error": "too many changes from your address: wait a minute"}
    assert int(refused.headers["Retry-After"]) > 0
    assert count_messages() == 1


def test_the_docs_walk_the_whole_crud(client):
    spec = client.get("/apispec.json").get_json()
    one = spec["paths"]["/messages/{message_id}"]
    assert set(one) == {"get", "patch", "delete"}
    assert one["patch"]["security"] == one["delete"]["security"] == [{"Bearer": []}]
    assert set(one["patch"]["responses"]) == {"200", "400", "401", "403", "404", "429"}
    assert set(one["delete"]["responses"]) == {"204", "401", "403", "404", "429"}
    body = next(p for p in one["patch"]["parameters"] if p["in"] == "body")
    assert body["schema"]["properties"]["text"]["example"]
    assert "edited_at" in spec["definitions"]["Message"]["required"]
    messages = client.get("/asyncapi.json").get_json()["channels"]["chat"]["messages"]
    assert messages["send_message_updated"]["payload"] == spec["definitions"]["Message"]
    assert messages["send_message_deleted"]["examples"] == [{"payload": {"id": 17, "room": "general"}}]


# --- Real servers -------------------------------------------------------------------------------

def token_client(server, token, room=None):
    """A python-socketio client logged in with `token`, recording message_updated and message_deleted."""
    client = socketio.Client()
    client.changes = []
    client.on("message_updated", lambda m: client.changes.append(("updated", m["id"], m["text"])))
    client.on("message_deleted", lambda m: client.changes.append(("deleted", m["id"], m["room"])))
    client.connect(server.url, auth={"token": token, **({"room": room} if room else {})},
                   transports=["websocket"], wait_timeout=WAIT)
    return client


def flask_moderator(tmp_path, name, password="correct horse", cwd=APP_DIR):
    """`flask --app app moderator NAME` run on the server's database (start_server's), the password
    typed twice through a pipe. Returns what it printed, and its exit status."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "ASYNC_MODE")}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "moderator", name], cwd=cwd,
                            env={**env, "DATABASE_URL": f"sqlite:///{tmp_path}/chat.db"},
                            input=f"{password}\n{password}\n", capture_output=True, text=True, timeout=60,
                            errors="surrogateescape")  # a password may be bytes that are not UTF-8
    return result.stdout + result.stderr, result.returncode


def register(server, username, moderator_in=None):
    """Register (or, with moderator_in=tmp_path, make with flask moderator) and log in: the headers."""
    credentials = {"username": username, "password": "correct horse"}
    if moderator_in:
        assert flask_moderator(moderator_in, username)[1] == 0
    else:
        requests.post(server.url + "/auth/register", json=credentials, timeout=WAIT)
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_edit_and_delete_on_a_real_server(start_server, async_mode, tmp_path):
    server = start_server(ASYNC_MODE=async_mode, MODERATORS=" Profe , otra,,")  # any case, spaces
    ana_headers, profe_headers = register(server, "ana"), register(server, "profe", moderator_in=tmp_path)
    ana = token_client(server, ana_headers["Authorization"][7:])
    bea = Listener(server.url, "bea")
    try:
        first = ana.call("event_message", {"text": "hola"}, timeout=WAIT)["message"]
        second = bea.client.call("event_message", {"text": "anónimo"}, timeout=WAIT)["message"]
        refused = requests.delete(f"{server.url}/messages/{second['id']}", headers=ana_headers, timeout=WAIT)
        assert refused.status_code == 403
        edited = requests.patch(f"{server.url}/messages/{first['id']}", json={"text": "hola!"},
                                headers=ana_headers, timeout=WAIT)
        assert edited.status_code == 200
        gone = requests.delete(f"{server.url}/messages/{second['id']}", headers=profe_headers, timeout=WAIT)
        assert gone.status_code == 204
        wait_until(lambda: len(ana.changes) == 2, what="message_updated and message_deleted")
        assert ana.changes == [("updated", first["id"], "hola!"), ("deleted", second["id"], "general")]
        assert requests.get(server.url + "/messages", timeout=WAIT).json() == [edited.json()]
    finally:
        disconnect_all([ana, bea.client])


def test_edits_and_deletes_reach_every_process(two_processes):
    a, b = two_processes
    headers = register(a, "ana")
    token = headers["Authorization"][7:]
    ana, bea = token_client(a, token, "grupo-1"), token_client(b, token, "grupo-1")
    outside = token_client(b, token)  # in general
    try:
        message = ana.call("event_message", {"text": "uno"}, timeout=WAIT)["message"]
        assert requests.patch(f"{a.url}/messages/{message['id']}", json={"text": "dos"}, headers=headers,
                              timeout=WAIT).status_code == 200
        assert requests.delete(f"{a.url}/messages/{message['id']}", headers=headers,
                               timeout=WAIT).status_code == 204
        wait_until(lambda: len(bea.changes) == 2, what="both events on the other process")
        assert bea.changes == [("updated", message["id"], "dos"), ("deleted", message["id"], "grupo-1")]
        assert requests.get(f"{b.url}/messages/{message['id']}", timeout=WAIT).status_code == 404
        assert outside.changes == []
    finally:
        disconnect_all([ana, bea, outside])


def test_one_message_counts_among_the_reads_of_an_address(client, monkeypatch):
    """/messages/1 shares the budget of REST reads per address (READS_PER_ADDRESS, step 11)."""
    monkeypatch.setitem(chat.app.config, "READS_PER_ADDRESS", 1)  # 10 per 10 seconds
    assert [client.get("/messages/1").status_code for _ in range(9)] == [404] * 9
    assert client.get("/health").status_code == 200  # the tenth read
    assert client.get("/messages/1").status_code == 429
