"""Step 2: structure. One module; every error is JSON; headers that keep browsers safe."""
import pathlib

import pytest
import requests
from sqlalchemy.exc import OperationalError

import app as chat


def test_the_module_reads_in_tutorial_order():
    source = pathlib.Path(chat.__file__).read_text()
    banners = [f"# --- Step {n}:" for n in range(1, 7)]
    positions = [source.index(banner) for banner in banners]
    assert positions == sorted(positions)


@pytest.mark.parametrize("method, path, status", [
    ("get", "/no-such-page", 404),
    ("post", "/messages", 405),
    ("delete", "/health", 405),
    ("get", "/messages?limit=abc", 400),
])
def test_http_errors_are_json(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.is_json
    assert isinstance(response.get_json()["error"], str) and response.get_json()["error"]


def test_error_bodies_are_json_in_the_same_style_as_successes(client):
    """One JSON style: compact, ending in a newline, for errors as for answers."""
    ok, error = client.get("/health"), client.get("/messages?limit=abc")
    assert ok.data == b'{"status":"ok"}\n'
    assert error.data == b'{"error":"limit must be a whole number from 1 to 200"}\n'
    assert client.get("/no-such-page").data.endswith(b'"}\n')


def test_a_wrong_method_says_which_methods_are_allowed(client):
    response = client.put("/messages")
    assert response.status_code == 405 and response.is_json
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_a_body_over_the_cap_is_413_json(client):
    response = client.post("/auth/register", data="x" * (17 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert "error" in response.get_json()


def test_an_unexpected_error_is_a_json_500_without_traceback(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(chat.db.session, "scalars", broken)
    response = client.get("/messages")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error"}
    assert b"secret internals" not in response.data and b"Traceback" not in response.data


def test_a_database_error_in_history_is_json_not_a_crash(client, monkeypatch):
    def locked(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(chat.db.session, "scalars", locked)
    assert client.get("/messages").status_code == 500
    monkeypatch.undo()
    assert client.get("/messages").status_code == 200  # and the next request is fine


@pytest.mark.parametrize("path", ["/", "/messages", "/health", "/no-such-page"])
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
    assert requests.get(server.url + "/health", timeout=5).json() == {"status": "ok"}


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
    assert requests.get(server.url + "/health", timeout=5).json() == {"status": "ok"}


def test_an_origin_that_only_starts_like_our_host_cannot_open_a_socket(start_server):
    server = start_server()
    handshake = server.url + "/socket.io/?EIO=4&transport=polling"
    for host, lookalike in LOOKALIKE_ORIGINS:
        for origin, status in [(f"http://{host}", 200), (lookalike, 400)]:
            answer = requests.get(handshake, headers={"Host": host, "Origin": origin}, timeout=5)
            assert answer.status_code == status, (host, origin)
