"""Step 4: the Socket.IO gateway. Lifecycle, event_message -> new_message, acks and refusals."""
import time

import pytest
import socketio

import app as chat
from conftest import WAIT, in_general


def count_messages():
    """How many messages the server holds: in its list (step 4) or in its database (step 5 on)."""
    if not hasattr(chat, "db"):
        return len(chat.messages)
    with chat.app.app_context():
        return chat.db.session.scalar(chat.db.select(chat.db.func.count(chat.Message.id)))


def presence_when_online(client, online):
    """The first `presence` that counts `online` connections (earlier ones may count fewer)."""
    count = 1
    while (presence := client.wait_for("presence", count=count)[-1])["online"] != online:
        count = len(client.received("presence")) + 1
    return presence


def test_presence_counts_connections_and_lists_names(connect):
    ana = connect(auth={"name": "ana"})
    connect(auth={"name": "bea"})
    connect()  # anonymous: counted, not named
    assert in_general(presence_when_online(ana, 3)) == {"online": 3, "users": ["ana", "bea"]}


def test_two_tabs_of_one_person_count_twice_but_list_the_name_once(connect):
    ana = connect(auth={"name": "ana"})
    connect(auth={"name": "ana"})
    assert in_general(presence_when_online(ana, 2)) == {"online": 2, "users": ["ana"]}


def test_presence_lists_names_sorted_whatever_the_order_they_joined(connect):
    names = ["zoe", "ana", "mia", "bea", "leo", "eva", "kim", "dan"]
    first = connect(auth={"name": names[0]})
    for name in names[1:]:
        connect(auth={"name": name})
    assert presence_when_online(first, len(names))["users"] == sorted(names)


def test_presence_after_a_disconnect(connect):
    ana = connect(auth={"name": "ana"})
    bea = connect(auth={"name": "bea"})
    ana.wait_for("presence")
    seen = len(ana.received("presence"))
    bea.test_client.disconnect()
    assert in_general(ana.wait_for("presence", count=seen + 1)[-1]) == {"online": 1, "users": ["ana"]}


def test_a_message_is_acked_and_broadcast_to_everyone(connect):
    ana, bea = connect(auth={"name": "ana"}), connect(auth={"name": "bea"})
    ack = ana.emit("event_message", {"text": " hola ", "author": "ana"})
    assert ack["ok"] is True
    message = ack["message"]
    assert (message["author"], message["text"]) == ("ana", "hola")  # trimmed
    assert bea.wait_for("new_message") == [message]
    assert ana.wait_for("new_message") == [message]  # the sender too
    assert count_messages() == 1


def test_the_handshake_name_is_the_default_author(connect):
    ana = connect(auth={"name": "ana"})
    assert ana.emit("event_message", {"text": "hola"})["message"]["author"] == "ana"
    assert ana.emit("event_message", {"text": "hi", "author": "ana2"})["message"]["author"] == "ana2"


def test_a_client_can_send_without_asking_for_an_ack(connect):
    ana = connect(auth={"name": "ana"})
    ana.test_client.emit("event_message", {"text": "no ack please"})
    assert ana.wait_for("new_message")[0]["text"] == "no ack please"


@pytest.mark.parametrize("payload, error", [
    ("hola", "payload must be a JSON object"),
    (["hola"], "payload must be a JSON object"),
    (42, "payload must be a JSON object"),
    (None, "payload must be a JSON object"),
    ({}, "text is required"),
    ({"author": "ana"}, "text is required"),
    ({"text": "", "author": "ana"}, "text must not be empty"),
    ({"text": "   \n\t", "author": "ana"}, "text must not be empty"),
    ({"text": 5, "author": "ana"}, "text must be a string"),
    ({"text": ["hola"], "author": "ana"}, "text must be a string"),
    ({"text": "x" * 1001, "author": "ana"}, "text is longer than 1000 characters"),
    ({"text": "hola"}, "author is required"),
    ({"text": "hola", "author": ""}, "author must not be empty"),
    ({"text": "hola", "author": "  "}, "author must not be empty"),
    ({"text": "hola", "author": 7}, "author must be a string"),
    ({"text": "hola", "author": "a" * 33}, "author is longer than 32 characters"),
    ({"text": "hola", "author": "a\x00b"}, "author must be"),
])
def test_invalid_payloads_are_refused_and_nothing_is_saved(connect, payload, error):
    sender, other = connect(), connect(auth={"name": "bea"})
    ack = sender.emit("event_message", payload)
    assert ack["ok"] is False and ack["error"].startswith(error)
    assert sender.wait_for("message_error") == [{"error": ack["error"]}]
    assert other.received("message_error") == [] and other.received("new_message") == []
    assert count_messages() == 0
    # ...and the server keeps serving
    assert other.emit("event_message", {"text": "still here"})["ok"] is True


def test_no_payload_or_extra_arguments_get_an_answer_not_a_crash(connect):
    ana = connect(auth={"name": "ana"})
    assert ana.test_client.emit("event_message", callback=True)["error"].startswith("payload must be")
    ack = ana.test_client.emit("event_message", {"text": "first"}, "extra", callback=True)
    assert ack["ok"] is True and ack["message"]["text"] == "first"


@pytest.mark.parametrize("author", ["ana\nINFO fake log line", "tab\there", "\u202eana", "zero\u200bwidth"])
def test_an_author_must_be_one_printable_line(connect, author):
    ack = connect().emit("event_message", {"text": "hola", "author": author})
    assert ack == {"ok": False, "error": "author must be printable characters on one line"}
    assert count_messages() == 0


def test_the_length_limits_are_inclusive(connect):
    ana = connect()
    assert ana.emit("event_message", {"text": "x" * 1000, "author": "a" * 32})["ok"] is True
    assert ana.emit("event_message", {"text": "x" * 1001, "author": "a"})["error"] == (
        "text is longer than 1000 characters")
    assert ana.emit("event_message", {"text": "x", "author": "a" * 33})["error"] == (
        "author is longer than 32 characters")
    assert count_messages() == 1


def test_max_message_length_is_configurable(connect, monkeypatch):
    monkeypatch.setitem(chat.app.config, "MAX_MESSAGE_LENGTH", 5)
    ana = connect(auth={"name": "ana"})
    assert ana.emit("event_message", {"text": "12345"})["ok"] is True
    assert ana.emit("event_message", {"text": "123456"})["error"] == "text is longer than 5 characters"


@pytest.mark.parametrize("name", ["", 5, "x" * 33, "ana\nINFO fake log line", "a\x00b"])
def test_a_bad_handshake_name_is_refused(app, name):
    test_client = chat.socketio.test_client(app, auth={"name": name})
    assert not test_client.is_connected()
    assert chat.connections == {}


# --- End to end: a real server, real clients ---------------------------------------------------

def real_client(server, events, name, transport="websocket", **kwargs):
    client = socketio.Client(reconnection=False)
    for event in ("new_message", "message_error", "presence"):
        client.on(event, lambda data, event=event: events.append((name, event, data)))
    client.connect(server.url, transports=[transport], wait_timeout=WAIT, **kwargs)
    return client


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_two_real_clients_chat(start_server, async_mode, transport):
    server = start_server(ASYNC_MODE=async_mode)
    events = []
    ana = real_client(server, events, "ana", transport, auth={"name": "ana"})
    bea = real_client(server, events, "bea", transport, auth={"name": "bea"})
    try:
        ack = ana.call("event_message", {"text": "hola"}, timeout=WAIT)
        assert ack["ok"] is True
        deadline = time.monotonic() + WAIT
        while len([e for e in events if e[1] == "new_message"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        received = {(who, data["id"]) for who, event, data in events if event == "new_message"}
        assert received == {("ana", ack["message"]["id"]), ("bea", ack["message"]["id"])}
    finally:
        ana.disconnect()
        bea.disconnect()
