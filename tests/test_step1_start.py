"""Step 1: install and start. `python app.py` serves the chat, the docs and Socket.IO on one port."""
import json
import os
import re
import subprocess
import sys

import pytest
import requests


def test_server_starts_and_prints_its_urls(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    line = f"Chat Live: chat page {server.url}/  API docs {server.url}/docs/"
    assert line in server.log()
    assert requests.get(server.url + "/health", timeout=5).json() == {"status": "ok"}
    assert requests.get(server.url + "/", timeout=5).headers["Content-Type"].startswith("text/html")
    assert requests.get(server.url + "/docs/", timeout=5).status_code == 200


def test_missing_keys_get_a_random_key_and_a_warning(start_server):
    server = start_server(JWT_SECRET_KEY="")  # the fixture never passes SECRET_KEY
    log = server.log()
    assert "SECRET_KEY is not set: using a random key" in log
    assert "JWT_SECRET_KEY is not set: using a random key" in log


def test_a_given_key_gives_no_warning(start_server):
    server = start_server(SECRET_KEY="s" * 40, JWT_SECRET_KEY="j" * 40)
    assert "is not set" not in server.log()


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

    from conftest import WAIT

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
