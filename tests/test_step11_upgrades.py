"""Step 11: the private names of the libraries that app.py changes are checked at start.

A release that renames a private name, or gives it other parameters, is played here: a copy of the
library, changed the way such a release might change it, comes first on the server's PYTHONPATH. The
server must start, write one warning that names the guard that is off, and chat, over polling and a
websocket. With the versions requirements.txt pins, it writes no such warning.
"""
import importlib.util
import os
import pathlib
import re
import shutil

import pytest

from test_step10_processes import chat_through, gunicorn_serving, importlib_has, needs, wait_until

CHANGED = "has changed"  # in app.py's warning: "<library> <version> has changed <name>: serving without <guard>"


class Release:
    """A library as a later release might ship it: `edits` are (files, pattern, replacement), where
    files is a glob inside the library's folder; each pattern must match somewhere in those files.
    `changed` is the name app.py's warning must give, and `guard` the guard it must say is off."""

    def __init__(self, package, edits, served_by, changed, guard):
        self.package, self.edits, self.served_by, self.changed, self.guard = package, edits, served_by, changed, guard

    def install(self, folder):
        """Copy the installed library into `folder`, changed."""
        source = pathlib.Path(importlib.util.find_spec(self.package).submodule_search_locations[0])
        target = folder / self.package
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        for files, pattern, replacement in self.edits:
            changed = 0
            for path in target.glob(files):
                text, count = re.subn(pattern, replacement, path.read_text(), flags=re.S)
                path.write_text(text)
                changed += count
            assert changed, f"{self.package}/{files} has no {pattern!r}: the installed version is not the pinned one"


APPENDED = r"\Z"  # a pattern that adds the replacement at the end of the file
BACKLOG = "the bound on frames read ahead of the chat"
CONNECTIONS = "the guards on each connection"

RELEASES = {
    # python-socketio and python-engineio: every server
    "socketio-environ-renamed": Release(
        "socketio", [("*.py", r"\b(self|self\.sio)\.environ\b", r"\1.session_environs")], "eventlet",
        "Server.environ", "the limits per address on Socket.IO sessions and frames"),
    "engineio-sockets-renamed": Release(
        "engineio", [("*.py", r"\bself\.sockets\b", "self.sessions")], "eventlet",
        "Server.sockets", "ending at once the session of a client that is cut off"),
    "engineio-close-reshaped": Release(
        "engineio", [("socket.py", r"def close\(self, wait=True, abort=False, reason=None\):",
                      "def close(self, wait=True, abort=False, reason=None, *, origin=None):")], "eventlet",
        "engineio.socket.Socket.close", "ending at once the session of a client that is cut off"),
    "engineio-handlers-renamed": Release(
        "engineio", [("*server.py", r"\bself\.handlers\b", "self.event_handlers")], "eventlet",
        "Server.handlers", "the guard on Socket.IO packets"),
    "engineio-receive-reshaped": Release(
        "engineio", [("socket.py", r"def receive\(self, pkt\):", "def receive(self, pkt, *, origin=None):")],
        "eventlet", "engineio.socket.Socket.receive", "the budget of frames per connection and per address"),
    "engineio-send-reshaped": Release(
        "engineio", [("socket.py", r"def send\(self, pkt\):", "def send(self, pkt, *, origin=None):")],
        "eventlet", "engineio.socket.Socket.send", "the bound on packets queued for a client"),
    "engineio-send-queue-renamed": Release(
        "engineio", [("*socket.py", r"\bself\.queue\b", "self.outgoing")], "eventlet",
        "engineio.socket.Socket.send", "the bound on packets queued for a client"),
    # eventlet: python app.py
    "eventlet-get-socket-reshaped": Release(  # renamed, python-engineio's eventlet driver would fail too
        "eventlet", [("wsgi.py", r"def get_socket\(self\):", "def get_socket(self, *, timeout=None):")], "eventlet",
        "eventlet.wsgi.Input.get_socket", "hanging up on a client that is cut off, and the timeout on each read"),
    "eventlet-apply-mask-renamed": Release(
        "eventlet", [("websocket.py", r"\b_apply_mask\b", "_unmask")], "eventlet",
        "eventlet.websocket.RFC6455WebSocket._apply_mask", "fast unmasking of websocket frames"),
    "eventlet-response-414-renamed": Release(
        "eventlet", [("wsgi.py", r"\bRESPONSE_414\b", "URI_TOO_LONG")], "eventlet",
        "eventlet.wsgi.RESPONSE_414", "the JSON answer to a URL too long"),
    "eventlet-http-protocol-renamed": Release(
        "eventlet", [("**/*.py", r"\bHttpProtocol\b", "HttpConnection")], "eventlet",
        "eventlet.wsgi.HttpProtocol", CONNECTIONS),
    "eventlet-protocol-parameter-renamed": Release(
        "eventlet", [("wsgi.py", r"(def server\(sock, site,.*?)protocol=HttpProtocol,", r"\1handler_class=HttpProtocol,"),
                     ("wsgi.py", r"protocol=protocol,", "protocol=handler_class,")], "eventlet",
        "eventlet.wsgi.server", CONNECTIONS),
    "eventlet-header-line-too-long-renamed": Release(
        "eventlet", [("wsgi.py", r"\bHeaderLineTooLong\b", "HeaderLineTooLongError")], "eventlet",
        "eventlet.wsgi.HeaderLineTooLong", "the JSON answer to headers too large"),
    "eventlet-headers-too-large-renamed": Release(
        "eventlet", [("wsgi.py", r"\bHeadersTooLarge\b", "HeadersTooLargeError")], "eventlet",
        "eventlet.wsgi.HeadersTooLarge", "the JSON answer to headers too large"),
    "eventlet-accept-moved": Release(
        "eventlet", [("wsgi.py", r"= sock\.accept\(\)", "= take_connection(sock)"),
                     ("wsgi.py", APPENDED, "\n\ndef take_connection(sock):\n    return sock.accept()\n")],
        "eventlet", "eventlet.wsgi.server", "taking turns while a script opens connections"),
    # python-engineio and simple-websocket: threading mode (and gevent, under gunicorn)
    "engineio-websocket-close-reshaped": Release(
        "engineio", [("async_drivers/_websocket_wsgi.py", r"def close\(self\):", "def close(self, *, reason=None):")],
        "threading", "engineio.async_drivers._websocket_wsgi.SimpleWebSocketWSGI.close",
        "a quiet end to a websocket closed from both sides"),
    "engineio-websocket-server-imported": Release(
        "engineio", [("async_drivers/_websocket_wsgi.py", r"^import simple_websocket\n",
                      "from simple_websocket import ConnectionClosed, Server as WebSocketServer\n"),
                     ("async_drivers/_websocket_wsgi.py", r"simple_websocket\.Server\(", "WebSocketServer("),
                     ("async_drivers/_websocket_wsgi.py", r"simple_websocket\.ConnectionClosed", "ConnectionClosed")],
        "threading", "engineio.async_drivers._websocket_wsgi.SimpleWebSocketWSGI.__call__", BACKLOG),
    "simple-websocket-handle-events-renamed": Release(
        "simple_websocket", [("ws.py", r"\b_handle_events\b", "_read_events")], "threading",
        "simple_websocket.Server._handle_events", BACKLOG),
    "simple-websocket-input-buffer-renamed": Release(
        "simple_websocket", [("ws.py", r"\binput_buffer\b", "frames_in")], "threading",
        "simple_websocket.Server.receive", BACKLOG),
    # gunicorn: README's production command
    "gunicorn-write-error-renamed": Release(
        "gunicorn", [("**/*.py", r"\bwrite_error\b", "write_error_page")], "gunicorn",
        "gunicorn.util.write_error", "JSON answers to requests gunicorn cannot read"),
    "gunicorn-write-nonblock-renamed": Release(
        "gunicorn", [("**/*.py", r"\bwrite_nonblock\b", "write_all")], "gunicorn",
        "gunicorn.util.write_nonblock", "JSON answers to requests gunicorn cannot read"),
}


def serve(start_server, project_copy, served_by, **env):
    if served_by == "gunicorn":
        needs(importlib_has("gunicorn"), "gunicorn")
        return start_server(command=gunicorn_serving(), cwd=project_copy, **env)
    return start_server(ASYNC_MODE=served_by, **env)


def warnings_of(server):
    return [line for line in server.log().splitlines() if CHANGED in line]


@pytest.mark.parametrize("name", RELEASES)
def test_a_release_without_a_patched_name_starts_warns_and_chats(name, start_server, project_copy, tmp_path):
    release = RELEASES[name]
    release.install(tmp_path / "site")
    path = os.pathsep.join(filter(None, [str(tmp_path / "site"), os.environ.get("PYTHONPATH")]))
    server = serve(start_server, project_copy, release.served_by, PYTHONPATH=path)
    chat_through(server.url, ["polling", "websocket"])
    wait_until(lambda: server.log().count(" disconnect ") >= 2, what="the two disconnects in the log")
    warnings = warnings_of(server)
    assert len(warnings) == 1 and "WARNING" in warnings[0], server.log()
    assert f"has changed {release.changed}: serving without {release.guard}" in warnings[0], warnings[0]
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.parametrize("served_by", ["eventlet", "threading", "gunicorn"])
def test_the_pinned_versions_need_no_warning(served_by, start_server, project_copy):
    server = serve(start_server, project_copy, served_by)
    chat_through(server.url, ["polling", "websocket"])
    assert warnings_of(server) == [], server.log()
