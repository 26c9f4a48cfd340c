"""Chat Live benchmark: app.py (eventlet, threading, and gunicorn + gevent) beside Node's socket.io.

    python bench/run.py            # the full run, about 10-15 minutes
    python bench/run.py --quick    # a smaller smoke run, about 3 minutes

It installs the Node packages on first use (npm ci --prefix bench), starts every server itself on a
free 127.0.0.1 port with its own SQLite file and the rate limit off (RATE_LIMIT_PER_SECOND=0: this
measures the server, not its flood protection), drives them with the official socket.io-client
(bench/load.js), runs each scenario 3 times with the servers interleaved, and prints a markdown table
of the medians. It measures and reports; it is not a test and has no pass/fail exit code.
"""
import argparse
import http.client
import importlib.util
import json
import os
import pathlib
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from urllib.error import URLError
from urllib.request import urlopen

BENCH = pathlib.Path(__file__).resolve().parent
SERVERS = ("eventlet", "threading", "gevent", "node")  # gevent: README's production command, on gunicorn
# README's production command (with --bind and the app's folder added here).
GUNICORN = ["-m", "gunicorn", "-k", "gevent", "-w", "1", "--worker-connections", "5000"]
SCENARIOS = ("lone", "fan10", "fan100", "fan500", "paced", "connect", "rss", "history")
APP = BENCH.parent / "app.py"  # --app measures another copy (a change under trial)
JWT_KEY = "bench-jwt-secret-of-at-least-32-bytes!"
SEND_BUDGET = 8  # seconds: unpaced senders stop sending after this


def log(text):
    print(text, file=sys.stderr, flush=True)


# --- servers ----------------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process (app.py in an async mode, gunicorn's gevent worker serving app.py, or the
    Node peer) on a free port. .pid is the process that serves: under gunicorn, its worker."""

    def __init__(self, kind, workdir, db_path=None):
        self.kind, self.port = kind, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{kind}-{self.port}.log"
        env = dict(os.environ, PORT=str(self.port), HOST="127.0.0.1")
        if kind == "node":
            env.update(DB=str(workdir / f"peer-{self.port}.jsonl"), NODE_PATH=str(BENCH / "node_modules"))
            cmd, cwd = ["node", str(BENCH / "peer-node" / "server.js")], BENCH
        else:
            db_path = db_path or workdir / f"{kind}-{self.port}.db"
            env.update(ASYNC_MODE=kind, DATABASE_URL=f"sqlite:///{db_path}", RATE_LIMIT_PER_SECOND="0", MAX_CONNECTIONS_PER_IP="0",
                       RATE_LIMIT_PER_ADDRESS="0", READS_PER_ADDRESS="0", FRAMES_PER_SECOND="0",
                       SECRET_KEY="bench-secret", JWT_SECRET_KEY=JWT_KEY, AUTH_REQUIRED="false",
                       PYTHONWARNINGS="ignore")
            env.pop("MESSAGE_QUEUE", None)
            cmd, cwd = [sys.executable, str(APP)], APP.parent
            if kind == "gevent":  # the async mode follows the server, as in production
                env.pop("ASYNC_MODE")
                cmd = [sys.executable, *GUNICORN, "--bind", f"127.0.0.1:{self.port}", f"{APP.stem}:app"]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.wait_healthy(30)
        self.check_alone()
        self.pid = self.proc.pid
        if kind == "gevent":  # gunicorn's master only watches; its one worker serves
            (self.pid,) = [int(pid) for pid in open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
                           .read().split()]

    def wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited; see {self.log_path}")
            try:  # urllib, not requests: `pip install -r requirements.txt` is all this needs
                with urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (URLError, OSError):  # refused while it starts, or a 503 (HTTPError is a URLError)
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} server not healthy within {timeout}s")

    def check_alone(self):
        """eventlet listens with SO_REUSEPORT: a second process on the same port would silently
        take half of the connections (and of the broadcasts). Refuse to measure that."""
        listening = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in open(table).readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                listening += state == "0A" and int(local.rsplit(":", 1)[1], 16) == self.port
        if listening != 1:
            raise RuntimeError(f"{listening} sockets listen on port {self.port}; expected only {self.kind}'s")

    def rss_kb(self):
        for line in open(f"/proc/{self.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    def cpu_seconds(self):
        fields = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def stop(self):
        if self.proc.poll() is None:
            # gunicorn waits up to 30 s for open websockets on SIGTERM; SIGQUIT stops it at once.
            self.proc.send_signal(signal.SIGQUIT if self.kind == "gevent" else signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


# --- load (load.js) ---------------------------------------------------------------------------
def load_js(server, *args, timeout, stdin=subprocess.DEVNULL, send_budget=None, batch=None):
    """Start load.js; its own hard timeout (LOAD_TIMEOUT_S) bounds it, and a timer kills it after."""
    env = dict(os.environ, NODE_PATH=str(BENCH / "node_modules"), LOAD_TIMEOUT_S=str(timeout))
    if send_budget:
        env["SEND_BUDGET_S"] = str(send_budget)
    if batch:
        env["IDLE_BATCH"] = str(batch)
    proc = subprocess.Popen(["node", str(BENCH / "load.js"), server.url, *map(str, args)],
                            stdin=stdin, stdout=subprocess.PIPE, text=True, env=env)
    killer = threading.Timer(timeout + 30, proc.kill)
    killer.daemon = True
    killer.start()
    return proc


def read_json(proc):
    line = proc.stdout.readline()
    try:
        return json.loads(line)
    except ValueError:
        return {"error": f"load.js printed {line.strip()[:200]!r}"}


def settle(server, seconds=1.0):
    """Let a server finish the previous run's disconnects before the next run."""
    time.sleep(seconds)
    server.wait_healthy(90)


# --- scenarios: each returns {metric: value}, or {"error": ...} --------------------------------
def traffic(server, clients, senders, msgs, rate=0, timeout=100, send_budget=SEND_BUDGET):
    """Every client listens, `senders` send `msgs` each (back to back, or `rate` a second); unpaced
    senders stop after `send_budget` seconds, so a slow server gets a shorter run, not a longer one."""
    proc = load_js(server, clients, senders, msgs, rate, timeout=timeout,
                   send_budget=None if rate else send_budget)
    try:
        connected = read_json(proc)
        cpu = server.cpu_seconds()
        r = read_json(proc) if "error" not in connected else connected
        cpu = server.cpu_seconds() - cpu
        proc.wait(30)
    finally:
        proc.kill()
        proc.wait()
    settle(server)
    if "error" in r:
        return r
    return {"deliveries_per_s": r["deliveries_per_s"], "p50_ms": r["p50_ms"], "p95_ms": r["p95_ms"],
            "p99_ms": r["p99_ms"], "lost": r["lost"], "refused": r["refused"],
            "cpu_ms_per_msg": 1000 * cpu / r["sent"],
            "ms_per_ack": 1000 * r["secs"] / r["sent"] if senders == 1 and rate == 0 else None}


class IdleClients:
    """`load.js URL N idle`: N connected clients, held open until close()."""

    def __init__(self, server, clients, timeout, batch=None):
        self.clients = clients
        self.proc = load_js(server, clients, "idle", timeout=timeout, stdin=subprocess.PIPE, batch=batch)
        self.result = read_json(self.proc)

    def error(self):
        r = self.result
        if r.get("error") == "timeout":
            return f"not all {self.clients:,} clients connected within the run's time limit"
        if "error" in r:
            return r["error"]
        if r["failed"]:
            return f"{r['failed']} of {self.clients} connects failed ({'; '.join(r['errors'])})"

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(30)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait()


def connect_time(server, clients, timeout=60):
    idle = IdleClients(server, clients, timeout)
    idle.close()
    settle(server, 2.0)
    return {"error": idle.error()} if idle.error() else {"connect_ms": idle.result["connect_ms"]}


def rss_per_connection(kind, workdir, clients, timeout=100):
    """On a fresh server: RSS after a warm-up, then with `clients` idle websockets open that have
    received 20 chat messages (a websocket's compressor, if any, grows with traffic). They connect
    200 at a time: this row measures memory; the connect row measures a crowd arriving at once."""
    server = Server(kind, workdir)
    try:
        traffic(server, 10, 1, 20)  # warm-up: imports, first connections, first messages
        settle(server, 1.5)
        before = server.rss_kb()
        idle = IdleClients(server, clients, timeout, batch=200)
        if not idle.error():
            traffic(server, 1, 1, 20)  # 20 messages to everyone
            time.sleep(1.0)
        after = server.rss_kb()
        idle.close()
        if idle.error():
            return {"error": idle.error()}
        return {"kb_per_conn": (after - before) / clients, "rss_mb": after / 1024,
                "connect_ms": idle.result["connect_ms"]}
    finally:
        server.stop()


HISTORY_ROOMS = 100  # the stored messages are spread over this many rooms, round robin
ALL_ROOMS = 100_000  # and the room table holds this many in all: a school's years of classes
HISTORY_ROOM = "room-07"  # the room whose pages are timed


def fill_history(db_path, count):
    """Create app.py's tables (by importing it) and insert `count` messages in one transaction,
    spread over HISTORY_ROOMS rooms and counted in the room table (step 12 of the tutorial) when
    that app.py has rooms."""
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{db_path}", ASYNC_MODE="threading",
               SECRET_KEY="x", JWT_SECRET_KEY=JWT_KEY, PYTHONWARNINGS="ignore")
    subprocess.run([sys.executable, "-c", f"import {APP.stem}"], cwd=APP.parent, env=env, check=True,
                   capture_output=True, timeout=60)
    start = datetime(2026, 11, 1)
    rows = ((f"room-{i % HISTORY_ROOMS:02}", f"user{i % 300}", f"message number {i}, a line of chat of ordinary length",
             (start + timedelta(milliseconds=i)).isoformat(sep=" ", timespec="microseconds"))
            for i in range(count))
    con = sqlite3.connect(db_path)
    rooms = "room" in [column[1] for column in con.execute("PRAGMA table_info(message)")]
    with con:
        if rooms:
            con.executemany("INSERT INTO message (room, author, text, created_at) VALUES (?, ?, ?, ?)", rows)
            con.execute("INSERT INTO room (name, messages, last_id) "
                        "SELECT room, count(*), max(id) FROM message GROUP BY room")
            # Older rooms, written in before these messages: rows of the room table only.
            con.executemany("INSERT INTO room (name, messages, last_id) VALUES (?, 1, ?)",
                            ((f"old-{n:06}", n) for n in range(1, ALL_ROOMS - HISTORY_ROOMS + 1)))
        else:  # an app.py from before rooms (--app)
            con.executemany("INSERT INTO message (author, text, created_at) VALUES (?, ?, ?)",
                            (row[1:] for row in rows))
    con.close()


def history(server, samples, deep_before):
    """Latency of GET /messages?room=room-07&limit=50, newest page and a deep `before` page, and of
    GET /rooms, over one keep-alive connection. http.client, not requests: requests alone adds
    ~1.5 ms a call on this machine."""
    out = {}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    pages = (("newest", f"/messages?room={HISTORY_ROOM}&limit=50", 50),
             ("deep", f"/messages?room={HISTORY_ROOM}&limit=50&before={deep_before}", 50),
             ("rooms", "/rooms", 100))  # the first page: the 100 rooms written in last
    try:
        for name, path, length in pages:
            times = []
            for i in range(20 + samples):  # 20 warm-up requests first
                t = time.perf_counter()
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                if i >= 20:
                    times.append(1000 * (time.perf_counter() - t))
                if name == "rooms" and response.status == 404:
                    break  # an app.py from before rooms (--app): no figure
                if response.status != 200 or len(json.loads(body)) < length:
                    out["error"] = f"{name}: HTTP {response.status}, {len(body)} bytes"
                    return out
            if not times:
                continue
            times.sort()
            out[f"{name}_p50"] = times[len(times) // 2]
            out[f"{name}_p95"] = times[int(len(times) * 0.95)]
    finally:
        conn.close()
    return out


# --- the report -------------------------------------------------------------------------------
ROWS = [
    # (label, scenario, metric, target text, check on the eventlet figure: f(value, node value), or
    # the name of another metric it should roughly equal)
    ("Lone sender (10 clients, 1 sender, back to back): deliveries/s", "lone", "deliveries_per_s",
     "≥ 6,000", lambda v, n: v >= 6000),
    ("… ms per acknowledged message", "lone", "ms_per_ack", "≤ 1.5", lambda v, n: v <= 1.5),
    ("… server CPU ms per message", "lone", "cpu_ms_per_msg", "", None),
    ("Fan-out, 10 clients, 5 unpaced senders: deliveries/s", "fan10", "deliveries_per_s", "", None),
    ("Fan-out, 100 clients, 5 unpaced senders: deliveries/s", "fan100", "deliveries_per_s",
     "≥ 35% of Node", lambda v, n: n is not None and v >= 0.35 * n),
    ("Fan-out, 500 clients, 5 unpaced senders: deliveries/s", "fan500", "deliveries_per_s", "", None),
    ("Classroom (300 clients, 20 senders × 1 msg/s): p50 ms", "paced", "p50_ms", "", None),
    ("… p95 ms", "paced", "p95_ms", "", None),
    ("… p99 ms", "paced", "p99_ms", "≤ 25", lambda v, n: v <= 25),
    ("… messages lost (all runs)", "paced", "lost", "0", lambda v, n: v == 0),
    ("… server CPU ms per message (300 deliveries)", "paced", "cpu_ms_per_msg", "", None),
    ("Connect {connect} clients at once: ms", "connect", "connect_ms", "", None),
    ("RSS per idle websocket, {idle} clients: KB", "rss", "kb_per_conn", "≤ 100", lambda v, n: v <= 100),
    ("… server RSS with them: MB", "rss", "rss_mb", "", None),
    ("GET /messages?room=…&limit=50, {history} stored in 100 rooms, newest page: p50 ms", "history",
     "newest_p50", "≤ 5", lambda v, n: v <= 5),
    ("… newest page: p95 ms", "history", "newest_p95", "", None),
    ("… deep page (before=10000): p50 ms", "history", "deep_p50", "≤ 5", lambda v, n: v <= 5),
    ("… deep page: p95 ms", "history", "deep_p95", "", None),
    ("GET /rooms, a page of 100 among 100,000 rooms: p50 ms", "history", "rooms_p50", "≤ 5", lambda v, n: v <= 5),
    ("… p95 ms", "history", "rooms_p95", "", None),
]


def fmt(value, integer=False):
    if value is None:
        return "—"
    if integer or value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor() or "?")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    versions = []
    for dist in ("flask-socketio", "python-socketio", "python-engineio", "eventlet", "gevent", "gunicorn",
                 "sqlalchemy"):
        try:
            versions.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    sio = json.loads((BENCH / "node_modules" / "socket.io" / "package.json").read_text())["version"]
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores, {memory:.0f} GiB, Linux {platform.release()}; "
            f"Python {platform.python_version()} ({', '.join(versions)}); Node {node} (socket.io {sio})")


def report(results, kinds, reps, counts, notes):
    names = {"eventlet": "eventlet", "threading": "threading", "gevent": "gunicorn + gevent",
             "node": "Node socket.io"}
    head = ["scenario"] + [names[k] for k in kinds]
    ratios = [k for k in kinds if k != "node"] if "node" in kinds else []
    head += [f"{k} ÷ Node" for k in ratios] + ["target (eventlet)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, key, metric, target, check in ROWS:
        if key not in results:
            continue
        values, cells = {}, []
        for kind in kinds:
            runs = results[key].get(kind, [])
            ok = [r for r in runs if "error" not in r and r.get(metric) is not None]
            if metric == "lost":
                values[kind] = sum(r["lost"] for r in ok) if ok else None
            else:
                values[kind] = statistics.median(r[metric] for r in ok) if ok else None
            cell = fmt(values[kind], integer=metric in ("lost", "deliveries_per_s", "connect_ms"))
            failed = len(runs) - len([r for r in runs if "error" not in r])
            if failed:
                cell += f" ({failed} of {len(runs)} runs failed)"
            cells.append("n/a" if key == "history" and kind == "node" else cell)
        for kind in ratios:
            v, n = values[kind], values["node"]
            cells.append(f"{v / n:.2f}" if v is not None and n and metric != "lost" else "")
        verdict = ""
        if isinstance(check, str):  # "as fast as" that row: within 25% or 1 ms of it
            ok = [r for r in results[key].get("eventlet", []) if "error" not in r]
            if values.get("eventlet") is not None and ok:
                other = statistics.median(r[check] for r in ok)
                verdict = " ✓" if values["eventlet"] <= max(1.25 * other, other + 1) else " ✗"
        elif check and values.get("eventlet") is not None:
            verdict = " ✓" if check(values["eventlet"], values.get("node")) else " ✗"
        cells.append(target + verdict)
        lines.append("| " + label.format(**{k: f"{v:,}" for k, v in counts.items()}) + " | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines + [""] + notes)


# --- main -------------------------------------------------------------------------------------
def main():
    global APP
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts, one run each (about 3 minutes)")
    parser.add_argument("--reps", type=int, help="runs of each scenario (default 3; 1 with --quick)")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help="comma-separated subset of " + ",".join(SERVERS) + " (default: all; gevent "
                        "is README's production command and needs requirements-production.txt)")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated subset of " + ",".join(SCENARIOS) + " (default: all)")
    parser.add_argument("--app", type=pathlib.Path, default=APP,
                        help="the app.py to measure (default: the project's)")
    parser.add_argument("--json", metavar="FILE", help="also write every run's figures to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (databases, server logs)")
    args = parser.parse_args()
    kinds = [k for k in SERVERS if k in args.servers.split(",")]
    only = args.only.split(",") if args.only else list(SCENARIOS)
    if not kinds or set(args.servers.split(",")) - set(SERVERS):
        parser.error(f"--servers: choose from {', '.join(SERVERS)}")
    if set(only) - set(SCENARIOS):
        parser.error(f"--only: choose from {', '.join(SCENARIOS)}")
    if "gevent" in kinds and not all(importlib.util.find_spec(name) for name in ("gunicorn", "gevent")):
        parser.error("--servers gevent runs gunicorn's gevent worker: pip install -r requirements-production.txt "
                     "(or leave it out: --servers eventlet,threading,node)")
    APP = args.app.resolve()
    reps = args.reps or (1 if args.quick else 3)
    q = args.quick

    if not (BENCH / "node_modules" / "socket.io-client").is_dir():
        log("installing the Node packages once: npm ci --prefix bench")
        subprocess.run(["npm", "ci", "--prefix", str(BENCH), "--no-audit", "--no-fund"], check=True)
    # 2,000 connections need more file descriptors than a default `ulimit -n` of 1,024, in the
    # server and in load.js alike: raise the soft limit to the hard one (children inherit it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 65536), hard))

    counts = {"connect": 300 if q else 1000, "idle": 500 if q else 2000, "history": 100_000 if q else 1_000_000}
    scenarios = {  # name -> function(server) -> figures
        "lone": lambda s: traffic(s, 10, 1, 200 if q else 500),
        "fan10": lambda s: traffic(s, 10, 5, 100 if q else 200),
        "fan100": lambda s: traffic(s, 100, 5, 40 if q else 100),
        "fan500": lambda s: traffic(s, 500, 5, 10 if q else 40),
        "paced": lambda s: traffic(s, 300, 20, 5 if q else 15, rate=1),
        "connect": lambda s: connect_time(s, counts["connect"]),
    }
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="chat-live-bench-"))
    started, load_before = time.monotonic(), os.getloadavg()
    results = {name: {} for name in SCENARIOS if name in only}
    servers = {}

    def run(name, kind, rep, fn):
        """One run; after a failed run the server's later runs of that scenario are skipped."""
        runs = results[name].setdefault(kind, [])
        if any("error" in r for r in runs):
            return
        log(f"[{time.monotonic() - started:4.0f}s] {name} / {kind} ({rep + 1}/{reps})")
        try:
            r = fn()
        except Exception as error:  # a crashed or stuck server is a result too
            r = {"error": f"{type(error).__name__}: {error}"}
        if "error" in r:
            log(f"      failed: {r['error']}")
        runs.append(r)

    try:
        live = [name for name in scenarios if name in only]
        if live:
            for kind in kinds:
                servers[kind] = Server(kind, workdir)
        for name in live:
            for rep in range(reps):
                for kind in kinds:
                    if servers[kind].proc.poll() is not None:  # crashed: restart for the next scenario
                        servers[kind].stop()
                        servers[kind] = Server(kind, workdir)
                    run(name, kind, rep, lambda: scenarios[name](servers[kind]))
        for server in servers.values():
            server.stop()
        servers.clear()

        if "rss" in only:
            for rep in range(reps):
                for kind in kinds:
                    run("rss", kind, rep, lambda: rss_per_connection(kind, workdir, counts["idle"]))

        py_kinds = [k for k in kinds if k != "node"]  # the Node peer keeps no history to page through
        if "history" in only and py_kinds:
            log(f"[{time.monotonic() - started:4.0f}s] storing {counts['history']:,} messages")
            db_path = workdir / "history.db"
            fill_history(db_path, counts["history"])
            for kind in py_kinds:
                servers[kind] = Server(kind, workdir, db_path)
            for rep in range(reps):
                for kind in py_kinds:
                    run("history", kind, rep, lambda: history(servers[kind], 200 if q else 500, 10_000))
    finally:
        for server in servers.values():
            server.stop()
        if args.keep:
            log(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
    errors = sorted({f"{name}/{kind}: {r['error']}" for name, per in results.items()
                     for kind, runs in per.items() for r in runs if "error" in r})
    notes = [
        f"Medians of {reps} run(s){' (--quick: smaller counts)' if q else ''}, rate limit off "
        "(RATE_LIMIT_PER_SECOND=0), load from the official socket.io-client 4 (bench/load.js) on the same "
        f"machine; {(time.monotonic() - started) / 60:.0f} minutes; load average {load_before[0]:.1f} at the "
        "start. ÷ Node: a ratio of the two medians.",
        f"Machine: {machine()}.",
    ] + (["Failed runs (later runs of the same scenario skipped): " + "; ".join(errors)] if errors else [])
    print(report(results, kinds, reps, counts, notes))


if __name__ == "__main__":
    main()
