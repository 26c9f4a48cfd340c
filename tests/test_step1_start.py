"""Step 1: install and start. `python app.py` serves the chat, the docs and Socket.IO on one port."""
import json
import os
import re
import stat
import subprocess
import sys
import time

import jwt
import pytest
import requests
import socketio

from conftest import WAIT


def test_server_starts_and_prints_its_urls(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    line = f"Chat Live: chat page {server.url}/  API docs {server.url}/docs/"
    assert line in server.log()
    assert requests.get(server.url + "/health", timeout=5).json() == {"status": "ok"}
    assert requests.get(server.url + "/", timeout=5).headers["Content-Type"].startswith("text/html")
    assert requests.get(server.url + "/docs/", timeout=5).status_code == 200


def test_the_first_start_prints_the_ready_line_and_nothing_that_looks_like_an_error(
        start_server, project_copy, async_mode):
    """A newcomer's first `python app.py`: no keys set, no database yet, no warning banner."""
    server = start_server(ASYNC_MODE=async_mode, cwd=project_copy, JWT_SECRET_KEY="")  # no keys set
    log = server.log()
    assert f"Chat Live: chat page {server.url}/  API docs {server.url}/docs/" in log
    assert not re.search(r"warn|error|traceback|deprecat", log, re.I), log
    if async_mode == "eventlet":  # one plain line instead of eventlet's 9-line banner
        assert "serving with eventlet, which is in maintenance mode; ASYNC_MODE=threading is the " \
               "alternative" in log
    assert len(log.splitlines()) <= 4, log


def test_keys_are_made_once_kept_private_and_tokens_survive_a_restart(start_server, project_copy):
    server = start_server(AUTH_REQUIRED="true", cwd=project_copy, JWT_SECRET_KEY="")
    credentials = {"username": "ana", "password": "correct horse"}
    assert requests.post(server.url + "/auth/register", json=credentials, timeout=WAIT).status_code == 201
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    keys = {name: project_copy / "instance" / name for name in ("secret_key", "jwt_secret_key")}
    for path in keys.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # only the server's user may read it
        assert len(path.read_text()) == 64
    assert keys["secret_key"].read_text() != keys["jwt_secret_key"].read_text()
    kept = {name: path.read_text() for name, path in keys.items()}
    server.stop()

    again = start_server(port=server.port, AUTH_REQUIRED="true", cwd=project_copy,
                         JWT_SECRET_KEY="")
    assert {name: path.read_text() for name, path in keys.items()} == kept  # not made anew
    me = requests.get(again.url + "/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=WAIT)
    assert me.status_code == 200 and me.json()["username"] == "ana"
    client = socketio.Client(reconnection=False)
    client.connect(again.url, auth={"token": token}, transports=["websocket"], wait_timeout=WAIT)
    try:
        assert client.call("event_message", {"text": "still me"}, timeout=WAIT)["message"]["author"] == "ana"
    finally:
        client.disconnect()


def test_keys_from_the_environment_win_over_the_kept_ones(start_server, project_copy):
    key = "k" * 64
    server = start_server(SECRET_KEY="s" * 64, JWT_SECRET_KEY=key, cwd=project_copy)
    credentials = {"username": "bea", "password": "correct horse"}
    requests.post(server.url + "/auth/register", json=credentials, timeout=WAIT).raise_for_status()
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    assert jwt.decode(token, key, algorithms=["HS256"])["sub"] == "bea"  # signed with the given key
    assert not (project_copy / "instance" / "jwt_secret_key").exists()
    assert not (project_copy / "instance" / "secret_key").exists()


def test_requirements_have_lower_bounds_and_major_caps():
    from conftest import ROOT

    for name in ("requirements.txt", "requirements-production.txt", "tests/requirements.txt"):
        for line in (ROOT / name).read_text().splitlines():
            requirement = line.split("#")[0].strip()
            if requirement and not requirement.startswith("-r "):
                assert re.search(r">=[\d.]+,\s*<[\d.]+$", requirement), f"{name}: {requirement}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; Linux only")
def test_the_server_raises_a_low_open_file_limit_for_a_big_class(start_server, async_mode):
    """Each connection is an open file. Started under `ulimit -n 64`, the server asks for more,
    so 100 websockets (more than 64) all open and it still answers."""
    import resource

    import websocket

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    server = start_server(ASYNC_MODE=async_mode, preexec_fn=low_limit)
    limits = open(f"/proc/{server.process.pid}/limits").read()
    soft = int(re.search(r"Max open files\s+(\d+)", limits).group(1))
    assert soft == min(10_000, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    sockets = []
    try:
        for _ in range(100):
            ws = websocket.create_connection(
                f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", timeout=WAIT)
            sockets.append(ws)
            assert ws.recv().startswith("0{")  # Engine.IO's "open" packet: the server took it
        assert requests.get(server.url + "/health", timeout=WAIT).json() == {"status": "ok"}
    finally:
        for ws in sockets:
            ws.close()


def chat_between_two_clients(url):
    """ana and bea connect over websocket; ana's message reaches both and the history."""
    clients, received = [], []
    try:
        for name in ("ana", "bea"):
            client = socketio.Client(reconnection=False)
            client.on("new_message", lambda message, name=name: received.append((name, message)))
            client.connect(url, auth={"name": name}, transports=["websocket"], wait_timeout=WAIT)
            clients.append(client)
        ack = clients[0].call("event_message", {"text": "hola"}, timeout=WAIT)
        assert ack["ok"] is True, ack
        wait_for(lambda: len(received) == 2)
        assert sorted(received, key=lambda pair: pair[0]) == [("ana", ack["message"]), ("bea", ack["message"])]
        assert requests.get(url + "/messages", timeout=WAIT).json()[-1] == ack["message"]
        return clients[0]
    finally:
        for client in clients:
            client.disconnect()


def wait_for(condition, timeout=WAIT * 3):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


FLASK_RUN = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", "{port}"]


def test_flask_run_chats_in_threading_mode(start_server, project_copy):
    """`flask --app app run`, what every Flask user types: not a script, so threading mode."""
    server = start_server(command=FLASK_RUN, cwd=project_copy)
    chat_between_two_clients(server.url)


def test_flask_run_debug_reloads_an_edited_app_py_and_chats_again(start_server, project_copy):
    server = start_server(command=[*FLASK_RUN, "--debug"], cwd=project_copy)
    chat_between_two_clients(server.url)
    app_py = project_copy / "app.py"
    app_py.write_text(app_py.read_text().replace('"MAX_MESSAGE_LENGTH", "1000"', '"MAX_MESSAGE_LENGTH", "5"'))
    wait_for(lambda: "Detected change in" in server.log() and server.log().count("Debugger PIN") == 2)
    wait_for(server.answers)
    client = socketio.Client(reconnection=False)
    client.connect(server.url, auth={"name": "ana"}, transports=["websocket"], wait_timeout=WAIT)
    try:  # the edited code is the one running
        assert client.call("event_message", {"text": "too long"}, timeout=WAIT) == {
            "ok": False, "error": "text is longer than 5 characters"}
    finally:
        client.disconnect()
    chat_between_two_clients(server.url)


def test_git_ignores_the_virtualenv_the_database_and_the_keys():
    """The tutorial makes .venv/ in the project folder; instance/ holds chat.db and the signing keys."""
    from conftest import ROOT

    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".venv/" in ignored and "instance/" in ignored


# `python app.py` up to the moment it would serve: the stub reports how main() set the server up.
SERVE_STUBBED = """
import gc, json, runpy, socket, sys

def report(nodelay):
    print("serving", json.dumps({"nodelay": bool(nodelay), "frozen": gc.get_freeze_count()}), flush=True)
    raise SystemExit(0)

def eventlet_server(listener, *args, **kwargs):
    client = socket.create_connection(listener.getsockname())
    connection, _ = listener.accept()  # a real connection, as the server would accept it
    report(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

def socketio_run(self, app, *args, request_handler=None, **kwargs):
    report(request_handler and request_handler.disable_nagle_algorithm)  # Werkzeug's switch

if sys.argv[1] == "eventlet":
    import eventlet
    eventlet.monkey_patch()  # first, as app.py does
    import eventlet.wsgi
    eventlet.wsgi.server = eventlet_server
else:
    import flask_socketio
    flask_socketio.SocketIO.run = socketio_run
runpy.run_path("app.py", run_name="__main__")
"""


def serving_setup(async_mode, tmp_path):
    """Run app.py as a script with its final serve call stubbed; return what the stub saw."""
    from conftest import ROOT, WAIT

    env = {**os.environ, "ASYNC_MODE": async_mode, "PORT": "0",
           "DATABASE_URL": f"sqlite:///{tmp_path}/chat.db"}
    done = subprocess.run([sys.executable, "-c", SERVE_STUBBED, async_mode], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=WAIT * 6)
    lines = [line for line in done.stdout.splitlines() if line.startswith("serving ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    return json.loads(lines[0].removeprefix("serving "))


def test_the_server_sends_small_packets_at_once_with_tcp_nodelay(async_mode, tmp_path):
    """Without TCP_NODELAY each ack waits for the client's delayed ACK: ~40 ms instead of ~1 ms."""
    assert serving_setup(async_mode, tmp_path)["nodelay"] is True


def test_the_server_freezes_what_it_loaded_before_serving(async_mode, tmp_path):
    """gc.freeze(): full collections no longer rescan the app's modules, pausing every chat."""
    assert serving_setup(async_mode, tmp_path)["frozen"] > 0
