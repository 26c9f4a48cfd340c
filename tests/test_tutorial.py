"""tutorial.md stays true, and the Postman collection passes.

- A code block marked `<!-- from app.py -->` (or another file) appears in that file verbatim: the same
  lines, in a row. Change a line of `app.py` that the tutorial shows, and a test here fails.
- Each `## N.` section quotes the `# --- Step N:` part of `app.py`, and names the tests of step N.
- Every `$ command` of the tutorial runs as written, in order, against a real server on a fresh
  database, and prints what the tutorial shows under it (times, tokens, ports and paths aside).
- `static/chat-live.postman_collection.json` passes under newman, with login required and without.
"""
import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import requests
import socketio

from conftest import ROOT, WAIT

TUTORIAL = ROOT / "tutorial.md"
COLLECTION = ROOT / "static" / "chat-live.postman_collection.json"
TUTORIAL_URL = "http://127.0.0.1:5000"  # the tests put their own server's address in its place


# --- Reading the tutorial -----------------------------------------------------------------------

@dataclasses.dataclass
class Block:
    """A fenced code block of the tutorial."""
    lang: str
    mark: str     # the `<!-- ... -->` comment right above the fence, or ""
    text: str     # the lines between the fences
    line: int     # where the block starts in tutorial.md, for messages
    section: str  # the `## ` heading it sits under


FENCE = re.compile(r"(?:^<!-- (?P<mark>[^\n]*?) -->\n)?^```(?P<lang>\w*)\n(?P<text>.*?)^```$", re.M | re.S)


def blocks(markdown):
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"^## (.*)$", markdown, re.M)]
    found = []
    for m in FENCE.finditer(markdown):
        section = [title for start, title in headings if start < m.start()]
        found.append(Block(m.group("lang"), m.group("mark") or "", m.group("text"),
                           markdown.count("\n", 0, m.start()) + 1, section[-1] if section else ""))
    return found


def step_number(section):
    match = re.match(r"(\d)\. ", section)
    return int(match.group(1)) if match else None


@dataclasses.dataclass
class Command:
    """A `$ command` of a console block and the output shown under it."""
    command: str
    output: str
    block: Block


def commands(block):
    """The commands of a console block; a line ending in a backslash continues on the next."""
    found = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            found.append(Command(line[2:], "", block))
        elif found and found[-1].command.endswith("\\"):
            found[-1].command = found[-1].command[:-1] + line
        else:
            assert found, f"tutorial.md line {block.line}: output before any command"
            found[-1].output += line + "\n"
    return found


TEXT = TUTORIAL.read_text()
BLOCKS = blocks(TEXT)
COMMANDS = [command for block in BLOCKS if block.lang == "console" for command in commands(block)]


# --- Snippets: verbatim containment -------------------------------------------------------------

def find_snippet(snippet, source):
    """The line numbers (0-based) where all the snippet's lines appear in a row in source."""
    lines, wanted = source.splitlines(), snippet.splitlines()
    return [i for i in range(len(lines) - len(wanted) + 1) if lines[i:i + len(wanted)] == wanted]


def drift(snippet, source, name="app.py"):
    """None when the snippet appears verbatim in source, else what no longer matches."""
    if not snippet.strip():
        return "the block is empty"
    if find_snippet(snippet, source):
        return None
    lines, wanted = source.splitlines(), snippet.splitlines()
    best_start, best_length = 0, 0  # the longest run of the snippet's first lines found in source
    for start in range(len(lines)):
        length = 0
        while (length < len(wanted) and start + length < len(lines)
               and lines[start + length] == wanted[length]):
            length += 1
        if length > best_length:
            best_start, best_length = start, length
    if best_length == 0:
        return f"its first line is not in {name}: {wanted[0]!r}"
    here = lines[best_start + best_length] if best_start + best_length < len(lines) else "(end of file)"
    return (f"line {best_length + 1} of the block differs from {name} line {best_start + best_length + 1}:\n"
            f"  tutorial: {wanted[best_length]!r}\n  {name}:   {here!r}")


SNIPPETS = [b for b in BLOCKS if b.mark.startswith("from ")]


@pytest.mark.parametrize("block", SNIPPETS, ids=lambda b: f"line{b.line}")
def test_every_snippet_appears_verbatim_in_its_file(block):
    name = block.mark.removeprefix("from ")
    problem = drift(block.text, (ROOT / name).read_text(), name)
    assert problem is None, f"tutorial.md line {block.line} no longer matches {name}: {problem}"


def test_a_changed_deleted_or_reindented_line_of_app_py_is_caught():
    """The checker can fail: every app.py snippet, with one line of app.py altered, is reported."""
    source = (ROOT / "app.py").read_text()
    lines = source.splitlines()
    checked = 0
    for block in SNIPPETS:
        found = find_snippet(block.text, source)
        if block.mark != "from app.py" or not found:
            continue  # a snippet that already drifted fails the test above
        checked += 1
        start, length = found[0], len(block.text.splitlines())
        target = start + length // 2
        for changed in ([*lines[:target], lines[target] + " # changed", *lines[target + 1:]],
                        [*lines[:target], *lines[target + 1:]],
                        [*lines[:target], "    " + lines[target], *lines[target + 1:]]):
            assert drift(block.text, "\n".join(changed)) is not None, f"tutorial.md line {block.line}"
    assert checked
    assert "first line is not in app.py" in drift("def no_such_function():\n    pass\n", source)


def test_the_tutorial_has_the_six_steps_of_the_seed_in_order_then_postman():
    headings = re.findall(r"^## (.*)$", TEXT, re.M)
    assert [step_number(h) for h in headings] == [1, 2, 3, 4, 5, 6, None]
    assert headings[-1] == "Postman"  # the README links to tutorial.md#postman


def step_parts(source):
    """{N: (first line, end line)} of each part `# --- Step N:` of app.py, up to the next banner."""
    lines = source.splitlines()
    banners = [i for i, line in enumerate(lines) if line.startswith("# --- ")] + [len(lines)]
    return {int(m.group(1)): (start, end) for start, end in zip(banners, banners[1:])
            if (m := re.match(r"# --- Step (\d):", lines[start]))}


@pytest.mark.parametrize("step", range(1, 7))
def test_each_step_quotes_its_own_part_of_app_py(step):
    source = (ROOT / "app.py").read_text()
    first, end = step_parts(source)[step]
    quoted = [line for b in SNIPPETS if b.mark == "from app.py" and step_number(b.section) == step
              for line in find_snippet(b.text, source)]
    assert any(first < line < end for line in quoted), f"section {step} quotes nothing of Step {step}"


@pytest.mark.parametrize("step", range(1, 7))
def test_each_step_says_how_to_check_it_with_its_tests(step):
    runs = [c.command for c in COMMANDS
            if step_number(c.block.section) == step and kind(c.command) == "pytest"]
    assert runs == [f"python -m pytest tests/test_step{step}_*.py"]
    assert list((ROOT / "tests").glob(f"test_step{step}_*.py"))


def test_every_block_is_checked_by_some_test():
    known = {("python", "from app.py"), ("js", "from static/chat.js"), ("markdown", "from app.py"),
             ("python", "save as client.py"), ("console", ""), ("text", "files"),
             ("json", "postman: event_message")}
    for block in BLOCKS:
        assert (block.lang, block.mark) in known, f"tutorial.md line {block.line}: nothing checks this block"


NESTJS_NAMES = {"getAllMessages()"}  # the seed's own names, which the tutorial compares with ours


def test_every_name_in_backticks_exists_in_the_code():
    """A function or variable the prose names in backticks (`save_message()`, `on_connect`) is
    defined or used in app.py, or in a file the tutorial saves (client.py)."""
    prose = re.sub(r"^```.*?^```$", "", TEXT, flags=re.M | re.S)
    code = (ROOT / "app.py").read_text() + "".join(b.text for b in BLOCKS if b.mark.startswith("save as "))
    missing = []
    for name, call in re.findall(r"`([A-Za-z_][\w.]*?)(\(\))?`", prose):
        looks_like_code = call or ("_" in name and name == name.lower())
        if not looks_like_code or re.search(r"\.(py|js|md|txt)$", name) or name + call in NESTJS_NAMES:
            continue
        if not re.search(rf"\b{re.escape(name.split('.')[-1])}\b", code):
            missing.append(name + call)
    assert not missing, f"tutorial.md names what app.py does not have: {missing}"


def test_the_folder_tree_names_real_files():
    (tree,) = [b for b in BLOCKS if b.mark == "files"]
    for name in re.findall(r"── (\S+)", tree.text):
        assert (ROOT / name).exists(), name


# --- Commands -----------------------------------------------------------------------------------

SETUP = re.compile(r"mkdir chat-live|cd chat-live|python3 -m venv \.venv|source \.venv/bin/activate")
SERVER = re.compile(r"((?:\w+=\S+ )*)python app\.py")


def kind(command):
    """How the tests check a command."""
    if SETUP.fullmatch(command):
        return "setup"  # plain shell: nothing of this project to check
    if command.startswith("pip install "):
        return "pip"
    if command.startswith("python -m pytest "):
        return "pytest"  # the files exist (above) and the whole suite runs them
    if command.startswith("npm install -g newman") or command.startswith("newman run "):
        return "newman"
    if SERVER.fullmatch(command):
        return "server"
    if re.match(r"(curl|export \w+=\$\(curl|python client\.py$)", command):
        return "shell"
    return None


def test_every_command_is_checked_by_some_test():
    for command in COMMANDS:
        where = f"tutorial.md line {command.block.line}: `{command.command}`"
        assert kind(command.command), f"{where}: no test checks this command"
        if kind(command.command) in ("setup", "pip", "pytest", "newman"):
            assert not command.output, f"{where}: its output is shown but not checked"
        for address in re.findall(r"https?://[\w.]+:\d+", command.command):
            assert address == TUTORIAL_URL, command.command  # the only address the tests replace


def test_the_pip_install_commands_install_what_is_needed():
    """The same commands with --dry-run --no-index: every requirement resolves, nothing is missing."""
    for command in COMMANDS:
        if kind(command.command) == "pip":
            args = shlex.split(command.command)[2:]
            result = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", *args],
                cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "Would install" not in result.stdout, result.stdout


VARIABLE = [  # what differs from run to run, and what stands for it when comparing
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"), "<log time>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"), "<created_at>"),
    (re.compile(r"^Date: .*$", re.M), "Date: <date>"),
    (re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]+"), "<jwt>"),
    (re.compile(r"^\S*/app\.py:", re.M), "/your/folder/app.py:"),
]


def normalize(text, url=TUTORIAL_URL):
    text = text.replace("\r\n", "\n").replace(url, TUTORIAL_URL)
    for pattern, stand_in in VARIABLE:
        text = pattern.sub(stand_in, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def matches(shown, real, url):
    """Does the real output look like the shown one? A line `...` stands for any lines."""
    pattern = "".join(r"(?:.*\n)*?" if line == "..." else re.escape(line) + r"\n"
                      for line in normalize(shown).splitlines())
    real = normalize(real, url)
    return re.fullmatch(pattern, real + "\n" if real else "") is not None


def test_the_output_checker_can_fail():
    url = "http://127.0.0.1:41234"
    assert matches('{"id":1}\n', '{"id":1}\n', url)
    assert not matches('{"id":1}\n', '{"id":2}\n', url)
    assert matches("...\nChat Live: chat page http://127.0.0.1:5000/\n",
                   "a warning\nChat Live: chat page http://127.0.0.1:41234/\n", url)
    assert not matches("...\nChat Live: chat page http://127.0.0.1:5000/\n", "Chat Live: crashed\n", url)
    assert matches("", "", url) and not matches("", "something", url)
    assert matches("'created_at': '2026-11-25T15:26:22.610624Z'\n",
                   "'created_at': '2027-01-01T00:00:00.000001Z'\n", url)


@pytest.fixture
def shell(tmp_path):
    """Runs commands like a student's terminal: in a project folder, `python` meaning this Python."""
    assert shutil.which("bash") and shutil.which("curl"), "the tutorial's commands need bash and curl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A script, not a symlink: a symlink to a virtualenv's python outside the virtualenv's bin/ does not
    # find the virtualenv (Python looks for pyvenv.cfg beside the path it was started by).
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    folder = tmp_path / "chat-live"
    folder.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "NO_PROXY": "127.0.0.1"}
    for name in ("TOKEN", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(name, None)
    saved = {}  # the files the tutorial says to save, by name

    def run(command, url):
        """Run a command with the tutorial's address replaced by url; return what it printed."""
        for name, text in saved.items():
            (folder / name).write_text(text.replace(TUTORIAL_URL, url))
        command = command.replace(TUTORIAL_URL, url)
        exported = re.match(r"export (\w+)=", command)
        if exported:  # keep the variable for the next commands, as the student's shell does
            name = exported.group(1)
            result = subprocess.run(["bash", "-c", f'{command}\nprintf %s "${name}"'], cwd=folder, env=env,
                                    capture_output=True, text=True, timeout=WAIT * 4)
            assert result.returncode == 0 and result.stdout, f"`{command}` failed: {result.stderr}"
            env[name] = result.stdout
            return ""
        curl = command.startswith("curl ")  # curl prints a progress meter on stderr, when piped only
        result = subprocess.run(["bash", "-c", command], cwd=folder, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE if curl else subprocess.STDOUT, text=True,
                                timeout=WAIT * 4)
        if curl:
            assert result.returncode == 0, f"`{command}` failed: {result.stderr}"
        return result.stdout

    run.saved = saved
    return run


def test_following_the_tutorial_from_start_to_finish(start_server, shell):
    """Every server start, curl and client run of the tutorial, in order, on one fresh database."""
    server = None
    for block in BLOCKS:
        if block.mark.startswith("save as "):  # the student saves this file in the project folder
            shell.saved[block.mark.removeprefix("save as ")] = block.text
        if block.lang != "console":
            continue
        for command in commands(block):
            if kind(command.command) == "server":
                if server:
                    server.stop()  # Ctrl+C
                env = dict(assignment.split("=", 1)
                           for assignment in SERVER.fullmatch(command.command).group(1).split())
                server = start_server(JWT_SECRET_KEY="", **env)  # a newcomer sets no keys
                real = server.log()
            elif kind(command.command) == "shell":
                assert server, f"`{command.command}` runs before any server was started"
                real = shell(command.command, server.url)
            else:
                continue
            assert matches(command.output, real, server.url), (
                f"tutorial.md line {block.line}: `{command.command}` printed\n{real}\n"
                f"which is, normalized,\n{normalize(real, server.url)}\n"
                f"but the tutorial shows\n{command.output}")


# --- Postman ------------------------------------------------------------------------------------

def postman_section():
    return TEXT[TEXT.index("\n## Postman\n"):]


def test_the_postman_socketio_steps_name_what_the_server_expects():
    steps = postman_section()
    for needed in ("ws://127.0.0.1:5000", "/socket.io", "**v4**", "`new_message`", "`message_error`",
                   "`presence`", "`event_message`", "**Ack**", "`Authorization`", "`Bearer `",
                   "`token`", "?token="):
        assert needed in steps, needed


@pytest.mark.parametrize("how", ["header", "query"])
def test_the_postman_socketio_steps_work(start_server, how):
    """What Postman does: websocket only, no auth object, the token in a header or in the URL,
    the tutorial's JSON sent as event_message with an ack."""
    server = start_server(AUTH_REQUIRED="true")
    credentials = {"username": "postman", "password": "correct horse"}
    assert requests.post(server.url + "/auth/register", json=credentials, timeout=WAIT).status_code == 201
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    (payload,) = [json.loads(b.text) for b in BLOCKS if b.mark == "postman: event_message"]

    refused, reasons = socketio.Client(), []
    refused.on("connect_error", reasons.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(server.url, transports=["websocket"], wait_timeout=WAIT)
    assert reasons == [{"message": "missing token: log in, then send it in auth {token}, a Bearer header or ?token="}]

    client = socketio.Client()
    if how == "header":
        client.connect(server.url, headers={"Authorization": f"Bearer {token}"},
                       transports=["websocket"], wait_timeout=WAIT)
    else:
        client.connect(f"{server.url}?token={token}", transports=["websocket"], wait_timeout=WAIT)
    try:
        ack = client.call("event_message", payload, timeout=WAIT)
        assert ack["ok"] is True and ack["message"]["text"] == payload["text"]
        assert ack["message"]["author"] == "postman"  # the token's user
        assert client.call("event_message", {"text": ""}, timeout=WAIT) == {
            "ok": False, "error": "text must not be empty"}
    finally:
        client.disconnect()


def newman():
    """The newman command, or a skip (a failure in CI) saying how to install it."""
    found = os.environ.get("NEWMAN") or shutil.which("newman")
    if not found:
        why = "newman is not installed: npm install -g newman (or set NEWMAN to its path)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return found


def run_newman(server, *args):
    (shown,) = [c.command for c in COMMANDS if c.command.startswith("newman run ")]
    collection = ROOT / shlex.split(shown)[2]  # the very file the tutorial runs
    return subprocess.run([newman(), "run", str(collection), "--env-var", f"baseUrl={server.url}",
                           "--color", "off", "--timeout-request", "10000", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_postman_collection_is_format_v2_1_with_the_promised_variables():
    collection = json.loads(COLLECTION.read_text())
    schema = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    assert collection["info"]["schema"] == schema
    assert {v["key"] for v in collection["variable"]} == {"baseUrl", "username", "password", "token"}
    assert all(item["event"][0]["listen"] == "test" for item in collection["item"])


def newman_assertions(output):
    """(executed, failed) from the summary table newman prints."""
    executed, failed = re.search(r"│\s+assertions │\s+(\d+) │\s+(\d+) │", output).groups()
    return int(executed), int(failed)


@pytest.mark.parametrize("auth_required", ["true", "false"])
def test_the_postman_collection_passes_under_newman(start_server, auth_required):
    server = start_server(AUTH_REQUIRED=auth_required)
    credentials = {"username": "ana", "password": "correct horse"}  # a message for History to check
    requests.post(server.url + "/auth/register", json=credentials, timeout=WAIT).raise_for_status()
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    client = socketio.Client()
    client.connect(server.url, auth={"token": token}, wait_timeout=WAIT)
    assert client.call("event_message", {"text": "hola"}, timeout=WAIT)["ok"]
    client.disconnect()
    result = run_newman(server, "--iteration-count", "2")  # the 2nd meets an existing user: 409, fine
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    tests = COLLECTION.read_text().count("pm.test(")
    assert newman_assertions(result.stdout) == (2 * tests, 0), result.stdout


def test_the_postman_collection_fails_when_the_server_says_no(start_server):
    """Its tests bite: with a wrong password, Login fails, and so do the requests that need its token."""
    server = start_server(AUTH_REQUIRED="true")
    credentials = {"username": "postman", "password": "correct horse"}
    assert requests.post(server.url + "/auth/register", json=credentials, timeout=WAIT).status_code == 201
    result = run_newman(server, "--env-var", "password=not the password")
    assert result.returncode != 0
    executed, failed = newman_assertions(result.stdout)
    assert failed == 4, result.stdout  # Login, then Me and both History requests (no token)


# --- README -------------------------------------------------------------------------------------

README = (ROOT / "README.md").read_text()
TWO_COMMANDS = ["pip install -r requirements.txt && python app.py",
                "pip install -r requirements.txt -r tests/requirements.txt && python -m pytest tests"]


def test_the_readme_has_the_two_commands_and_ci_runs_them_from_it():
    for command in TWO_COMMANDS:
        assert f"\n    {command}\n" in README
    found = subprocess.run(["bash", str(ROOT / ".ci" / "run"), "--print-commands"], capture_output=True,
                           text=True, timeout=30, check=True).stdout
    assert found.splitlines() == TWO_COMMANDS


def test_ci_runs_every_python_version_the_readme_supports():
    (supported,) = re.findall(r"Supported Python versions: ([\d., and]+)\(", README)
    versions = re.findall(r"3\.\d+", supported)
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r'^PYTHONS="([^"]*)"', ci, re.M).group(1).split() == versions == ["3.11", "3.12", "3.13"]


def test_the_readme_links_to_the_tutorial_the_docs_and_the_postman_guide():
    for link in ("(tutorial.md)", "(tutorial.md#postman)", "<http://127.0.0.1:5000/docs/>",
                 "(static/chat-live.postman_collection.json)"):
        assert link in README, link
    assert "\n## Postman\n" in TEXT  # where tutorial.md#postman lands
    for page in (README, TEXT):
        for path in re.findall(r"\]\((static/[^)#]+)\)", page):
            assert (ROOT / path).exists(), path


def test_the_readme_config_table_names_every_variable_app_py_reads():
    source = (ROOT / "app.py").read_text()
    read = set(re.findall(r'(?:os\.environ\.get|secret_key|env_flag)\("([A-Z_]+)"', source))
    table = set(re.findall(r"^\| (.*?) \|", README, re.M))
    documented = {name for row in table for name in re.findall(r"`([A-Z_]+)`", row)}
    assert read and read <= documented, read - documented
