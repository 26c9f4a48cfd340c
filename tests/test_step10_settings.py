"""Every setting is checked before anything is served: a wrong one prints one line that names it and
says what to do, and the process exits with status 2, before any ready line and without a traceback.
Good values in any spelling the README allows still start."""
import os
import socket
import subprocess
import sys

import pytest
import requests

from conftest import WAIT, free_port, needs_package

FLASK_RUN = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", "{port}"]


def start(project_copy, command=None, **settings):
    """Start app.py (or `command`) in a student's folder with these settings; wait until it exits."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ASYNC_MODE", "SECRET_KEY")}
    port = str(free_port())
    command = [part.format(port=port) for part in command or [sys.executable, "app.py"]]
    return subprocess.run(command, cwd=project_copy, env={**env, "PORT": port, **settings},
                          capture_output=True, text=True, timeout=WAIT * 6)


def refused(result, *named):
    """Exit status 2, one line on stderr that names each of `named`, no traceback, no ready line."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("Chat Live cannot start: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr and "Chat Live: chat page" not in result.stdout
    for word in named:
        assert word in lines[0], (word, lines[0])
    return lines[0]


WRONG = [
    ({"PORT": "abc"}, "PORT", "whole number"),
    ({"PORT": "99999"}, "PORT", "out of range"),
    ({"PORT": "0"}, "PORT", "1 to 65535"),
    ({"AUTH_REQUIRED": "ture"}, "AUTH_REQUIRED", "AUTH_REQUIRED=true"),
    ({"AUTH_REQUIRED": "yes please"}, "AUTH_REQUIRED", "false"),
    ({"MAX_MESSAGE_LENGTH": "-5"}, "MAX_MESSAGE_LENGTH", "out of range"),
    ({"JWT_EXPIRES_MINUTES": "nan"}, "JWT_EXPIRES_MINUTES", "number"),
    ({"RATE_LIMIT_BURST": "ten"}, "RATE_LIMIT_BURST", "whole number"),
    ({"RATE_LIMIT_PER_SECOND": "inf"}, "RATE_LIMIT_PER_SECOND", "out of range"),
    ({"ASYNC_MODE": "asyncio"}, "ASYNC_MODE", "eventlet, gevent or threading"),
    ({"ASYNC_MODE": "gevent"}, "ASYNC_MODE=gevent", "gunicorn -k gevent"),  # python app.py cannot serve it
    ({"CORS_ORIGINS": "https://ok.example,school.example"}, "CORS_ORIGINS", "'school.example'"),
    ({"DATABASE_URL": "chat.db"}, "DATABASE_URL", "sqlite:///chat.db"),
    ({"DATABASE_URL": "sqlite:////no/such/dir/chat.db"}, "DATABASE_URL", "/no/such/dir does not exist"),
    ({"DATABASE_URL": "postgresql://chat:pw@127.0.0.1:abc/chat"}, "DATABASE_URL", "not a database URL"),
    ({"DATABASE_URL": "postgres://chat:pw@127.0.0.1/chat"}, "DATABASE_URL", "knows no such database"),
    pytest.param({"DATABASE_URL": "sqlite:////proc/chat.db"}, "DATABASE_URL", "cannot write in /proc",  # even as root
                 marks=pytest.mark.skipif(sys.platform != "linux", reason="/proc is Linux's")),
]


def case_id(case):
    settings = case.values[0] if hasattr(case, "values") else case[0]
    return ",".join(f"{k}={v}" for k, v in settings.items())


@pytest.mark.parametrize("settings, name, hint", WRONG, ids=[case_id(case) for case in WRONG])
def test_a_wrong_setting_stops_the_start_in_one_line(project_copy, settings, name, hint):
    refused(start(project_copy, **settings), name, hint)


def test_a_database_that_does_not_answer_is_named_without_its_password(project_copy):
    needs_package("psycopg")
    nobody = free_port()  # nothing listens there
    line = refused(start(project_copy, DATABASE_URL=f"postgresql+psycopg://chat:pw-s3cret@127.0.0.1:{nobody}/chat"),
                   "DATABASE_URL", "does not answer", f"127.0.0.1:{nobody}")
    assert "pw-s3cret" not in line
    # A password with an @ of its own: SQLAlchemy would read its end as part of the host name.
    line = refused(start(project_copy, DATABASE_URL=f"postgresql+psycopg://chat:pw@s3cret@127.0.0.1:{nobody}/chat"),
                   "DATABASE_URL", "%40")
    assert "s3cret" not in line
    line = refused(start(project_copy, DATABASE_URL="chat:pw-s3cret@127.0.0.1/chat"), "not a database URL")
    assert "s3cret" not in line


def test_a_message_queue_that_does_not_answer_is_named(project_copy):
    needs_package("redis")
    refused(start(project_copy, MESSAGE_QUEUE=f"redis://127.0.0.1:{free_port()}/0"), "MESSAGE_QUEUE", "Redis")


def test_an_instance_folder_that_cannot_be_made_is_named(project_copy):
    (project_copy / "instance").write_text("a file where the folder should be")
    refused(start(project_copy), "instance folder", str(project_copy))


@pytest.mark.parametrize("async_mode", ["eventlet", "threading"])
def test_a_port_in_use_says_which_port_to_use_instead(project_copy, async_mode):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        refused(start(project_copy, ASYNC_MODE=async_mode, PORT=str(port)), f"port {port} is in use",
                f"PORT={port + 1}")


def test_a_host_that_is_not_this_machine_is_named(project_copy):
    refused(start(project_copy, HOST="no-such-host.invalid"), "HOST=no-such-host.invalid")


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["run", "run --debug"])
def test_flask_run_refuses_a_wrong_setting_the_same_way(project_copy, debug):
    refused(start(project_copy, [*FLASK_RUN, *debug], AUTH_REQUIRED="ture"), "AUTH_REQUIRED")


def test_gunicorn_stops_on_a_wrong_setting_instead_of_restarting_its_worker(project_copy):
    """A worker that exits 2 is started again by gunicorn, forever; 4 ("the app failed to load") stops it."""
    needs_package("gunicorn")
    command = [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "2", "--bind", "127.0.0.1:{port}", "app:app"]
    result = start(project_copy, command, AUTH_REQUIRED="ture")
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("Chat Live cannot start: AUTH_REQUIRED='ture'") == 1, result.stderr


def test_good_settings_in_any_allowed_spelling_start(start_server, project_copy):
    server = start_server(cwd=project_copy, AUTH_REQUIRED="FALSE", CORS_ORIGINS="https://a.example, http://b.example:8080/",
                          JWT_EXPIRES_MINUTES="0.5", RATE_LIMIT_BURST=" 12 ", MAX_MESSAGE_LENGTH="2000")
    assert requests.get(server.url + "/messages", timeout=WAIT).status_code == 200  # login stays off
    login_on = start_server(cwd=project_copy, AUTH_REQUIRED="1")
    assert requests.get(login_on.url + "/messages", timeout=WAIT).status_code == 401
