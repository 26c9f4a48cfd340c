"""Shared fixtures: the app on a temporary database, Socket.IO test clients, and real servers.

Unit tests import app.py once, in threading mode, on a throwaway SQLite file. End-to-end tests start
`python app.py` for real on 127.0.0.1 with a free port and their own database.

Which app.py: the repository's, or a tutorial checkpoint's. CHAT_LIVE_APP names a folder that holds
an app.py (with templates/ and static/); tests/test_tutorial.py sets it to run the tests of step N
against checkpoint N (`python tests/checkpoint.py N`).
"""
import atexit
import contextlib
import fnmatch
import gc
import importlib.util
import itertools
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import requests
import websocket

ROOT = pathlib.Path(__file__).resolve().parent.parent
APP_DIR = pathlib.Path(os.environ.get("CHAT_LIVE_APP", ROOT)).resolve()  # where app.py is
sys.path.insert(0, str(APP_DIR))

# Set before app.py is imported: the database engine is built at import time.
for name in ("AUTH_REQUIRED", "CORS_ORIGINS", "MAX_MESSAGE_LENGTH", "RATE_LIMIT_BURST",
             "RATE_LIMIT_PER_SECOND", "MESSAGE_QUEUE", "JWT_EXPIRES_MINUTES", "TRUSTED_PROXIES"):
    os.environ.pop(name, None)
UNIT_DB_DIR = tempfile.mkdtemp(prefix="chat-live-unit-")
atexit.register(shutil.rmtree, UNIT_DB_DIR, ignore_errors=True)
os.environ.update(DATABASE_URL=f"sqlite:///{UNIT_DB_DIR}/chat.db", ASYNC_MODE="threading",
                  SECRET_KEY="unit-test-secret", JWT_SECRET_KEY="unit-test-jwt-key-of-at-least-32-bytes")
# Every test client of the unit tests comes from one address: the per-address limits (step 11) are
# off for them, and the tests of those limits turn them on. Real servers get the defaults.
PER_ADDRESS_LIMITS = ("MAX_CONNECTIONS_PER_IP", "RATE_LIMIT_PER_ADDRESS", "READS_PER_ADDRESS", "FRAMES_PER_SECOND")
NO_PER_ADDRESS_LIMITS = dict.fromkeys(PER_ADDRESS_LIMITS, "0")  # for tests of many clients from one address
os.environ.update(NO_PER_ADDRESS_LIMITS)

import app as chat  # noqa: E402  (must come after the environment is set)

WAIT = 5.0  # seconds: the bound on every wait for an event or a server

# Tests whose outcome does not depend on the Python version that runs the server: a browser drives
# the page, the attack tests measure the machine, the tutorial's tests read text (and rebuild each
# checkpoint). CI (.ci/run) runs them on the newest Python only, and the rest on every one (on the
# older ones, two suites side by side: nothing that measures the machine belongs there).
SAME_ON_EVERY_PYTHON = ("test_step*_page.py", "test_step10_settings.py", "test_step11_hostile.py", "test_tutorial.py",
                        "test_exercises.py", "test_bench_smoke.py",
                        "test_step12_rooms.py::test_a_script_opening_rooms_from_one_address*")


def pytest_ignore_collect(collection_path, config):
    """tests/exercises/ holds the exercises' tests, which fail until a student solves them: they run
    when named (tests/exercise.py, tests/test_exercises.py), never with the whole suite."""
    if collection_path == ROOT / "tests" / "exercises":
        here = config.invocation_params.dir
        named = [(here / arg.split("::")[0]).resolve() for arg in config.args]
        return not any(path == collection_path or collection_path in path.parents for path in named)
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        if any(fnmatch.fnmatch(item.path.name, pattern) or fnmatch.fnmatch(f"{item.path.name}::{item.name}", pattern)
               for pattern in SAME_ON_EVERY_PYTHON):
            item.add_marker("same_on_every_python")


@contextlib.contextmanager
def no_garbage_collection():
    """For a request whose body is parsed thousands of levels deep: a garbage collection there runs
    earlier tests' finalizers at the edge of the recursion limit, and Python 3.11 reported them as
    errors of the test ("Exception ignored ... RecursionError"). Collect first, then not at all."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def needs_package(name):
    """Skip a test whose package is not installed (the workshop's light install, tests/
    requirements-workshop.txt), saying how to get it; in CI (CI set), where nothing skips, fail."""
    if importlib.util.find_spec(name) is None:
        why = f"{name} is not installed: pip install -r tests/requirements.txt (the whole suite's packages)"
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)


@pytest.fixture
def app():
    """The Flask app with empty tables and no open connections."""
    if hasattr(chat, "db"):  # step 5 on
        with chat.app.app_context():
            for model in (chat.Message, getattr(chat, "User", None), getattr(chat, "RevokedToken", None),
                          getattr(chat, "Room", None)):
                if model is not None:
                    chat.db.session.execute(chat.db.delete(model))
            chat.db.session.commit()
    if isinstance(getattr(chat, "messages", None), list):  # step 4 keeps them in memory
        chat.messages.clear()
    if hasattr(chat, "limiter"):  # step 11: every test starts with no login attempts counted
        chat.limiter.reset()
        chat.address_allowances.clear()
    if hasattr(chat, "rooms_opened"):  # step 12: no new rooms counted for the tests' one address
        chat.rooms_opened.clear()
    if hasattr(chat, "typing_seen"):  # step 14: no typing counted for the tests' one address
        chat.typing_seen.clear()
    yield chat.app
    getattr(chat, "connections", {}).clear()  # step 4 on


@pytest.fixture
def client(app):
    """Flask's HTTP test client."""
    return app.test_client()


def in_general(presence):
    """A presence as step 4 sends it: from step 12 on it also names its room, `general` here."""
    assert presence.get("room", "general") == "general", presence
    return {key: value for key, value in presence.items() if key != "room"}


class SocketClient:
    """Flask-SocketIO's test client, keeping every event it received so tests can wait for some."""

    def __init__(self, test_client):
        self.test_client = test_client
        self.events = []

    def emit(self, event, data):
        """Emit and return the server's acknowledgement."""
        return self.test_client.emit(event, data, callback=True)

    def received(self, event):
        self.events += self.test_client.get_received()
        return [e["args"][0] for e in self.events if e["name"] == event]

    def wait_for(self, event, count=1, timeout=WAIT):
        """Wait (bounded) until `event` arrived `count` times; return its payloads."""
        deadline = time.monotonic() + timeout
        while len(self.received(event)) < count:
            assert time.monotonic() < deadline, f"no {event} within {timeout}s: {self.events}"
            time.sleep(0.01)
        return self.received(event)


@pytest.fixture
def connect(app):
    """connect(auth=..., headers=..., query_string=...) opens a Socket.IO test client."""
    opened = []

    def open_client(auth=None, **kwargs):
        test_client = chat.socketio.test_client(app, auth=auth, **kwargs)
        opened.append(test_client)
        return SocketClient(test_client)

    yield open_client
    for test_client in opened:
        if test_client.is_connected():
            test_client.disconnect()


def ephemeral_ports_start():
    """Where the ports the system hands to outgoing connections begin (Linux; 32768 elsewhere)."""
    try:
        return int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


PORT_CHOICE = random.Random()  # its own: hypothesis reseeds the global one


def port_range():
    """Where free_port() chooses: CHAT_LIVE_PORTS ("20000-25999": .ci/run gives each of two suites
    that run side by side its own range), else the 12,000 ports below the range of outgoing
    connections' ports (never into that range)."""
    top = ephemeral_ports_start()
    if os.environ.get("CHAT_LIVE_PORTS"):
        low, high = os.environ["CHAT_LIVE_PORTS"].split("-")
        return int(low), min(int(high), top)
    return max(1024, top - 12_000), top


def free_port():
    """A free port below the range of outgoing connections' ports: between this check and the
    server's bind, a port from that range could become some client's own (seen: a flaky 'Address
    already in use' while attack tests opened thousands of connections)."""
    low, high = port_range()
    for _ in range(200):
        port = PORT_CHOICE.randrange(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken: try another
            return port
    with socket.socket() as s:  # every try taken (unlikely): any port the system gives
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def only_child(pid):
    """The one child process of `pid` (gunicorn's worker, nginx's); fails rather than guess."""
    (child,) = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(child)


class Server:
    """`python app.py` (or another command that serves app.py) in a subprocess on 127.0.0.1.

    In `command`, "{port}" stands for the server's port; PORT is set in its environment too.
    """

    def __init__(self, log_path, env, port=None, preexec_fn=None, command=None, cwd=APP_DIR):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [part.format(port=self.port) for part in command or [sys.executable, "app.py"]]
        self.gunicorn = "gunicorn" in command
        with open(log_path, "w") as log_file:  # the child keeps its own copy of the file
            self.process = subprocess.Popen(
                command, cwd=cwd, env={**env, "PORT": str(self.port)},
                stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=preexec_fn,
                start_new_session=True)  # a group of its own: stop() stops what it starts too
        deadline = time.monotonic() + 30
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start:\n{self.log()}")
            time.sleep(0.05)

    def answers(self):
        """Is it serving HTTP? (Its first page answers, from step 1 of the tutorial on.)"""
        try:
            return requests.get(self.url + "/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def log(self):
        return pathlib.Path(self.log_path).read_text()

    @property
    def pid(self):
        """The process that serves: the one started, or under gunicorn its one worker."""
        if self.gunicorn and self.process.poll() is None:
            return only_child(self.process.pid)  # -w 1
        return self.process.pid

    def stop(self, kill=False):
        """Stop the server and the processes it started (`flask run --debug` serves from a child, which
        outlived its parent before)."""
        try:
            # gunicorn waits up to 30 s for open websockets on SIGTERM; SIGQUIT stops it at once.
            os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGQUIT if self.gunicorn
                      else signal.SIGTERM)
        except ProcessLookupError:
            pass  # all of them have exited already
        if self.process.poll() is None:
            self.process.wait(timeout=10)


@pytest.fixture
def start_server(tmp_path):
    """start_server(ASYNC_MODE="eventlet", **env) runs a real server; all stop after the test.
    preexec_fn runs in the child before app.py (to lower a limit, say); command and cwd start it
    another way (`flask run`, gunicorn) or from another folder.

    Every server of a test shares one database: stop one and start another for a restart, with
    port=old.port to come back where clients will reconnect.
    """
    servers = []
    database = f"sqlite:///{tmp_path}/chat.db"

    def start(port=None, preexec_fn=None, command=None, cwd=APP_DIR, **env):
        # JWT_SECRET_KEY stays: tests mint tokens with it. ASYNC_MODE goes: app.py picks its own.
        base = {k: v for k, v in os.environ.items()
                if k not in ("SECRET_KEY", "DATABASE_URL", "ASYNC_MODE", *PER_ADDRESS_LIMITS)}
        base.update(DATABASE_URL=database, PYTHONUNBUFFERED="1")
        server = Server(tmp_path / f"server{len(servers)}.log", {**base, **env}, port, preexec_fn,
                        command, cwd)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def project_copy(tmp_path):
    """A copy of the project's app.py, templates/ and static/, as a student's folder: its instance
    folder (keys, chat.db) is its own."""
    folder = tmp_path / "chat-live"
    folder.mkdir()
    shutil.copy(APP_DIR / "app.py", folder)
    for name in ("templates", "static"):
        shutil.copytree(APP_DIR / name, folder / name)
    return folder


def disconnect_all(clients):
    """Disconnect python-socketio clients in parallel (each close can take ~3 s in threading mode)."""
    closers = [threading.Thread(target=client.disconnect) for client in clients]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(timeout=WAIT * 2)


class RawClient:
    """A bare Socket.IO client on one websocket, for tests that check the order of events.

    python-socketio's Client runs each event handler on a thread of its own, so the order it
    records events in is not always the order the server sent them. Here a single
    thread reads the socket and records each packet before reading the next one.
    The frames on the wire: Engine.IO "0{...}" open, "2" ping, "3" pong, and "4" + a Socket.IO
    packet: "40{auth}" connect, "42[name, data]" event, "42<id>[name, data]" event asking for
    an ack, "43<id>[reply]" that ack.
    """

    def __init__(self, server, auth=None):
        url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=WAIT)
        assert self.ws.recv().startswith("0{")  # Engine.IO "open": sid, ping interval...
        self.events = []  # (name, data), in the order the server sent them
        self.acks = {}  # ack id -> the server's reply
        self.ack_ids = itertools.count()
        self.connected = threading.Event()
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()
        self.ws.send("40" + json.dumps(auth or {}))  # Socket.IO "connect", with the auth object
        assert self.connected.wait(WAIT), f"not connected: {self.events}"

    def read(self):
        """The one reader: answer pings, record events and acks as they arrive, until closed."""
        while True:
            try:
                packet = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue  # nothing for a while: keep reading
            except (OSError, websocket.WebSocketException):
                return  # closed
            if packet == "2":
                self.ws.send("3")  # Engine.IO ping -> pong, or the server drops us
            elif packet.startswith("40"):
                self.connected.set()
            elif packet.startswith("42"):
                name, data = json.loads(packet[2:])
                self.events.append((name, data))
            elif packet.startswith("43"):
                ack_id, reply = packet[2:].split("[", 1)
                self.acks[int(ack_id)] = json.loads("[" + reply)[0]
            else:  # "44" connect_error, "41" disconnect...: kept, for assertion messages
                self.events.append(("?", packet))

    def received(self, event):
        """The payloads of every `event` so far, in the order the server sent them."""
        return [data for name, data in self.events if name == event]

    def emit(self, event, data):
        """Send `event` asking for an acknowledgement; return its ack id (the reply goes to `acks`)."""
        ack_id = next(self.ack_ids)
        self.ws.send(f"42{ack_id}" + json.dumps([event, data]))
        return ack_id

    def call(self, event, data, timeout=WAIT):
        """Send `event` and wait (bounded) for the server's acknowledgement."""
        ack_id = self.emit(event, data)
        deadline = time.monotonic() + timeout
        while ack_id not in self.acks:
            assert time.monotonic() < deadline, f"no ack for {event} within {timeout}s"
            time.sleep(0.01)
        return self.acks[ack_id]

    def close(self):
        """Say goodbye (Socket.IO "41": the server runs on_disconnect), then stop the reader."""
        try:
            self.ws.send("41")
        except (OSError, websocket.WebSocketException):
            pass  # the server is gone already
        self.ws.abort()  # wakes the reader, which returns
        self.reader.join(WAIT)
        self.ws.shutdown()


# The async modes this app.py serves with: threading until step 8 of the tutorial brings eventlet.
ASYNC_MODES = ["eventlet", "threading"] if hasattr(chat, "ASYNC_MODE") else ["threading"]


@pytest.fixture(params=ASYNC_MODES)
def async_mode(request):
    """Run an end-to-end test once per async mode the app serves with."""
    return request.param


@pytest.fixture
def spec(client):
    response = client.get("/apispec.json")
    assert response.status_code == 200
    return response.get_json()


# --- The exercises' tests (tests/exercises/) ---------------------------------------------------

NEVER = 3.0  # seconds: how long an exercise's test waits for what a finished exercise sends at once


class LiveChat:
    """A real server (`python app.py` on 127.0.0.1) and the clients a test joins to it. Every wait is
    bounded, and a missing answer fails with a sentence a student understands, not a traceback."""

    def __init__(self, server):
        self.server = server
        self.clients = []

    def join(self, name=None, **auth):
        """A client connected with this handshake name (and any other auth fields)."""
        client = RawClient(self.server, auth={**({"name": name} if name else {}), **auth})
        self.clients.append(client)
        return client

    def get(self, path, **kwargs):
        return requests.get(self.server.url + path, timeout=WAIT, **kwargs)

    def post(self, path, **kwargs):
        return requests.post(self.server.url + path, timeout=WAIT, **kwargs)

    def answer(self, client, event, data, missing=None):
        """Send `event` and return the server's acknowledgement; fail with `missing` (or a sentence
        naming the event) if none comes."""
        ack_id = client.emit(event, data)
        deadline = time.monotonic() + NEVER
        while ack_id not in client.acks:
            if time.monotonic() > deadline:
                pytest.fail(missing or f"the server did not answer `{event}` within {NEVER:g} s: is there "
                            f"a handler for it, and does it return its answer?", pytrace=False)
            time.sleep(0.01)
        return client.acks[ack_id]

    def wait_for(self, client, event, missing, count=1, where=None):
        """The payloads of `event` (those `where` accepts) once `count` of them reached `client`; else
        fail with the sentence `missing`."""
        deadline = time.monotonic() + NEVER
        while True:
            found = [data for data in client.received(event) if where is None or where(data)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                pytest.fail(missing, pytrace=False)
            time.sleep(0.01)

    def close(self):
        for client in self.clients:
            client.close()


@pytest.fixture
def live(start_server):
    """A fresh server on its own database, and the clients a test joins to it."""
    opened = LiveChat(start_server())
    yield opened
    opened.close()
