"""Shared fixtures: the app on a temporary database, Socket.IO test clients, and real servers.

Unit tests import app.py once, in threading mode, on a throwaway SQLite file. End-to-end tests start
`python app.py` for real on 127.0.0.1 with a free port and their own database.

Which app.py: the repository's, or a tutorial checkpoint's. CHAT_LIVE_APP names a folder that holds
an app.py (with templates/ and static/); tests/test_tutorial.py sets it to run the tests of step N
against checkpoint N (`python tests/checkpoint.py N`).
"""
import atexit
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
APP_DIR = pathlib.Path(os.environ.get("CHAT_LIVE_APP", ROOT)).resolve()  # where app.py is
sys.path.insert(0, str(APP_DIR))

# Set before app.py is imported: the database engine is built at import time.
for name in ("AUTH_REQUIRED", "CORS_ORIGINS", "MAX_MESSAGE_LENGTH", "RATE_LIMIT_BURST",
             "RATE_LIMIT_PER_SECOND", "MESSAGE_QUEUE", "JWT_EXPIRES_MINUTES"):
    os.environ.pop(name, None)
UNIT_DB_DIR = tempfile.mkdtemp(prefix="chat-live-unit-")
atexit.register(shutil.rmtree, UNIT_DB_DIR, ignore_errors=True)
os.environ.update(DATABASE_URL=f"sqlite:///{UNIT_DB_DIR}/chat.db", ASYNC_MODE="threading",
                  SECRET_KEY="unit-test-secret", JWT_SECRET_KEY="unit-test-jwt-key-of-at-least-32-bytes")

import app as chat  # noqa: E402  (must come after the environment is set)

WAIT = 5.0  # seconds: the bound on every wait for an event or a server


@pytest.fixture
def app():
    """The Flask app with empty tables and no open connections."""
    if hasattr(chat, "db"):  # step 5 on
        with chat.app.app_context():
            for model in (chat.Message, getattr(chat, "User", None)):
                if model is not None:
                    chat.db.session.execute(chat.db.delete(model))
            chat.db.session.commit()
    if isinstance(getattr(chat, "messages", None), list):  # step 4 keeps them in memory
        chat.messages.clear()
    yield chat.app
    getattr(chat, "connections", {}).clear()  # step 4 on


@pytest.fixture
def client(app):
    """Flask's HTTP test client."""
    return app.test_client()


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python app.py` (or another command that serves app.py) in a subprocess on 127.0.0.1.

    In `command`, "{port}" stands for the server's port; PORT is set in its environment too.
    """

    def __init__(self, log_path, env, port=None, preexec_fn=None, command=None, cwd=APP_DIR):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [part.format(port=self.port) for part in command or [sys.executable, "app.py"]]
        with open(log_path, "w") as log_file:  # the child keeps its own copy of the file
            self.process = subprocess.Popen(
                command, cwd=cwd, env={**env, "PORT": str(self.port)},
                stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
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

    def stop(self, kill=False):
        if self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
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
        base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL", "ASYNC_MODE")}
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


@pytest.fixture(params=["eventlet", "threading"])
def async_mode(request):
    """Run an end-to-end test once per async mode."""
    return request.param


@pytest.fixture
def spec(client):
    response = client.get("/apispec.json")
    assert response.status_code == 200
    return response.get_json()
