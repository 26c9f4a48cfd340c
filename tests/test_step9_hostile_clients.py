"""Step 4, under attack: no input from a client can crash the gateway or hurt the other clients."""
import socket
import time

import pytest
import requests
import websocket
from hypothesis import HealthCheck, example, given, settings, strategies as st

import app as chat
from conftest import WAIT, RawClient, NO_PER_ADDRESS_LIMITS, in_general
from test_step4_gateway import count_messages

DOCUMENTED_ERRORS = ("payload must be a JSON object", "text is required", "text must be a string",
                     "text must not be empty", "text is longer than", "author is required",
                     "author must be a string", "author must not be empty", "author is longer than",
                     "text must be valid text", "author must be valid text",
                     "author must be printable characters on one line",
                     # later steps' rules for names (11 and 13)
                     "author must show at least one letter, digit or symbol", "author system is reserved",
                     "author must not mix letters of different alphabets")

any_text = st.text(st.characters(exclude_categories=()))  # lone surrogates and NUL included
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8)
payloads = json_values | st.fixed_dictionaries({}, optional={"text": json_values | any_text, "author": json_values | any_text})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
@example(payload={"text": "\ud800", "author": "ana"})  # found by this test: crashed the handler
@example(payload={"text": "a\x00b", "author": "ana"})
@example(payload={"text": "hola", "author": "te\u0430cher"})  # a Cyrillic а: refused from step 13 on
def test_any_payload_is_saved_once_or_refused_with_a_documented_error(connect, monkeypatch, payload):
    monkeypatch.setitem(chat.app.config, "RATE_LIMIT_PER_SECOND", 0)
    sender = connect(auth={"name": "fuzz"})
    before = count_messages()
    ack = sender.emit("event_message", payload)
    if ack["ok"]:
        assert count_messages() == before + 1
        assert ack["message"]["text"] == payload["text"].strip()
    else:
        assert ack["error"].startswith(DOCUMENTED_ERRORS), ack
        assert count_messages() == before
    sender.test_client.disconnect()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.dictionaries(st.sampled_from(["limit", "before", "after", "token", "x"]), st.text(max_size=30)))
def test_any_query_string_gets_history_or_a_400(client, query):
    response = client.get("/messages", query_string=query)
    assert response.status_code in (200, 400), response.data
    assert response.is_json
    body = response.get_json()
    assert isinstance(body, list) if response.status_code == 200 else set(body) == {"error"}


# --- A real server and raw, badly behaved connections -------------------------------------------

def engineio_websocket(server):
    """A raw websocket at the Engine.IO level, after the open packet."""
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
                                     timeout=WAIT)
    assert ws.recv().startswith("0{")  # Engine.IO "open"
    return ws


def assert_still_serving(server, good, text):
    ack = good.call("event_message", {"text": text}, timeout=WAIT)
    assert ack["ok"] is True, ack
    assert requests.get(server.url + "/messages?limit=1", timeout=WAIT).status_code == 200


@pytest.fixture
def server_and_good_client(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode, RATE_LIMIT_PER_SECOND="0", **NO_PER_ADDRESS_LIMITS)
    good = RawClient(server, auth={"name": "good"})  # records presence in the server's order
    yield server, good
    good.close()


GARBAGE = ["", "x", "hello", "4", "40", "42", '42["event_message"', '42["event_message",{"text":', "42[1,2,3]",
           '42{"a":1}', "43", "49junk", "4\x00\xff", '42["event_message","x"]', "2probe", "6", "1", "5",
           '40{"name":' + '"a"' * 1000 + "}", "42" + "[" * 5000, '42["connect"]', '42["disconnect"]']


def test_garbage_frames_never_hurt_the_others(server_and_good_client):
    server, good = server_and_good_client
    for frame in GARBAGE:
        ws = engineio_websocket(server)
        try:
            ws.send(frame)
            ws.send("40")
            ws.send_binary(bytes(range(256)))
            ws.send(frame)
        except (OSError, websocket.WebSocketException):
            pass  # the server may hang up on garbage: that is fine
        ws.sock.close() if ws.sock else None
        assert_still_serving(server, good, f"after {frame[:20]!r}")
    assert count_saved(server) == len(GARBAGE)


def count_saved(server):
    return len(requests.get(server.url + "/messages?limit=200", timeout=WAIT).json())


def test_raw_tcp_garbage_and_half_requests(server_and_good_client):
    server, good = server_and_good_client
    for junk in (b"\x16\x03\x01\x02\x00\x01\x00", b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n",
                 b"POST /socket.io/?EIO=4&transport=polling&sid=nope HTTP/1.1\r\nContent-Length: 999\r\n\r\n42",
                 b"\x00" * 4096, b"GET / HTTP/1.1\r\nHost: " + b"a" * 70000 + b"\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as raw:
            raw.sendall(junk)
        assert_still_serving(server, good, f"after {junk[:10]!r}")


def test_a_client_that_never_reads_does_not_slow_the_others(server_and_good_client):
    server, good = server_and_good_client
    sleeper = engineio_websocket(server)
    sleeper.send("40")  # joins the chat, then never reads again
    sleeper.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    start = time.monotonic()
    for n in range(300):
        good.emit("event_message", {"text": f"{n} " + "x" * 900})
    deadline = time.monotonic() + WAIT * 4
    while len(good.received("new_message")) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    received = good.received("new_message")
    assert len(received) == 300, f"only {len(received)} of 300 in {time.monotonic() - start:.1f}s"
    sleeper.sock.close()


def test_abrupt_disconnects_mid_send(server_and_good_client):
    server, good = server_and_good_client
    for n in range(20):
        ws = engineio_websocket(server)
        ws.send("40")
        frame = websocket.ABNF.create_frame('42["event_message",{"text":"cut"}]', websocket.ABNF.OPCODE_TEXT)
        data = frame.format()
        ws.sock.send(data[: len(data) // 2])  # half a frame, then the plug is pulled
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        ws.sock.close()
    assert_still_serving(server, good, "after 20 cut connections")
    assert [m["text"] for m in requests.get(server.url + "/messages", timeout=WAIT).json()] == [
        "after 20 cut connections"]


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def connect_and_drop(server, count):
    for n in range(count):
        ws = engineio_websocket(server)
        ws.send('40{"name":"churn"}')
        while not ws.recv().startswith("40"):  # a `presence` may come first; clients buffer it
            pass
        ws.sock.close()


def last_presence(client):
    """The latest presence the server sent to `client`, or None."""
    presences = client.received("presence")
    return in_general(presences[-1]) if presences else None


def test_hundreds_of_connects_and_disconnects(server_and_good_client):
    server, good = server_and_good_client
    alone = {"online": 1, "users": ["good"]}
    connect_and_drop(server, 100)  # warm up caches and pools
    deadline = time.monotonic() + WAIT * 4
    while last_presence(good) != alone and time.monotonic() < deadline:
        time.sleep(0.05)
    baseline = rss_kb(server.process.pid)
    connect_and_drop(server, 400)
    assert_still_serving(server, good, "after the churn")
    deadline = time.monotonic() + WAIT * 4
    while last_presence(good) != alone and time.monotonic() < deadline:
        time.sleep(0.05)
    assert last_presence(good) == alone  # every dropped client was forgotten
    growth = rss_kb(server.process.pid) - baseline
    assert growth < 15_000, f"RSS grew by {growth} KB over 400 connections"
