"""Beyond one process: Redis message queue, PostgreSQL, several processes behind nginx.

Needs redis-server, PostgreSQL 15+ and nginx (Debian: apt-get install -y redis-server postgresql nginx)
and `pip install -r requirements-production.txt`. Without them these tests skip, except in CI.
"""
import contextlib
import glob
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest
import requests
import socketio

from conftest import APP_DIR, ROOT, WAIT, disconnect_all, free_port, in_general, NO_PER_ADDRESS_LIMITS


def needs(found, what, how="apt-get install -y redis-server postgresql nginx && "
                             "pip install -r requirements-production.txt"):
    """Skip with how to install `what` when it is missing; in CI (CI=1) fail instead."""
    if not found:
        message = f"{what} is not installed: {how}"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


def wait_until(condition, timeout=WAIT * 3, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def redis_url():
    needs(shutil.which("redis-server"), "redis-server")
    needs(importlib_has("redis"), "the redis package")
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    wait_until(lambda: ping(client), what="redis")
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=WAIT)


def ping(client):
    try:
        return client.ping()
    except Exception:
        return False


def importlib_has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL server on a free port; yields its URL and how to control it."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    needs(bins, "PostgreSQL")
    needs(importlib_has("psycopg"), "the psycopg package")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="chat-live-pg-"))  # pytest's tmp is root-only
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # it refuses root
    if as_postgres:
        shutil.chown(folder, "postgres")
    port, data = free_port(), folder / "data"
    subprocess.run(as_postgres + [f"{bins[-1]}/initdb", "-D", str(data), "-A", "trust", "-U", "chat"],
                   check=True, stdout=subprocess.DEVNULL)
    pg_ctl = as_postgres + [f"{bins[-1]}/pg_ctl", "-D", str(data), "-w", "-t", "30"]
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(pg_ctl + ["-o", options, "-l", str(folder / "log"), "start"], check=True,
                   stdout=subprocess.DEVNULL)
    yield {"url": f"postgresql+psycopg://chat@127.0.0.1:{port}/postgres", "pg_ctl": pg_ctl,
           "options": options, "log": folder / "log"}
    subprocess.run(pg_ctl + ["-m", "immediate", "stop"], stdout=subprocess.DEVNULL)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fresh_postgres(postgres):
    """The PostgreSQL server with empty tables, created once like `flask --app app init-db` does."""
    flask(postgres["url"], None, "init-db")
    import psycopg

    with psycopg.connect(postgres["url"].replace("+psycopg", "")) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]  # those of this checkpoint
        connection.execute("TRUNCATE " + ", ".join(f'"{table}"' for table in tables) + " RESTART IDENTITY")
    return postgres


def flask(database_url, message_queue, *args):
    env = {**os.environ, "DATABASE_URL": database_url, "ASYNC_MODE": "threading"}
    if message_queue:
        env["MESSAGE_QUEUE"] = message_queue
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=APP_DIR, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def two_processes(start_server, redis_url, fresh_postgres, async_mode):
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # no login attempts counted by an earlier test (step 11)
    env = {"DATABASE_URL": fresh_postgres["url"], "MESSAGE_QUEUE": redis_url, "ASYNC_MODE": async_mode,
           "RATE_LIMIT_PER_SECOND": "0", **NO_PER_ADDRESS_LIMITS}
    return start_server(**env), start_server(**env)


class Listener:
    """A python-socketio client that records what it receives (each handler runs on a thread of
    its own: the lists are not always in the server's order, see RawClient in conftest.py)."""

    def __init__(self, url, name, transports=("websocket",), **kwargs):
        self.messages, self.presence = [], []
        self.lifecycle = []  # "connect", "disconnect", "connect"...: a drop stays recorded
        self.client = socketio.Client(**kwargs)
        self.client.on("new_message", self.messages.append)
        self.client.on("presence", self.presence.append)
        self.client.on("connect", lambda: self.lifecycle.append("connect"))
        self.client.on("disconnect", lambda reason=None: self.lifecycle.append("disconnect"))
        self.client.connect(url, transports=list(transports), auth={"name": name}, wait_timeout=WAIT)

    def ids(self):
        return [m["id"] for m in self.messages]


def test_a_message_sent_to_one_process_reaches_clients_of_the_other(two_processes):
    a, b = two_processes
    ana, bea = Listener(a.url, "ana"), Listener(b.url, "bea")
    try:
        ack = ana.client.call("event_message", {"text": "hola"}, timeout=WAIT)
        assert ack["ok"] is True
        wait_until(lambda: bea.messages and ana.messages, what="new_message on both processes")
        assert ana.messages == bea.messages == [ack["message"]]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ack["message"]["created_at"])
        second = bea.client.call("event_message", {"text": "adios"}, timeout=WAIT)["message"]
        assert second["id"] > ack["message"]["id"]
        wait_until(lambda: len(ana.messages) == 2, what="the second message")
        history_a = requests.get(a.url + "/messages", timeout=WAIT).json()
        history_b = requests.get(b.url + "/messages", timeout=WAIT).json()
        assert history_a == history_b == [ack["message"], second]
        # presence counts the connections of the process a client is connected to
        wait_until(lambda: ana.presence and bea.presence, what="presence")
        assert in_general(ana.presence[-1]) == {"online": 1, "users": ["ana"]}
        assert in_general(bea.presence[-1]) == {"online": 1, "users": ["bea"]}
    finally:
        disconnect_all([ana.client, bea.client])


def test_flask_announce_reaches_every_process_and_the_history(two_processes, redis_url, fresh_postgres):
    a, b = two_processes
    ana, bea = Listener(a.url, "ana"), Listener(b.url, "bea")
    try:
        output = flask(fresh_postgres["url"], redis_url, "announce", "class starts in 5 minutes")
        assert "saved message 1 and broadcast it" in output
        wait_until(lambda: ana.messages and bea.messages, what="the announcement")
        assert ana.messages == bea.messages
        assert (ana.messages[0]["author"], ana.messages[0]["text"]) == ("system", "class starts in 5 minutes")
        assert requests.get(b.url + "/messages", timeout=WAIT).json() == ana.messages
    finally:
        disconnect_all([ana.client, bea.client])


@pytest.fixture
def nginx(two_processes, tmp_path):
    """nginx with the repository's nginx.conf, its ports swapped for the test servers' ports."""
    a, b = two_processes
    with running_nginx(tmp_path, a.port, b.port) as url:
        yield url


@contextlib.contextmanager
def running_nginx(tmp_path, first_port, second_port, wait=True):
    """The repository's nginx.conf with its two upstream ports (5001, 5002) and its own port swapped;
    wait=True waits until the servers behind it answer /health through it."""
    needs(shutil.which("nginx"), "nginx")
    port = free_port()
    config = (ROOT / "nginx.conf").read_text()
    config = config.replace("127.0.0.1:5001", f"127.0.0.1:{first_port}").replace(
        "127.0.0.1:5002", f"127.0.0.1:{second_port}").replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    config = config.replace("/tmp/chat-live-nginx", str(tmp_path / "nginx"))
    (tmp_path / "nginx.conf").write_text(config)
    with open(tmp_path / "nginx.stderr", "w") as errors:  # its error log (error_log stderr)
        proxy = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", "nginx.conf", "-g", "daemon off;"],
                                 stderr=errors)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(url) if wait else reaches(url), what="nginx")
        yield url
    finally:
        proxy.terminate()
        proxy.wait(timeout=WAIT)


def reaches(url):
    """Does nginx answer at all (a 502 when nothing runs behind it)?"""
    try:
        return requests.get(url + "/health", timeout=1).status_code > 0
    except requests.RequestException:
        return False


def healthy(url):
    try:
        return requests.get(url + "/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_chat_through_nginx_starts_polling_then_upgrades(two_processes, nginx):
    a, b = two_processes
    direct_a, direct_b = Listener(a.url, "on-a"), Listener(b.url, "on-b")
    proxied = Listener(nginx, "via-nginx", transports=("polling", "websocket"))  # like a browser
    try:
        wait_until(lambda: proxied.client.transport() == "websocket", what="the websocket upgrade")
        ack = proxied.client.call("event_message", {"text": "through the proxy"}, timeout=WAIT)
        assert ack["ok"] is True
        wait_until(lambda: direct_a.messages and direct_b.messages and proxied.messages, what="delivery")
        assert direct_a.messages == direct_b.messages == proxied.messages == [ack["message"]]
        assert requests.get(nginx + "/messages", timeout=WAIT).json() == [ack["message"]]
    finally:
        disconnect_all([direct_a.client, direct_b.client, proxied.client])


def test_when_a_process_dies_its_clients_move_to_the_other_and_catch_up(two_processes, nginx):
    a, b = two_processes
    proxied = Listener(nginx, "via-nginx", transports=("websocket",), reconnection_delay=0.1,
                       reconnection_delay_max=0.5)
    try:
        first = proxied.client.call("event_message", {"text": "before"}, timeout=WAIT)["message"]
        wait_until(lambda: proxied.messages == [first], what="the first new_message")
        # ip_hash picked one process for us; find it by its log, then kill it hard.
        wait_until(lambda: "as via-nginx" in a.log() + b.log(), what="the connect log line")
        victim, survivor = (a, b) if "as via-nginx" in a.log() else (b, a)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=WAIT)
        # Wait for the recorded drop, not for `connected` to read False: python-socketio may be back
        # within milliseconds (its random jitter can make the 0.1 s delay negative).
        wait_until(lambda: "disconnect" in proxied.lifecycle, what="the client to notice")
        last_seen = max(proxied.ids())  # what the page knows when its connection drops
        missed = Listener(survivor.url, "other").client
        sent_meanwhile = missed.call("event_message", {"text": "while you were away"}, timeout=WAIT)["message"]
        wait_until(lambda: proxied.lifecycle == ["connect", "disconnect", "connect"], timeout=WAIT * 4,
                   what="the reconnect via nginx")
        assert "as via-nginx" in survivor.log()
        # The catch-up the page does after a reconnect: everything after the last id it saw.
        # (Back before sent_meanwhile was sent, the client got it live too; the catch-up still has it.)
        caught_up = requests.get(f"{nginx}/messages?after={last_seen}", timeout=WAIT).json()
        assert caught_up == [sent_meanwhile]
        assert first["id"] < sent_meanwhile["id"]
        after = proxied.client.call("event_message", {"text": "back"}, timeout=WAIT)
        assert after["ok"] is True
        missed.disconnect()
    finally:
        proxied.client.shutdown()  # disconnect(), or stop a reconnect still under way


# --- The production command: gunicorn's gevent worker ---------------------------------------------

def readme_gunicorn_command():
    """The gunicorn command README.md gives for production, as a list of arguments."""
    readme = (ROOT / "README.md").read_text()
    (line,) = [line for line in readme.splitlines() if line.startswith("    ") and " gunicorn " in line]
    install, _, command = line.strip().partition(" && ")
    assert install == "pip install -r requirements.txt -r requirements-production.txt", line
    return shlex.split(command)


def gunicorn_serving():
    """README's gunicorn command, run as written plus a free port on 127.0.0.1 (it defaults to 8000),
    as a `command` for start_server ("{port}" stands for the port)."""
    command = readme_gunicorn_command()
    assert command[0] == "gunicorn" and command[-1] == "app:app"
    return [sys.executable, "-m", *command, "--bind", "127.0.0.1:{port}"]


@pytest.fixture
def gunicorn(start_server, project_copy):
    needs(importlib_has("gunicorn"), "gunicorn")
    return start_server(command=gunicorn_serving(), cwd=project_copy)


def chat_through(url, transports):
    """Two clients chat through `url`; the message is in the history too."""
    ana, bea = Listener(url, "ana", transports), Listener(url, "bea", transports)
    try:
        wait_until(lambda: ana.client.transport() == transports[-1], what="the last transport")
        ack = ana.client.call("event_message", {"text": "hola"}, timeout=WAIT)
        assert ack["ok"] is True
        wait_until(lambda: ana.messages and bea.messages, what="delivery")
        assert ana.messages == bea.messages == [ack["message"]]
        assert requests.get(url + "/messages", timeout=WAIT).json() == [ack["message"]]
    finally:
        disconnect_all([ana.client, bea.client])


def test_the_readme_gunicorn_command_chats(gunicorn):
    assert "Using worker: gevent" in gunicorn.log()  # gunicorn 26+ has no eventlet worker
    chat_through(gunicorn.url, ("websocket",))


def test_the_readme_gunicorn_command_holds_more_websockets_than_a_thread_each(gunicorn):
    """300 websockets at once (50 from each of 6 addresses, the limit per address), and a message
    reaches every one of them. With a thread per websocket (`--threads 100`), the 101st waited."""
    import websocket

    from hostile import close_quietly, sio_connect

    opened = []
    try:
        for n in range(300):
            try:
                ws, reply = sio_connect(gunicorn.port, f"127.0.3.{n // 50 + 1}", auth={"name": f"s{n}"})
            except (OSError, websocket.WebSocketException) as error:  # the handshake got no answer
                ws, reply = None, repr(error)
            opened.append(ws)
            assert reply and reply.startswith("40"), f"websocket {n + 1} of 300 was not connected: {reply!r}"
        sender = Listener(gunicorn.url, "teacher", ("websocket",))
        try:
            ack = sender.client.call("event_message", {"text": "300 here?"}, timeout=WAIT)
            assert ack["ok"] is True
        finally:
            disconnect_all([sender.client])
        missing = [n for n, ws in enumerate(opened) if not received_message(ws, "300 here?")]
        assert not missing, f"{len(missing)} of 300 websockets got no new_message (first: {missing[:5]})"
    finally:
        for ws in filter(None, opened):
            close_quietly(ws)


def received_message(ws, text, within=WAIT):
    """Did `new_message` with `text` arrive on this raw Socket.IO websocket within `within` s?"""
    deadline = time.monotonic() + within
    ws.settimeout(within)
    while time.monotonic() < deadline:
        try:
            packet = ws.recv()
        except Exception:  # the timeout, or the connection closed
            return False
        if packet == "2":
            ws.send("3")
        elif packet.startswith('42["new_message"') and json.loads(packet[2:])[1]["text"] == text:
            return True
    return False


def test_the_async_mode_follows_the_server(project_copy):
    """gunicorn's gevent worker patches the standard library before it loads app.py: gevent mode.
    Loaded without it (flask run, an import): threading."""
    def mode(prelude):
        code = prelude + "import app; print(app.ASYNC_MODE, app.socketio.async_mode)"
        env = {k: v for k, v in os.environ.items() if k != "ASYNC_MODE"}
        result = subprocess.run([sys.executable, "-c", code], cwd=project_copy, env=env, capture_output=True,
                                text=True, timeout=WAIT * 6)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()[-2:]
    assert mode("from gevent import monkey; monkey.patch_all(); ") == ["gevent", "gevent"]
    assert mode("") == ["threading", "threading"]
    # Another mode under gevent's patching would start and then serve nobody: refused in one line.
    refused = subprocess.run([sys.executable, "-c", "from gevent import monkey; monkey.patch_all(); import app"],
                             cwd=project_copy, env={**os.environ, "ASYNC_MODE": "threading"},
                             capture_output=True, text=True, timeout=WAIT * 6)
    assert refused.returncode == 2 and refused.stderr.strip() == ("Chat Live cannot start: ASYNC_MODE=threading "
                                                                  "cannot serve under gunicorn's gevent worker: "
                                                                  "leave ASYNC_MODE unset"), refused.stderr


def test_the_readme_gunicorn_command_chats_behind_nginx(gunicorn, tmp_path):
    with running_nginx(tmp_path, gunicorn.port, gunicorn.port) as url:
        chat_through(url, ("polling", "websocket"))  # like a browser: polling first, then upgrade


def test_nginx_limits_one_address_in_json(start_server, project_copy, tmp_path):
    """nginx.conf's own limits per address, with the app's turned off (so every 429 is nginx's): past
    a burst of 200 requests, 50 a second; past 100 open websockets, none more. Each refusal is a JSON
    429, and another address still gets in."""
    from concurrent.futures import ThreadPoolExecutor

    import websocket

    from hostile import close_quietly, open_websocket, post_json

    needs(importlib_has("gunicorn"), "gunicorn")
    server = start_server(command=gunicorn_serving(), cwd=project_copy, TRUSTED_PROXIES="1", **NO_PER_ADDRESS_LIMITS)
    with running_nginx(tmp_path, server.port, server.port) as url:
        port = int(url.rsplit(":", 1)[1])
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: post_json(port, "/health", None, source="127.0.4.1"), range(400)))
        allowed = 200 + 50 * (time.monotonic() - started) + 2  # the burst, then 50 a second
        statuses = [status for status, _ in answers]
        assert 200 <= statuses.count(200) <= allowed and statuses.count(429) >= 1, \
            (statuses.count(200), allowed, sorted(set(statuses)))
        assert all(body == {"error": "too many requests from your address: wait a few seconds"}
                   for status, body in answers if status == 429)
        assert post_json(port, "/health", None, source="127.0.4.2")[0] == 200  # another address

        opened = []
        try:
            for n in range(101):
                try:
                    opened.append(open_websocket(port, "127.0.4.3"))
                except websocket.WebSocketBadStatusException as refused:
                    assert n == 100 and refused.status_code == 429, (n, refused.status_code)
                    break
            else:
                pytest.fail("nginx let one address open 101 websockets at once")
            opened.append(open_websocket(port, "127.0.4.4"))  # another address
        finally:
            for ws in opened:
                close_quietly(ws)


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
    kept = requests.get(again.url + "/messages", headers={"Authorization": f"Bearer {token}"}, timeout=WAIT)
    assert kept.status_code == 200  # the token of the first start works after the restart
    client = socketio.Client(reconnection=False)
    client.connect(again.url, auth={"token": token}, transports=["websocket"], wait_timeout=WAIT)
    try:
        assert client.call("event_message", {"text": "still me"}, timeout=WAIT)["message"]["author"] == "ana"
    finally:
        client.disconnect()


# --- /health, for the load balancer ---------------------------------------------------------------

def test_health_is_ok_when_the_database_accepts_writes(client):
    assert client.get("/health").data == b'{"status":"ok"}\n'


def test_health_is_503_when_the_database_does_not_answer(client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import app as chat

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("unable to open database file"))

    monkeypatch.setattr(chat.db.session, "execute", down)
    response = client.get("/health")
    assert response.status_code == 503 and response.get_json() == {"error": "database unavailable"}


def test_health_is_503_while_the_database_is_locked_or_read_only(start_server, tmp_path):
    """What a load balancer asks: a lock held elsewhere, or a read-only file, is a 503, then 200 again."""
    import sqlite3

    server = start_server()
    assert requests.get(server.url + "/health", timeout=WAIT).json() == {"status": "ok"}
    locker = sqlite3.connect(tmp_path / "chat.db", isolation_level=None)  # like a database browser
    try:
        locker.execute("BEGIN IMMEDIATE")
        assert requests.get(server.url + "/health", timeout=WAIT).status_code == 503
        locker.execute("ROLLBACK")
    finally:
        locker.close()
    assert requests.get(server.url + "/health", timeout=WAIT).json() == {"status": "ok"}
    server.stop()
    read_only = start_server(DATABASE_URL=f"sqlite:///file:{tmp_path}/chat.db?mode=ro&uri=true")
    health = requests.get(read_only.url + "/health", timeout=WAIT)
    assert health.status_code == 503 and health.json() == {"error": "database unavailable"}
