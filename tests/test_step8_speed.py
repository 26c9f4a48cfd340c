"""Step 8: make it fast. What each speed fix promises, checked where it can be seen: `python app.py`
serves with eventlet, joins at once share one presence, websockets without compression, TCP_NODELAY and
gc.freeze() at start, a raised open-file limit, SQLite in WAL mode. (The figures themselves live in
bench/, never in tests.)"""
import json
import os
import re
import subprocess
import sys

import pytest
import requests
import websocket

import app as chat
from conftest import APP_DIR, NO_PER_ADDRESS_LIMITS, WAIT


def test_python_app_py_serves_with_eventlet_and_says_so_in_one_plain_line(start_server, project_copy):
    """eventlet's own 9-line deprecation banner becomes one log line; the ready line names both pages."""
    server = start_server(cwd=project_copy, JWT_SECRET_KEY="")  # ASYNC_MODE unset: python app.py's own
    log = server.log()
    assert "serving with eventlet, which is in maintenance mode; ASYNC_MODE=threading is the " \
           "alternative" in log
    assert f"Chat Live: chat page {server.url}/  API docs {server.url}/docs/" in log
    assert not re.search(r"warn|error|traceback|deprecat", log, re.I), log
    assert "Werkzeug" not in requests.get(server.url + "/", timeout=WAIT).headers.get("Server", "")


def test_joins_at_once_share_one_presence_broadcast(connect):
    first = connect(auth={"name": "p0"})
    for n in range(1, 20):
        connect(auth={"name": f"p{n}"})
    presences = first.wait_for("presence")
    assert presences[-1]["online"] == 20
    assert len(presences) < 5  # coalesced, not one per join


def test_websockets_are_served_uncompressed(start_server, async_mode):
    """Compressing every broadcast once per client would halve the throughput (see bench/)."""
    server = start_server(ASYNC_MODE=async_mode)
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
                                     header=["Sec-WebSocket-Extensions: permessage-deflate"], timeout=WAIT)
    assert ws.recv().startswith("0{")  # Engine.IO "open": the websocket works
    assert "sec-websocket-extensions" not in ws.getheaders()  # ...without compression
    ws.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; Linux only")
def test_the_server_raises_a_low_open_file_limit_for_a_big_class(start_server, async_mode):
    """Each connection is an open file. Started under `ulimit -n 64`, the server asks for more,
    so 100 websockets (more than 64) all open and it still answers."""
    import resource

    import websocket

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    server = start_server(ASYNC_MODE=async_mode, preexec_fn=low_limit, **NO_PER_ADDRESS_LIMITS)
    limits = open(f"/proc/{server.process.pid}/limits").read()
    soft = int(re.search(r"Max open files\s+(\d+)", limits).group(1))
    assert soft >= min(10_000, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    sockets = []
    try:
        for _ in range(100):
            ws = websocket.create_connection(
                f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", timeout=WAIT)
            sockets.append(ws)
            assert ws.recv().startswith("0{")  # Engine.IO's "open" packet: the server took it
        assert requests.get(server.url + "/messages?limit=1", timeout=WAIT).status_code == 200
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

def flask_run(self, *args, request_handler=None, **kwargs):
    report(request_handler and request_handler.disable_nagle_algorithm)  # Werkzeug's switch

class StubbedServer:  # what werkzeug.serving.make_server() returns, from step 10 on
    def __init__(self, *args, request_handler=None, **kwargs):
        self.request_handler = request_handler

    def serve_forever(self):
        flask_run(None, request_handler=self.request_handler)

if sys.argv[1] == "eventlet":
    import eventlet
    eventlet.monkey_patch()  # first, as app.py does
    import eventlet.wsgi
    eventlet.wsgi.server = eventlet_server
else:
    import flask
    import werkzeug.serving
    flask.Flask.run = flask_run  # steps 8 and 9 serve with app.run()
    werkzeug.serving.make_server = StubbedServer
runpy.run_path("app.py", run_name="__main__")
"""


def serving_setup(async_mode, tmp_path):
    """Run app.py as a script with its final serve call stubbed; return what the stub saw."""
    from conftest import WAIT, free_port

    env = {**os.environ, "ASYNC_MODE": async_mode, "PORT": str(free_port()),
           "DATABASE_URL": f"sqlite:///{tmp_path}/chat.db"}
    done = subprocess.run([sys.executable, "-c", SERVE_STUBBED, async_mode], cwd=APP_DIR, env=env,
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


def test_the_sqlite_database_runs_in_wal_mode(app):
    with app.app_context():
        assert chat.db.session.execute(chat.db.text("PRAGMA journal_mode")).scalar() == "wal"
        assert chat.db.session.execute(chat.db.text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_the_address_to_give_the_class_is_one_of_this_machine():
    """HOST=0.0.0.0 serves every network of the machine; the ready line then names an address students
    can type, never 0.0.0.0, and one this machine really has (it can listen there)."""
    import ipaddress
    import socket

    assert chat.address_to_share("127.0.0.1") == "127.0.0.1"
    shared = chat.address_to_share("0.0.0.0")
    assert not ipaddress.ip_address(shared).is_unspecified
    with socket.socket() as listener:
        listener.bind((shared, 0))


def test_a_class_server_prints_the_address_to_share(start_server):
    server = start_server(HOST="0.0.0.0")  # the tests still reach it on 127.0.0.1
    shared = chat.address_to_share("0.0.0.0")
    assert f"Chat Live: chat page http://{shared}:{server.port}/  API docs http://{shared}:{server.port}/docs/" \
        in server.log()
