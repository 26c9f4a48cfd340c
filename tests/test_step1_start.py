"""Step 1: install and start. `python app.py` serves the chat, the docs and Socket.IO on one port."""
import re
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
