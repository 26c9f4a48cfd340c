"""Step 9: make it safe. One origin rule for REST and Socket.IO, the browser's safety headers and
CSP, bounded request and frame sizes, text no database can store, broken websocket handshakes, the
rate limit, and the token answers: every token problem a 401, logins that take the same time."""
import json
import time

import pytest
import requests
import socketio
import websocket

import app as chat
from conftest import WAIT, needs_package
from test_step4_gateway import count_messages, real_client
from test_step6_auth import auth_on, bad_tokens, register_and_login  # noqa: F401 (a fixture)


def test_a_burst_over_the_rate_limit_is_refused(connect):
    ana, bea = connect(auth={"name": "ana"}), connect(auth={"name": "bea"})
    acks = [ana.emit("event_message", {"text": f"m{n}"}) for n in range(15)]
    accepted = [ack for ack in acks if ack["ok"]]
    assert 10 <= len(accepted) <= 11  # the burst (plus what refilled while sending)
    assert acks[-1] == {"ok": False, "error": "rate limit exceeded"}
    assert {"error": "rate limit exceeded"} in ana.wait_for("message_error")
    assert count_messages() == len(accepted)
    # the limit is per connection: bea is not affected
    assert bea.emit("event_message", {"text": "mine"})["ok"] is True


def test_the_burst_is_exactly_rate_limit_burst_then_one_every_fifth_of_a_second(connect, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(chat.time, "monotonic", lambda: clock[0])
    ana = connect(auth={"name": "ana"})
    acks = [ana.emit("event_message", {"text": f"m{n}"}) for n in range(11)]
    assert [ack["ok"] for ack in acks] == [True] * 10 + [False]  # RATE_LIMIT_BURST (10), not 11
    clock[0] += 0.2  # RATE_LIMIT_PER_SECOND (5): one more after 0.2 s, not two
    assert [ana.emit("event_message", {"text": f"n{n}"})["ok"] for n in range(2)] == [True, False]
    assert count_messages() == 11


def test_the_bucket_refills_over_time(connect, monkeypatch):
    monkeypatch.setitem(chat.app.config, "RATE_LIMIT_BURST", 1)
    clock = [1000.0]
    monkeypatch.setattr(chat.time, "monotonic", lambda: clock[0])
    ana = connect(auth={"name": "ana"})
    assert ana.emit("event_message", {"text": "1"})["ok"] is True
    assert ana.emit("event_message", {"text": "2"})["ok"] is False
    clock[0] += 0.2  # 5 per second: one token back after 0.2 s
    assert ana.emit("event_message", {"text": "3"})["ok"] is True


def test_rate_limit_zero_turns_it_off(connect, monkeypatch):
    monkeypatch.setitem(chat.app.config, "RATE_LIMIT_PER_SECOND", 0)
    ana = connect(auth={"name": "ana"})
    assert all(ana.emit("event_message", {"text": f"m{n}"})["ok"] for n in range(40))
    assert count_messages() == 40


def test_a_frame_over_the_size_cap_closes_only_that_connection(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    events = []
    big = real_client(server, events, "big", auth={"name": "big"})
    ana = real_client(server, events, "ana", auth={"name": "ana"})
    try:
        with pytest.raises(socketio.exceptions.TimeoutError):
            big.call("event_message", {"text": "x" * (chat.MAX_SOCKET_PACKET + 1)}, timeout=2)
        deadline = time.monotonic() + WAIT
        while big.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not big.connected  # the server closed it
        assert ana.call("event_message", {"text": "still serving"}, timeout=WAIT)["ok"] is True
        assert [m["text"] for m in requests.get(server.url + "/messages", timeout=WAIT).json()] == [
            "still serving"]
    finally:
        big.disconnect()
        ana.disconnect()


def event_frame(size):
    """An event_message frame asking for ack 0, exactly `size` characters long."""
    head, tail = '420["event_message",{"text":"', '"}]'
    return head + "x" * (size - len(head) - len(tail)) + tail


def test_a_frame_of_exactly_the_cap_is_read_and_one_more_character_closes(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(url, timeout=WAIT)
    try:
        assert ws.recv().startswith("0{")
        ws.send('40{"name": "ana"}')
        assert ws.recv().startswith("40")
        ws.send(event_frame(chat.MAX_SOCKET_PACKET))  # 64 KB: read, and refused as a message
        reply = ws.recv()
        while not reply.startswith("430"):  # presence may come first
            reply = ws.recv()
        assert json.loads(reply[3:]) == [{"ok": False, "error": "text is longer than 1000 characters"}]
        ws.send(event_frame(chat.MAX_SOCKET_PACKET + 1))
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            while True:  # whatever was on its way, then the close
                if ws.recv() in ("", None):
                    raise websocket.WebSocketConnectionClosedException("closed")
    finally:
        ws.close()


def test_a_body_over_the_cap_is_413_json(client):
    response = client.post("/auth/register", data="x" * (17 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert "error" in response.get_json()
    padding = " " * (16 * 1024 - len('{"username": "ana", "password": "correct horse"}'))
    body = '{"username": "ana", "password": "correct horse"}' + padding  # 16 KB exactly: read
    assert client.post("/auth/register", data=body, content_type="application/json").status_code == 201
    assert client.post("/auth/register", data=body + " ", content_type="application/json").status_code == 413


@pytest.mark.parametrize("path", ["/", "/messages", "/apispec.json", "/no-such-page"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_the_chat_page_only_runs_our_own_scripts(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy
    assert "unsafe-inline" not in policy and "*" not in policy


def test_same_origin_requests_are_served(client):
    assert client.get("/messages", headers={"Origin": "http://localhost"}).status_code == 200
    register = client.post("/auth/register", json={"username": "ana", "password": "correct horse"},
                           headers={"Origin": "http://localhost"})
    assert register.status_code == 201


def test_a_foreign_origin_is_refused_on_rest(client):
    response = client.post("/auth/register", json={"username": "eve", "password": "correct horse"},
                           headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert response.get_json() == {
        "error": "origin http://evil.example is not allowed: add it to CORS_ORIGINS"}
    assert "Access-Control-Allow-Origin" not in response.headers
    assert client.post("/auth/login", json={"username": "eve", "password": "correct horse"}).status_code == 401


LOOKALIKE_ORIGINS = [("localhost", "http://localhost.evil.example"),
                     ("localhost:5000", "http://localhost:5000.evil.example")]


@pytest.mark.parametrize("host, lookalike", LOOKALIKE_ORIGINS)
def test_an_origin_that_only_starts_like_our_host_is_refused_on_rest(client, host, lookalike):
    ours = client.get("/messages", base_url=f"http://{host}", headers={"Origin": f"http://{host}"})
    assert ours.status_code == 200
    refused = client.get("/messages", base_url=f"http://{host}", headers={"Origin": lookalike})
    assert refused.status_code == 403
    assert refused.get_json() == {"error": f"origin {lookalike} is not allowed: add it to CORS_ORIGINS"}


def test_cors_origins_lets_a_listed_site_in(client, monkeypatch):
    monkeypatch.setitem(chat.app.config, "CORS_ORIGINS", ["http://school.example"])
    response = client.get("/messages", headers={"Origin": "http://school.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://school.example"
    refused = client.get("/messages", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
    assert refused.headers["Vary"] == "Origin"
    monkeypatch.setenv("CORS_ORIGINS", "http://a.example/, http://b.example")  # a trailing / is fine
    assert chat.cors_origins() == ["http://a.example", "http://b.example"]


def test_a_foreign_origin_cannot_open_a_socket(start_server):
    server = start_server(CORS_ORIGINS="http://school.example")
    handshake = server.url + "/socket.io/?EIO=4&transport=polling"
    for origin, status in [(server.url, 200), ("http://school.example", 200), ("http://evil.example", 400)]:
        assert requests.get(handshake, headers={"Origin": origin}, timeout=5).status_code == status, origin


def test_a_broken_websocket_upgrade_gets_a_json_400_and_no_traceback(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    for headers in ({},  # no key at all: what curl sends with only Upgrade and Connection
                    {"Sec-WebSocket-Key": "not a key", "Sec-WebSocket-Version": "13"},
                    {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "8"}):
        response = requests.get(server.url + "/socket.io/?EIO=4&transport=websocket", timeout=5, headers={
            "Upgrade": "websocket", "Connection": "Upgrade", **headers})
        assert response.status_code == 400, headers
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {"error": "bad websocket upgrade: needs Sec-WebSocket-Key, -Version: 13"}
    assert requests.get(server.url + "/messages?limit=1", timeout=5).status_code == 200


def test_a_malformed_websocket_frame_gets_no_traceback(start_server, async_mode):
    """A frame with reserved bits set and no mask breaks the websocket: the connection closes, and
    nothing the client reads back is a Python traceback."""
    import base64
    import os
    import socket

    server = start_server(ASYNC_MODE=async_mode)
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        answer = b""
        while b"0{" not in answer:  # the switch to websocket, then Engine.IO's open packet
            chunk = raw.recv(4096)
            assert chunk, answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 101")
        raw.sendall(b"\xf3\x7f" + b"\xff" * 8 + b"garbage" * 10)  # RSV bits, opcode 3, a huge length
        rest = b""
        try:
            while chunk := raw.recv(4096):
                rest += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    assert b"Traceback" not in rest and b"File \"" not in rest, rest
    assert requests.get(server.url + "/messages?limit=1", timeout=5).status_code == 200


def test_an_origin_that_only_starts_like_our_host_cannot_open_a_socket(start_server):
    server = start_server()
    handshake = server.url + "/socket.io/?EIO=4&transport=polling"
    for host, lookalike in LOOKALIKE_ORIGINS:
        for origin, status in [(f"http://{host}", 200), (lookalike, 400)]:
            answer = requests.get(handshake, headers={"Host": host, "Origin": origin}, timeout=5)
            assert answer.status_code == status, (host, origin)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_bearer_scheme_is_case_insensitive_on_rest_and_sockets(client, connect, auth_on, scheme):
    """RFC 7235: the scheme name is case-insensitive, so `bearer <jwt>` works like `Bearer <jwt>`."""
    token = register_and_login(client)
    header = {"Authorization": f"{scheme} {token}"}
    assert client.get("/messages", headers=header).status_code == 200
    ana = connect(headers=header)
    assert ana.test_client.is_connected()
    assert ana.emit("event_message", {"text": "hola"})["message"]["author"] == "ana"


def test_another_scheme_is_not_taken_for_bearer(client, auth_on):
    token = register_and_login(client)
    answer = client.get("/messages", headers={"Authorization": f"Basic {token}"})
    assert answer.status_code == 401 and answer.get_json()["error"].startswith("missing token")


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])  # PostgreSQL refuses NUL; UTF-8 has no lone surrogate
def test_text_no_database_can_store_is_refused_with_a_reason(connect, text):
    ana = connect(auth={"name": "ana"})
    before = count_messages()
    assert ana.emit("event_message", {"text": text}) == {"ok": False, "error": "text must be valid text"}
    assert count_messages() == before


@pytest.mark.parametrize("kind", ["garbage", "other key", "tampered", "alg none", "expired"])
def test_history_refuses_bad_tokens_with_401(client, auth_on, kind):
    response = client.get("/messages", headers={"Authorization": f"Bearer {bad_tokens()[kind]}"})
    assert response.status_code == 401
    expected = "expired token" if kind == "expired" else "invalid token"
    assert response.get_json()["error"].startswith(expected)


def test_bad_password_and_unknown_user_cost_one_hash_check_and_get_the_same_401(client, monkeypatch):
    """Same answer, same work: else the answer or its response time tells which usernames exist."""
    register_and_login(client)
    checked = []  # the hash each login checked the password against
    real_check = chat.check_password_hash

    def counting_check(hash_, password):
        checked.append(hash_)
        return real_check(hash_, password)

    monkeypatch.setattr(chat, "check_password_hash", counting_check)
    wrong = client.post("/auth/login", json={"username": "ana", "password": "wrong password"})
    unknown = client.post("/auth/login", json={"username": "nobody", "password": "wrong password"})
    assert len(checked) == 2  # one password check each
    assert checked[0].split("$")[0] == checked[1].split("$")[0]  # same method and cost: "scrypt:32768:8:1"
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json() == {"error": "wrong username or password"}


def test_the_authorize_button_and_the_locks(spec):
    assert spec["securityDefinitions"]["Bearer"] == {"type": "apiKey", "name": "Authorization", "in": "header"}
    assert {"Bearer": []} in spec["paths"]["/messages"]["get"]["security"]
    login = spec["paths"]["/auth/login"]["post"]
    assert login["parameters"][0]["schema"] == {"$ref": "#/definitions/Credentials"}


@pytest.mark.parametrize("auth_required", ["false", "true"])
def test_schemathesis_finds_no_5xx_and_no_response_outside_the_spec(start_server, auth_required, tmp_path):
    """Property-based requests generated from the live spec; every answer must match it."""
    needs_package("schemathesis")
    import subprocess
    import sys

    import requests

    server = start_server(AUTH_REQUIRED=auth_required)
    credentials = {"username": "fuzzer", "password": "correct horse"}
    requests.post(server.url + "/auth/register", json=credentials, timeout=5)
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=5).json()["access_token"]
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", server.url + "/apispec.json",
         "--checks", "all",
         # Swagger 2.0 cannot say "before and after are exclusive", so that valid-looking pair is a 400.
         "--exclude-checks", "positive_data_acceptance",
         "--max-examples", "25", "--workers", "1", "--seed", "1",
         "--header", f"Authorization: Bearer {token}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)  # it writes a cache folder
    assert result.returncode == 0, result.stdout[-4000:]
    assert "passed" in result.stdout
