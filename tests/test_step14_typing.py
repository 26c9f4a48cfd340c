"""Step 14: who is typing. `typing` reaches the others in the room only, is never saved, counts at
most 2 a second per connection and 5 a second per client address, ignores connections with no name;
real servers in both async modes."""
import time

import pytest
import socketio

import app as chat
from conftest import WAIT, disconnect_all
from test_step4_gateway import count_messages
from test_step6_auth import mint
from test_step10_processes import wait_until


def test_typing_reaches_the_others_in_the_room_and_is_never_saved(connect):
    ana = connect(auth={"name": "ana", "room": "grupo-1"})
    bea = connect(auth={"name": "bea", "room": "grupo-1"})
    cid = connect(auth={"name": "cid"})  # general
    assert ana.emit("typing", {"typing": True}) == {"ok": True}
    assert bea.wait_for("typing") == [{"room": "grupo-1", "user": "ana", "typing": True}]
    assert ana.received("typing") == []  # not to herself
    assert cid.received("typing") == []  # not to another room
    assert count_messages() == 0


def test_a_logged_in_connection_types_under_its_username(connect):
    ana = connect(auth={"token": mint("ana"), "name": "not me"})
    bea = connect(auth={"name": "bea"})
    ana.emit("typing", {"typing": True})
    assert bea.wait_for("typing")[-1]["user"] == "ana"


def test_typing_false_says_she_stopped(connect):
    ana = connect(auth={"name": "ana"})
    bea = connect(auth={"name": "bea"})
    ana.emit("typing", {"typing": True})
    ana.emit("typing", {"typing": False})
    assert [t["typing"] for t in bea.wait_for("typing", count=2)] == [True, False]


def test_a_connection_with_no_name_is_ignored(connect):
    bea = connect(auth={"name": "bea"})  # in the room first, so she would hear it
    assert connect(auth={}).emit("typing", {"typing": True}) == {"ok": True}
    bea.emit("event_message", {"text": "a message, to know the typing had its turn"})
    bea.wait_for("new_message")
    assert bea.received("typing") == []


@pytest.mark.parametrize("payload", [None, True, {"typing": "yes"}, {"typing": 1}, {}, ["typing"]])
def test_a_bad_payload_is_refused(connect, payload):
    ack = connect(auth={"name": "ana"}).emit("typing", payload)
    assert ack == {"ok": False, "error": 'payload must be a JSON object like {"typing": true}'}


def test_a_typing_flood_is_dropped(connect):
    ana = connect(auth={"name": "ana"})
    bea = connect(auth={"name": "bea"})
    for _ in range(10):
        ana.emit("typing", {"typing": True})  # back to back: only the first two count
    bea.emit("event_message", {"text": "after the flood"})
    bea.wait_for("new_message")
    assert len(bea.received("typing")) == chat.TYPING_PER_SECOND == 2
    assert ana.test_client.is_connected() and bea.test_client.is_connected()


def test_one_address_shares_five_typing_events_a_second_among_all_its_connections(connect, monkeypatch):
    """50 connections of one student, each within its own limit: the room hears 5 a second from them,
    and nobody is cut off for it (a class behind one address types a lot)."""
    clock = [1000.0]
    monkeypatch.setattr(chat.time, "monotonic", lambda: clock[0])
    listener = connect(auth={"name": "listener"})
    typists = [connect(auth={"name": f"t{n}"}) for n in range(50)]
    for typist in typists:
        assert typist.emit("typing", {"typing": True}) == {"ok": True}  # dropped, not refused
    clock[0] += 1.0  # a second later, 5 more
    for typist in typists[:10]:
        typist.emit("typing", {"typing": False})
    monkeypatch.undo()
    listener.emit("event_message", {"text": "after the typing"})
    listener.wait_for("new_message")
    heard = listener.received("typing")
    assert [(t["user"], t["typing"]) for t in heard] == [(f"t{n}", True) for n in range(5)] + [
        (f"t{n}", False) for n in range(5)], heard
    assert all(typist.test_client.is_connected() for typist in typists)


def test_typing_is_documented(client):
    messages = client.get("/asyncapi.json").get_json()["channels"]["chat"]["messages"]
    assert messages["receive_typing"]["examples"] == [{"payload": {"typing": True}}]
    assert messages["send_typing"]["examples"] == [
        {"payload": {"room": "general", "user": "ana", "typing": True}}]


def test_typing_on_a_real_server(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    seen = {"ana": [], "bea": [], "cid": []}
    clients = []
    for name, room in (("ana", "grupo-1"), ("bea", "grupo-1"), ("cid", "general")):
        client = socketio.Client()
        client.on("typing", seen[name].append)
        client.connect(server.url, auth={"name": name, "room": room}, transports=["websocket"],
                       wait_timeout=WAIT)
        clients.append(client)
    try:
        assert clients[0].call("typing", {"typing": True}, timeout=WAIT) == {"ok": True}
        wait_until(lambda: seen["bea"], what="bea hears ana typing")
        assert seen["bea"] == [{"room": "grupo-1", "user": "ana", "typing": True}]
        assert clients[2].call("event_message", {"text": "x"}, timeout=WAIT)["ok"]  # a round trip later
        assert seen["ana"] == [] and seen["cid"] == []
    finally:
        disconnect_all(clients)


def test_a_script_flooding_typing_is_cut_off(start_server):
    """Step 11's rule holds for typing too: far beyond its limit, a connection is disconnected."""
    server = start_server(RATE_LIMIT_BURST="4")  # cut off past 20 refused events in 10 s
    flooder, good = socketio.Client(reconnection=False), socketio.Client()
    seen = []
    good.on("typing", seen.append)
    for client, name in ((flooder, "flood"), (good, "good")):
        client.connect(server.url, auth={"name": name}, transports=["websocket"], wait_timeout=WAIT)
    try:
        for _ in range(100):
            if not flooder.connected:
                break
            flooder.emit("typing", {"typing": True})
        wait_until(lambda: not flooder.connected, timeout=WAIT, what="the flooder cut off")
        assert good.call("event_message", {"text": "still here"}, timeout=WAIT)["ok"]
        assert len(seen) <= 2 * chat.TYPING_PER_SECOND  # what reached the others: a trickle
    finally:
        disconnect_all([flooder, good])


@pytest.mark.timeout(120)
def test_fifty_typists_from_one_address_reach_a_listener_a_few_times_a_second(start_server, async_mode):
    """The attack: 50 named connections from one address, each typing twice a second (its own limit).
    A listener on another address hears at most TYPING_PER_ADDRESS a second, and nobody is cut off."""
    from hostile import PROBE_HOST, SioClient

    server = start_server(ASYNC_MODE=async_mode, MAX_CONNECTIONS_PER_IP="60")
    listener = SioClient(server.port, source=PROBE_HOST, auth={"name": "listener"})
    typists = [SioClient(server.port, auth={"name": f"t{n}"}) for n in range(50)]
    try:
        started = time.monotonic()
        for _ in range(6):  # 3 seconds, every typist twice a second
            for typist in typists:
                typist.emit("typing", {"typing": True}, ack=False)
            time.sleep(0.5)
        seconds = time.monotonic() - started
        ack = listener.call("event_message", {"text": "after the typing"})  # typing had its turn
        assert ack and ack["ok"], ack
        heard = [event for event in listener.events if event[0] == "typing"]
        print(f"figures: the listener heard {len(heard)} typing events in {seconds:.1f} s "
              f"({len(heard) / seconds:.1f}/s) from 50 typists sending {300 / seconds:.0f}/s")
        assert len(heard) <= chat.TYPING_PER_ADDRESS * (seconds + 1), f"{len(heard)} in {seconds:.1f} s"
        assert heard, "typing from that address should still get through, a few a second"
        assert [typist for typist in typists if typist.kicked] == [] and listener.kicked is None
    finally:
        for client in [listener, *typists]:
            client.close()
