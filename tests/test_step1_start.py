"""Step 1: install and start. `python app.py` (or `flask --app app run`) starts a server that answers."""
import importlib.util
import re
import sys
import time

import requests

from conftest import WAIT


def ready_line(log):
    """The line `python app.py` prints once it serves: "Chat Live: ..." with the addresses to open."""
    lines = [line for line in log.splitlines() if line.startswith("Chat Live: ")]
    assert len(lines) == 1, log
    return lines[0]


def test_the_ready_line_names_only_pages_that_answer(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode)
    addresses = re.findall(r"http://\S+", ready_line(server.log()))
    assert addresses and addresses[0] == server.url + "/"
    for address in addresses:
        assert address.startswith(server.url + "/")
        assert requests.get(address, timeout=WAIT).status_code == 200, address


def test_the_first_start_prints_the_ready_line_and_nothing_that_looks_like_an_error(
        start_server, project_copy, async_mode):
    """A newcomer's first `python app.py`: no keys set, no database yet, no warning banner."""
    server = start_server(ASYNC_MODE=async_mode, cwd=project_copy, JWT_SECRET_KEY="")  # no keys set
    log = server.log()
    assert ready_line(log).startswith(f"Chat Live: {server.url}/") or \
        ready_line(log).startswith(f"Chat Live: chat page {server.url}/")
    assert not re.search(r"warn|error|traceback|deprecat", log, re.I), log
    assert len(log.splitlines()) <= 4, log


# The packages whose private names app.py patches (step 11): pinned to the versions CI tests.
PINNED = {"flask-socketio", "python-socketio", "python-engineio", "eventlet", "simple-websocket",
          "gunicorn"}  # gunicorn: in requirements-production.txt


def test_requirements_have_lower_bounds_and_major_caps_and_pin_what_is_patched():
    from importlib.metadata import version

    from conftest import ROOT

    pinned = {}
    for name in ("requirements.txt", "requirements-production.txt", "tests/requirements.txt",
                 "tests/requirements-workshop.txt"):
        for line in (ROOT / name).read_text().splitlines():
            requirement = line.split("#")[0].strip()
            exact = re.fullmatch(r"([\w-]+)==([\d.]+)", requirement)
            if exact and name in ("requirements.txt", "requirements-production.txt"):
                pinned[exact.group(1)] = exact.group(2)
            elif requirement and not requirement.startswith("-r "):
                assert re.search(r">=[\d.]+,\s*<[\d.]+$", requirement), f"{name}: {requirement}"
    assert set(pinned) == PINNED, f"the requirements pin {sorted(pinned)}"
    for package, wanted in pinned.items():
        if package == "gunicorn" and not importlib.util.find_spec("gunicorn"):
            continue  # production only: the workshop's light install (tests/requirements-workshop.txt) has none
        assert version(package) == wanted, f"{package} {version(package)} is installed, the requirements pin {wanted}"


def installed_with(requirements):
    """The distributions pip installs for these requirement lines (with their extras), found through
    the metadata of what is installed here: {normalized name}."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found, todo = set(), [Requirement(line) for line in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found.add(name)
        try:
            needed = requires(name) or []
        except PackageNotFoundError:
            continue  # not installed here (a dependency for another system): nothing below it to see
        for line in needed:
            dependency = Requirement(line)
            extras = requirement.extras or {""}
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dependency)
    return found


def test_the_workshops_test_install_pulls_no_browser_and_no_database_driver():
    from conftest import ROOT

    lines = [line.split("#")[0].strip() for line in
             (ROOT / "tests" / "requirements-workshop.txt").read_text().splitlines()]
    pulled = installed_with([line for line in lines if line])
    assert {"pytest", "python-socketio", "websocket-client", "requests"} <= pulled
    heavy = {"playwright", "psycopg", "psycopg-binary", "redis", "schemathesis", "hypothesis", "gunicorn"}
    assert not pulled & heavy, f"the first test install pulls {sorted(pulled & heavy)}"
    whole = (ROOT / "tests" / "requirements.txt").read_text()
    assert "-r requirements-workshop.txt" in whole  # the README's test command still installs it all


FLASK_RUN = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", "{port}"]


def test_flask_run_serves_too(start_server, project_copy):
    """`flask --app app run`, what every Flask user types, serves the same app (threading mode)."""
    server = start_server(command=FLASK_RUN, cwd=project_copy)
    assert requests.get(server.url + "/", timeout=WAIT).status_code == 200


def test_flask_run_debug_reloads_an_edited_app_py(start_server, project_copy):
    """While a student edits app.py, `flask run --debug` restarts the server with the new code."""
    server = start_server(command=[*FLASK_RUN, "--debug"], cwd=project_copy)
    assert requests.get(server.url + "/added", timeout=WAIT).status_code == 404
    app_py = project_copy / "app.py"
    code = app_py.read_text().replace('if __name__ == "__main__":', '''@app.get("/added")
def added():
    return "a route typed while the server ran"


if __name__ == "__main__":''')
    app_py.write_text(code)
    wait_for(lambda: "Detected change in" in server.log() and server.log().count("Debugger PIN") == 2)
    wait_for(server.answers)
    assert requests.get(server.url + "/added", timeout=WAIT).text == "a route typed while the server ran"


def wait_for(condition, timeout=WAIT * 3):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_git_ignores_the_virtualenv_the_database_and_the_keys():
    """The tutorial makes .venv/ in the project folder; instance/ holds chat.db and the signing keys."""
    from conftest import ROOT

    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".venv/" in ignored and "instance/" in ignored


