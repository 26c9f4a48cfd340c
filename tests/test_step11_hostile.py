"""Step 11 (issue 14): a hostile client must not hurt anyone else.

Each attack that issue 14 measured against `python app.py` runs here for a few seconds, in both async
modes and under README's production command (gunicorn's gevent worker; some also through nginx.conf),
while a well-behaved "probe" user on another address (127.0.0.2; the server and attackers use
127.0.0.1) chats. What the probe sees is what is asserted: its acknowledged messages keep a round trip
of p95 <= 50 ms, a newcomer can still connect, the server's memory stays bounded and comes back, and
the attacking socket is thrown out. Then the limits per address (connections and messages,
X-Forwarded-For) and malformed HTTP.

The attacks run in separate processes (tests/hostile.py), so they are not slowed by this process.
Every wait is bounded; the figures in a failure message say how far the server is from passing.
"""
import functools
import json
import os
import resource
import socket
import subprocess
import sys
import time

import pytest

import app as chat

from conftest import only_child
from hostile import (ATTACKER_HOST, PROBE_HOST, Flood, Probe, RssMonitor, SioClient, close_quietly,
                     hammer, open_idle_connections, raw_http, rss_mb, sio_connect, tcp_connect,
                     time_to_connect, trickle, wait_for_rss_below, wait_until)

# A test here may run twice (measured_twice_if_only_slow): twice pytest.ini's 120 s.
pytestmark = pytest.mark.timeout(240)

# --- What "survives" means (tune here) ----------------------------------------------------------
READS_PER_ADDRESS = 50     # REST reads a second one address gets answered (app.py's limit)
PROBE_P95_MS = 50          # the good client's round trip (send -> ack), 95th percentile
NEWCOMER_WITHIN = 2.0      # s: a new client connects during a flood within this
FLOOD_SECONDS = 4          # each flood lasts this long
MEMORY_PEAK_MB = 200       # RSS may grow at most this much over the quiet baseline during a flood
MEMORY_BACK_MB = 30        # ...and must come back to within this of the baseline,
MEMORY_BACK_WITHIN = 60    # s: ...this long after the flood (polled; passes as soon as it is back)
KICKED_WITHIN = 2.0        # s: a flooding socket is closed by the server within this
IDLE_CONNECTIONS = 12_000  # idle TCP connections that must not take the server down
IDLE_CLOSED_WITHIN = 30    # s: the server closes connections that never send a request within this
SLOW_SECONDS = 16          # the slow-requests attack lasts this long (threading mode accepts slowly)
REQUEST_TIMEOUT = 10       # s (app.py): a request's headers and body arrive within this, in all
UNFINISHED_PER_ADDRESS = 20  # app.py: requests still arriving, from one address
UNFINISHED_IN_ALL = 1_000    # app.py: and from all addresses
LOG_LINES_PER_ADDRESS = 20   # app.py: log lines about one address in 10 s
GUNICORN_HEADERS_WITHIN = 2  # s: gunicorn's keep-alive timeout, which bounds the wait for headers
SHORT_BODY_WITHIN = 15     # s: a body shorter than its Content-Length is answered or closed within this
# Engine.IO handshakes one address may leave open and unused. The server limits the connections
# of one address (MAX_CONNECTIONS_PER_IP, 50); a handshake is the first half of one. Twice that leaves
# room for a design that refuses Socket.IO connects past 50 (the connect_error the contract wants)
# and refuses bare handshakes only past 100. A server that instead expires unused sessions within a
# second or two would also bound memory: then raise this and say so.
ABANDONED_SESSIONS_MAX = 100

# The server's limits, written out in every test (their documented defaults).
LIMITS = dict(RATE_LIMIT_BURST="10", RATE_LIMIT_PER_SECOND="5", MAX_CONNECTIONS_PER_IP="50",
              RATE_LIMIT_PER_ADDRESS="20", TRUSTED_PROXIES="0")


class OnlySlow(AssertionError):
    """The one failure is the probe's round trip (see measured_twice_if_only_slow)."""


# Every attack runs against each way the server is served: python app.py (eventlet), threading mode,
# and README's production command (gunicorn's gevent worker). The attacks that nginx.conf takes on
# itself (connections, request rates, slow and malformed requests) also run through it ("nginx").
SERVED_BY = ["eventlet", "threading", "gunicorn"]
THROUGH_NGINX = SERVED_BY + ["nginx"]


@pytest.fixture(params=SERVED_BY)
def async_mode(request):
    return request.param


@pytest.fixture(params=THROUGH_NGINX)
def served_by(request):
    return request.param


class BehindNginx:
    """README's production command behind the repository's nginx.conf: clients reach nginx's port;
    the rest (pid, process, log, stop) is gunicorn's."""

    def __init__(self, gunicorn, folder):
        from test_step10_processes import running_nginx

        self.gunicorn, self.proxy = gunicorn, running_nginx(folder, gunicorn.port, gunicorn.port)
        self.url = self.proxy.__enter__()
        self.port = int(self.url.rsplit(":", 1)[1])
        # nginx.conf's pid file, in `folder`: the master, whose one worker holds the connections
        self.proxy_pid = only_child(int((folder / "nginx.pid").read_text()))

    def stop(self, kill=False):
        self.proxy.__exit__(None, None, None)
        self.gunicorn.stop(kill)

    def __getattr__(self, name):
        return getattr(self.gunicorn, name)


@pytest.fixture
def start_server(start_server, tmp_path):
    """start_server(ASYNC_MODE=..., **env): "gunicorn" runs README's production command, "nginx" the
    same behind nginx.conf (TRUSTED_PROXIES=1: the client's address comes from nginx)."""
    proxies = []

    def start(ASYNC_MODE, **env):
        if ASYNC_MODE in ("gunicorn", "nginx"):
            from test_step10_processes import gunicorn_serving

            command = gunicorn_serving()
            if ASYNC_MODE == "gunicorn":
                return start_server(command=command, **env)
            server = start_server(command=command, **{**env, "TRUSTED_PROXIES": "1"})
            folder = tmp_path / f"nginx{len(proxies)}"
            folder.mkdir()
            proxies.append(BehindNginx(server, folder))
            return proxies[-1]
        return start_server(ASYNC_MODE=ASYNC_MODE, **env)
    yield start
    for proxy in proxies:
        proxy.proxy.__exit__(None, None, None)


def report(failures, figures):
    print("figures:", json.dumps(figures, default=str))  # shown with -rP: the README's "after" column
    message = "; ".join(failures) + "\nfigures: " + json.dumps(figures, default=str)
    if failures and all(failure.startswith("probe p95") for failure in failures):
        raise OnlySlow(message)
    assert not failures, message


def measured_twice_if_only_slow(test):
    """The machines that run the suite are shared: another job can cost the probe a few ms (CI once
    measured p95 50.7 ms during the /health hammer, 16-22 ms on a quiet machine). When the probe's
    round trip is the only thing that failed, the test runs once more, on a new server, and that run
    decides. An attack that really hurts (p95 of hundreds of ms before the guards) fails both runs."""
    @functools.wraps(test)
    def run(start_server, **arguments):
        first_servers = []

        def start(**settings):
            first_servers.append(start_server(**settings))
            return first_servers[-1]
        try:
            return test(start_server=start, **arguments)
        except OnlySlow as first:
            print(f"only the round trip failed ({str(first).splitlines()[0]}): measuring once more")
        for server in first_servers:
            server.stop()
        return test(start_server=start_server, **arguments)
    return run


# --- Floods: the probe must not notice them ------------------------------------------------------

def attack_and_measure(server, attack):
    """Run the probe on the quiet server (1 s, for the baseline), then `attack()` -> finish() (which
    waits for the attack's end and returns its record) while the probe keeps chatting and a newcomer
    tries to connect every 0.5 s. Returns the figures and the list of failures."""
    probe = Probe(server.port)
    try:
        probe.start()
        time.sleep(1.0)  # the probe's quiet window: pacing, not waiting for something to happen
        quiet = probe.stop()
        baseline = rss_mb(server.pid)
        monitor = RssMonitor(server.pid)
        probe.start()
        started = time.monotonic()
        finish, seconds = attack()
        newcomers = []
        while time.monotonic() < started + seconds:
            took = time_to_connect(server.port, timeout=NEWCOMER_WITHIN)
            newcomers.append(None if took is None else round(took, 3))
            time.sleep(0.5)
        record = finish()
        during = probe.stop()
        peak = monitor.stop()
    finally:
        probe.close()
    figures = {"quiet": quiet, "during": during, "baseline_mb": round(baseline), "peak_mb": round(peak),
               "newcomer_connect_s": newcomers, "attack": record}
    failures = []
    if server.process.poll() is not None:
        failures.append(f"the server exited (code {server.process.returncode})")
    if during["p95_ms"] > PROBE_P95_MS:
        failures.append(f"probe p95 {during['p95_ms']} ms > {PROBE_P95_MS} ms "
                        f"({during['acked']}/{during['sent']} acked, max {during['max_ms']} ms)")
    if during["refused"]:
        failures.append(f"{during['refused']} probe messages refused")
    late = [took for took in newcomers if took is None or took > NEWCOMER_WITHIN]
    if late:
        failures.append(f"{len(late)}/{len(newcomers)} newcomers could not connect within {NEWCOMER_WITHIN}s")
    if peak - baseline > MEMORY_PEAK_MB:
        failures.append(f"RSS grew {peak - baseline:.0f} MB (from {baseline:.0f} MB) > {MEMORY_PEAK_MB} MB")
    return figures, failures


def memory_comes_back(server, figures, failures):
    """After the flood: RSS back within MEMORY_BACK_MB of the baseline within MEMORY_BACK_WITHIN s.
    Waited for only when everything else passed (a failing run should fail fast)."""
    if failures or server.process.poll() is not None:
        figures["memory_back_after_s"] = "not waited: already failing"
        return
    took, last = wait_for_rss_below(server.pid, figures["baseline_mb"] + MEMORY_BACK_MB,
                                    MEMORY_BACK_WITHIN)
    figures["memory_back_after_s"] = None if took is None else round(took, 1)
    figures["back_to_mb"] = None if last is None else round(last)
    if took is None:
        failures.append(f"RSS still {last:.0f} MB {MEMORY_BACK_WITHIN}s after the flood "
                        f"(baseline {figures['baseline_mb']} MB)")


def flood(kind, port, seconds=FLOOD_SECONDS):
    """attack() for attack_and_measure: a flooder process of `kind` (see hostile.flood_main)."""
    def attack():
        running = Flood(kind, port, seconds)
        return running.result, seconds
    return attack


def socket_flood_failures(connections):
    """Every flooding connection must be closed by the server within KICKED_WITHIN s. A hostile
    client ignores Socket.IO's "41": only closing the connection (websocket close, Engine.IO "1",
    or TCP) stops it. A connection cut by the end of the flood is fine if it lived less than that."""
    failures = []
    for connection in connections:
        if "error" in connection:
            continue  # the server refused to let it in at all: fine
        if connection["transport_closed"]:
            if connection["ended_after"] > KICKED_WITHIN:
                failures.append(f"a flooding socket was closed only after {connection['ended_after']}s")
        elif connection["lifetime"] > KICKED_WITHIN:
            failures.append(f"a flooding socket stayed open {connection['lifetime']}s "
                            f"({connection['sent']} frames, server said {connection['ended']})")
    return failures[:3]


@measured_twice_if_only_slow
def test_the_probe_sees_a_quiet_server_fast(start_server, async_mode):
    """The measuring code on the benign case: no attack, the probe's p95 is small, memory is flat."""
    server = start_server(ASYNC_MODE=async_mode, **LIMITS)

    def nothing():
        return (lambda: {}), 2
    figures, failures = attack_and_measure(server, nothing)
    assert figures["peak_mb"] - figures["baseline_mb"] < 20
    report(failures, figures)


# --- Every frame spends from a budget; what we queue for a client is bounded ---------------------

@pytest.fixture
def engineio_socket(app, monkeypatch):
    """sockets(address) makes a real Engine.IO socket object of app.py's server, from `address`,
    with no transport behind it; app.py's cut_off() only records whom it would cut."""
    import engineio.packet
    import engineio.socket

    cut, made = [], []
    monkeypatch.setattr(chat, "cut_off", cut.append)
    monkeypatch.setattr(chat.socketio, "start_background_task", lambda task, *args: task(*args))
    clock = [1000.0]
    monkeypatch.setattr(chat.time, "monotonic", lambda: clock[0])
    monkeypatch.setitem(chat.app.config, "FRAMES_PER_SECOND", 30)  # the default (the tests' env says 0)
    chat.address_frame_buckets.clear()

    def make(address="127.0.9.1"):
        eio_socket = engineio.socket.Socket(chat.socketio.server.eio, f"frames-{len(made)}")
        chat.socketio.server.environ[eio_socket.sid] = {"REMOTE_ADDR": address}
        made.append(eio_socket)
        return eio_socket
    make.cut, make.clock, make.pong = cut, clock, engineio.packet.Packet(engineio.packet.PONG)
    make.message = engineio.packet.Packet(engineio.packet.MESSAGE, "2")
    yield make
    for eio_socket in made:
        chat.socketio.server.environ.pop(eio_socket.sid, None)


def test_every_frame_spends_from_its_connections_budget(engineio_socket):
    """A pong carries no event, yet it costs like any frame: 100 at once, then 30 a second."""
    assert chat.FRAMES_BURST == 100
    client = engineio_socket()
    for _ in range(100):
        client.receive(engineio_socket.pong)
    assert engineio_socket.cut == []
    client.receive(engineio_socket.pong)
    assert engineio_socket.cut == [client.sid]
    engineio_socket.cut.clear()
    engineio_socket.clock[0] += 1.0  # a second later: 30 more
    for _ in range(30):
        client.receive(engineio_socket.pong)
    assert engineio_socket.cut == []


def test_one_address_shares_ten_connections_worth_of_frames(engineio_socket):
    clients = [engineio_socket() for _ in range(11)]
    for client in clients[:10]:
        for _ in range(100):  # each within its own budget: 1,000 from the address
            client.receive(engineio_socket.pong)
    assert engineio_socket.cut == []
    clients[10].receive(engineio_socket.pong)
    assert engineio_socket.cut == [clients[10].sid]
    elsewhere = engineio_socket("127.0.9.2")
    elsewhere.receive(engineio_socket.pong)
    assert engineio_socket.cut == [clients[10].sid]  # another address is not touched


def test_a_client_that_does_not_read_is_cut_off_at_1000_queued_packets(engineio_socket):
    client = engineio_socket()
    for _ in range(chat.MAX_QUEUED):
        client.send(engineio_socket.message)
    assert engineio_socket.cut == [] and client.queue.qsize() == 1000
    client.send(engineio_socket.message)
    assert engineio_socket.cut == [client.sid] and client.queue.qsize() == 1000  # not queued


@pytest.mark.parametrize("kind", ["events", "big-frames", "attachments", "control-frames"])
@measured_twice_if_only_slow
def test_a_socket_flood_is_thrown_out_and_nobody_notices(start_server, async_mode, kind):
    """events: `event_message` frames in a tight loop; big-frames: 60 KB frames unpaced (eventlet
    unmasks them byte by byte); attachments: a binary event announcing a million attachments, then
    60 KB binary frames that the server hoards; control-frames: Engine.IO's pong, noop, ping and
    upgrade frames, which carry no event (an upgrade is answered: a client that never reads them
    made the server queue them). The attacker reconnects each time it is thrown out."""
    server = start_server(ASYNC_MODE=async_mode, **LIMITS)
    figures, failures = attack_and_measure(server, flood(kind, server.port))
    connections = figures["attack"]
    failures += socket_flood_failures(connections)
    figures["attack"] = {"connections": len(connections), "first": connections[:3]}
    memory_comes_back(server, figures, failures)
    report(failures, figures)


# --- Bounded in total: slow requests, connection churn, the log ---------------------------------

@measured_twice_if_only_slow
def test_slow_requests_from_70_addresses_leave_room_for_newcomers(start_server, served_by):
    """25 connections from each of 70 addresses send a request line, then a header line every 2 s:
    a socket's timeout restarts at each byte, so before they were never closed, and enough of them
    took every place the server had. Now each request must arrive within REQUEST_TIMEOUT in all; one
    address keeps at most UNFINISHED_PER_ADDRESS unfinished and all addresses UNFINISHED_IN_ALL (the
    oldest of those waiting over a second are closed), while the probe chats and newcomers connect."""
    server = start_server(ASYNC_MODE=served_by, **LIMITS)
    figures, failures = attack_and_measure(server, flood("slow-requests", server.port, SLOW_SECONDS))
    record = figures["attack"]
    samples = record.pop("samples")  # [seconds, held in all, most held from one address, not yet opened]
    # Past a cap, requests that have waited over a second are closed, a few times a second.
    settled = [s for s in samples if record["opened_in_s"] and s[0] >= record["opened_in_s"] + 2]
    record["most_held"] = max((s[1] for s in settled), default=None)
    record["most_held_from_one_address"] = max((s[2] for s in settled), default=None)
    if record["opened"] < 1_500:
        failures.append(f"the attack did not get going: {record}")
    elif served_by == "nginx":
        pass  # nginx holds each for at most client_header_timeout (10 s, checked below), cheaply
    elif served_by == "gunicorn":
        # gunicorn reads the headers itself, and closes a request whose headers take over 2 s (its
        # keep-alive timeout): what it holds is at most 2 s of arrivals (nginx.conf bounds one address).
        # All may be closed before the first settled sample (CI: all within 2.2 s).
        if record["longest_s"] > GUNICORN_HEADERS_WITHIN + 1:
            failures.append(f"gunicorn held a request still arriving for {record['longest_s']} s")
    elif not settled:
        failures.append(f"the attack did not get going: {record}")
    elif record["most_held"] > UNFINISHED_IN_ALL:
        failures.append(f"{record['most_held']} unfinished requests held at once (at most {UNFINISHED_IN_ALL})")
    elif record["most_held_from_one_address"] > UNFINISHED_PER_ADDRESS:
        failures.append(f"{record['most_held_from_one_address']} unfinished requests held from one address "
                        f"(at most {UNFINISHED_PER_ADDRESS})")
    if record["longest_s"] > REQUEST_TIMEOUT + 2.5:
        failures.append(f"a request still arriving after {record['longest_s']} s was not closed "
                        f"(REQUEST_TIMEOUT {REQUEST_TIMEOUT} s in all)")
    memory_comes_back(server, figures, failures)
    report(failures, figures)


@measured_twice_if_only_slow
def test_connecting_and_closing_in_a_loop(start_server, served_by):
    """Four threads of one address open a Socket.IO connection and close it at once, in a loop (850
    a second before, with two log lines each). Each new connection spends 10 frames of its
    address's budget: 100 at once, then 30 a second. The log gets at most LOG_LINES_PER_ADDRESS lines
    about one address in 10 s, then one line counting those it left out."""
    server = start_server(ASYNC_MODE=served_by, **LIMITS)
    lines_before = settled_log_lines(server)
    figures, failures = attack_and_measure(server, flood("churn", server.port))
    figures["log_lines_added"] = settled_log_lines(server) - lines_before
    connected = figures["attack"].get("connected", 0)
    if connected > 100 + 30 * FLOOD_SECONDS + 60:
        failures.append(f"{connected} connections let in over {FLOOD_SECONDS} s")
    if sum(figures["attack"].values()) < 2 * connected:
        failures.append(f"the attack hardly ran, or nothing was refused: {figures['attack']}")
    # Two addresses wrote (the attacker, and the probe with its newcomers), each in at most two windows.
    if figures["log_lines_added"] > 4 * LOG_LINES_PER_ADDRESS + 10:
        failures.append(f"the log grew {figures['log_lines_added']} lines during the attack")
    if not failures:  # the count of the lines left out comes with the first line after its 10 s
        summed_up = wait_until(lambda: time_to_connect(server.port) and "left out of the log" in server.log(), 20,
                               interval=0.5)
        if not summed_up:
            failures.append("no line counted the lines left out of the log")
    memory_comes_back(server, figures, failures)
    report(failures, figures)


def busy_machine(attack):
    """attack(), while another process keeps one core busy until the attack ends: a shared machine."""
    def attack_on_a_busy_machine():
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])

        def stop_burning():
            burner.kill()
            burner.wait(10)
        try:
            finish, seconds = attack()
        except BaseException:
            stop_burning()
            raise

        def finish_then_stop_burning():
            try:
                return finish()
            finally:
                stop_burning()
        return finish_then_stop_burning, seconds
    return attack_on_a_busy_machine


@measured_twice_if_only_slow
def test_abandoned_polling_handshakes(start_server, served_by):
    """Engine.IO long-polling handshakes opened as fast as possible, on 4 keep-alive connections, and
    never used: each holds a session until the server drops it. On a busy machine, eventlet served
    each connection's next request, already there, before anyone else: probe p95 111-468 ms."""
    server = start_server(ASYNC_MODE=served_by, **LIMITS)
    figures, failures = attack_and_measure(server, busy_machine(flood("polling", server.port)))
    # A 4 s flood is too short to show the growth issue 14 measured over 60 s (82 -> 1,762 MB):
    # sessions live ~45 s, so what counts is how many the attacker was given.
    if figures["attack"]["accepted"] > ABANDONED_SESSIONS_MAX:
        failures.append(f"{figures['attack']['accepted']} handshakes from one address accepted in "
                        f"{FLOOD_SECONDS}s and left unused (at most {ABANDONED_SESSIONS_MAX})")
    memory_comes_back(server, figures, failures)
    report(failures, figures)


def rest_hammer(server, parallel, make_request, sources):
    def attack():
        threads, counts = hammer(server.port, FLOOD_SECONDS, parallel, make_request, sources)

        def finish():
            for thread in threads:
                thread.join(15)  # a request still in flight has a 10 s timeout
            return dict(counts)
        return finish, FLOOD_SECONDS
    return attack


@measured_twice_if_only_slow
def test_parallel_login_guesses(start_server, async_mode):
    """16 password guessers at once. They come from 16 addresses (127.0.1.x), so the per-address
    limit on logins (10 a minute) is not what saves the others: the password hash (scrypt, tens of
    ms) must not run where it stalls every other client."""
    server = start_server(ASYNC_MODE=async_mode, **LIMITS)
    sources = [f"127.0.1.{n}" for n in range(1, 17)]
    figures, failures = attack_and_measure(server, rest_hammer(
        server, 16, lambda n, i: ("/auth/login", {"username": "ana", "password": f"guess-{n}-{i}"}), sources))
    memory_comes_back(server, figures, failures)
    report(failures, figures)


@pytest.mark.parametrize("path", ["/health", "/messages?limit=1"])
@measured_twice_if_only_slow
def test_reads_hammered_from_one_address(start_server, served_by, path):
    """8 clients from one address reading as fast as they can (a health check that writes, the newest
    message): past READS_PER_ADDRESS a second the answer is a 429 that costs next to nothing. (The
    reads of later steps, /rooms and /messages/<id>, share the budget: their steps test it.)"""
    server = start_server(ASYNC_MODE=served_by, **LIMITS)
    figures, failures = attack_and_measure(server, rest_hammer(server, 8, lambda n, i: (path, None),
                                                               [ATTACKER_HOST]))
    answered = sum(count for status, count in figures["attack"].items() if status in (200, 404))
    per_second = answered / FLOOD_SECONDS
    figures["reads_answered_per_second"] = round(per_second)
    if per_second > 2 * READS_PER_ADDRESS:  # the limit's window, plus the second the flood ends in
        failures.append(f"{per_second:.0f} reads a second answered from one address")
    memory_comes_back(server, figures, failures)
    report(failures, figures)


@measured_twice_if_only_slow
def test_a_registration_flood(start_server, async_mode):
    """64 registrations at once, from 64 addresses (127.0.2.x): each password hash takes ~32 MB,
    so hashing them all at once costs gigabytes (1,420 MB measured in threading mode)."""
    server = start_server(ASYNC_MODE=async_mode, **LIMITS)
    sources = [f"127.0.2.{n}" for n in range(1, 65)]
    figures, failures = attack_and_measure(server, rest_hammer(
        server, 64, lambda n, i: ("/auth/register", {"username": f"flood{n}x{i}x{time.monotonic_ns() % 10**9}",
                                                     "password": "correct horse battery"}), sources))
    memory_comes_back(server, figures, failures)
    report(failures, figures)


# --- Many idle connections ---------------------------------------------------------------------

def open_files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@measured_twice_if_only_slow
def test_thousands_of_idle_connections(start_server, served_by):
    """IDLE_CONNECTIONS TCP connections from 127.0.0.1 that never send a byte: the server stays up,
    a client from 127.0.0.2 chats while they open and connects after, and the idle ones are closed within
    IDLE_CLOSED_WITHIN s (eventlet's accept loop died on EMFILE with ~10,000 of them)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE_CONNECTIONS + 1000
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"this machine allows only {hard} open files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    server = start_server(ASYNC_MODE=served_by, **LIMITS)
    figures, failures = {}, []
    # The probe chats from 127.0.0.2 while the connections open, and for 2 s after: under eventlet,
    # accepting them all at once froze every chat for a second.
    probe = Probe(server.port).start()
    holder = getattr(server, "proxy_pid", server.pid)  # through nginx, nginx's worker holds them
    files_before = open_files(holder)
    sockets = []
    try:
        opened_at = time.monotonic()
        sockets, established, failed = open_idle_connections(server.port, IDLE_CONNECTIONS, within=10)
        all_open_at = time.monotonic()
        figures.update(established=established, failed=failed, open_s=round(all_open_at - opened_at, 1))
        took = time_to_connect(server.port)
        figures["newcomer_connect_s"] = took
        if took is None:
            failures.append(f"a client from {PROBE_HOST} could not connect within 5s")
        time.sleep(2.0)  # the end of the probe's measuring window
        figures["probe"] = probe.stop()
        if figures["probe"]["p95_ms"] > PROBE_P95_MS:
            failures.append(f"probe p95 {figures['probe']['p95_ms']} ms > {PROBE_P95_MS} ms")
        if server.process.poll() is not None:
            failures.append(f"the server exited (code {server.process.returncode}); log tail: "
                            f"{server.log()[-300:]!r}")
        else:
            # What the server holds: its open files. (Counting closes on our side would also count the
            # connections the kernel completed with SYN cookies, which the server never even saw.)
            # Within IDLE_CLOSED_WITHIN s of the last one opening. (nginx accepts 4,096 at a time, each
            # closed after client_header_timeout, and the rest wait their turn: 12,000 took 48 s.)
            left = IDLE_CLOSED_WITHIN + 2 - (time.monotonic() - all_open_at)
            held = wait_until(lambda: open_files(holder) <= files_before + 20, max(left, 1))
            figures.update(files_before=files_before, files_after=open_files(holder))
            if not held:
                failures.append(f"the server still holds {figures['files_after']} open files "
                                f"({files_before} before) {IDLE_CLOSED_WITHIN}s after the idle connections")
    finally:
        probe.close()
        for sock in sockets:
            try:  # reset, not close: 12,000 TIME_WAITs would eat the ports of the next tests
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            sock.close()
    report(failures, figures)


# --- Undecodable Socket.IO packets ---------------------------------------------------------------

def log_lines(server):
    return server.log().count("\n")


def settled_log_lines(server):
    """The log's line count once it stopped growing for 0.3 s (bounded: 3 s)."""
    seen = [log_lines(server), time.monotonic()]

    def quiet():
        now = log_lines(server)
        if now != seen[0]:
            seen[:] = [now, time.monotonic()]
        return time.monotonic() - seen[1] >= 0.3
    wait_until(quiet, 3.0)
    return seen[0]


def one_socket_sending(server, packet):
    """Connect from 127.0.0.1, send `packet` (None: nothing), then an acknowledged message (answered,
    or the server closed the connection), disconnect; return how many log lines that cost."""
    before = settled_log_lines(server)
    ws, reply = sio_connect(server.port)
    assert reply and reply.startswith("40"), reply
    try:
        if packet is not None:
            ws.send(packet)
        ws.send('4299["event_message",{"text":"after"}]')

        def answered():
            try:
                frame = ws.recv()
            except Exception:
                return True  # closed by the server: fine
            return frame.startswith("4399") or frame in ("1", "")
        wait_until(answered, 5.0, 0)
        ws.send("41")
    except Exception:
        pass  # the server may hang up on garbage
    close_quietly(ws)
    return settled_log_lines(server) - before


GARBAGE_PACKETS = ["42[garbage", "4xyz", "42{notalist}", '42["event_message"', "4" + "9" * 30,
                   "451-[garbage", "42" + "[" * 2000]


def test_undecodable_packets_cost_one_log_line_and_no_traceback(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode, **LIMITS)
    good = SioClient(server.port, PROBE_HOST, auth={"name": "good"})
    try:
        control = one_socket_sending(server, None)  # what a well-behaved visit costs in the log
        costs = {}
        for packet in GARBAGE_PACKETS:
            costs[packet[:20]] = one_socket_sending(server, packet) - control
            ack = good.call("event_message", {"text": f"after {packet[:10]}"})
            assert ack and ack.get("ok") is True, (packet, ack)
    finally:
        good.close()
    log = server.log()
    failures = [f"{packet!r} cost {cost} log lines" for packet, cost in costs.items() if cost > 1]
    if "Traceback" in log:
        failures.append("a Traceback in the log: " + log[log.index("Traceback"):][:400])
    report(failures, {"control_lines": control, "extra_lines": costs})


# --- Limits per address ------------------------------------------------------------------------

def test_a_connection_far_beyond_its_rate_limit_is_disconnected(start_server, async_mode):
    """More than 5 x RATE_LIMIT_BURST refused events within 10 s: disconnected. Fewer: not."""
    server = start_server(ASYNC_MODE=async_mode, **{**LIMITS, "RATE_LIMIT_BURST": "10"})
    sender = SioClient(server.port, auth={"name": "eager"})
    try:
        for n in range(50):  # ~10 accepted, ~40 refused: under 5 x 10
            sender.emit("event_message", {"text": f"m{n}"}, ack=False)
        ack = sender.call("event_message", {"text": "still here?"})
        assert ack == {"ok": False, "error": "rate limit exceeded"}, ack
        assert sender.kicked is None, "disconnected after ~41 refused events (the limit is 5 x 10 = 50)"
        for n in range(30):  # now ~70 refused within a second
            sender.emit("event_message", {"text": f"more {n}"}, ack=False)
        assert wait_until(lambda: sender.kicked, KICKED_WITHIN), \
            f"still connected {KICKED_WITHIN}s after ~70 refused events"
    finally:
        sender.close()


def test_one_address_holds_at_most_max_connections(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode, **{**LIMITS, "MAX_CONNECTIONS_PER_IP": "50"})
    opened = []
    try:
        for n in range(50):
            ws, reply = sio_connect(server.port, ATTACKER_HOST, auth={"name": f"c{n}"})
            opened.append(ws)
            assert reply and reply.startswith("40"), f"connection {n + 1} of 50: {reply!r}"
        ws, reply = sio_connect(server.port, ATTACKER_HOST, auth={"name": "one-too-many"})
        opened.append(ws)
        assert reply and reply.startswith("44"), f"the 51st connection got {reply!r}, not a connect_error"
        message = json.loads(reply[2:]).get("message", "")
        assert "connection" in message.lower(), f"connect_error does not say why: {message!r}"
        ws, reply = sio_connect(server.port, PROBE_HOST, auth={"name": "elsewhere"})
        opened.append(ws)
        assert reply and reply.startswith("40"), f"127.0.0.2 refused: {reply!r}"
        close_quietly(opened.pop(0))  # one of the 50 leaves: there is room again

        def one_more():
            ws, reply = sio_connect(server.port, ATTACKER_HOST, auth={"name": "next"})
            opened.append(ws)
            return reply and reply.startswith("40")
        assert wait_until(one_more, 3.0, 0.2), "a freed slot is not given back"
    finally:
        for ws in opened:
            close_quietly(ws)


def test_one_address_gets_at_most_its_rate_saved(start_server, async_mode):
    """20 connections from 127.0.0.1, each at 4 messages/s (under its own limit of 5): together at
    most RATE_LIMIT_PER_ADDRESS (20) a second are saved, plus a burst of 40. 127.0.0.2 is not slowed."""
    server = start_server(ASYNC_MODE=async_mode, **{**LIMITS, "RATE_LIMIT_PER_ADDRESS": "20"})
    clients = [SioClient(server.port, ATTACKER_HOST, auth={"name": f"n{n}"}) for n in range(20)]
    good = SioClient(server.port, PROBE_HOST, auth={"name": "good"})
    try:
        sent = []
        start = time.monotonic()
        for round_ in range(12):  # 3 s at 4 a second per connection
            for n, client in enumerate(clients):
                sent.append((client, client.emit("event_message", {"text": f"{n}.{round_}"})))
            time.sleep(max(0.0, start + (round_ + 1) * 0.25 - time.monotonic()))
        elapsed = time.monotonic() - start
        assert wait_until(lambda: all(ack_id in client.acks for client, ack_id in sent), 5.0), "acks missing"
        saved = sum(client.acks[ack_id][0].get("ok") is True for client, ack_id in sent)
        allowed = 40 + 20 * elapsed
        assert 40 <= saved <= allowed + 5, f"{saved} of {len(sent)} saved in {elapsed:.1f}s (at most {allowed:.0f})"
        ack = good.call("event_message", {"text": "not slowed"})
        assert ack and ack.get("ok") is True, ack
        assert all(client.kicked is None for client in clients), "a connection under its own limit was dropped"
    finally:
        for client in clients + [good]:
            client.close()


def connect_with_forwarded_for(server, chains):
    """A Socket.IO connection from 127.0.0.1 per X-Forwarded-For chain; returns (sockets, replies)."""
    sockets, replies = [], []
    for chain in chains:
        ws, reply = sio_connect(server.port, ATTACKER_HOST, headers={"X-Forwarded-For": chain})
        sockets.append(ws)
        replies.append((reply or "none")[:2])
    return sockets, replies


def test_a_forged_forwarded_for_does_not_dodge_the_limit(start_server, async_mode):
    """TRUSTED_PROXIES=0: X-Forwarded-For is the client's word, so 60 connections from 127.0.0.1
    with 60 different forged addresses are still one address: past 50, refused."""
    server = start_server(ASYNC_MODE=async_mode, **{**LIMITS, "TRUSTED_PROXIES": "0"})
    sockets, replies = connect_with_forwarded_for(server, [f"203.0.113.{n}" for n in range(60)])
    try:
        assert replies.count("40") == 50 and replies[50:] == ["44"] * 10, replies
    finally:
        for ws in sockets:
            close_quietly(ws)


def test_behind_one_trusted_proxy_the_last_forwarded_for_counts(start_server, async_mode):
    """TRUSTED_PROXIES=1 (say nginx on 127.0.0.1): the client is the last X-Forwarded-For entry; what
    comes before it is the client's own word."""
    server = start_server(ASYNC_MODE=async_mode, **{**LIMITS, "TRUSTED_PROXIES": "1"})
    sockets, replies = connect_with_forwarded_for(server, [f"198.51.100.{n}, 203.0.113.{n}" for n in range(60)])
    try:
        assert replies == ["40"] * 60, f"60 different clients behind the proxy: {replies}"
    finally:
        for ws in sockets:
            close_quietly(ws)
    # Addresses not used above, so nothing depends on how soon the server forgets those 60.
    sockets, replies = connect_with_forwarded_for(
        server, [f"10.9.9.{n}, 203.0.113.100" for n in range(51)] + ["203.0.113.101"])
    try:
        assert replies[:50] == ["40"] * 50 and replies[50] == "44", \
            f"51 connections of 203.0.113.100 (forged first entries): {replies}"
        assert replies[51] == "40", "another client behind the proxy was refused"
    finally:
        for ws in sockets:
            close_quietly(ws)


# --- Malformed HTTP: JSON errors, never HTML, never a 500, never a hang ----------------------------

def malformed_requests_server(served_by, tmp_path_factory):
    """One server for all malformed-request tests (they do not change its state)."""
    import os

    from conftest import Server
    from test_step10_processes import gunicorn_serving

    folder = tmp_path_factory.mktemp(f"malformed-{served_by}")
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL", "ASYNC_MODE")}
    env.update(DATABASE_URL=f"sqlite:///{folder}/chat.db", PYTHONUNBUFFERED="1", **LIMITS)
    if served_by == "nginx":
        server = BehindNginx(Server(folder / "server.log", {**env, "TRUSTED_PROXIES": "1"},
                                    command=gunicorn_serving()), folder)
    elif served_by == "gunicorn":
        server = Server(folder / "server.log", env, command=gunicorn_serving())
    else:
        server = Server(folder / "server.log", {**env, "ASYNC_MODE": served_by})
    yield server
    server.stop()


@pytest.fixture(scope="module", params=THROUGH_NGINX)
def http_server(request, tmp_path_factory):
    """Each way of serving, nginx.conf too: nginx answers what it cannot read itself, in JSON."""
    yield from malformed_requests_server(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=SERVED_BY)
def app_http_server(request, tmp_path_factory):
    """Each way of serving the app, for its own deadlines on bodies. Not through nginx: nginx reads a
    whole body before it passes the request on and times out only a pause in it (client_body_timeout),
    so a body sent a byte at a time waits in nginx and never reaches the app (limit_conn bounds how
    many one address holds); and it sends a chunked body on with a Content-Length."""
    yield from malformed_requests_server(request.param, tmp_path_factory)


def assert_json_error(answer, statuses=range(400, 500)):
    status = answer["status"]
    assert isinstance(status, int), \
        f"no HTTP answer: {status!r} after {answer['elapsed']:.1f}s: {answer['body'][:200]!r}"
    body = answer["body"]
    assert b"<html" not in body.lower() and b"<!doctype" not in body.lower(), f"{status} HTML: {body[:200]!r}"
    assert status in statuses or status in (503, 505), f"status {status}: {body[:200]!r}"
    assert answer["headers"].get("content-type", "").startswith("application/json"), \
        f"status {status}, not JSON: {answer['headers']} {body[:200]!r}"
    assert "error" in json.loads(body), body[:200]


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/9.9", b"FOO/1.1", b"HTTP/1.1 extra"])
def test_a_bad_http_version_gets_a_json_error(http_server, version):
    answer = raw_http(http_server.port, b"GET /health " + version + b"\r\nHost: 127.0.0.1\r\n\r\n")
    assert_json_error(answer)


@pytest.mark.parametrize("size", [20_000, 70_000])
def test_a_huge_url_gets_json(http_server, size):
    """eventlet refuses request lines over 8 KB, Werkzeug over 64 KB: either way the answer is JSON
    (served, or a 4xx error such as 414)."""
    answer = raw_http(http_server.port, b"GET /messages?x=" + b"a" * size + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    if answer["status"] == 200:
        assert answer["headers"].get("content-type", "").startswith("application/json"), answer["headers"]
    else:
        assert_json_error(answer)


def test_huge_headers_get_a_json_error(http_server):
    headers = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"b" * 1000) for n in range(100))  # 100 KB
    answer = raw_http(http_server.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
    assert_json_error(answer)


def test_a_body_shorter_than_its_content_length_is_not_waited_for_forever(app_http_server):
    """The client announces 100 bytes, sends 12, and waits: the server answers (JSON 4xx, e.g. 408
    or 400) or closes within SHORT_BODY_WITHIN seconds."""
    answer = raw_http(app_http_server.port, b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":",
                      timeout=SHORT_BODY_WITHIN)
    assert answer["status"] != "timeout", f"no answer and not closed within {SHORT_BODY_WITHIN}s"
    if answer["status"] is not None:  # an answer rather than a plain close: then a JSON one
        assert_json_error(answer)


def test_a_body_sent_a_byte_at_a_time_is_closed_after_request_timeout(app_http_server):
    """A socket's timeout starts again at every byte: a body sent a byte every 2 s, or the rest of a body
    too large to read (after its 413, the server reads it away), kept its connection for as long as
    the client liked. A request's headers and body get REQUEST_TIMEOUT in all."""
    sockets = []
    for length in (100, 1_000_000):
        sock = tcp_connect(app_http_server.port)
        sock.sendall(b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n{" % length)
        sockets.append(sock)
    try:
        lifetimes = trickle(sockets, b" ", every=2.0, within=REQUEST_TIMEOUT + 6)
    finally:
        for sock in sockets:
            sock.close()
    assert all(life is not None and life <= REQUEST_TIMEOUT + 2.5 for life in lifetimes), \
        f"bodies of 100 and 1,000,000 bytes sent a byte every 2 s: open for {lifetimes} s (None: still open)"


def test_headers_ended_by_the_end_of_the_connection_are_not_run(http_server):
    """Headers that end with the connection instead of an empty line (a script that quit mid-request,
    or one the server closed for being slow) are not a request: both servers answered them, and 800
    of them at once held the probe's messages back for over 2 s."""
    sock = tcp_connect(http_server.port)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    sock.shutdown(socket.SHUT_WR)
    answer = b""
    try:
        while chunk := sock.recv(4096):
            answer += chunk
    finally:
        sock.close()
    assert answer == b"", f"answered: {answer[:200]!r}"


def test_a_chunked_body_gets_411(app_http_server):
    """A chunked body has no length to wait for: the client is asked for a Content-Length."""
    answer = raw_http(app_http_server.port, b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"2\r\n{}\r\n0\r\n\r\n")
    assert answer["status"] == 411, answer
    assert_json_error(answer)


@pytest.mark.parametrize("path, target", [("/docs", "/docs/"), ("/docs?x=1", "/docs/?x=1")])
def test_a_redirect_has_no_html_body(http_server, path, target):
    """Werkzeug redirects /docs to /docs/ (308, a route with a trailing slash) with an HTML page as the
    body. The choice here: a redirect is a fine answer (browsers and HTTP clients follow it, and
    /docs/ is a page for people), but like every other answer of this API its body is JSON or empty,
    never HTML. A JSON 404 is acceptable too."""
    answer = raw_http(http_server.port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    if answer["status"] in (301, 302, 307, 308):
        assert answer["headers"].get("location", "").endswith(target), answer["headers"]
        body = answer["body"]
        assert not body or answer["headers"].get("content-type", "").startswith("application/json"), \
            f"{answer['status']} with {answer['headers'].get('content-type')}: {body[:200]!r}"
    else:
        assert_json_error(answer)
