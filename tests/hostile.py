"""Tools for attacking a running Chat Live server, and for measuring what a good client sees meanwhile.

Used by tests/test_step11_hostile.py. Standalone on purpose (it does not import conftest or app.py):
the flooders run as separate processes (`python tests/hostile.py <kind> ...`), so the attack is not
slowed down by the test's own threads and the GIL, and the test measures the server, not itself.

Addresses: the server listens on 127.0.0.1; attackers come from 127.0.0.1 too; the good "probe"
client binds its sockets to 127.0.0.2, so per-address limits that stop the attacker must not stop it.
Linux routes all of 127.0.0.0/8 to the loopback interface, so any 127.x.y.z works as a source.
"""
import collections
import http.client
import itertools
import json
import math
import os
import select
import socket
import subprocess
import sys
import threading
import time

import websocket

SERVER_HOST = "127.0.0.1"
ATTACKER_HOST = "127.0.0.1"
PROBE_HOST = "127.0.0.2"
TIMEOUT = 5.0  # seconds: the bound on any single wait for the server


# --- Measuring the server -----------------------------------------------------------------------

def rss_mb(pid):
    """The resident memory of process `pid` in MB (VmRSS), or None once it has exited: what the
    machine really spends on the server."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class RssMonitor:
    """Samples a process's RSS every `interval` seconds on a thread, so a short peak during a
    flood is seen even if memory falls again before the flood ends."""

    def __init__(self, pid, interval=0.1):
        self.pid, self.interval = pid, interval
        self.samples = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.samples.append(value)
            self.stopped.wait(self.interval)

    def stop(self):
        self.stopped.set()
        self.thread.join(TIMEOUT)
        return self.peak

    @property
    def peak(self):
        return max(self.samples, default=0.0)


def wait_for_rss_below(pid, limit_mb, within):
    """Poll (bounded by `within` seconds) until the RSS of `pid` is under `limit_mb`. Returns
    (seconds it took or None if it never got there, the last reading)."""
    start = time.monotonic()
    while True:
        value = rss_mb(pid)
        if value is not None and value < limit_mb:
            return time.monotonic() - start, value
        if time.monotonic() - start > within:
            return None, value
        time.sleep(0.5)


def percentile(values, fraction):
    """The nearest-rank percentile (`fraction` 0.95 = p95) of `values`; inf counts as a sample."""
    ordered = sorted(values)
    if not ordered:
        return math.inf
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def wait_until(predicate, within, interval=0.05):
    """Poll `predicate` until true or `within` seconds passed; return its last value."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# --- Connections from a chosen source address ---------------------------------------------------

def tcp_connect(port, source=ATTACKER_HOST, timeout=TIMEOUT):
    """A TCP connection to the server from `source` (a loopback address other than 127.0.0.1 makes
    a different client address for the server's per-address limits)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.bind((source, 0))
        sock.connect((SERVER_HOST, port))
    except OSError:
        sock.close()
        raise
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def open_websocket(port, source=ATTACKER_HOST, query="", headers=None, timeout=TIMEOUT, reset=False):
    """A raw Engine.IO websocket from `source`, after the server's "0{...}" open packet."""
    sock = tcp_connect(port, source, timeout)
    url = f"ws://{SERVER_HOST}:{port}/socket.io/?EIO=4&transport=websocket{query}"
    if reset:  # closed with a reset: thousands of refused handshakes (a 429, then the server's close)
        # left as many TIME_WAITs, which slowed the next test's connections to a crawl
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    try:
        ws = websocket.create_connection(url, socket=sock, timeout=timeout, header=headers or {})
        opening = ws.recv()
    except Exception:
        sock.close()
        raise
    if not opening.startswith("0{"):
        ws.close()
        raise ConnectionError(f"no Engine.IO open packet: {opening!r}")
    return ws


def sio_connect(port, source=ATTACKER_HOST, auth=None, headers=None, timeout=TIMEOUT, reset=False):
    """Open a websocket and send Socket.IO's connect "40{auth}"; return (ws, reply) where reply is
    the server's answer: "40{sid}" (connected) or "44{message}" (refused: a connect_error).
    reply is None when the server closed the connection without either."""
    ws = open_websocket(port, source, headers=headers, timeout=timeout, reset=reset)
    ws.send("40" + json.dumps(auth or {}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            packet = ws.recv()
        except websocket.WebSocketTimeoutException:
            break
        except (OSError, websocket.WebSocketException):
            return ws, None
        if packet == "2":
            ws.send("3")
        elif packet.startswith(("40", "44")):
            return ws, packet
        elif packet in ("", "1"):
            return ws, None
    return ws, None


def close_quietly(ws):
    try:
        ws.sock and ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        ws.close(timeout=0.2)
    except Exception:
        pass
    try:
        ws.shutdown()
    except Exception:
        pass


class SioClient:
    """A minimal Socket.IO client on one websocket, with one reader thread (as conftest.RawClient)
    but from any source address and with extra headers. It records acks with the time they came,
    and notices when the server disconnects it ("41", Engine.IO close, or the connection closing)."""

    def __init__(self, port, source=ATTACKER_HOST, auth=None, headers=None):
        self.ws, reply = sio_connect(port, source, auth, headers)
        if not reply or not reply.startswith("40"):
            close_quietly(self.ws)
            raise ConnectionError(f"connect refused: {reply!r}")
        self.acks = {}  # ack id -> (reply, monotonic time it arrived)
        self.events = []
        self.ack_ids = itertools.count()
        self.send_lock = threading.Lock()
        self.kicked = None  # how the server ended it: "41", "close" ...
        self.kicked_at = None
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        while True:
            try:
                packet = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException, AttributeError):
                self.ended("closed")
                return
            if packet == "2":
                try:
                    self.send("3")
                except (OSError, websocket.WebSocketException):
                    pass
            elif packet.startswith("43"):
                ack_id, reply = packet[2:].split("[", 1)
                self.acks[int(ack_id)] = (json.loads("[" + reply)[0], time.monotonic())
            elif packet.startswith("42"):
                self.events.append(json.loads(packet[2:]))
            elif packet.startswith("41") or packet in ("1", ""):
                self.ended("41" if packet.startswith("41") else "closed")
                if packet.startswith("41"):
                    continue  # keep reading: the transport may stay open a moment
                return

    def ended(self, how):
        if self.kicked is None:
            self.kicked, self.kicked_at = how, time.monotonic()

    def send(self, text):
        with self.send_lock:
            self.ws.send(text)

    def emit(self, event, data, ack=True):
        """Send `event`; with ack=True return its ack id (the reply lands in `acks`)."""
        if not ack:
            self.send("42" + json.dumps([event, data]))
            return None
        ack_id = next(self.ack_ids)
        self.send(f"42{ack_id}" + json.dumps([event, data]))
        return ack_id

    def call(self, event, data, timeout=TIMEOUT):
        """Send and wait (bounded) for the ack; return it, or None on timeout."""
        ack_id = self.emit(event, data)
        if wait_until(lambda: ack_id in self.acks or self.kicked == "closed", timeout, 0.005):
            return self.acks.get(ack_id, (None,))[0]
        return None

    def close(self):
        try:
            self.send("41")
        except Exception:
            pass
        close_quietly(self.ws)
        self.reader.join(TIMEOUT)


class Probe:
    """The well-behaved user during an attack: `connections` Socket.IO clients from 127.0.0.2 take
    turns sending an acknowledged `event_message` every `interval` seconds (each connection stays
    under the default 5 messages/s), without waiting for the previous ack. It records every round
    trip; a message never acknowledged counts as an infinite round trip, so a frozen server shows."""

    def __init__(self, port, source=PROBE_HOST, connections=2, interval=0.11, name="probe"):
        self.clients = [SioClient(port, source, auth={"name": f"{name}{n}"}) for n in range(connections)]
        self.interval = interval
        self.sent = []  # (client, ack id, monotonic send time)
        self.stopped = threading.Event()
        self.thread = None

    def start(self):
        self.stopped.clear()
        self.sent_from = len(self.sent)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def run(self):
        start = time.monotonic()
        for n in itertools.count():
            client = self.clients[n % len(self.clients)]
            try:
                self.sent.append((client, client.emit("event_message", {"text": f"probe {n}"}), time.monotonic()))
            except (OSError, websocket.WebSocketException):
                self.sent.append((client, None, time.monotonic()))  # could not even send: a failure
            if self.stopped.wait(max(0.0, start + (n + 1) * self.interval - time.monotonic())):
                return

    def stop(self, grace=2.0):
        """Stop sending, wait (bounded by `grace`) for outstanding acks, and return the stats of
        this run: {"sent", "acked", "refused", "p95_ms", "max_ms"} (ms; inf for missing acks)."""
        self.stopped.set()
        self.thread.join(TIMEOUT)
        run = self.sent[self.sent_from:]
        wait_until(lambda: all(ack_id in client.acks for client, ack_id, _ in run if ack_id is not None),
                   grace, 0.02)
        rtts, refused = [], 0
        for client, ack_id, sent_at in run:
            if ack_id is None or ack_id not in client.acks:
                rtts.append(math.inf)
                continue
            reply, arrived = client.acks[ack_id]
            rtts.append((arrived - sent_at) * 1000)
            refused += not (isinstance(reply, dict) and reply.get("ok") is True)
        return {"sent": len(run), "acked": sum(r != math.inf for r in rtts), "refused": refused,
                "p95_ms": round(percentile(rtts, 0.95), 1), "max_ms": round(max(rtts, default=0), 1)}

    def close(self):
        self.stopped.set()
        for client in self.clients:
            client.close()


def time_to_connect(port, source=PROBE_HOST, timeout=TIMEOUT):
    """Seconds a new client from `source` needs to get its Socket.IO connection accepted, or None
    when it does not within `timeout` (the symptom "nobody can connect" during a flood)."""
    start = time.monotonic()
    try:
        ws, reply = sio_connect(port, source, auth={"name": "newcomer"}, timeout=timeout)
    except Exception:
        return None
    elapsed = time.monotonic() - start
    close_quietly(ws)
    return elapsed if reply and reply.startswith("40") else None


# --- Raw HTTP -----------------------------------------------------------------------------------

def raw_http(port, request, timeout=TIMEOUT, source=ATTACKER_HOST, keep_open_after=None):
    """Send raw bytes and read one HTTP answer, bounded by `timeout` seconds overall.
    Returns {"status", "headers" (lower-case names), "body", "elapsed", "closed"}; status is None when
    the server closed without answering, "timeout" when nothing complete came in time, "no status
    line" when bytes came that are not an HTTP answer (then they are the body)."""
    start = time.monotonic()
    sock = tcp_connect(port, source, timeout)
    data = b""
    result = {"status": None, "headers": {}, "body": b"", "closed": False}
    try:
        sock.sendall(request)
        while True:
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                result["status"] = result["status"] or "timeout"
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                result["closed"] = True
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ", 2)
                result["status"] = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else lines[0]
                result["headers"] = {k.strip().lower(): v.strip() for k, _, v in
                                     (line.partition(":") for line in lines[1:])}
                result["body"] = body
                length = result["headers"].get("content-length")
                if length is not None and length.isdigit() and len(body) >= int(length):
                    result["body"] = body[:int(length)]
                    break
                # no Content-Length: read until the server closes
        if result["status"] is None and data:  # e.g. http.server's HTTP/0.9-style error: a bare page
            result["status"] = "no status line"
            result["body"] = data
    finally:
        sock.close()
    result["elapsed"] = time.monotonic() - start
    return result


# --- Flooders: run as separate processes --------------------------------------------------------

def client_frame(payload, binary=False):
    """A masked client websocket frame, built once and sent many times (the server must unmask
    each; a fixed mask is legal)."""
    opcode = websocket.ABNF.OPCODE_BINARY if binary else websocket.ABNF.OPCODE_TEXT
    return websocket.ABNF.create_frame(payload, opcode).format()


class ServerFrames:
    """Reads the server's (unmasked) websocket frames off a raw socket and notes when the server
    ends the connection: a websocket close frame, Engine.IO close "1", Socket.IO disconnect "41",
    or the TCP connection closing."""

    def __init__(self, sock):
        self.sock, self.buffer = sock, bytearray()
        self.ended = None  # "41", "close frame", "eof" ...
        self.ended_at = None
        self.transport_closed = threading.Event()

    def run(self):
        while True:
            try:
                chunk = self.sock.recv(262144)
            except socket.timeout:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.note("eof")
                self.transport_closed.set()
                return
            self.buffer += chunk
            while True:
                frame = self.next_frame()
                if frame is None:
                    break
                opcode, payload = frame
                if opcode == 0x8:
                    self.note("close frame")
                    self.transport_closed.set()
                elif opcode == 0x1 and payload in (b"41", b"1"):
                    self.note("41" if payload == b"41" else "1")
                    if payload == b"1":
                        self.transport_closed.set()

    def note(self, how):
        if self.ended is None:
            self.ended, self.ended_at = how, time.monotonic()

    def next_frame(self):
        buf = self.buffer
        if len(buf) < 2:
            return None
        length, offset = buf[1] & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, offset = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, offset = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < offset + length:
            return None
        opcode = buf[0] & 0x0F
        payload = bytes(buf[offset:offset + length]) if length <= 2 else b""  # only short ones matter
        del buf[:offset + length]
        return opcode, payload


def websocket_flood(port, seconds, frames, setup=(), batch=1):
    """Open a Socket.IO connection, send `setup` frames, then send the pre-built `frames` (bytes)
    as fast as the socket takes them, `batch` at a time; when the server ends the connection,
    reconnect and go on, until `seconds` passed. Returns one record per connection: how long it
    lived, how it ended, how many frames it sent."""
    records = []
    end = time.monotonic() + seconds
    blob = frames * batch
    while time.monotonic() < end:
        record = {"opened": round(time.monotonic() - (end - seconds), 3)}
        records.append(record)
        try:
            ws, reply = sio_connect(port, timeout=2)
            if not reply or not reply.startswith("40"):
                raise ConnectionError(f"refused: {reply!r}")
            for text in setup:  # after the server's "40": threading mode handles frames in parallel
                ws.send(text)
        except Exception as error:
            record["error"] = f"connect: {error.__class__.__name__}: {error}"[:200]
            time.sleep(0.1)
            continue
        sock = ws.sock
        sock.settimeout(0.5)
        frames_seen = ServerFrames(sock)
        reader = threading.Thread(target=frames_seen.run, daemon=True)
        reader.start()
        started, sent = time.monotonic(), 0
        try:
            while time.monotonic() < end and not frames_seen.transport_closed.is_set():
                try:
                    sock.sendall(blob)
                    sent += batch
                except socket.timeout:
                    continue  # the server is not reading: keep pushing
        except OSError as error:
            frames_seen.note(f"send: {error.__class__.__name__}")
            frames_seen.transport_closed.set()
        record.update(sent=sent, lifetime=round(time.monotonic() - started, 3),
                      ended=frames_seen.ended,
                      ended_after=None if frames_seen.ended_at is None else round(frames_seen.ended_at - started, 3),
                      transport_closed=frames_seen.transport_closed.is_set())
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()
        except OSError:
            pass
        reader.join(1)
    return records


def polling_flood(port, seconds, threads=4):
    """Abandoned long-polling handshakes: GET the Engine.IO handshake again and again on keep-alive
    connections, and never use the session it opens."""
    counts = {"accepted": 0, "refused": 0, "errors": 0, "statuses": {}}
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker():
        connection = None
        while time.monotonic() < end:
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(SERVER_HOST, port, timeout=2,
                                                            source_address=(ATTACKER_HOST, 0))
                connection.request("GET", "/socket.io/?EIO=4&transport=polling")
                response = connection.getresponse()
                body = response.read()
                with lock:
                    key = "accepted" if response.status == 200 and body.startswith(b"0{") else "refused"
                    counts[key] += 1
                    counts["statuses"][response.status] = counts["statuses"].get(response.status, 0) + 1
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                with lock:
                    counts["errors"] += 1
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.01)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(seconds + 5)
    return counts


ATTACHMENT_ANNOUNCEMENT = '451000000-["event_message",{"_placeholder":true,"num":0}]'


def slow_requests(port, seconds, addresses, per_address, interval=2.0):
    """Requests whose headers never end: `per_address` connections from each of `addresses` source
    addresses (127.0.1.1, 127.0.1.2, ...) send a request line, then one header line every `interval`
    seconds (well within any socket timeout), until `seconds` passed. Returns, sampled every 0.5 s,
    how many the server still held in all and from one address, and how long the longest one lived."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = addresses * per_address + 200
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))
    start = time.monotonic()
    to_open = [f"127.0.1.{a + 1}" for a in range(addresses) for _ in range(per_address)]
    held = {}  # socket -> [source address, opened at, next header line at, lines sent]
    lifetimes, refused, opened_s = [], 0, None

    def gone(sock):
        lifetimes.append(time.monotonic() - held.pop(sock)[1])
        sock.close()

    samples, next_sample = [], start
    while time.monotonic() < start + seconds and (held or to_open):
        batch_end = time.monotonic() + 0.1  # open for 0.1 s, then tend to those already open
        while to_open and time.monotonic() < batch_end:
            source = to_open.pop(0)
            try:
                sock = tcp_connect(port, source, timeout=2)
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            except OSError:
                refused += 1
                continue
            sock.setblocking(False)
            now = time.monotonic()
            held[sock] = [source, now, now + interval, 0]
        if not to_open and opened_s is None:
            opened_s = round(time.monotonic() - start, 2)
        for sock in list(held):
            if server_closed(sock):
                gone(sock)
                continue
            record = held[sock]
            if time.monotonic() >= record[2]:
                record[2] += interval
                record[3] += 1
                if not send_unless_closed(sock, b"X-Slow-%d: 1\r\n" % record[3]):
                    gone(sock)
        if time.monotonic() >= next_sample:
            per = collections.Counter(source for source, *_ in held.values())
            samples.append([round(time.monotonic() - start, 1), len(held), max(per.values(), default=0),
                            len(to_open)])
            next_sample += 0.5
        if not to_open:
            time.sleep(0.05)
    now = time.monotonic()
    longest = max(lifetimes + [now - record[1] for record in held.values()], default=0)
    for sock in list(held):
        sock.close()
    return {"opened": addresses * per_address - refused - len(to_open), "refused": refused,
            "opened_in_s": opened_s, "samples": samples, "still_open_at_end": len(held),
            "longest_s": round(longest, 1)}


def server_closed(sock):
    """Has the server closed this non-blocking socket (end of file, or an error)? What it sent is read."""
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def send_unless_closed(sock, data):
    """Send on a non-blocking socket (nothing, if its buffer is full); False if the server closed it."""
    try:
        sock.send(data)
    except BlockingIOError:
        pass
    except OSError:
        return False
    return True


def trickle(sockets, data, every, within):
    """Send `data` on each socket every `every` seconds until the server closes it (end of file, or
    an error) or `within` seconds passed. Returns each socket's lifetime in seconds (None: still open)."""
    start = next_send = time.monotonic()
    lifetimes = [None] * len(sockets)
    for sock in sockets:
        sock.setblocking(False)
    while None in lifetimes and time.monotonic() - start < within:
        now = time.monotonic()
        for n, sock in enumerate(sockets):
            if lifetimes[n] is not None:
                continue
            if server_closed(sock) or (now >= next_send and not send_unless_closed(sock, data)):
                lifetimes[n] = now - start
        if now >= next_send:
            next_send += every
        time.sleep(0.05)
    return lifetimes


def churn(port, seconds, threads=4):
    """Socket.IO connections opened and closed at once, in a loop, on `threads` threads: how many the
    server let in, and how many it refused (429 at the handshake, or a connect_error)."""
    counts, lock = collections.Counter(), threading.Lock()
    end = time.monotonic() + seconds

    def worker(n):
        for i in itertools.count():
            if time.monotonic() >= end:
                return
            try:
                ws, reply = sio_connect(port, auth={"name": f"churn{n}x{i}"}, timeout=2, reset=True)
                close_quietly(ws)
                outcome = "connected" if reply and reply.startswith("40") else "refused"
            except websocket.WebSocketBadStatusException as error:
                outcome = f"status {error.status_code}"
            except (OSError, websocket.WebSocketException, ConnectionError) as error:
                outcome = error.__class__.__name__
            with lock:
                counts[outcome] += 1

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(seconds + 10)
    return dict(counts)


def flood_main(argv):
    """python tests/hostile.py KIND PORT SECONDS: run one flood, print its record as JSON."""
    kind, port, seconds = argv[0], int(argv[1]), float(argv[2])
    if kind == "events":  # small event_message frames in a tight loop
        result = websocket_flood(port, seconds, client_frame('42["event_message",{"text":"flood"}]'), batch=64)
    elif kind == "big-frames":  # 60 KB frames, unpaced (each over MAX_MESSAGE_LENGTH: refused)
        result = websocket_flood(port, seconds, client_frame('42["event_message",{"text":"' + "x" * 60_000 + '"}]'))
    elif kind == "attachments":  # a binary event announcing a million attachments, then 60 KB ones
        result = websocket_flood(port, seconds, client_frame(os.urandom(60_000), binary=True),
                                 setup=[ATTACHMENT_ANNOUNCEMENT])
    elif kind == "control-frames":  # Engine.IO's own frames, which carry no event: pong, noop, ping, upgrade
        result = websocket_flood(port, seconds, b"".join(client_frame(text) for text in "3625"), batch=16)
    elif kind == "polling":
        result = polling_flood(port, seconds)
    elif kind == "slow-requests":  # headers that never end, from 70 addresses
        result = slow_requests(port, seconds, addresses=70, per_address=25)
    elif kind == "churn":  # Socket.IO connections opened and closed in a loop
        result = churn(port, seconds)
    else:
        raise SystemExit(f"unknown flood {kind}")
    print(json.dumps(result), flush=True)


class Flood:
    """A flood running in its own process for `seconds`; `result()` waits (bounded) for its JSON
    record, killing it if it overstays."""

    def __init__(self, kind, port, seconds):
        self.seconds = seconds
        self.process = subprocess.Popen([sys.executable, __file__, kind, str(port), str(seconds)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self):
        try:
            out, err = self.process.communicate(timeout=self.seconds + 15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise AssertionError(f"flooder printed no result: {out[-500:]} {err[-2000:]}")

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


# --- Threads that hammer REST endpoints ---------------------------------------------------------

def post_json(port, path, body, source=ATTACKER_HOST, timeout=TIMEOUT, headers=None):
    """POST a JSON body from `source` (GET when body is None); return (status, parsed JSON or None)."""
    connection = http.client.HTTPConnection(SERVER_HOST, port, timeout=timeout, source_address=(source, 0))
    try:
        if body is None:
            connection.request("GET", path, headers=headers or {})
        else:
            connection.request("POST", path, json.dumps(body),
                               {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, None
    finally:
        connection.close()


def hammer(port, seconds, parallel, make_request, sources):
    """`parallel` threads, thread n posting `make_request(n, i)` -> (path, body) from sources[n]
    back to back for `seconds` (a body of None: a GET). Returns a thread whose .counts (status -> count) fill as it goes;
    join it with hammer_join."""
    counts, lock = {}, threading.Lock()
    end = time.monotonic() + seconds

    def worker(n):
        for i in itertools.count():
            if time.monotonic() >= end:
                return
            path, body = make_request(n, i)
            try:
                status, _ = post_json(port, path, body, source=sources[n % len(sources)], timeout=10)
            except (OSError, http.client.HTTPException) as error:
                status = error.__class__.__name__
            with lock:
                counts[status] = counts.get(status, 0) + 1

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(parallel)]
    for thread in threads:
        thread.start()
    return threads, counts


# --- Many idle TCP connections -------------------------------------------------------------------

def open_idle_connections(port, count, within, source=ATTACKER_HOST):
    """Start `count` non-blocking TCP connects to the server and wait (bounded by `within`) for them
    to finish. Returns (sockets, established count, failed count); sockets still connecting are
    kept (the server may accept them later)."""
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((source, 0))
        sock.connect_ex((SERVER_HOST, port))
        sockets.append(sock)
    pending = {sock.fileno(): sock for sock in sockets}
    established = failed = 0
    poller = select.poll()
    for fd in pending:
        poller.register(fd, select.POLLOUT)
    deadline = time.monotonic() + within
    while pending and time.monotonic() < deadline:
        for fd, _events in poller.poll(100):
            sock = pending.pop(fd, None)
            if sock is None:
                continue
            poller.unregister(fd)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                established += 1
            else:
                failed += 1
    return sockets, established, failed


def closed_by_server(sockets, within):
    """Wait (bounded by `within` seconds) until the server closed every socket (EOF, reset or error
    on our side). Returns (closed count, seconds it took or None)."""
    start = time.monotonic()
    open_ones = {sock.fileno(): sock for sock in sockets if sock.fileno() != -1}
    poller = select.poll()
    for fd in open_ones:
        poller.register(fd, select.POLLIN | select.POLLRDHUP if hasattr(select, "POLLRDHUP") else select.POLLIN)
    closed = len(sockets) - len(open_ones)
    while open_ones:
        remaining = start + within - time.monotonic()
        if remaining <= 0:
            return closed, None
        for fd, events in poller.poll(min(500, int(remaining * 1000) + 1)):
            sock = open_ones.get(fd)
            if sock is None:
                continue
            if events & (select.POLLERR | select.POLLHUP | getattr(select, "POLLRDHUP", 0)):
                gone = True
            else:
                try:
                    gone = sock.recv(4096) == b""  # an HTML or JSON 408 then close also counts
                    if not gone:
                        continue
                except BlockingIOError:
                    continue
                except OSError:
                    gone = True
            if gone:
                poller.unregister(fd)
                del open_ones[fd]
                closed += 1
    return closed, time.monotonic() - start


if __name__ == "__main__":
    flood_main(sys.argv[1:])
