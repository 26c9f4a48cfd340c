"""Chat Live: a live chat server in one Flask module.

Run it with `python app.py`, then open the address it prints.
Nothing needs setting up; environment variables change the defaults (README.md lists them all).
"""

# --- Step 1: install and start ---
import logging
import os


# Step 10 puts this near the top: gunicorn's gevent worker serves production, and the async mode below
# depends on whether it is the server that runs us.
import sys


def patched_by_gevent():
    """Has gevent patched the standard library? gunicorn's gevent worker does, before it loads us."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


# The async mode follows the server that runs this file: `python app.py` serves with eventlet;
# gunicorn's gevent worker (production) has patched the standard library for gevent before it loads
# us; anything else (`flask run`, the tests) gets threading: only a script can patch early enough.
ASYNC_MODE = os.environ.get("ASYNC_MODE", "eventlet" if __name__ == "__main__" else
                            "gevent" if patched_by_gevent() else "threading")
if __name__ == "__main__" and ASYNC_MODE == "eventlet":
    import warnings

    # eventlet prints a 9-line deprecation banner at import; one plain log line says it instead (main).
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()  # before Flask and the rest import the standard library's sockets


from flask import Flask

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("chat")
app = Flask(__name__)


# Step 10 puts this here, near the top, so it runs before the server uses any setting: a wrong one
# stops the start with one line that names it and says what to do, instead of a traceback, or a typo
# that quietly turns login off.
import errno
import tempfile
from urllib.parse import urlsplit

import sqlalchemy

NUMBER_SETTINGS = {  # name: (smallest, largest); a float smallest allows fractions
    "PORT": (1, 65_535),
    "MAX_MESSAGE_LENGTH": (1, 50_000),
    "JWT_EXPIRES_MINUTES": (0.01, 525_600.0),
    "RATE_LIMIT_BURST": (0, 100_000),
    "RATE_LIMIT_PER_SECOND": (0.0, 100_000.0),
    "MAX_CONNECTIONS_PER_IP": (0, 100_000),  # 0: no limit, here and below (TRUSTED_PROXIES: none)
    "RATE_LIMIT_PER_ADDRESS": (0.0, 100_000.0),
    "READS_PER_ADDRESS": (0, 100_000),
    "FRAMES_PER_SECOND": (0, 100_000),
    "TRUSTED_PROXIES": (0, 10),
}
BOOLEAN_SETTINGS = ("AUTH_REQUIRED",)


def stop(problem):
    """Refuse to start: one line on stderr, and exit status 2 (a wrong setting, not a crash). Under
    gunicorn, 4: its "the app failed to load", which stops it instead of starting a new worker."""
    print(f"Chat Live cannot start: {problem}", file=sys.stderr, flush=True)
    raise SystemExit(4 if "gunicorn.arbiter" in sys.modules else 2)


def check_settings():
    """Stop the start at the first wrong setting."""
    for name, (smallest, largest) in NUMBER_SETTINGS.items():
        if name in os.environ:
            check_number(name, os.environ[name], smallest, largest)
    for name in BOOLEAN_SETTINGS:
        if os.environ.get(name, "").strip().lower() not in ("", "true", "false", "1", "0"):
            stop(f"{name}={os.environ[name]!r} is neither true nor false: set {name}=true or {name}=false")
    if ASYNC_MODE not in ("eventlet", "gevent", "threading"):
        stop(f"ASYNC_MODE={ASYNC_MODE!r} is not a mode of this server: set ASYNC_MODE=eventlet, gevent or "
             "threading")
    if ASYNC_MODE == "gevent" and not patched_by_gevent():
        stop("ASYNC_MODE=gevent is for gunicorn's gevent worker: gunicorn -k gevent -w 1 app:app")
    if ASYNC_MODE != "gevent" and patched_by_gevent():
        stop(f"ASYNC_MODE={ASYNC_MODE} cannot serve under gunicorn's gevent worker: leave ASYNC_MODE unset")
    for origin in os.environ.get("CORS_ORIGINS", "").split(","):
        if origin.strip() not in ("", "*") and not is_origin(origin.strip()):
            stop(f"CORS_ORIGINS: {origin.strip()!r} is not an origin: write it like https://school.example")
    check_database(os.environ.get("DATABASE_URL", "sqlite:///chat.db"))
    if os.environ.get("MESSAGE_QUEUE"):
        check_message_queue(os.environ["MESSAGE_QUEUE"])


def is_origin(text):
    """Is `text` a web origin, a scheme and a host (and a port), such as https://school.example?"""
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.path in ("", "/") \
        and not parts.query and not parts.fragment


def check_number(name, value, smallest, largest):
    """Stop unless `value` is a number (a whole one if `smallest` is) from smallest to largest."""
    kind = "a whole number" if isinstance(smallest, int) else "a number"
    try:
        number = type(smallest)(value)
    except ValueError:
        stop(f"{name}={value!r} is not {kind}: give {kind} from {smallest} to {largest}")
    if not smallest <= number <= largest:  # "nan" fails this too
        stop(f"{name}={value} is out of range: give {kind} from {smallest} to {largest}")


def check_database(url):
    """DATABASE_URL must be a URL SQLAlchemy reads, of a database that answers; SQLite's folder must
    take new files (its journal), and its file writes. The line never shows the password."""
    check_one_at_sign("DATABASE_URL", url)
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        stop("DATABASE_URL is not a database URL: write it like sqlite:///chat.db or "
             "postgresql+psycopg://user:password@host/dbname")
    shown = f"DATABASE_URL={parsed.render_as_string(hide_password=True)}"
    if parsed.get_backend_name() == "sqlite" and "uri" in parsed.query:
        return  # a "file:" URI with options (read-only, say): SQLite reads it its own way
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = os.path.join(app.instance_path, parsed.database)  # where Flask-SQLAlchemy puts it
        check_writable(path, shown)
        parsed = parsed.set(database=path)
    # psycopg's own wait for a server that does not answer is minutes long
    psycopg = parsed.drivername in ("postgresql", "postgresql+psycopg", "postgresql+psycopg2")
    try:
        engine = sqlalchemy.create_engine(parsed, connect_args={"connect_timeout": 5} if psycopg else {})
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        engine.dispose()
    except sqlalchemy.exc.NoSuchModuleError:
        stop(f"{shown}: SQLAlchemy knows no such database: write it like postgresql+psycopg://... or "
             "sqlite:///...")
    except ImportError:  # SQLAlchemy knows the database, but its driver is not installed
        stop(f"{shown}: its driver is not installed: pip install -r requirements-production.txt")
    except sqlalchemy.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        stop(f"{shown}: the database does not answer ({reason}): start it, or fix DATABASE_URL")


def check_writable(path, shown):
    """Stop unless the SQLite file at `path` can be created or written, in a folder that takes files."""
    folder = os.path.dirname(path)
    if folder == app.instance_path:
        try:
            os.makedirs(folder, exist_ok=True)  # Flask-SQLAlchemy would, with a traceback
        except OSError as error:
            stop(f"the instance folder {folder} cannot be created ({error.strerror}): make "
                 f"{os.path.dirname(folder)} writable, or set DATABASE_URL")
    if not os.path.isdir(folder):
        stop(f"{shown}: the folder {folder} does not exist: create it, or fix DATABASE_URL")
    try:
        tempfile.TemporaryFile(dir=folder).close()
        if os.path.exists(path):
            open(path, "ab").close()  # opened for writing, and left as it was
    except OSError as error:
        stop(f"{shown}: cannot write in {folder} ({error.strerror}): make it writable, or fix DATABASE_URL")


def check_one_at_sign(name, url):
    """A password with an @ of its own hides part of itself in the host name (and in error lines)."""
    if urlsplit(url).netloc.count("@") > 1:
        stop(f"{name} has an @ in its password: write it as %40 there")


def check_message_queue(url):
    """MESSAGE_QUEUE must be a Redis that answers: without it, no broadcast reaches the other processes.
    (Other kinds of queue, such as Redis Sentinel, are used as they are.)"""
    check_one_at_sign("MESSAGE_QUEUE", url)
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        return
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except ImportError:
        stop("MESSAGE_QUEUE needs the redis package: pip install -r requirements-production.txt")
    except ValueError:
        stop("MESSAGE_QUEUE is not a Redis URL: write it like redis://127.0.0.1:6379/0")
    except redis.RedisError as error:
        stop(f"MESSAGE_QUEUE: Redis does not answer ({error}): start it, or unset MESSAGE_QUEUE")


check_settings()


@app.get("/")
def index():
    """The chat page (templates/index.html), where only our own scripts may run (step 9).
    ---
    tags: [page]
    summary: The browser chat page
    produces: [text/html]
    responses: {200: {description: An HTML page that chats over Socket.IO}}
    """
    page = render_template("index.html")
    # Only our own files may run here, so a message that sneaks in HTML can never run a script.
    return page, {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                             "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"}


def main():
    """Serve on HOST:PORT until Ctrl+C, tuned for a whole class (step 8), guarded (step 11); the ready
    line comes once the port is ours (step 10)."""
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "5000"))
    raise_open_file_limit(20_000)  # room for eventlet's 10,000 connections and everything else
    # What is loaded now lives as long as the server: spare the garbage collector from scanning it
    # again at every full collection (those paused every chat for 20-100 ms).
    gc.freeze()
    if ASYNC_MODE == "eventlet":
        import eventlet.wsgi

        try:
            # backlog: a class connecting at once overflows the default 50 (each drop costs 1 s).
            # reuse_port=False: a second server on the same port fails instead of taking half the clients.
            listener = eventlet.listen((host, port), backlog=1024, reuse_port=False)
        except OSError as error:
            cannot_listen(host, port, error)
        # Send small packets at once: without TCP_NODELAY each ack waits ~40 ms for the
        # client's delayed ACK. Linux copies this option to every accepted connection.
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.info("serving with eventlet, which is in maintenance mode; ASYNC_MODE=threading is the "
                 "alternative")
        say_ready(host, port)
        # max_size: each open websocket holds one of eventlet's "requests" (1,024 by default).
        # debug=False: a request that breaks gets no Python traceback in its answer.
        options = dict(log_output=False, max_size=10_000, debug=False)
        if EVENTLET_SOCKETS:  # each read of a request times out; websockets lift it (step 11)
            options["socket_timeout"] = REQUEST_TIMEOUT
        if GUARDED_CONNECTIONS:  # otherwise eventlet's own handler of each connection (step 11 warned)
            options["protocol"] = GuardedProtocol
        if TAKING_TURNS:
            listener = TakingTurns(listener)
        eventlet.wsgi.server(listener, app, **options)
    else:
        from werkzeug.serving import make_server, select_address_family

        # Werkzeug's development server; its line per request would bury the chat's own log.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        try:  # Werkzeug would print two lines and exit 1: try the port first
            with socket.create_server((host, port), family=select_address_family(host, port)):
                pass
        except OSError as error:
            cannot_listen(host, port, error)
        server = make_server(host, port, app, threaded=True, request_handler=GuardedRequestHandler)
        say_ready(host, port)
        server.serve_forever()


def say_ready(host, port):
    """The ready line, with the address to give the class (step 8)."""
    shown = address_to_share(host)
    print(f"Chat Live: chat page http://{shown}:{port}/  API docs http://{shown}:{port}/docs/", flush=True)


def cannot_listen(host, port, error):
    """Stop the start with one line saying why HOST:PORT cannot be ours, and what to do."""
    if error.errno == errno.EADDRINUSE:
        macos = " (on macOS, AirPlay Receiver uses it)" if port == 5000 else ""
        stop(f"port {port} is in use{macos}: set PORT={port % 65_535 + 1}")
    if error.errno == errno.EACCES:
        stop(f"PORT={port} needs administrator rights (ports below 1024): set PORT=5000")
    stop(f"cannot listen on HOST={host} ({error.strerror or error}): set HOST=127.0.0.1, or 0.0.0.0 for a "
         "whole network")


# --- Step 2: structure: one module, and errors as JSON ---
from flask import request
from werkzeug.exceptions import HTTPException


@app.errorhandler(HTTPException)
def http_error(error):
    """Every HTTP error (400, 404, 405, 413, ...) is JSON, never Flask's HTML page."""
    response = error.get_response()  # keeps headers such as a 405's "Allow: GET, HEAD"
    response.set_data(app.json.response({"error": error.description}).get_data())  # like successes
    response.content_type = "application/json"
    return response


@app.errorhandler(Exception)
def unexpected_error(error):
    """A bug must not show a traceback to the client: log it, answer a plain 500."""
    log.exception("unexpected error on %s %s", request.method, request.path)
    return {"error": "internal server error"}, 500


# --- Step 3: documentation with Flasgger at /docs/ ---
from flasgger import Swagger

swagger = Swagger(app, config={
    **Swagger.DEFAULT_CONFIG,
    "specs": [{"endpoint": "apispec", "route": "/apispec.json"}],
    "specs_route": "/docs/",
    "auth": {},  # without it the page's JavaScript gets `None`, and breaks
}, template={
    "swagger": "2.0",
    "info": {"title": "Chat Live", "version": "1.0", "description": "A live chat over REST and Socket.IO."},
    "definitions": {
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string",
                                           "example": "limit must be a whole number from 1 to 200"}}},
    },
})


# --- Step 4: the Socket.IO gateway ---
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import render_template
from flask_socketio import ConnectionRefusedError, SocketIO, emit


def origin_allowed(origin, environ):
    """May a browser page from `origin` use this server? Its own pages always may; other sites
    only when CORS_ORIGINS lists them. Used for REST requests and Socket.IO handshakes alike."""
    allowed = app.config["CORS_ORIGINS"]
    if not origin:
        return True  # not sent by a browser page (Postman, scripts): CORS does not apply
    return origin.split("://")[-1] == environ.get("HTTP_HOST") or allowed == "*" or origin in allowed


MAX_SOCKET_PACKET = 64 * 1024  # bytes; a bigger Socket.IO frame closes that connection
# The same origin rule as REST; frames over 64 KB close the connection; with MESSAGE_QUEUE set,
# every process hears the broadcasts of the others (step 10). async_handlers=False: the events of a
# client run one after another, so a flood waits in its own socket, not in our memory (step 11).
socketio = SocketIO(app, async_mode=ASYNC_MODE, cors_allowed_origins=origin_allowed,
                    max_http_buffer_size=MAX_SOCKET_PACKET, async_handlers=False,
                    message_queue=os.environ.get("MESSAGE_QUEUE"))
app.config.update(MAX_MESSAGE_LENGTH=int(os.environ.get("MAX_MESSAGE_LENGTH", "1000")))
MAX_AUTHOR_LENGTH = 32


class Refused(Exception):
    """Input the server will not take; the text says why."""


@dataclass
class Connection:
    """What the server remembers about one open Socket.IO connection."""
    username: str | None     # from a valid JWT (step 6)
    name: str | None         # the self-chosen handshake name of an anonymous client
    allowance: float = 0     # messages it may send right now: the rate limit's bucket (step 9)
    allowance_at: float = 0  # when the allowance was last topped up: never, so it starts full
    address: str | None = None  # the client's address (step 11)
    token: str | None = None    # its JWT, checked again every 15 s (step 11)
    token_checked_at: float = 0  # and before a message, at most once a second (step 11)
    refused: int = 0            # events refused since refused_since
    refused_since: float = 0
    room: str = "general"       # the one room it is in (step 12)
    account_id: int | None = None  # the id of its username's account, once looked up (step 13)
    author: str | None = None   # the anonymous author it last used, checked already (step 13)
    typed: tuple = ()           # when its `typing` events of the last second went out (step 14)


connections = {}  # Socket.IO sid -> Connection, for this server process
one_message_at_a_time = threading.Lock()


@socketio.on("connect")
def on_connect(auth):
    """A client opened a connection: check who it is, remember it, tell everyone."""
    auth = auth if isinstance(auth, dict) else {}
    address, limit = request.remote_addr, app.config["MAX_CONNECTIONS_PER_IP"]
    if limit and sum(c.address == address for c in list(connections.values())) >= limit:
        raise ConnectionRefusedError(f"too many connections from your address (limit {limit})")
    token = find_token(auth)
    username, problem = read_token(token)  # step 6
    if app.config["AUTH_REQUIRED"] and not username:
        raise ConnectionRefusedError(problem)
    try:
        # A valid token names the client: its handshake name is not used, so it is not checked.
        name = None if auth.get("name") is None or username else clean_name(auth["name"], "name")
        room = clean_room(auth.get("room", request.args.get("room", "general")))  # step 12
        may_enter(room, address)
    except Refused as error:
        raise ConnectionRefusedError(str(error))
    connections[request.sid] = Connection(username, name, address=address,
                                          token=token if username else None, room=room)
    join_room(room)
    join_room(presence_room(room))
    log.info("connect %s as %s to %s, %d online", request.sid, username or name, room, len(connections))
    presence_changed(room)
    start_token_checks()  # step 11


@socketio.on("disconnect")
def on_disconnect(reason):
    """A client left (closed the page, lost the network, or was dropped)."""
    connection = connections.pop(request.sid, None)
    log.info("disconnect %s (%s), %d online", request.sid, reason, len(connections))
    if connection:
        presence_changed(connection.room)


presence_pending = set()  # the rooms whose presence broadcast is on its way (step 12)


def presence_changed(room="general"):
    """Schedule one `presence` broadcast to a room; changes in the next 0.2 s share it.

    Sending it on every connect would cost N*N packets when a room of N joins at once.
    """
    if room not in presence_pending:
        presence_pending.add(room)
        socketio.start_background_task(send_presence, room)


def send_presence(room="general"):
    """Wait 0.2 s, then tell a room how many connections it holds and who is behind them."""
    socketio.sleep(0.2)
    presence_pending.discard(room)
    here = [c for c in list(connections.values()) if c.room == room]
    names = {c.username or c.name for c in here} - {None}
    socketio.emit("presence", {"room": room, "online": len(here), "users": sorted(names)[:100]},
                  to=presence_room(room))  # at most 100 names (step 11)


@socketio.on("event_message")
def on_event_message(data=None, *_extra):  # a client may send no payload, or several
    """A client sent `event_message`: check it, save it, then broadcast `new_message` to its room."""
    connection = connections[request.sid]
    try:
        with one_message_at_a_time:  # so every client gets the ids in increasing order
            spend_allowance(connection)
            spend_address_allowance(connection.address)  # step 11
            author, text = check_message(data, connection)
            message = save_message(author, text, connection.room, account_of(connection))
            # Saved first, broadcast second: nobody ever sees a message the database does not hold.
            socketio.emit("new_message", message, to=connection.room)
    except Refused as error:
        emit("message_error", {"error": str(error)})  # to the sender alone
        count_refusal(connection)  # step 11
        return {"ok": False, "error": str(error)}
    return {"ok": True, "message": message}  # the acknowledgement, if the client asked for one


def check_message(data, connection):
    """Return the (author, text) of a valid payload, or raise Refused with the reason."""
    if not isinstance(data, dict):
        raise Refused('payload must be a JSON object like {"text": "hola", "author": "ana"}')
    text = clean_text(data.get("text"), "text", app.config["MAX_MESSAGE_LENGTH"])
    if connection.username:
        token_still_valid(connection)  # step 11
        return connection.username, text  # a logged-in user cannot speak for someone else
    author = data.get("author")
    if author is None:
        author = connection.name
    if author is None or author != connection.author:  # a name new to this connection: check it
        connection.author = clean_name(author, "author")  # once: it reads the accounts (step 13)
    return connection.author, text


def clean_text(value, field, max_length):
    """Trim a string field and check it is 1..max_length characters long."""
    if value is None:
        raise Refused(f"{field} is required")
    if not isinstance(value, str):
        raise Refused(f"{field} must be a string")
    value = value.strip()
    if not value:
        raise Refused(f"{field} must not be empty")
    if "\x00" in value or re.search("[\ud800-\udfff]", value):  # UTF-8 and PostgreSQL refuse these
        raise Refused(f"{field} must be valid text")
    if len(value) > max_length:
        raise Refused(f"{field} is longer than {max_length} characters")
    return value


def clean_name(value, field):
    """An author or handshake name: clean text on one line, as it appears in presence and logs,
    in one script, and nobody's account (step 13)."""
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value)  # one form for the same letters (step 11)
    value = clean_text(value, field, MAX_AUTHOR_LENGTH)
    if not value.isprintable():  # no line breaks, tabs or invisible direction marks
        raise Refused(f"{field} must be printable characters on one line")
    if all(char in BLANK_LETTERS or unicodedata.category(char)[0] in "MZ" for char in value):
        raise Refused(f"{field} must show at least one letter, digit or symbol")  # step 11
    if value.casefold() == "system":
        raise Refused(f"{field} system is reserved for the server's announcements")
    if mixes_scripts(value):
        raise Refused(f"{field} must not mix letters of different alphabets")
    if an_accounts_name(value):
        raise Refused(f"{field} {value} is the name of an account: log in to use it")
    return value


# --- Step 5: the database: messages and history ---
from flask import abort
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.exc import SQLAlchemyError

# sqlite:///chat.db lives in Flask's instance/ folder (created for us).
app.config.update(SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL", "sqlite:///chat.db"))
db = SQLAlchemy(app)


import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine


@event.listens_for(Engine, "connect")
def tune_sqlite(connection, _record):
    """WAL lets readers run beside the writer and makes each commit cheap; wait, don't fail, on a lock."""
    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=500")  # short: under eventlet a wait pauses everyone


def utc_now():
    """Now, in UTC, without tzinfo: SQLite would drop it anyway."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Message(db.Model):
    id = db.Column(db.Integer, primary_key=True)  # increasing: the cursor for history pages
    room = db.Column(db.String(32), nullable=False, default="general", server_default="general")
    author = db.Column(db.String(MAX_AUTHOR_LENGTH), nullable=False)
    text = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utc_now)
    sender_id = db.Column(db.Integer)  # the account that sent it, if logged in (step 13)
    edited_at = db.Column(db.DateTime)  # None until it is edited (step 13)
    # History is read one room at a time, by id: with this index that is a range scan (step 12).
    # AUTOINCREMENT: a deleted message's id is never given to another one (step 13).
    __table_args__ = (db.Index("message_room_id", "room", "id"), {"sqlite_autoincrement": True})

    def to_dict(self):
        return {"id": self.id, "room": self.room, "author": self.author, "text": self.text,
                "created_at": self.created_at.isoformat(timespec="microseconds") + "Z",
                "edited_at": self.edited_at and self.edited_at.isoformat(timespec="microseconds") + "Z"}


with app.app_context():
    db.create_all()  # creates only the tables that are missing


def save_message(author, text, room="general", sender_id=None):
    """Insert and commit a message, counted in its room; return it as a dict. A database failure
    refuses the message."""
    # A plain INSERT, not db.session.add(): the session's bookkeeping was a third of the cost of
    # each message (tutorial step 8). Reading history still goes through the session.
    row = {"room": room, "author": author, "text": text, "created_at": utc_now(), "sender_id": sender_id}
    for attempt in range(3):
        try:
            with db.engine.begin() as connection:  # commits both at the end, or rolls both back
                message_id = connection.execute(insert(Message), row).inserted_primary_key[0]
                count_in_room(connection, room, message_id)
            return Message(id=message_id, **row).to_dict()
        except IntegrityError:
            continue  # another process created this room's row just now: count again (step 12)
        except SQLAlchemyError:
            log.exception("could not save a message")
            break
    raise Refused("database unavailable: message not saved, try again")


def int_arg(name, default, low, high):
    """Read an integer query parameter in [low, high], or answer 400."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,16}", raw) or not low <= int(raw) <= high:
        abort(400, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


MAX_ID = 2**53  # the largest integer every JSON client reads exactly


@app.get("/messages")
def get_messages():
    """Chat history of one room, oldest first.
    ---
    tags: [messages]
    summary: The newest messages of a room, or a page before/after a message id
    description: With `before` it pages back (scroll up); with `after` it catches up after a reconnect.
    security: [{Bearer: []}, {}]  # {}: no token needed unless AUTH_REQUIRED=true
    parameters:
      - {name: room, in: query, type: string, default: general, pattern: "^[a-z0-9_-]{1,32}$"}
      - {name: limit, in: query, type: integer, minimum: 1, maximum: 200, default: 50}
      - {name: before, in: query, type: integer, minimum: 0, maximum: 9007199254740992,
         description: "the newest `limit` messages with id < before"}
      - {name: after, in: query, type: integer, minimum: 0, maximum: 9007199254740992,
         description: "the oldest `limit` messages with id > after (not with `before`)"}
    responses:
      200:
        description: Messages, oldest first
        schema: {type: array, items: {$ref: "#/definitions/Message"}}
        examples:
          application/json: [{id: 17, room: general, author: ana, text: hola,
                              created_at: "2026-11-24T20:15:03.123456Z"}]
      400: {description: A bad parameter, schema: {$ref: "#/definitions/Error"}}
      401: {description: "Login required (AUTH_REQUIRED=true, step 6)", schema: {$ref: "#/definitions/Error"}}
    """
    try:
        room = clean_room(request.args.get("room", "general"))
    except Refused as error:
        abort(400, str(error))
    limit = int_arg("limit", 50, 1, 200)
    before = int_arg("before", None, 0, MAX_ID)
    after = int_arg("after", None, 0, MAX_ID)
    if before is not None and after is not None:
        abort(400, "use before or after, not both")
    query = db.select(Message).where(Message.room == room).limit(limit)
    if after is not None:  # the (room, id) index serves both directions: no OFFSET, no scan
        rows = db.session.scalars(query.where(Message.id > after).order_by(Message.id)).all()
    else:
        if before is not None:
            query = query.where(Message.id < before)
        rows = db.session.scalars(query.order_by(Message.id.desc())).all()[::-1]
    return [message.to_dict() for message in rows]


# --- Step 6: optional login with JWT ---
import secrets
from datetime import timedelta

from flask_jwt_extended import JWTManager, create_access_token, decode_token, verify_jwt_in_request
from jwt import ExpiredSignatureError
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash


def secret_key(name):
    """A signing key: the environment variable `name`, else one made at the first start and kept in
    the instance folder (only this user may read it), so tokens survive a restart (step 10)."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.path.join(app.instance_path, name.lower())
    if not os.path.exists(path):
        try:
            os.makedirs(app.instance_path, exist_ok=True)
            draft = f"{path}.{os.getpid()}"
            with open(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
                file.write(secrets.token_hex(32))
            try:
                os.link(draft, path)  # atomic: when two servers start at once, the first key wins
            except FileExistsError:
                pass
            finally:
                os.remove(draft)
        except OSError as error:  # a read-only folder, say: serve anyway, with keys that die with us
            log.warning("cannot keep %s in %s (%s): tokens die with this process", name, path, error)
            return secrets.token_hex(32)
    with open(path) as file:
        return file.read().strip()


app.config.update(
    SECRET_KEY=secret_key("SECRET_KEY"),
    JWT_SECRET_KEY=secret_key("JWT_SECRET_KEY"),
    JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=float(os.environ.get("JWT_EXPIRES_MINUTES", "60"))),
    JWT_ERROR_MESSAGE_KEY="error",  # its errors in our shape, {"error": ...}
    AUTH_REQUIRED=os.environ.get("AUTH_REQUIRED", "").strip().lower() in ("1", "true"),
)
jwt = JWTManager(app)


class User(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(MAX_AUTHOR_LENGTH), unique=True, nullable=False)
    password_hash = db.Column(db.String(256), nullable=False)  # never the password itself
    created_at = db.Column(db.DateTime, nullable=False, default=utc_now)
    moderator = db.Column(db.Boolean, nullable=False, default=False, server_default=db.false())  # step 13
    __table_args__ = {"sqlite_autoincrement": True}  # a removed account's id is never given again


with app.app_context():
    db.create_all()  # the user table is new


USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def read_json_object(example):
    """The JSON object a route wants, or 400 with an example: every JSON body is read here (step 11)."""
    try:
        data = request.get_json(silent=True)  # None when the body is not JSON, or not UTF-8
    except RecursionError:  # [[[[... nested thousands deep
        data = None
    if not isinstance(data, dict):
        abort(400, f"send a JSON object like {example}")
    return data


def read_credentials():
    """The username and password of a JSON body, or 400 with what is wrong."""
    data = read_json_object('{"username": "ana", "password": "at least 8 chars"}')
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        abort(400, "username must be 1-32 letters, digits, _, - or .")
    if not isinstance(password, str) or not 8 <= len(password) <= 128:
        abort(400, "password must be 8-128 characters")
    if re.search("[\ud800-\udfff]", password):  # half a character: it cannot be hashed (step 11)
        abort(400, "password must be valid text")
    return username, password


def reserved(username):
    """A name nobody registers over the API: system is the author of `flask announce`, and a
    moderator's account is made on the server (flask moderator, step 13)."""
    return username.lower() == "system" or username.lower() in app.config["MODERATORS"]


@app.post("/auth/register")
def register():
    """Create an account (works whether or not login is required).
    ---
    tags: [auth]
    summary: Register a username and password
    parameters: [{name: body, in: body, required: true, schema: {$ref: "#/definitions/Credentials"}}]
    responses:
      201: {description: Created, schema: {$ref: "#/definitions/User"}}
      400: {description: Invalid username or password, schema: {$ref: "#/definitions/Error"}}
      409: {description: "Username taken (in any case), or reserved", schema: {$ref: "#/definitions/Error"}}
      429: {description: "Over 10 tries a minute from your address", schema: {$ref: "#/definitions/Error"}}
      503: {description: The database cannot take the account now, schema: {$ref: "#/definitions/Error"}}
    """
    username, password = read_credentials()
    if reserved(username):
        abort(409, "username already taken")
    user = User(username=username, password_hash=off_the_hub(generate_password_hash, password))
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # the same name, in any case (the index on lower(username))
        db.session.rollback()
        abort(409, "username already taken")
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not save a new account")
        abort(503, "database unavailable: account not saved, try again")
    return {"id": user.id, "username": user.username}, 201


@app.post("/auth/login")
def login():
    """Trade a username and password for an access token.
    ---
    tags: [auth]
    summary: Log in and get a JWT access token
    parameters: [{name: body, in: body, required: true, schema: {$ref: "#/definitions/Credentials"}}]
    responses:
      200:
        description: "Send the token as `Authorization: Bearer <token>` or in the Socket.IO handshake"
        schema: {$ref: "#/definitions/Token"}
      400: {description: Malformed body, schema: {$ref: "#/definitions/Error"}}
      401: {description: Wrong username or password, schema: {$ref: "#/definitions/Error"}}
      429: {description: "Over 10 tries a minute from your address", schema: {$ref: "#/definitions/Error"}}
    """
    username, password = read_credentials()
    user = db.session.scalar(db.select(User).where(User.username == username))
    hash_to_check = user.password_hash if user else DUMMY_HASH  # same work whether the user exists
    db.session.rollback()  # hand the database connection back while the hash waits its turn
    if not off_the_hub(check_password_hash, hash_to_check, password) or user is None:
        abort(401, "wrong username or password")
    # The token names the account's id too: an account made again under this name is another one.
    token = create_access_token(identity=username, additional_claims={"uid": user.id})
    return {"access_token": token, "username": username}


def bearer_token():
    """The token of an `Authorization: Bearer <token>` header, or None. The scheme's name is
    case-insensitive (RFC 7235): "bearer" and "BEARER" work too (step 9)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else None


@app.before_request
def accept_bearer_in_any_case():
    """flask-jwt-extended knows only "Bearer": hand it the token under that exact name."""
    token = bearer_token()
    if token:
        request.environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"


@app.before_request
def require_login():
    """With AUTH_REQUIRED=true, reading the history needs a valid token (the seed's guard)."""
    if app.config["AUTH_REQUIRED"] and request.endpoint in ("get_messages", "get_rooms", "get_message"):
        verify_jwt_in_request()


@app.context_processor
def page_settings():
    """What templates/index.html needs to know: whether it must show a login form, and (step 13)
    who may delete any message."""
    try:
        made = db.session.scalars(db.select(User.username).where(User.moderator)).all()  # flask moderator
    except SQLAlchemyError:  # the page opens all the same; MODERATORS still get their buttons
        made = []
    return {"auth_required": app.config["AUTH_REQUIRED"],
            "moderators": sorted(app.config["MODERATORS"] | {name.lower() for name in made})}


def find_token(auth):
    """A socket's JWT: handshake auth {"token"}, an Authorization header, or ?token= (Postman)."""
    return auth.get("token") or bearer_token() or request.args.get("token")


def read_token(token):
    """Return (username, None) for a valid token, else (None, why it was refused)."""
    if not token:
        return None, "missing token: log in, then send it in auth {token} or ?token="
    try:
        payload = decode_token(token)
    except ExpiredSignatureError:
        return None, "expired token: log in again"
    except Exception:  # bad signature, tampered, alg "none", not a JWT at all...
        return None, "invalid token: log in again"
    if not USERNAME.fullmatch(payload["sub"]):  # signed by us, yet not one of our usernames
        return None, "invalid token: log in again"
    if token_revoked(payload):  # step 11
        return None, "invalid token: logged out or account deleted, log in again"
    return payload["sub"], None


swagger.template["definitions"].update({
    "Credentials": {"type": "object", "required": ["username", "password"], "properties": {
        "username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,32}$", "example": "ana"},
        "password": {"type": "string", "minLength": 8, "maxLength": 128, "example": "correct horse"}}},
    "User": {"type": "object", "required": ["id", "username"], "properties": {
        "id": {"type": "integer", "example": 1}, "username": {"type": "string", "example": "ana"}}},
    "Token": {"type": "object", "required": ["access_token", "username"], "properties": {
        "access_token": {"type": "string"}, "username": {"type": "string", "example": "ana"}}},
})


# --- Step 7: document the events for Postman ---
MESSAGE_SCHEMA = {
    "type": "object",
    "required": ["id", "room", "author", "text", "created_at"],
    "properties": {
        "id": {"type": "integer", "example": 17},
        "room": {"type": "string", "pattern": "^[a-z0-9_-]{1,32}$", "example": "general"},
        "author": {"type": "string", "minLength": 1, "maxLength": MAX_AUTHOR_LENGTH, "example": "ana"},
        "text": {"type": "string", "minLength": 1, "example": "hola"},
        "created_at": {"type": "string", "format": "date-time",
                       "example": "2026-11-24T20:15:03.123456Z"},
    },
}
swagger.template["definitions"]["Message"] = MESSAGE_SCHEMA

# The Socket.IO events, which Swagger cannot describe, in AsyncAPI 3: the document describes this
# server, so "receive" is client -> server and "send" is server -> clients.
ASYNCAPI = {
    "asyncapi": "3.0.0",
    "info": {"title": "Chat Live events", "version": "1.0", "description": (
        "The Socket.IO side of Chat Live (protocol v5: the JS client 4.x, Postman's Socket.IO client), "
        "on the same port as its REST API ([/docs/](/docs/)). *receive*: a client emits it; *send*: "
        "the server does.")},
    "defaultContentType": "application/json",
    "servers": {"chat-live": {"host": "127.0.0.1:5000", "protocol": "ws", "pathname": "/socket.io/"}},
    "channels": {"chat": {"address": "/", "title": "The default namespace", "messages": {}}},
    "operations": {},
    "components": {"schemas": {"Message": MESSAGE_SCHEMA}},  # the same object as the REST schema
}
swagger.template["info"]["description"] = (
    "A live chat over REST and Socket.IO: its events are at [/docs/events](/docs/events).")


def event_doc(name, summary, payload, example=None):
    """One Socket.IO event (or an acknowledgement) as an AsyncAPI message."""
    message = {"name": name, "title": name, "summary": summary, "payload": payload}
    if example is not None:
        message["examples"] = [{"payload": example}]
    return message


def document_event(action, message, reply=None):
    """Add to ASYNCAPI that the server "receive"s or "send"s the event `message`; `reply`: the
    acknowledgement a client may ask for (sent back on the same connection)."""
    key = f"{action}_{message['name']}"
    channel = ASYNCAPI["channels"]["chat"]
    channel["messages"][key] = message
    operation = {"action": action, "channel": {"$ref": "#/channels/chat"}, "title": message["name"],
                 "summary": message["summary"], "messages": [{"$ref": f"#/channels/chat/messages/{key}"}]}
    if reply:
        channel["messages"][f"{key}_reply"] = reply
        operation["reply"] = {"channel": {"$ref": "#/channels/chat"},
                              "messages": [{"$ref": f"#/channels/chat/messages/{key}_reply"}]}
    ASYNCAPI["operations"][key] = operation


@app.get("/asyncapi.json")
def asyncapi():
    """The AsyncAPI document, naming the address this request came to as the server.
    ---
    tags: [docs]
    summary: The Socket.IO events, as an AsyncAPI 3 document (shown at /docs/events)
    produces: [application/json]
    responses: {200: {description: An AsyncAPI 3.0 document, schema: {type: object}}}
    """
    server = {**ASYNCAPI["servers"]["chat-live"], "host": request.host}
    return {**ASYNCAPI, "servers": {"chat-live": server}}


@app.get("/docs/events")
def events_page():
    """The events, rendered by AsyncAPI's React component (templates/events.html).
    ---
    tags: [docs]
    summary: The Socket.IO events, rendered
    produces: [text/html]
    responses: {200: {description: An HTML page that shows /asyncapi.json}}
    """
    # Only files of this server may load; the renderer checks schemas with code it compiles (eval).
    return render_template("events.html"), {
        "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-eval'; img-src 'self' data:; "
                                   "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"}


NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_AUTHOR_LENGTH}
HANDSHAKE = {"type": "object", "properties": {
    "name": {**NAME_SCHEMA, "description": (
        "the name others see in presence, and the author of messages that name none")},
    "token": {"type": "string", "description": (
        "a JWT from POST /auth/login, needed when AUTH_REQUIRED=true; it sets the author of every message")}}}
ASYNCAPI["channels"]["chat"]["bindings"] = {"ws": {  # for clients with no auth object (Postman)
    "query": {"type": "object", "properties": {"token": {"type": "string", "description": "the JWT"}}}}}
CONNECT_REFUSED = {"type": "object", "required": ["message"], "properties": {"message": {
    "type": "string", "examples": [  # later steps add theirs
        "name is longer than 32 characters",
        "missing token: log in, then send it in auth {token} or ?token=",
        "invalid token: log in again", "expired token: log in again"]}}}
ACK = {"type": "object", "required": ["ok"], "properties": {
    "ok": {"type": "boolean"}, "message": MESSAGE_SCHEMA, "error": {"type": "string"}},
    "description": '{"ok": true, "message": ...} when saved, {"ok": false, "error": "..."} when refused'}

document_event("receive", event_doc(
    "connect", "Connect, with an optional handshake auth object (the JS client's io({auth}))",
    HANDSHAKE, {"name": "ana"}), reply=event_doc(
    "connect_error", "The connection was refused: message says why", CONNECT_REFUSED,
    {"message": "name is longer than 32 characters"}))
document_event("receive", event_doc(
    "disconnect", "Leave: close the connection (or send Socket.IO's disconnect packet)", {"type": "null"}))
document_event("receive", event_doc(
    "event_message", "Send a message; it is saved, then goes out as new_message",
    {"type": "object", "required": ["text"], "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": app.config["MAX_MESSAGE_LENGTH"]},
        "author": {**NAME_SCHEMA, "description": "default: the handshake name"}}},
    {"text": "hola", "author": "ana"}), reply=event_doc(
    "ack", "The answer, if the client asked for one", ACK, {"ok": False, "error": "text must not be empty"}))
document_event("send", event_doc(
    "new_message", "A message, to everyone, only after it is saved", MESSAGE_SCHEMA))
document_event("send", event_doc(
    "message_error", "To the sender alone: its event_message was refused, and why",
    swagger.template["definitions"]["Error"], {"error": "text must not be empty"}))
document_event("send", event_doc(
    "presence", "To everyone, after connects and disconnects: how many are online, and their names",
    {"type": "object", "required": ["online", "users"], "properties": {
        "online": {"type": "integer", "minimum": 0}, "users": {"type": "array", "items": NAME_SCHEMA}}},
    {"online": 2, "users": ["ana", "bea"]}))


# --- Step 8: make it fast ---
import gc
import socket

from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import insert
from werkzeug.serving import WSGIRequestHandler


class NoCookieSession(SecureCookieSessionInterface):
    """Chat Live stores nothing in Flask's cookie session (logins are JWTs, step 6), but
    Flask-SocketIO opens that session for every socket event: a tenth of each message's cost."""

    def open_session(self, app, request):
        return self.null_session_class()  # empty, and never saved as a cookie


app.session_interface = NoCookieSession()


def websocket_upgrades(wsgi_app):
    """Check websocket upgrades before the Socket.IO server sees them.

    A broken handshake (no key) would crash the websocket library and answer a 500, so it gets a
    JSON 400 here. Compression is turned off, as Node's socket.io does: compressing each small chat
    frame once per client halved the broadcast rate and kept ~90 KB per connection.
    """
    def middleware(environ, start_response):
        upgrade = environ.get("HTTP_UPGRADE", "").lower() == "websocket"
        key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
        if upgrade and not (re.fullmatch(r"[A-Za-z0-9+/]{22}==", key)  # 16 bytes in base64
                            and environ.get("HTTP_SEC_WEBSOCKET_VERSION") == "13"):
            body = b'{"error":"bad websocket upgrade: needs Sec-WebSocket-Key, -Version: 13"}\n'
            start_response("400 Bad Request", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(body)))])
            return [body]
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return wsgi_app(environ, start_response)
    return middleware


app.wsgi_app = websocket_upgrades(app.wsgi_app)


class NoDelayRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler with TCP_NODELAY on each connection (see main)."""
    disable_nagle_algorithm = True


def raise_open_file_limit(wanted=10_000):
    """Every connection is an open file, and many systems allow a process only 1,024 of them
    unless it asks for more: ask for `wanted`, as far as the system's hard limit allows."""
    try:
        import resource  # Unix only; Windows has no such limit
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as error:  # a locked-down container, say: serve anyway
            log.warning("could not raise the open-file limit from %d: %s", soft, error)


if ASYNC_MODE == "gevent":  # gunicorn's worker calls no main(): raise it as it loads us
    raise_open_file_limit(20_000)


def address_to_share(host):
    """The address to give the class. HOST=0.0.0.0 listens on every network of this machine; the one
    it reaches other machines through is, on a teacher's laptop, the classroom's."""
    if host not in ("0.0.0.0", "::", ""):
        return host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP: nothing is sent, the system only picks a route
            return probe.getsockname()[0]
        except OSError:  # no network at all: only this machine can connect
            return "127.0.0.1"


class PlainDevelopmentLog(logging.Filter):
    """`flask run` logs through Werkzeug, which colours its lines for a terminal (in our log format
    the codes came out raw) and writes one line per request (Socket.IO's long-polling sends several
    a second per tab). Keep its lines plain, and leave Socket.IO's requests out."""

    def filter(self, record):
        text = re.sub(r"\x1b\[[0-9;]*m", "", record.getMessage())
        record.msg, record.args = text, None
        return " /socket.io/" not in text


def websocket_end_is_not_an_error(wsgi_app):
    """Under Werkzeug, Engine.IO ends a websocket by raising ConnectionError, which Werkzeug takes for a
    client that left. `flask run --debug` puts its debugger in front, which took it for a crash: a 500
    and a 30-line traceback each time a chat tab closed. Here the end of a websocket is an empty answer
    on a connection closed first, which Werkzeug drops in silence."""

    def middleware(environ, start_response):
        try:
            return wsgi_app(environ, start_response)
        except ConnectionError:
            if environ.get("HTTP_UPGRADE", "").lower() != "websocket" or "werkzeug.socket" not in environ:
                raise  # not the end of a websocket under Werkzeug
            try:
                environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)  # so nothing more goes out
            except OSError:
                pass  # the client reset it already
            start_response("200 OK", [])
            return []

    return middleware


if __name__ != "__main__":  # `flask run` (main() gives Werkzeug a request handler of its own)
    logging.getLogger("werkzeug").addFilter(PlainDevelopmentLog())
    app.wsgi_app = websocket_end_is_not_an_error(app.wsgi_app)


# --- Step 9: make it safe ---
import time


def cors_origins():
    """CORS_ORIGINS as "*" or a list of origins such as ["http://school.example"]."""
    value = os.environ.get("CORS_ORIGINS", "").strip()
    origins = [origin.strip().rstrip("/") for origin in value.split(",")]
    return "*" if value == "*" else [origin for origin in origins if origin]


app.config.update(
    CORS_ORIGINS=cors_origins(),
    MAX_CONTENT_LENGTH=16 * 1024,  # REST bodies are tiny JSON objects; refuse bigger ones (413)
    RATE_LIMIT_BURST=int(os.environ.get("RATE_LIMIT_BURST", "10")),
    RATE_LIMIT_PER_SECOND=float(os.environ.get("RATE_LIMIT_PER_SECOND", "5")),
)


@app.before_request
def refuse_foreign_origins():
    """A page on another site may not use this API from its visitors' browsers."""
    origin = request.headers.get("Origin")
    if not origin_allowed(origin, request.environ):
        abort(403, f"origin {origin} is not allowed: add it to CORS_ORIGINS")


@app.after_request
def security_headers(response):
    """Headers that stop browsers from guessing content types or leaking our URLs elsewhere."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Vary"] = "Origin"  # the answer depends on who asks
    if origin and app.config["CORS_ORIGINS"] and origin_allowed(origin, request.environ):
        response.headers["Access-Control-Allow-Origin"] = origin  # lets that site's page read it
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    return response


def spend_allowance(connection):
    """The rate limit: RATE_LIMIT_BURST messages at once, then RATE_LIMIT_PER_SECOND a second."""
    burst, per_second = app.config["RATE_LIMIT_BURST"], app.config["RATE_LIMIT_PER_SECOND"]
    if not burst or not per_second:
        return  # 0 turns the limit off (benchmarks)
    now = time.monotonic()
    topped_up = connection.allowance + (now - connection.allowance_at) * per_second
    connection.allowance, connection.allowance_at = min(burst, topped_up), now
    if connection.allowance < 1:
        raise Refused("rate limit exceeded")
    connection.allowance -= 1


# flask-jwt-extended answers some token problems with 422; every token problem is 401 here.
@jwt.unauthorized_loader
def token_missing(reason):
    return {"error": f"missing token: {reason}"}, 401


@jwt.invalid_token_loader
def token_invalid(reason):
    return {"error": f"invalid token: {reason}"}, 401


@jwt.expired_token_loader
def token_expired(_header, _payload):
    return {"error": "expired token: log in again"}, 401


# The "Authorize" button of /docs/: paste "Bearer <token>" from POST /auth/login.
swagger.template["securityDefinitions"] = {"Bearer": {"type": "apiKey", "name": "Authorization",
                                                      "in": "header"}}


# Checking a password against this when the user does not exist takes as long as a real check,
# so response times do not reveal which usernames exist.
DUMMY_HASH = generate_password_hash("not anybody's password")


ASYNCAPI["channels"]["chat"]["bindings"]["ws"]["headers"] = {"type": "object", "properties": {
    "Authorization": {"type": "string", "description": "Bearer <JWT>"}}}


swagger.template["info"]["description"] += """
Limits: a burst of RATE_LIMIT_BURST (10) messages then RATE_LIMIT_PER_SECOND (5) per second per
connection, Socket.IO frames up to 64 KB, REST bodies up to 16 KB. Pages of other sites may connect only
when CORS_ORIGINS lists them.
"""


# --- Step 10: several processes ---
import click
from flask_socketio import join_room

# With several processes (MESSAGE_QUEUE), each counts its own clients: this room holds them.
THIS_PROCESS = f"process-{secrets.token_hex(8)}"


@app.cli.command("init-db")
def init_db():
    """Create the tables (`python app.py` does this too): flask --app app init-db"""
    db.create_all()
    print("tables ready in", db.engine.url.render_as_string(hide_password=True))


@app.cli.command("announce")
@click.argument("text")
@click.option("--room", default="general", help="the room to post in (default: general)")
def announce(text, room):
    """Save TEXT from "system" and broadcast it: flask --app app announce "TEXT" [--room NAME]

    This runs outside the server, so the broadcast reaches clients only through MESSAGE_QUEUE.
    """
    try:
        text = clean_text(text, "text", app.config["MAX_MESSAGE_LENGTH"])
        message = save_message("system", text, clean_room(room))
    except Refused as error:
        raise click.ClickException(str(error))
    socketio.emit("new_message", message, to=room)
    print(f"saved message {message['id']}", "and broadcast it" if os.environ.get("MESSAGE_QUEUE") else
          "(set MESSAGE_QUEUE to broadcast it to running servers)")


@app.get("/health")
def health():
    """Is the server up and its database answering?
    ---
    tags: [health]
    summary: Health check for load balancers and teachers
    responses:
      200:
        description: The database answers and accepts writes
        schema: {type: object, properties: {status: {type: string, example: ok}}}
      503: {description: "The database is down, locked, read-only or its disk full", schema: {$ref: "#/definitions/Error"}}
    """
    if database_disk_full():  # step 11
        return {"error": "database disk full"}, 503
    try:
        # A write that changes nothing: it fails when the database is down, locked or read-only.
        db.session.execute(db.text("UPDATE message SET id = id WHERE 1 = 0"))
    except SQLAlchemyError:
        return {"error": "database unavailable"}, 503
    finally:
        db.session.rollback()
    return {"status": "ok"}


# --- Step 11: one student with a script ---
import collections
import ctypes
import importlib.metadata
import io
import json
import shutil
import unicodedata
import weakref
from http import HTTPStatus
from inspect import signature
from urllib.parse import parse_qs

import engineio.socket

from flask import has_request_context
from flask_jwt_extended import get_jwt, get_jwt_identity
from flask_limiter import Limit, Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

app.config.update(
    MAX_CONNECTIONS_PER_IP=int(os.environ.get("MAX_CONNECTIONS_PER_IP", "50")),
    RATE_LIMIT_PER_ADDRESS=float(os.environ.get("RATE_LIMIT_PER_ADDRESS", "20")),
    READS_PER_ADDRESS=int(os.environ.get("READS_PER_ADDRESS", "30")),
    FRAMES_PER_SECOND=int(os.environ.get("FRAMES_PER_SECOND", "30")),
    TRUSTED_PROXIES=int(os.environ.get("TRUSTED_PROXIES", "0")),
)


def library_has(library, owner, path, guard, parameters=None, uses=None, kind=None):
    """Is `owner.path`, a private name of `library` that this step changes, still what we wrote for:
    there at all, taking exactly `parameters` (a function), using the name `uses` in its code (an
    attribute, a global or a parameter), of type `kind`? A release may rename or reshape a private
    name without notice. Then warn once, naming the guard that is off, and serve without it: better
    than a server that does not start, or a guard that guards nothing without a word."""
    found = owner
    for name in path.split("."):
        found = getattr(found, name, None)
    expected = found is not None
    try:
        if expected and parameters is not None:
            expected = list(signature(found).parameters) == parameters
        if expected and uses is not None:  # the attributes and globals it reads, then its variables
            expected = uses in found.__code__.co_names + found.__code__.co_varnames
    except (TypeError, ValueError, AttributeError):  # no longer a plain Python function
        expected = False
    if expected and kind is not None:
        expected = isinstance(found, kind)
    if not expected:
        where = getattr(owner, "__name__", type(owner).__name__)
        log.warning("%s %s has changed %s.%s: serving without %s (the requirements files pin the version "
                    "this server was tested with)", library, installed_version(library), where, path, guard)
    return expected


def installed_version(library):
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:  # not installed with pip
        return "(version unknown)"


# Private (python-socketio 5.18.1): server.environ, each session's WSGI environ (its address, its socket).
if library_has("python-socketio", socketio.server, "environ", "the limits per address on Socket.IO "
               "sessions and frames, and hanging up on a client that is cut off", kind=dict):
    session_environs = socketio.server.environ
else:
    session_environs = {}  # every address unknown

# Private (python-engineio 4.15.1): eio.sockets, each session's Socket, whose close() can end it at once.
SESSIONS_GUARD = "ending at once the session of a client that is cut off"
ENDING_SESSIONS = (library_has("python-engineio", socketio.server.eio, "sockets", SESSIONS_GUARD, kind=dict)
                   and library_has("python-engineio", engineio.socket, "Socket.close", SESSIONS_GUARD,
                                   parameters=["self", "wait", "abort", "reason"]))

EVENTLET_SOCKETS = False
if ASYNC_MODE == "eventlet":
    import eventlet.wsgi

    # Private (eventlet 0.41.3): a request's environ["eventlet.input"].get_socket() is the client's socket.
    EVENTLET_SOCKETS = library_has("eventlet", eventlet.wsgi, "Input.get_socket", "hanging up on a client "
                                   "that is cut off, and the timeout on each read", parameters=["self"])


def client_socket(environ):
    """The client's TCP socket, from the server that runs us (None under another server)."""
    if "werkzeug.socket" in environ:  # threading mode
        return environ["werkzeug.socket"]
    if "gunicorn.socket" in environ:  # gunicorn (gevent mode in production)
        return environ["gunicorn.socket"]
    if "eventlet.input" in environ and EVENTLET_SOCKETS:
        return environ["eventlet.input"].get_socket()
    return None


def cut_off(eio_sid):
    """Close a client's connection now, and drop what it sent that we have not read yet: a script
    ignores Socket.IO's polite "disconnect", and keeps filling its socket faster than we refuse."""
    eio_socket = socketio.server.eio.sockets.get(eio_sid) if ENDING_SESSIONS else None
    sock = client_socket(session_environs.get(eio_sid, {}))
    if eio_socket is not None:  # without waiting for it to read what we queued: it may never read
        eio_socket.close(wait=False, abort=True, reason=eio_socket.server.reason.SERVER_DISCONNECT)
    if sock is not None:
        hang_up(sock)


def hang_up(sock):
    """End a TCP connection both ways: whoever waits to read from it gets its end at once."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already


def guard_packets(read_packet):
    """Wrap python-socketio's reader of Socket.IO packets, so that no packet can hurt the others."""
    def guarded(eio_sid, data):
        if not isinstance(data, str) or data[:1] in ("5", "6"):
            problem = "a binary packet (this server has no binary events)"
        else:
            try:
                return read_packet(eio_sid, data)
            except (ValueError, TypeError, IndexError, KeyError, RecursionError) as error:
                problem = f"a packet that does not decode ({type(error).__name__})"
        address = session_environs.get(eio_sid, {}).get("REMOTE_ADDR")
        log.warning("closing connection %s: it sent %s", eio_sid, problem,  # one line, no traceback
                    extra={"address": address})
        cut_off(eio_sid)
    return guarded


# Private (python-engineio 4.15.1): eio.handlers["message"], python-socketio's reader of every packet.
if library_has("python-engineio", socketio.server.eio, "handlers", "the guard on Socket.IO packets",
               kind=dict) and "message" in socketio.server.eio.handlers:
    socketio.server.eio.on("message", guard_packets(socketio.server.eio.handlers["message"]))


# FRAMES_PER_SECOND (30) frames of any kind one connection may send a second, after a burst of
FRAMES_BURST = 100  # frames: a person sends a few a second (messages, typing, the answer to each ping)
ADDRESS_FRAMES = 10  # one client address, all its connections together, 10 times that
frame_buckets = weakref.WeakKeyDictionary()  # Engine.IO socket -> its bucket, gone with the socket
address_frame_buckets = {}  # client address -> its bucket


def take_one(bucket, per_second, burst, frames=1):
    """A token bucket, [frames it may send now, when that was counted]: take one frame (or `frames`)
    from it, or answer False when it holds fewer."""
    now = time.monotonic()
    bucket[0], bucket[1] = min(burst, bucket[0] + (now - bucket[1]) * per_second), now
    if bucket[0] < frames:
        return False
    bucket[0] -= frames
    return True


def guard_frames(receive):
    """Wrap Engine.IO's reader of every frame a client sends, whatever it is (ping, pong, noop,
    upgrade, message): each spends from its connection's budget and its address's, and a client past
    either is cut off. Between two frames of one client, every other client gets its turn."""
    def guarded(eio_socket, frame):
        socketio.sleep(0)  # eventlet: its reader of a socket never waits while frames are there
        per_second = app.config["FRAMES_PER_SECOND"]
        if not per_second:  # 0 turns the budget off (benchmarks)
            return receive(eio_socket, frame)
        address = session_environs.get(eio_socket.sid, {}).get("REMOTE_ADDR")
        mine = frame_buckets.setdefault(eio_socket, [FRAMES_BURST, time.monotonic()])
        if take_one(mine, per_second, FRAMES_BURST) and address_may_send(address, per_second):
            return receive(eio_socket, frame)
        if not eio_socket.closed:
            log.warning("closing connection %s (%s): more frames than a person sends", eio_socket.sid, address,
                        extra={"address": address})
            cut_off(eio_socket.sid)
    return guarded


def address_may_send(address, per_second):
    """One more frame from this address's budget, shared by all its connections (an unknown address
    has none)."""
    if address is None:
        return True
    shared = address_frame_buckets.setdefault(address, [ADDRESS_FRAMES * FRAMES_BURST, time.monotonic()])
    return take_one(shared, ADDRESS_FRAMES * per_second, ADDRESS_FRAMES * FRAMES_BURST)


MAX_QUEUED = 1_000  # packets waiting for one client: one that lets more pile up is not reading


def bound_output(send):
    """Wrap Engine.IO's sender of every packet to a client: past MAX_QUEUED packets waiting, the
    client is cut off instead of growing our memory (from a task of its own: this may run inside
    someone else's broadcast)."""
    def guarded(eio_socket, packet):
        if eio_socket.queue.qsize() < MAX_QUEUED:
            return send(eio_socket, packet)
        if not eio_socket.closed:
            socketio.start_background_task(cut_off, eio_socket.sid)
    return guarded


# Private (python-engineio 4.15.1): Socket.receive() reads every frame; Socket.send() queues every packet.
if library_has("python-engineio", engineio.socket, "Socket.receive", "the budget of frames per connection "
               "and per address", parameters=["self", "pkt"]):
    engineio.socket.Socket.receive = guard_frames(engineio.socket.Socket.receive)
if library_has("python-engineio", engineio.socket, "Socket.send", "the bound on packets queued for a client",
               parameters=["self", "pkt"], uses="queue"):
    engineio.socket.Socket.send = bound_output(engineio.socket.Socket.send)


@socketio.on_error_default
def socket_event_failed(error):
    """A bug in one of our event handlers: log it for us, and answer the client a plain error."""
    log.exception("unexpected error in Socket.IO event %s", request.event["message"])
    return {"ok": False, "error": "internal server error"}


address_allowances = {}  # client address -> (messages it may send now, when that was counted)


def spend_address_allowance(address):
    """RATE_LIMIT_PER_ADDRESS messages a second (a burst of twice that) from one client address,
    all its connections together: reconnecting does not refill it."""
    per_second = app.config["RATE_LIMIT_PER_ADDRESS"]
    if not per_second:
        return  # 0 turns the limit off (benchmarks)
    now = time.monotonic()
    allowance, counted_at = address_allowances.get(address, (2 * per_second, now))
    allowance = min(2 * per_second, allowance + (now - counted_at) * per_second)
    if allowance < 1:
        raise Refused("rate limit exceeded for your address")
    address_allowances[address] = (allowance - 1, now)


def count_refusal(connection):
    """Disconnect a connection that keeps sending far beyond its limit: more than
    5 × RATE_LIMIT_BURST refused events within 10 seconds."""
    now = time.monotonic()
    if now - connection.refused_since > 10:
        connection.refused, connection.refused_since = 0, now
    connection.refused += 1
    limit = 5 * app.config["RATE_LIMIT_BURST"]
    if limit and connection.refused > limit:
        log.warning("disconnect %s (%s): %d refused events in 10 s", request.sid, connection.address,
                    connection.refused)
        cut_off(socketio.server.manager.eio_sid_from_sid(request.sid, "/"))


@socketio.on("*")
def on_unknown_event(event, *_data):
    """An event this server does not know (a typo in Postman, or a script): refused."""
    count_refusal(connections[request.sid])
    return {"ok": False, "error": f"unknown event {str(event)[:40]!r}"}


one_handshake_at_a_time = threading.Lock()  # a polling handshake holds it under a millisecond


def limit_socket_sessions(wsgi_app):
    """Refuse a new Engine.IO session to an address that already holds 2 × MAX_CONNECTIONS_PER_IP."""
    def middleware(environ, start_response):
        limit = 2 * app.config["MAX_CONNECTIONS_PER_IP"]
        new_session = "sid" not in parse_qs(environ.get("QUERY_STRING", ""))
        if not (limit and new_session and environ.get("PATH_INFO", "").startswith("/socket.io")):
            return wsgi_app(environ, start_response)
        # A websocket's request lasts as long as its session, so it cannot hold the lock below; its
        # TCP connection stays open, and GuardedConnection (below) counts those.
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            return open_session(wsgi_app, environ, start_response, limit)
        # Two handshakes at once could both count 99 sessions and both open one (threading mode).
        with one_handshake_at_a_time:
            return open_session(wsgi_app, environ, start_response, limit)
    return middleware


def open_session(wsgi_app, environ, start_response, limit):
    """Engine.IO's handshake, unless this address already holds `limit` sessions, or opens them
    faster than its frame budget pays for."""
    address = environ.get("REMOTE_ADDR")
    held = sum(e.get("REMOTE_ADDR") == address for e in list(session_environs.values()))
    if held >= limit:
        return refuse(start_response, 429, "too many connections from your address")
    if not session_paid(address):
        return refuse(start_response, 429, "too many new connections from your address: wait a few seconds")
    return wsgi_app(environ, start_response)


SESSION_FRAMES = 10  # a new connection costs its address as much as 10 frames


def session_paid(address):
    """Each new session spends SESSION_FRAMES from its address's frame budget: a script that
    connected and closed in a loop opened 850 sessions a second, each with its log lines."""
    per_second = app.config["FRAMES_PER_SECOND"]
    if not per_second:
        return True  # 0 turns the budget off (benchmarks)
    shared = address_frame_buckets.setdefault(address, [ADDRESS_FRAMES * FRAMES_BURST, time.monotonic()])
    return take_one(shared, ADDRESS_FRAMES * per_second, ADDRESS_FRAMES * FRAMES_BURST, SESSION_FRAMES)


def refuse(start_response, code, message):
    """A JSON error answered before Flask runs."""
    body = json.dumps({"error": message}).encode() + b"\n"
    start_response(f"{code} {HTTPStatus(code).phrase}", [("Content-Type", "application/json"),
                                                          ("Content-Length", str(len(body)))])
    return [body]


app.wsgi_app = limit_socket_sessions(app.wsgi_app)
if app.config["TRUSTED_PROXIES"]:  # outermost, so that every part sees the client's own address
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"])


open_connections = collections.Counter()  # client address -> its open TCP connections (this process)
open_connections_lock = threading.Lock()
REQUEST_TIMEOUT = 10  # seconds a client may take to send a request, headers and body (not websockets)
UNFINISHED_PER_ADDRESS = 20  # requests still arriving on the connections of one address,
UNFINISHED_IN_ALL = 1_000    # and of all addresses: past either, the oldest are closed
unfinished = {}  # TCP socket -> (client address, when its request began), oldest first


class GuardedConnection:
    """Added to the HTTP server's handler of one TCP connection (eventlet's or Werkzeug's)."""

    def handle(self):
        address = self.client_address[0]
        with open_connections_lock:
            open_connections[address] += 1
        try:
            limit = 2 * app.config["MAX_CONNECTIONS_PER_IP"]
            if limit and not app.config["TRUSTED_PROXIES"] and open_connections[address] > limit:
                self.send_error(429, "too many connections from your address")
            else:
                super().handle()
        finally:
            with open_connections_lock:
                open_connections[address] -= 1
                if not open_connections[address]:
                    del open_connections[address]

    def handle_one_request(self):
        """One request on this connection: it counts as unfinished until its headers and body are
        in (read_whole_body(), below), or the connection ends."""
        begin_request(self.connection, self.client_address[0])
        try:
            return super().handle_one_request()
        finally:
            request_arrived(self.connection)

    def parse_request(self):
        """The request line and headers. Both servers took the end of the connection for the end
        of the headers, and ran what had come so far: the requests of a script that quit, or that we
        closed for being slow, all ran at once. Headers must end with an empty line."""
        reader = self.rfile = LastLine(self.rfile)
        try:
            parsed = super().parse_request()
        finally:
            self.rfile = reader.rfile
        if parsed and reader.last in (b"\r\n", b"\n"):
            return True
        self.close_connection = True
        return False

    def log_error(self, message, *args):
        """The HTTP server's own lines about a client (a request that timed out) go to our log."""
        address = self.client_address[0]
        log.info("%s: " + message, address, *args, extra={"address": address})

    def send_error(self, code, message=None, explain=None):
        """The HTTP server's own errors, in JSON like every other error."""
        self.wfile.write(json_answer(code, message or HTTPStatus(code).phrase))
        self.wfile.flush()
        self.close_connection = True


class LastLine:
    """A request's reader that remembers the last line read."""

    def __init__(self, rfile):
        self.rfile, self.last = rfile, None

    def readline(self, *args):
        self.last = self.rfile.readline(*args)
        return self.last

    def __getattr__(self, name):  # anything else: the reader itself
        return getattr(self.rfile, name)


def json_answer(code, message):
    """A whole HTTP answer with a JSON error, for the servers' own errors (Flask never sees those)."""
    body = json.dumps({"error": message}).encode() + b"\n"
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (code, HTTPStatus(code).phrase.encode(), len(body), body))


class GuardedRequestHandler(GuardedConnection, NoDelayRequestHandler):
    """Werkzeug's handler (threading mode), guarded, with a timeout on every read."""
    timeout = REQUEST_TIMEOUT


def begin_request(sock, address):
    """A request begins to arrive: it is unfinished until request_arrived()."""
    with open_connections_lock:
        unfinished[sock] = (address, time.monotonic())
        if not slow_request_closer:  # started with the first request, in the server's async mode
            slow_request_closer.append(socketio.start_background_task(close_slow_requests))


slow_request_closer = []


def request_arrived(sock):
    """The request is in (or its connection ended): it no longer counts as unfinished."""
    with open_connections_lock:
        unfinished.pop(sock, None)


def close_slow_requests():
    """Close, without an answer (as nginx does), each request that began over REQUEST_TIMEOUT ago:
    a socket's own timeout starts again at each byte, so a script sending a header line every few
    seconds held its connection forever. And while one address holds over UNFINISHED_PER_ADDRESS
    unfinished requests, or all of them over UNFINISHED_IN_ALL, close the oldest of those that have
    waited over a second: a person's request arrives in milliseconds. Four times a second, so that a
    flood of them is closed a few hundred at a time."""
    flood = False
    while True:
        socketio.sleep(0.25)
        now = time.monotonic()
        with open_connections_lock:
            waiting = list(unfinished.items())  # oldest first
        if len(waiting) >= 100:
            flood = True
        elif flood and not waiting:  # the flood is over: give its memory back
            flood = False
            give_memory_back()
        from_address = collections.Counter(address for _, (address, _) in waiting)
        too_many = len(waiting) - UNFINISHED_IN_ALL
        for sock, (address, began) in waiting:
            if now - began < 1:
                break  # this one and all after it are younger than a second
            crowded = from_address[address] > UNFINISHED_PER_ADDRESS and not app.config["TRUSTED_PROXIES"]
            if now - began > REQUEST_TIMEOUT or too_many > 0 or crowded:
                close_unfinished(sock)
                from_address[address] -= 1
                too_many -= 1


def give_memory_back():
    """Linux's C library keeps memory that was freed, for later: after 1,750 slow requests the server
    stayed 32-43 MB above where it started; with malloc_trim, 21 MB."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not Linux's C library (macOS, Windows)


def close_unfinished(sock):
    """Hang up on a request still arriving (GuardedConnection.parse_request() stops what came of it)."""
    request_arrived(sock)
    hang_up(sock)


def read_whole_body(wsgi_app):
    """Read a request's body before the app runs, while the request still counts as unfinished: a
    body sent a byte at a time meets the same deadline as slow headers."""
    def middleware(environ, start_response):
        sock = client_socket(environ)
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():  # no length to wait for
            return refuse(start_response, 411, "send the body with a Content-Length header")
        length = environ.get("CONTENT_LENGTH") or "0"
        length = int(length) if length.isdigit() else 0  # not a number: Flask refuses it
        if length > max(app.config["MAX_CONTENT_LENGTH"], MAX_SOCKET_PACKET):
            # Refused unread (413); the server then reads the rest away, still within the deadline.
            return wsgi_app(environ, start_response)
        if length:
            if "gunicorn.socket" in environ:  # gunicorn has read the headers, and waits for a body forever
                begin_request(sock, environ.get("REMOTE_ADDR"))
            try:
                body = environ["wsgi.input"].read(length)
            except OSError:  # the socket's own timeout, or the connection was closed
                body = b""
            request_arrived(sock)
            if len(body) < length:
                return refuse(start_response, 408, f"the request did not arrive within {REQUEST_TIMEOUT} s")
            environ["wsgi.input"] = io.BytesIO(body)
        request_arrived(sock)
        return wsgi_app(environ, start_response)
    return middleware


app.wsgi_app = read_whole_body(app.wsgi_app)


def without_timeout_for_websockets(wsgi_app):
    """A websocket stays open and quiet between messages: lift REQUEST_TIMEOUT from its socket."""
    def middleware(environ, start_response):
        sock = client_socket(environ)
        if sock is not None and environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            sock.settimeout(None)
        return wsgi_app(environ, start_response)
    return middleware


app.wsgi_app = without_timeout_for_websockets(app.wsgi_app)


@app.after_request
def json_redirects(response):
    """Flask answers /docs with a redirect to /docs/ whose body is HTML: make it JSON like the rest."""
    if 300 <= response.status_code < 400 and response.mimetype == "text/html":
        response.set_data(app.json.response({"error": f"moved to {response.location}"}).get_data())
        response.content_type = "application/json"
    return response


def unmask(data, mask, length=None, offset=0):
    """XOR the first `length` bytes of a websocket frame with its 4-byte mask, from `offset` on."""
    length = len(data) if length is None else length
    shift = offset % 4
    key = (bytes(mask[shift:]) + bytes(mask[:shift])) * (length // 4 + 1)
    return (int.from_bytes(data[:length], "big") ^ int.from_bytes(key[:length], "big")).to_bytes(length, "big")


if ASYNC_MODE == "eventlet":
    import eventlet.websocket
    import eventlet.wsgi

    # Private (eventlet 0.41.3): _apply_mask() unmasks each websocket frame, one byte at a time; ours is fast.
    if library_has("eventlet", eventlet.websocket, "RFC6455WebSocket._apply_mask", "fast unmasking of "
                   "websocket frames", parameters=["data", "mask", "length", "offset"]):
        eventlet.websocket.RFC6455WebSocket._apply_mask = staticmethod(unmask)
    # Private (eventlet 0.41.3): RESPONSE_414, its answer to a request line over 8 KB, has an empty body.
    if library_has("eventlet", eventlet.wsgi, "RESPONSE_414", "the JSON answer to a URL too long", kind=bytes):
        eventlet.wsgi.RESPONSE_414 = json_answer(414, "URL too long")
    # Private (eventlet 0.41.3): server() hands each connection to its protocol (deprecated), HttpProtocol.
    CONNECTION_GUARDS = "the guards on each connection (per address, slow requests, JSON errors)"
    GUARDED_CONNECTIONS = (library_has("eventlet", eventlet.wsgi, "HttpProtocol", CONNECTION_GUARDS, kind=type)
                           and library_has("eventlet", eventlet.wsgi, "server", CONNECTION_GUARDS, uses="protocol"))
    # Private (eventlet 0.41.3): parse_request() raises these on a header line over 8 KB or headers over 64 KB.
    headers_too_large = ()  # an empty tuple: `except` catches nothing, eventlet answers them itself
    if library_has("eventlet", eventlet.wsgi, "HeaderLineTooLong", "the JSON answer to headers too large",
                   kind=type) and library_has("eventlet", eventlet.wsgi, "HeadersTooLarge",
                                              "the JSON answer to headers too large", kind=type):
        headers_too_large = (eventlet.wsgi.HeaderLineTooLong, eventlet.wsgi.HeadersTooLarge)
    # Private (eventlet 0.41.3): server() accepts each connection by calling accept() on the socket it gets.
    TAKING_TURNS = library_has("eventlet", eventlet.wsgi, "server", "taking turns while a script opens "
                               "connections", uses="accept")

    if GUARDED_CONNECTIONS:
        class GuardedProtocol(GuardedConnection, eventlet.wsgi.HttpProtocol):
            """eventlet's handler of one connection, guarded; headers too large get JSON too."""

            def parse_request(self):
                try:
                    return super().parse_request()
                except headers_too_large:
                    self.send_error(431, "request headers too large")
                    return False

            requests_read = 0

            def handle_one_request(self):
                """A keep-alive connection's next request, after everyone else's turn: eventlet read a
                request that had already arrived without letting anyone else run, so a script sending
                one after another on a few connections kept the chat waiting (p95 111-468 ms under load).
                A connection's first request (a websocket's only one) waits for nobody."""
                if self.requests_read:
                    eventlet.sleep(0)
                self.requests_read += 1
                return super().handle_one_request()

    class TakingTurns:
        """The listening socket, for eventlet's loop that accepts connections. That loop accepts
        every connection waiting before anything else runs: one script opening 12,000 connections
        froze everyone's chat for a second. This one lets everyone else go first every few accepts."""

        def __init__(self, listener):
            self.listener = listener
            self.accepted = 0

        def accept(self):
            self.accepted += 1
            if self.accepted % ACCEPTS_PER_TURN == 0:
                eventlet.sleep(0)  # every other task that is ready runs once, then we go on
            return self.listener.accept()

        def __getattr__(self, name):  # anything else: the listening socket itself
            return getattr(self.listener, name)

    # Connections accepted between two turns. A turn after every one made a class connecting at once
    # 10% slower; after 16, chat messages waited 20-35 ms (p95) while a script opened connections.
    ACCEPTS_PER_TURN = 4
else:
    import simple_websocket
    import wsproto.utilities
    import engineio.async_drivers

    # A thread that reads a flood keeps Python's global lock 5 ms at a time; 1 ms lets the threads of
    # everyone else in five times as often (threading mode; under gevent one thread serves everyone).
    sys.setswitchinterval(0.001)
    # The C library gives threads up to 8 memory pools per core, and keeps what was freed in each for
    # later: after a flood of 60 KB frames, 36-57 MB stayed for good. Two pools for every thread: 14 MB.
    try:
        ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX (glibc's malloc.h), 2
    except (OSError, TypeError, AttributeError):
        pass  # not Linux's C library (macOS, Windows): nothing to set

    def close_websocket(self):
        """Engine.IO's writer thread closes the websocket when a session ends. After cut_off() its
        reader thread may be closing it at the same moment: the loser found it closed already, and
        printed a traceback."""
        try:
            if self.ws.connected:
                self.ws.close()
        except (simple_websocket.ConnectionClosed, OSError, wsproto.utilities.LocalProtocolError):
            pass  # closed already, which is what we wanted

    try:
        import engineio.async_drivers._websocket_wsgi  # loaded already, unless gevent-websocket replaces it
    except ImportError:
        pass  # a release without it: the checks below say which guards are off

    # Private (python-engineio 4.15.1): _websocket_wsgi.SimpleWebSocketWSGI.close() closes each websocket.
    if library_has("python-engineio", engineio.async_drivers, "_websocket_wsgi.SimpleWebSocketWSGI.close",
                   "a quiet end to a websocket closed from both sides", parameters=["self"]):
        engineio.async_drivers._websocket_wsgi.SimpleWebSocketWSGI.close = close_websocket

    class PatientWebSocket(simple_websocket.Server):
        """simple-websocket's reader thread reads a client as fast as it sends, and keeps each frame
        in a list until Engine.IO takes it: a flood piled up in our memory. This one stops reading
        while WEBSOCKET_BACKLOG frames wait, so the flood waits in the client's socket instead."""

        def __init__(self, *args, **kwargs):
            self.frame_taken = threading.Event()
            super().__init__(*args, **kwargs)

        def _handle_events(self):  # the reader thread, after each read from the socket
            keep_going = super()._handle_events()
            while self.connected and len(self.input_buffer) >= WEBSOCKET_BACKLOG:
                self.frame_taken.wait(1)  # set by receive(); bounded, in case nobody reads again
                self.frame_taken.clear()
            return keep_going

        def receive(self, timeout=None):  # Engine.IO's thread, taking the next frame
            frame = super().receive(timeout)
            self.frame_taken.set()
            return frame

    WEBSOCKET_BACKLOG = 16  # frames read but not yet handled, per connection: 1 MB at most
    # Private (simple-websocket 1.1.0): after each read, _handle_events() puts frames in input_buffer.
    # Private (python-engineio 4.15.1): SimpleWebSocketWSGI() looks simple_websocket.Server up each time.
    BACKLOG_GUARD = "the bound on frames read ahead of the chat (threading and gevent modes)"
    if (library_has("simple-websocket", simple_websocket, "Server._handle_events", BACKLOG_GUARD,
                    parameters=["self"])
            and library_has("simple-websocket", simple_websocket, "Server.receive", BACKLOG_GUARD,
                            parameters=["self", "timeout"], uses="input_buffer")
            and library_has("python-engineio", engineio.async_drivers,
                            "_websocket_wsgi.SimpleWebSocketWSGI.__call__", BACKLOG_GUARD,
                            uses="simple_websocket")):
        simple_websocket.Server = PatientWebSocket


if "gunicorn.util" in sys.modules:  # served by gunicorn (production, step 10)
    import gunicorn.util

    def gunicorn_error(sock, code, reason, message):
        """gunicorn's own answer to a request it cannot read (a bad request line, headers too large)."""
        gunicorn.util.write_nonblock(sock, json_answer(code, message or reason))

    # Private (gunicorn 27.0.1): util.write_error() writes its own errors (HTML) with util.write_nonblock().
    GUNICORN_ERRORS_GUARD = "JSON answers to requests gunicorn cannot read"
    if (library_has("gunicorn", gunicorn.util, "write_error", GUNICORN_ERRORS_GUARD,
                    parameters=["sock", "status_int", "reason", "mesg"])
            and library_has("gunicorn", gunicorn.util, "write_nonblock", GUNICORN_ERRORS_GUARD,
                            parameters=["sock", "data", "chunked"])):
        gunicorn.util.write_error = gunicorn_error

if ASYNC_MODE == "gevent":  # gunicorn's gevent worker
    import gevent.baseserver

    # gevent's server accepts up to 100 connections each time it wakes, before anyone else runs: while
    # a script opened 12,000, chat messages waited 130-220 ms (p95). Four, as TakingTurns: 5-49 ms.
    gevent.baseserver.BaseServer.max_accept = 4


def is_not_a_login():
    return request.endpoint not in ("login", "register")


# The REST reads. Each one is cheap, but eight scripts asking for /health (a write) or one message by id,
# as fast as they could, held everyone's messages back by 1-1.7 s.
READS = ("health", "get_messages", "get_message", "get_rooms", "me", "asyncapi", "events_page",
         "flasgger.apispec", "flasgger.apidocs")


def is_not_a_read():
    return request.endpoint not in READS or not app.config["READS_PER_ADDRESS"]


def reads_allowed():
    """READS_PER_ADDRESS a second, counted over 10 s: a class behind one address loads its pages at once."""
    return f"{10 * app.config['READS_PER_ADDRESS']} per 10 seconds"


limiter = Limiter(get_remote_address, app=app, headers_enabled=True,
                  storage_uri=os.environ.get("MESSAGE_QUEUE") or "memory://",
                  default_limits=[Limit("10 per minute", exempt_when=is_not_a_login,
                                        error_message="too many attempts from your address: wait a minute"),
                                  Limit(reads_allowed, shared=True, scope="reads", exempt_when=is_not_a_read,
                                        error_message="too many requests from your address: wait a few seconds")])
logging.getLogger("flask-limiter").setLevel(logging.WARNING)  # not a line per refusal: a disk filler
hash_slots = threading.BoundedSemaphore(1)  # one at a time: ~32 MB, and one core left for the chat


def off_the_hub(function, *args):
    """Run a password hash where it cannot stall the chat: under eventlet and gevent on a native
    thread (their one thread serves every client), and one at a time."""
    with hash_slots:
        if ASYNC_MODE == "eventlet":
            import eventlet.tpool

            return eventlet.tpool.execute(function, *args)
        if ASYNC_MODE == "gevent":
            import gevent

            return gevent.get_hub().threadpool.apply(function, args)
        return function(*args)


class RevokedToken(db.Model):
    """A token logged out before it expired: refused until then (POST /auth/logout)."""
    jti = db.Column(db.String(64), primary_key=True)  # the token's own id
    expires_at = db.Column(db.DateTime, nullable=False)


with app.app_context():
    db.create_all()  # the revoked_token table is new
    try:  # usernames are unique regardless of case, whichever process registers them
        db.session.execute(db.text('CREATE UNIQUE INDEX IF NOT EXISTS user_username_lower '
                                   'ON "user" (lower(username))'))
        db.session.commit()
    except SQLAlchemyError as error:  # "Ana" beside "ana" from before, or a read-only database
        db.session.rollback()
        log.warning("no unique index on lower(username): %s", error.__class__.__name__)


def token_revoked(payload):
    """Was this token logged out, or its account deleted (or made again)? (REST and sockets ask.)"""
    logged_out = db.session.get(RevokedToken, payload["jti"]) is not None
    account = db.session.scalar(db.select(User.id).where(User.username == payload["sub"]))
    return logged_out or account is None or account != payload.get("uid")  # login's "uid"


@jwt.token_in_blocklist_loader
def refuse_revoked_tokens(_header, payload):
    return token_revoked(payload)


@jwt.revoked_token_loader
def token_was_revoked(_header, _payload):
    return {"error": "invalid token: logged out or account deleted, log in again"}, 401


@app.post("/auth/logout")
def logout():
    """Log out: this token stops working, on REST and on every socket that uses it.
    ---
    tags: [auth]
    summary: Revoke the access token
    description: "Its sockets on this process are disconnected at once; on other processes nothing more
      is saved from it within 1 second, and its sockets are disconnected within 15."
    security: [{Bearer: []}]
    responses:
      204: {description: Logged out}
      401: {description: "Missing, invalid or expired token", schema: {$ref: "#/definitions/Error"}}
    """
    verify_jwt_in_request()
    token = get_jwt()
    expires_at = datetime.fromtimestamp(token["exp"], timezone.utc).replace(tzinfo=None)
    db.session.execute(db.delete(RevokedToken).where(RevokedToken.expires_at < utc_now()))  # expired
    db.session.add(RevokedToken(jti=token["jti"], expires_at=expires_at))
    try:
        db.session.commit()
    except IntegrityError:  # logged out twice at the same moment: it is revoked either way
        db.session.rollback()
    logged_out = bearer_token()
    for sid, connection in list(connections.items()):  # its sockets on this process go at once
        if connection.token == logged_out:
            socketio.server.disconnect(sid)
    return "", 204


@app.get("/auth/me")
def me():
    """Who does this token belong to?
    ---
    tags: [auth]
    summary: The user of the access token
    security: [{Bearer: []}]
    responses:
      200: {description: The token's user, schema: {$ref: "#/definitions/User"}}
      401: {description: "Missing, invalid or expired token", schema: {$ref: "#/definitions/Error"}}
    """
    verify_jwt_in_request()
    user = db.session.scalar(db.select(User).where(User.username == get_jwt_identity()))
    if user is None:
        abort(401, "this token's user does not exist")
    return {"id": user.id, "username": user.username}


token_checks_started = False


def start_token_checks():
    """Start check_tokens_again() once, when the first client connects."""
    global token_checks_started
    if not token_checks_started:
        token_checks_started = True
        socketio.start_background_task(check_tokens_again)


def check_tokens_again():
    """Every 15 s, check the token of each logged-in socket again, as on_connect did."""
    while True:
        socketio.sleep(15)
        for sid, connection in list(connections.items()):
            socketio.sleep(0)  # one check at a time, between everyone else's messages
            with app.app_context():
                if connection.token and read_token(connection.token)[0] is None:
                    log.info("disconnect %s: its token expired or was revoked", sid)
                    socketio.server.disconnect(sid)


def token_still_valid(connection):
    """Check a logged-in connection's token again before its message is saved, at most once a
    second: logged out on another process, it saves nothing more within 1 s."""
    now = time.monotonic()
    if now - connection.token_checked_at >= 1:
        connection.token_checked_at = now
        if read_token(connection.token)[0] is None:
            raise Refused("invalid token: logged out or account deleted, log in again")


# Letters that draw nothing: the Hangul fillers and the blank Braille pattern.
BLANK_LETTERS = "\u115f\u1160\u3164\uffa0\u2800"


def database_disk_full(reserve=1_000_000):
    """SQLite writes to a file on this machine: with under 1 MB free there, writes fail."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return False  # another server's disk (PostgreSQL): its own write check below tells
    folder = os.path.dirname(url.database.removeprefix("file:"))  # sqlite:///file:...?mode=ro too
    return shutil.disk_usage(folder).free < reserve


LOG_LINES_PER_ADDRESS = 20  # lines about one client address every 10 s; then a count of the rest


class FewLinesPerAddress(logging.Filter):
    """At most LOG_LINES_PER_ADDRESS lines about one address every 10 s, whatever they say; the
    lines left out are counted, and summed up in one line when the 10 s are over."""

    def __init__(self):
        super().__init__()
        self.windows = {}  # client address -> [when its 10 s began, lines written, lines left out]
        self.summed_up_at = time.monotonic()

    def filter(self, record):
        now = time.monotonic()
        if now - self.summed_up_at >= 1:  # at most once a second, whoever logs
            self.summed_up_at = now
            self.sum_up(now)
        if getattr(record, "summary", False):
            return True
        address = getattr(record, "address", None)  # a line outside a request names its address
        if address is None and has_request_context():
            address = request.remote_addr
        if address is None:
            return True  # a line about the server itself
        window = self.windows.setdefault(address, [now, 0, 0])
        if window[1] < LOG_LINES_PER_ADDRESS:
            window[1] += 1
            return True
        window[2] += 1
        return False

    def sum_up(self, now):
        """Close the windows that are 10 s old, with one line for each that left lines out."""
        for address, (began, _, left_out) in list(self.windows.items()):
            if now - began >= 10 and self.windows.pop(address, None) and left_out:
                log.warning("%d more lines about %s left out of the log in 10 s", left_out, address,
                            extra={"summary": True})


log.addFilter(FewLinesPerAddress())


swagger.template["info"]["description"] += """
Per client address: at most MAX_CONNECTIONS_PER_IP (50) connections, RATE_LIMIT_PER_ADDRESS (20)
messages a second saved, and 10 logins or registrations a minute. A connection with over
5 × RATE_LIMIT_BURST refused events in 10 s, or a packet that does not decode, is disconnected. A
socket whose token expires or is logged out (POST /auth/logout) is disconnected within 15 s. A
request's headers and body must arrive within 10 s in all (a chunked body gets 411).
"""
CONNECT_REFUSED["properties"]["message"]["examples"].append(
    "too many connections from your address (limit 50)")


# --- Step 12: rooms ---
from flask_socketio import leave_room
from sqlalchemy import inspect

ROOM_NAME = re.compile(r"[a-z0-9_-]{1,32}")


def clean_room(value):
    """A room's name: 1-32 characters of a-z, 0-9, - and _, so that it fits in a link (/#grupo-1)."""
    if not isinstance(value, str) or not ROOM_NAME.fullmatch(value):
        raise Refused("room must be 1-32 characters of a-z, 0-9, - and _")
    return value


class Room(db.Model):
    """A room that holds messages, counted as they are saved: GET /rooms reads one row per room
    instead of counting a million messages at every call."""
    name = db.Column(db.String(32), primary_key=True)
    messages = db.Column(db.Integer, nullable=False)
    last_id = db.Column(db.Integer, nullable=False)
    # GET /rooms lists the rooms written in last first, a page at a time: this index holds that order.
    __table_args__ = (db.Index("room_last_id", "last_id"),)


# The columns the message table gained after step 5, each with the value its old rows get.
NEW_COLUMNS = {"room": "VARCHAR(32) NOT NULL DEFAULT 'general'", "sender_id": "INTEGER",
               "edited_at": "TIMESTAMP"}


def upgrade_database():
    """Bring a database made by an earlier step (or release) up to date: add the columns it lacks."""
    have = [column["name"] for column in inspect(db.engine).get_columns("message")]
    with db.engine.begin() as connection:
        for name, definition in NEW_COLUMNS.items():
            if name not in have:
                connection.execute(db.text(f"ALTER TABLE message ADD COLUMN {name} {definition}"))
    db.create_all()  # the room table
    for index in [*Message.__table__.indexes, *Room.__table__.indexes]:
        index.create(db.engine, checkfirst=True)
    with db.engine.begin() as connection:  # writes only when there is something to count
        uncounted = connection.scalar(db.select(Room.name).limit(1)) is None
        if uncounted and connection.scalar(db.select(Message.id).limit(1)) is not None:
            # Count the messages of each room once; from now on, each new message counts itself.
            per_room = db.select(Message.room, db.func.count(), db.func.max(Message.id)).group_by(Message.room)
            connection.execute(insert(Room).from_select(["name", "messages", "last_id"], per_room))


with app.app_context():
    upgrade_database()


# One line of SQL: SQLAlchemy's update() took four times as long to build as SQLite to run it.
COUNT_IN_ROOM = db.text("UPDATE room SET messages = messages + 1, last_id = :message_id WHERE name = :room")


def count_in_room(connection, room, message_id):
    """Add one message to its room's row, or create the row for the room's first message."""
    counted = connection.execute(COUNT_IN_ROOM, {"room": room, "message_id": message_id})
    if counted.rowcount == 0:
        connection.execute(insert(Room), {"name": room, "messages": 1, "last_id": message_id})


@app.get("/rooms")
def get_rooms():
    """The rooms that hold messages, the one written in last first.
    ---
    tags: [messages]
    summary: The rooms that hold messages, a page at a time, the one written in last first
    description: For the next page, pass the `last_id` of the page's last room as `before`.
    security: [{Bearer: []}, {}]
    parameters:
      - {name: limit, in: query, type: integer, minimum: 1, maximum: 100, default: 100}
      - {name: before, in: query, type: integer, minimum: 0, maximum: 9007199254740992,
         description: "only rooms whose newest message has an id < before (the next page)"}
    responses:
      200:
        description: Rooms, the one written in last first
        schema: {type: array, items: {$ref: "#/definitions/Room"}}
        examples:
          application/json: [{name: general, messages: 120, last_id: 987}]
      400: {description: A bad parameter, schema: {$ref: "#/definitions/Error"}}
      401: {description: "Login required (AUTH_REQUIRED=true, step 6)", schema: {$ref: "#/definitions/Error"}}
    """
    limit = int_arg("limit", 100, 1, 100)
    before = int_arg("before", None, 0, MAX_ID)
    query = db.select(Room).where(Room.messages > 0).order_by(Room.last_id.desc()).limit(limit)
    if before is not None:  # last_id is unique to its room: a cursor that skips and repeats nothing
        query = query.where(Room.last_id < before)
    return [{"name": room.name, "messages": room.messages, "last_id": room.last_id}
            for room in db.session.scalars(query)]


swagger.template["definitions"]["Room"] = {
    "type": "object",
    "required": ["name", "messages", "last_id"],
    "properties": {"name": {"type": "string", "example": "general"},
                   "messages": {"type": "integer", "example": 120},
                   "last_id": {"type": "integer", "example": 987, "description": "its newest message"}},
}


NEW_ROOMS_PER_MINUTE = 10  # rooms with no message yet that one client address may open a minute
rooms_opened = collections.defaultdict(dict)  # client address -> {new room it opened: when}


def may_enter(room, address):
    """Let a client address into a room, or refuse. A room is new until it holds a message, and one
    address may open NEW_ROOMS_PER_MINUTE new rooms a minute: enough for a class behind one address
    to split into groups, too few for a script to fill GET /rooms with thousands of rooms."""
    if room == "general" or db.session.scalar(db.select(Room.messages).where(Room.name == room)):
        return
    now, opened = time.monotonic(), rooms_opened[address]
    for name, when in list(opened.items()):
        if now - when >= 60:
            del opened[name]  # opened over a minute ago: no longer counted
    if room not in opened and len(opened) >= NEW_ROOMS_PER_MINUTE:
        raise Refused(f"too many new rooms from your address: at most {NEW_ROOMS_PER_MINUTE} a minute")
    opened.setdefault(room, now)


def presence_room(room):
    """The Socket.IO room of this process's connections in a chat room: a "/" never appears in
    a chat room's name, so no client can join it."""
    return f"{THIS_PROCESS}/{room}"


@socketio.on("join")
def on_join(data=None, *_extra):
    """A client moves to another room: {"room": "grupo-1"}."""
    connection = connections[request.sid]
    try:
        spend_allowance(connection)
        if not isinstance(data, dict):
            raise Refused('payload must be a JSON object like {"room": "grupo-1"}')
        room = clean_room(data.get("room"))
        if room != connection.room:
            may_enter(room, connection.address)
    except Refused as error:
        count_refusal(connection)  # step 11
        return {"ok": False, "error": str(error)}
    if room != connection.room:
        leave_room(connection.room)
        leave_room(presence_room(connection.room))
        presence_changed(connection.room)
        connection.room = room
        join_room(room)
        join_room(presence_room(room))
        presence_changed(room)
    return {"ok": True, "room": room}


ROOM_SCHEMA = MESSAGE_SCHEMA["properties"]["room"]
HANDSHAKE["properties"]["room"] = {**ROOM_SCHEMA, "description": "the room to start in (default general)"}
ASYNCAPI["channels"]["chat"]["bindings"]["ws"]["query"]["properties"]["room"] = ROOM_SCHEMA
CONNECT_REFUSED["properties"]["message"]["examples"] += [
    "room must be 1-32 characters of a-z, 0-9, - and _",
    f"too many new rooms from your address: at most {NEW_ROOMS_PER_MINUTE} a minute"]
document_event("receive", event_doc(
    "join", "Leave your room for another (it costs one message of the rate limit; one address may open "
    f"{NEW_ROOMS_PER_MINUTE} new rooms a minute, a room being new until it holds a message)",
    {"type": "object", "required": ["room"], "properties": {"room": ROOM_SCHEMA}}, {"room": "grupo-1"}),
    reply=event_doc("ack", "The answer, if the client asked for one", {
        "type": "object", "required": ["ok"], "properties": {
            "ok": {"type": "boolean"}, "room": ROOM_SCHEMA, "error": {"type": "string"}}},
        {"ok": True, "room": "grupo-1"}))
document_event("send", event_doc(
    "new_message", "A message, to everyone in its room, only after it is saved", MESSAGE_SCHEMA))
document_event("send", event_doc(
    "presence", "To the room, after connects, joins and disconnects (per process with MESSAGE_QUEUE)",
    {"type": "object", "required": ["room", "online", "users"], "properties": {
        "room": ROOM_SCHEMA, "online": {"type": "integer", "minimum": 0},
        "users": {"type": "array", "items": NAME_SCHEMA, "maxItems": 100}}},
    {"room": "general", "online": 2, "users": ["ana", "bea"]}))


# --- Step 13: edit and delete messages ---
from sqlalchemy.schema import CreateTable

# Usernames allowed to delete any message, compared regardless of case like usernames themselves.
app.config.update(MODERATORS={name.strip().lower() for name in os.environ.get("MODERATORS", "").split(",")
                              if name.strip()})


def never_reuse_ids():
    """Rebuild, once, a message or user table that an earlier step made without AUTOINCREMENT: every
    row keeps its id, and no id is given twice from then on (SQLite; PostgreSQL never gives one twice)."""
    if db.engine.url.get_backend_name() != "sqlite":
        return
    pooled = db.engine.raw_connection()
    raw = pooled.driver_connection  # sqlite3's own connection, to run one script of SQL
    try:
        for model in (Message, User):
            name = model.__tablename__
            (table,) = raw.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                   (name,)).fetchone()
            if "AUTOINCREMENT" in table.upper():
                continue  # made by this step, or rebuilt already
            indexes = [sql for (sql,) in raw.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                (name,))]
            columns = ", ".join(f'"{column.name}"' for column in model.__table__.columns)
            raw.executescript("\n".join([  # one transaction: if anything fails, nothing changes
                "BEGIN;",
                f'ALTER TABLE "{name}" RENAME TO "{name}_old";',
                f"{CreateTable(model.__table__).compile(db.engine)};",
                f'INSERT INTO "{name}" ({columns}) SELECT {columns} FROM "{name}_old";',
                f'DROP TABLE "{name}_old";',  # with its indexes, made again on the new table:
                *[f"{sql};" for sql in indexes],
                "COMMIT;"]))
            log.info("rebuilt table %s: its ids are never given twice from now on", name)
    except sqlite3.Error as error:  # a read-only database, say: it still serves
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        log.warning("ids may be given twice: could not rebuild the tables (%s)", error)
    finally:
        pooled.close()  # back to the pool


def add_moderator_column():
    """Give a user table made by an earlier step the moderator column: no old account is one."""
    if "moderator" not in [column["name"] for column in inspect(db.engine).get_columns("user")]:
        with db.engine.begin() as connection:
            connection.execute(db.text('ALTER TABLE "user" ADD COLUMN moderator BOOLEAN NOT NULL DEFAULT false'))


with app.app_context():
    add_moderator_column()  # first: the rebuild copies every column the model has
    never_reuse_ids()


def account_of(connection):
    """The id of the account behind a logged-in connection (None when anonymous), looked up once."""
    if connection.username and connection.account_id is None:
        try:
            connection.account_id = db.session.scalar(
                db.select(User.id).where(User.username == connection.username))
        except SQLAlchemyError:
            raise Refused("database unavailable: message not saved, try again")
    return connection.account_id


def find_message(message_id):
    """The message with this id, or a 404."""
    message = db.session.get(Message, message_id) if message_id <= MAX_ID else None
    if message is None:
        abort(404, f"no message {message_id}")
    return message


def token_account():
    """The account of the request's token: a 401 without a valid one."""
    verify_jwt_in_request()
    user = db.session.scalar(db.select(User).where(User.username == get_jwt_identity()))
    if user is None:
        abort(401, "this token's user does not exist")
    return user


def commit_change(what):
    """Commit an edit or a deletion, or answer 503."""
    try:
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not %s a message", what)
        abort(503, f"database unavailable: message not {what}d, try again")


# Edits and deletions together: 30 a minute per client address (flask-limiter, step 11).
changes_limit = limiter.shared_limit("30 per minute", scope="changes",
                                     error_message="too many changes from your address: wait a minute")


def token_owner():
    """The account a request's token names, to count its deletions; the client's address when the
    token is missing or not valid (the route then answers 401 itself)."""
    try:
        verify_jwt_in_request()
        return f"account {get_jwt()['uid']}"
    except Exception:  # any reason the token is not good: counted by address
        return get_remote_address()


# Deletions: 30 a minute per account as well, from however many addresses its token is used.
deletions_limit = limiter.limit("30 per minute", key_func=token_owner,
                                error_message="too many deletions from your account: wait a minute")


@app.get("/messages/<int:message_id>")
def get_message(message_id):
    """One message.
    ---
    tags: [messages]
    summary: Read one message by id
    security: [{Bearer: []}, {}]
    parameters: [{name: message_id, in: path, type: integer, required: true}]
    responses:
      200: {description: The message, schema: {$ref: "#/definitions/Message"}}
      401: {description: "Login required (AUTH_REQUIRED=true, step 6)", schema: {$ref: "#/definitions/Error"}}
      404: {description: No message with this id, schema: {$ref: "#/definitions/Error"}}
    """
    return find_message(message_id).to_dict()


@app.patch("/messages/<int:message_id>")
@changes_limit
def edit_message(message_id):
    """Edit the text of your own message.
    ---
    tags: [messages]
    summary: Edit one of your messages (message_updated goes to its room)
    security: [{Bearer: []}]
    parameters:
      - {name: message_id, in: path, type: integer, required: true}
      - {name: body, in: body, required: true,
         schema: {type: object, required: [text], properties: {text: {type: string, example: "hola, ¿qué tal?"}}}}
    responses:
      200: {description: The edited message, schema: {$ref: "#/definitions/Message"}}
      400: {description: A bad text, schema: {$ref: "#/definitions/Error"}}
      401: {description: "Missing, invalid or expired token", schema: {$ref: "#/definitions/Error"}}
      403: {description: "Not your message", schema: {$ref: "#/definitions/Error"}}
      404: {description: No message with this id, schema: {$ref: "#/definitions/Error"}}
      429: {description: "Over 30 changes a minute from your address", schema: {$ref: "#/definitions/Error"}}
    """
    user = token_account()
    message = find_message(message_id)
    if message.sender_id != user.id:
        abort(403, "only the account that sent a message can edit it")
    data = read_json_object('{"text": "hola"}')  # step 11
    try:
        message.text = clean_text(data.get("text"), "text", app.config["MAX_MESSAGE_LENGTH"])
    except Refused as error:
        abort(400, str(error))
    message.edited_at = utc_now()
    commit_change("update")
    socketio.emit("message_updated", message.to_dict(), to=message.room)  # after the commit
    return message.to_dict()


@app.delete("/messages/<int:message_id>")
@changes_limit
@deletions_limit
def delete_message(message_id):
    """Delete your own message, or any message as a moderator.
    ---
    tags: [messages]
    summary: Delete a message (message_deleted goes to its room)
    security: [{Bearer: []}]
    parameters: [{name: message_id, in: path, type: integer, required: true}]
    responses:
      204: {description: Deleted}
      401: {description: "Missing, invalid or expired token", schema: {$ref: "#/definitions/Error"}}
      403: {description: "Neither your message nor are you a moderator", schema: {$ref: "#/definitions/Error"}}
      404: {description: No message with this id, schema: {$ref: "#/definitions/Error"}}
      429: {description: "Over 30 changes a minute from your address, or 30 deletions from your account",
            schema: {$ref: "#/definitions/Error"}}
    """
    user = token_account()
    message = find_message(message_id)
    if not is_moderator(user) and message.sender_id != user.id:  # an anonymous message's is None
        abort(403, "only the account that sent a message, or a moderator, can delete it")
    room = message.room
    db.session.delete(message)
    db.session.flush()  # gone from the table, so the room's newest id is counted without it
    newest = db.select(db.func.coalesce(db.func.max(Message.id), 0)).where(Message.room == room)
    db.session.execute(db.update(Room).where(Room.name == room)
                       .values(messages=Room.messages - 1, last_id=newest.scalar_subquery()))
    commit_change("delete")
    socketio.emit("message_deleted", {"id": message_id, "room": room}, to=room)  # after the commit
    return "", 204


MESSAGE_SCHEMA["required"].append("edited_at")
MESSAGE_SCHEMA["properties"]["edited_at"] = {"format": "date-time", "x-nullable": True, "example": None,
                                             "description": "null until an edit, then when (UTC)"}
document_event("send", event_doc(
    "message_updated", "To the message's room, after PATCH /messages/{id} is committed", MESSAGE_SCHEMA))
document_event("send", event_doc(
    "message_deleted", "To the message's room, after DELETE /messages/{id} is committed",
    {"type": "object", "required": ["id", "room"], "properties": {
        "id": MESSAGE_SCHEMA["properties"]["id"], "room": ROOM_SCHEMA}},
    {"id": 17, "room": "general"}))


def is_moderator(user):
    """May this account delete any message? Made so by `flask moderator`, or named in MODERATORS."""
    return user.moderator or user.username.lower() in app.config["MODERATORS"]


@app.cli.command("moderator")
@click.argument("name")
def make_moderator(name):
    """Make NAME a moderator account, with a password typed twice: flask --app app moderator NAME

    An account of that name (in any case) is promoted: this password replaces its own, and it gets a
    new id, so the tokens of whoever registered the name first stop working (step 11).
    """
    if not USERNAME.fullmatch(name) or name.lower() == "system":
        raise click.BadParameter("1-32 letters, digits, _, - or ., and not system", param_hint="NAME")
    # Hidden at a terminal; from a pipe, two plain lines (getpass would read the terminal instead).
    password = click.prompt("Password", hide_input=sys.stdin.isatty(), confirmation_prompt=True)
    if not 8 <= len(password) <= 128 or re.search("[\ud800-\udfff]", password):  # as register's
        raise click.BadParameter("8-128 characters of valid text", param_hint="password")
    old = db.session.scalar(db.select(User).where(db.func.lower(User.username) == name.lower()))
    if old:
        db.session.delete(old)
        db.session.flush()  # its name is free for the new row, in the same transaction
    user = User(username=name, password_hash=generate_password_hash(password), moderator=True)
    db.session.add(user)
    db.session.flush()  # now it has its id
    if old:  # its messages stay its own
        db.session.execute(db.update(Message).where(Message.sender_id == old.id).values(sender_id=user.id))
    db.session.commit()
    print(f"{name} is now a moderator, with this password; tokens made before no longer work" if old
          else f"made the moderator account {name}")


# Chinese, Japanese and Korean names mix these scripts as a matter of course, and Latin with them.
EAST_ASIAN = {"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO"}


def mixes_scripts(name):
    """Does a name mix letters of different scripts, like teаcher with a Cyrillic а? A letter's
    script is the first word of its Unicode name: LATIN, CYRILLIC, GREEK..."""
    letters = unicodedata.normalize("NFKC", name)  # full-width ｔｅａｃｈｅｒ is plain teacher
    scripts = {unicodedata.name(char, "?").split()[0] for char in letters if char.isalpha()}
    if scripts & EAST_ASIAN:
        return bool(scripts - EAST_ASIAN - {"LATIN"})
    return len(scripts) > 1


def an_accounts_name(name):
    """Is this name a moderator's, or an account's, in any case?"""
    folded = unicodedata.normalize("NFKC", name).casefold()
    if folded in app.config["MODERATORS"]:
        return True
    try:
        return db.session.scalar(db.select(User.id).where(db.func.lower(User.username) == folded)) is not None
    except SQLAlchemyError:
        raise Refused("database unavailable, try again")


# --- Step 14: who is typing ---
TYPING_PER_SECOND = 2  # typing events a connection may send a second; the rest are dropped
TYPING_PER_ADDRESS = 5  # and one client address, all its connections together
typing_seen = collections.defaultdict(collections.deque)  # client address -> times of its typing events


def typing_allowed(address):
    """At most TYPING_PER_ADDRESS typing events a second from one client address: 50 connections of
    one student, each within its own limit, cannot flood the room with typing notices."""
    now, seen = time.monotonic(), typing_seen[address]
    while seen and now - seen[0] >= 1:
        seen.popleft()
    if len(seen) >= TYPING_PER_ADDRESS:
        return False
    seen.append(now)
    return True


@socketio.on("typing")
def on_typing(data=None, *_extra):
    """A client started or stopped typing ({"typing": true}): tell the others in its room. Never
    saved; a connection with no name is ignored, and past TYPING_PER_SECOND (or its address's
    TYPING_PER_ADDRESS) the rest are dropped."""
    connection = connections[request.sid]
    if not isinstance(data, dict) or not isinstance(data.get("typing"), bool):
        count_refusal(connection)  # step 11
        return {"ok": False, "error": 'payload must be a JSON object like {"typing": true}'}
    user = connection.username or connection.name
    now = time.monotonic()
    connection.typed = tuple(at for at in connection.typed if now - at < 1)  # in the last second
    if user is None or len(connection.typed) >= TYPING_PER_SECOND:
        if user is not None:
            count_refusal(connection)  # a script that floods typing is cut off like any other
        return {"ok": True}
    connection.typed += (now,)
    if not typing_allowed(connection.address):
        return {"ok": True}  # dropped, not refused: a class behind one address types a lot
    emit("typing", {"room": connection.room, "user": user, "typing": data["typing"]},
         to=connection.room, include_self=False)  # to the others in the room
    return {"ok": True}


document_event("receive", event_doc(
    "typing", "I am typing, or stopped (never saved; at most 2 a second count, and 5 a second from one "
    "address, the rest are dropped)",
    {"type": "object", "required": ["typing"], "properties": {"typing": {"type": "boolean"}}},
    {"typing": True}), reply=event_doc(
    "ack", "The answer, if the client asked for one", {"type": "object", "required": ["ok"], "properties": {
        "ok": {"type": "boolean"}, "error": {"type": "string"}}}, {"ok": True}))
document_event("send", event_doc(
    "typing", "To the others in the room: who is typing",
    {"type": "object", "required": ["room", "user", "typing"], "properties": {
        "room": ROOM_SCHEMA, "user": NAME_SCHEMA, "typing": {"type": "boolean"}}},
    {"room": "general", "user": "ana", "typing": True}))


if __name__ == "__main__":
    main()
