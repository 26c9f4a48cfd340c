"""Step 8, under stress: an acknowledged message is never lost, never doubled, never reordered, with
the database of step 5 tuned for it (WAL, a short busy timeout) and history read page by page."""
import os
import signal
import sqlite3
import threading
import time

import requests
import socketio

from conftest import WAIT, RawClient, NO_PER_ADDRESS_LIMITS


def all_history(server, token=None):
    """Every stored message, paged forward with `after` (the reconnect catch-up path)."""
    messages, after = [], 0
    while page := requests.get(f"{server.url}/messages?limit=200&after={after}", timeout=WAIT).json():
        messages += page
        after = page[-1]["id"]
    return messages


def wait_until(condition, timeout=WAIT * 6):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_acknowledged_messages_survive_a_hard_kill(start_server):
    server = start_server(RATE_LIMIT_PER_SECOND="0", **NO_PER_ADDRESS_LIMITS)
    acked = []
    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], auth={"name": "ana"}, wait_timeout=WAIT)
    # Pipeline messages without waiting, so some are in flight when the process dies.
    # (Step 5 commits with SQLite's default journal, which syncs the disk each time: slow, so the
    # test waits for a few acknowledgements only; step 8's WAL makes it fast.)
    for n in range(1000):
        client.emit("event_message", {"text": f"m{n}"}, callback=lambda ack: acked.append(ack))
        if len(acked) >= 20:
            break
    wait_until(lambda: len(acked) >= 20)
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=WAIT)
    client.disconnect()
    acked_ids = {ack["message"]["id"] for ack in acked}

    again = start_server(RATE_LIMIT_PER_SECOND="0", **NO_PER_ADDRESS_LIMITS)  # same database file
    history = all_history(again)
    ids = [m["id"] for m in history]
    assert len(ids) == len(set(ids))  # none twice
    assert len({m["text"] for m in history}) == len(history)
    assert acked_ids <= set(ids)  # every acknowledged message is there
    stored = {m["id"]: m for m in history}
    assert all(stored[ack["message"]["id"]] == ack["message"] for ack in acked)


def test_twenty_clients_sending_at_once(start_server, async_mode):
    """20 clients x 25 messages at once: all saved once, all delivered once, in id order."""
    server = start_server(ASYNC_MODE=async_mode, RATE_LIMIT_PER_SECOND="0", **NO_PER_ADDRESS_LIMITS)
    # Raw clients: each records new_message in the order the server sent it, on one thread.
    clients = [RawClient(server, auth={"name": f"user{n}"}) for n in range(20)]
    try:
        def send_all(n):
            for k in range(25):
                clients[n].emit("event_message", {"text": f"{n}-{k}"})

        senders = [threading.Thread(target=send_all, args=(n,)) for n in range(20)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=WAIT * 6)
        wait_until(lambda: all(len(c.acks) == 25 and len(c.received("new_message")) >= 500 for c in clients))
    finally:
        for client in clients:
            client.close()
    acks = [ack for client in clients for ack in client.acks.values()]
    assert all(ack["ok"] for ack in acks)
    acked_ids = sorted(ack["message"]["id"] for ack in acks)
    assert len(set(acked_ids)) == 500
    for client in clients:
        ids = [message["id"] for message in client.received("new_message")]
        assert ids == acked_ids  # exactly once each, in increasing id order

    history = all_history(server)
    assert [m["id"] for m in history] == acked_ids
    assert sorted(m["text"] for m in history) == sorted(f"{n}-{k}" for n in range(20) for k in range(25))
    backwards, before = [], ""
    while page := requests.get(f"{server.url}/messages?limit=37{before}", timeout=WAIT).json():
        backwards = page + backwards
        before = f"&before={page[0]['id']}"
    assert backwards == history


def test_a_locked_database_refuses_messages_then_chat_resumes(start_server, tmp_path):
    server = start_server()
    events = []
    ana = socketio.Client(reconnection=False)
    bea = socketio.Client(reconnection=False)
    bea.on("new_message", events.append)
    ana.on("message_error", events.append)
    for client, name in ((ana, "ana"), (bea, "bea")):
        client.connect(server.url, transports=["websocket"], auth={"name": name}, wait_timeout=WAIT)
    # Like a teacher who opened chat.db in a database browser and left a write pending.
    locker = sqlite3.connect(tmp_path / "chat.db", isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        ack = ana.call("event_message", {"text": "while locked"}, timeout=WAIT)
        assert ack == {"ok": False, "error": "database unavailable: message not saved, try again"}
        # a short busy timeout: a lock held elsewhere must not freeze the server for everyone
        assert requests.get(server.url + "/", timeout=WAIT).status_code == 200
        wait_until(lambda: {"error": ack["error"]} in events)
        locker.execute("ROLLBACK")
        ack = ana.call("event_message", {"text": "back"}, timeout=WAIT)
        assert ack["ok"] is True
        wait_until(lambda: ack["message"] in events)
        assert [m["text"] for m in all_history(server)] == ["back"]
        assert [e for e in events if e.get("text") == "while locked"] == []
    finally:
        locker.close()
        ana.disconnect()
        bea.disconnect()


def test_sql_injection_strings_are_just_text(start_server):
    server = start_server()
    evil = "'); DROP TABLE message; --"
    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], wait_timeout=WAIT)
    try:
        ack = client.call("event_message", {"text": evil, "author": "x' OR '1'='1"}, timeout=WAIT)
    finally:
        client.disconnect()
    assert ack["ok"] and ack["message"]["text"] == evil
    assert requests.get(server.url + "/messages?before=1%20OR%201=1", timeout=WAIT).status_code == 400
    assert [(m["author"], m["text"]) for m in all_history(server)] == [("x' OR '1'='1", evil)]


def test_a_read_only_database_refuses_messages_then_chat_resumes(start_server, tmp_path):
    first = start_server()
    assert requests.get(first.url + "/messages", timeout=WAIT).status_code == 200  # the file exists
    first.stop()
    # The same file, opened read-only (as root, file permissions cannot make it read-only).
    read_only = start_server(DATABASE_URL=f"sqlite:///file:{tmp_path}/chat.db?mode=ro&uri=true")
    client = socketio.Client(reconnection=False)
    errors = []
    client.on("message_error", errors.append)
    client.connect(read_only.url, transports=["websocket"], auth={"name": "ana"}, wait_timeout=WAIT)
    ack = client.call("event_message", {"text": "not saved"}, timeout=WAIT)
    assert ack == {"ok": False, "error": "database unavailable: message not saved, try again"}
    wait_until(lambda: errors == [{"error": ack["error"]}])
    assert requests.get(read_only.url + "/messages", timeout=WAIT).json() == []  # reading still works
    client.disconnect()
    read_only.stop()
    writable = start_server()
    client = socketio.Client(reconnection=False)
    client.connect(writable.url, transports=["websocket"], auth={"name": "ana"}, wait_timeout=WAIT)
    assert client.call("event_message", {"text": "saved"}, timeout=WAIT)["ok"] is True
    client.disconnect()
    assert [m["text"] for m in all_history(writable)] == ["saved"]
