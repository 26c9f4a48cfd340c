"""The tutorial builds app.py, in both editions, and everything it shows is true.

- tutorial.md's `python app.py` blocks, applied in order (tests/checkpoint.py), build every step's
  checkpoint; the last checkpoint is app.py, byte for byte; tutorial.es.md builds the same ones.
- Each checkpoint starts with `python app.py`, and the tests of step N pass against checkpoint N.
- Every `$ command` of the tutorial runs as written, in order, against the server of the checkpoint
  where it appears, on one fresh database, and prints what the tutorial shows (times, tokens, ports and
  paths aside). Other snippets (static/chat.js) appear verbatim in their files.
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

import checkpoint
from conftest import ROOT, WAIT

TUTORIAL = ROOT / "tutorial.md"
EDITIONS = {"en": TUTORIAL, "es": ROOT / "tutorial.es.md"}
COLLECTION = ROOT / "static" / "chat-live.postman_collection.json"
TUTORIAL_URL = "http://127.0.0.1:5000"  # the tests put their own server's address in its place


# --- Reading the tutorial -----------------------------------------------------------------------

@dataclasses.dataclass
class Block:
    """A fenced code block of the tutorial."""
    lang: str     # the first word of the info string
    build: str    # the rest of it: "app.py", "app.py replace NAME", "app.py after NAME" or ""
    mark: str     # the `<!-- ... -->` comment right above the fence, or ""
    text: str     # the lines between the fences
    line: int     # where the block starts in tutorial.md, for messages
    section: str  # the `## ` heading it sits under


FENCE = re.compile(r"(?:^<!-- (?P<mark>[^\n]*?) -->\n)?^```(?P<info>[^\n]*)\n(?P<text>.*?)^```$", re.M | re.S)


def blocks(markdown):
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"^## (.*)$", markdown, re.M)]
    found = []
    for m in FENCE.finditer(markdown):
        section = [title for start, title in headings if start < m.start()]
        lang, _, build = m.group("info").partition(" ")
        found.append(Block(lang, build, m.group("mark") or "", m.group("text"),
                           markdown.count("\n", 0, m.start()) + 1, section[-1] if section else ""))
    return found


def step_number(section):
    match = re.match(r"(\d+)\. ", section)
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
STEPS = [number for number, _, _ in checkpoint.steps(TEXT)]
LAST = STEPS[-1]


# --- The text builds the code -------------------------------------------------------------------

@pytest.mark.parametrize("lang", EDITIONS)
def test_the_last_checkpoint_is_app_py_byte_for_byte(lang):
    built = checkpoint.checkpoint(LAST, lang)
    app_py = (ROOT / "app.py").read_text()
    if built != app_py:
        built_lines, app_lines = built.splitlines(), app_py.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(built_lines, app_lines)) if a != b),
                     min(len(built_lines), len(app_lines)))
        pytest.fail(f"{EDITIONS[lang].name} builds an app.py that differs at line {first + 1}:\n"
                    f"  tutorial: {built_lines[first:first + 1]}\n  app.py:   {app_lines[first:first + 1]}")


def test_both_editions_build_the_same_checkpoints_with_the_same_blocks():
    spanish = EDITIONS["es"].read_text()
    assert [n for n, _, _ in checkpoint.steps(spanish)] == STEPS
    assert [b[:3] for b in checkpoint.blocks(spanish)] == [b[:3] for b in checkpoint.blocks(TEXT)]
    for number in STEPS:
        assert checkpoint.tangle(spanish, number) == checkpoint.tangle(TEXT, number), number


def test_both_editions_show_the_same_commands_outputs_and_other_code():
    spanish = blocks(EDITIONS["es"].read_text())
    def shown(found):
        return [(b.lang, b.build, b.mark, b.text, step_number(b.section)) for b in found]
    assert shown(spanish) == shown(BLOCKS)


@pytest.mark.parametrize("number", STEPS)
def test_every_checkpoint_is_valid_python_built_only_from_existing_names(number):
    source = checkpoint.checkpoint(number)  # raises TangleError for a block naming a missing definition
    compile(source, f"checkpoint {number}", "exec")
    assert source.rstrip().endswith('if __name__ == "__main__":\n    main()')
    banners = [int(n) for n in re.findall(r"^# --- Step (\d+): ", source, re.M)]
    assert banners == list(range(1, number + 1))  # each step opens with its banner, in order


def test_the_checkpoint_command_prints_the_checkpoint():
    for number, lang in ((4, "en"), (LAST, "es")):
        args = [str(number)] + (["--lang", lang] if lang != "en" else [])
        printed = subprocess.run([sys.executable, "tests/checkpoint.py", *args], cwd=ROOT, check=True,
                                 capture_output=True, text=True, timeout=30).stdout
        assert printed == checkpoint.checkpoint(number, lang)
    refused = subprocess.run([sys.executable, "tests/checkpoint.py", "99"], cwd=ROOT, capture_output=True,
                             text=True, timeout=30)
    assert refused.returncode != 0 and "no step 99" in refused.stderr


# --- The workshop: steps 1-6 in an afternoon ---------------------------------------------------

WORKSHOP = range(1, 7)
TYPED_AT_MOST, WORDS_AT_MOST, LINES_AT_MOST, MINUTES_AT_MOST = 17_000, 3_800, 420, 150


def step_sections(markdown):
    """{N: the text of section `## N. ...`}, without its exercises: homework, not the afternoon's work."""
    for _, _, _, start, end in reversed(checkpoint.exercises(markdown)):
        markdown = markdown[:start] + markdown[end:]
    return {number: markdown[start:end] for number, start, end in checkpoint.steps(markdown)}


def typed(section, files=False):
    """The characters a student types in a section: its app.py blocks (replacements included), and
    with files=True the files it has them write (the page of step 4)."""
    code = [m.group(4) for m in checkpoint.FENCE.finditer(section) if not m.group(3)]
    if files:
        code += [m.group(1) for m in re.finditer(r"^<!-- file \S+ -->\n```\w+\n(.*?)^```$", section, re.M | re.S)]
    return sum(len(text.strip("\n")) + 1 for text in code)


def prose_words(section):
    return len(re.sub(r"^```.*?^```$", "", section, flags=re.M | re.S).split())


@pytest.mark.parametrize("lang", EDITIONS)
def test_the_workshop_fits_its_budget(lang):
    """Steps 1-6 are typed and read in an afternoon: the tutorial's size, not a timing."""
    sections = step_sections(EDITIONS[lang].read_text())
    characters = sum(typed(sections[n]) for n in WORKSHOP)
    words = sum(prose_words(sections[n]) for n in WORKSHOP)
    lines = len(checkpoint.checkpoint(6, lang).splitlines())
    print(f"{lang}: steps 1-6 type {characters:,} characters into app.py and read {words:,} words; "
          f"checkpoint 6 has {lines} lines")
    assert characters <= TYPED_AT_MOST, f"{characters:,} characters typed into app.py in steps 1-6"
    assert words <= WORDS_AT_MOST, f"{words:,} words of prose in steps 1-6"
    assert lines <= LINES_AT_MOST, f"checkpoint 6 has {lines} lines"


def plan(markdown):
    """The workshop plan's rows: {step: (read, type, run, check, minutes)}, and the total it states."""
    table = markdown[markdown.index("<!-- plan -->"):].split("\n\n")[0]
    rows, total = {}, None
    for line in table.splitlines()[3:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if re.match(r"\d+\. ", cells[0]):
            rows[int(cells[0].split(".")[0])] = tuple(int(cell) for cell in cells[1:])
        elif cells[-1].strip("*").isdigit():
            total = int(cells[-1].strip("*"))
    return rows, total


@pytest.mark.parametrize("lang", EDITIONS)
def test_the_workshop_plan_adds_up_and_leaves_time_to_type_and_read(lang):
    """Each row's minutes add up; the total is what the rows say and fits 150 minutes; and nobody is
    asked to type faster than 250 characters or read faster than 250 words a minute."""
    text = EDITIONS[lang].read_text()
    rows, total = plan(text)
    assert sorted(rows) == list(WORKSHOP)
    sections = step_sections(text)
    for step, (read, type_, run, check, minutes) in rows.items():
        assert read + type_ + run + check == minutes, step
        assert type_ * 250 >= typed(sections[step], files=True), f"step {step}: too little time to type"
        assert read * 250 >= prose_words(sections[step]), f"step {step}: too little time to read"
    assert total == sum(row[-1] for row in rows.values()) <= MINUTES_AT_MOST


def test_the_budget_test_can_fail():
    grown = TEXT.replace("## 2. ", "```python app.py\n" + "x = 1\n" * 3000 + "```\n\n## 2. ", 1)
    assert sum(typed(step_sections(grown)[n]) for n in WORKSHOP) > TYPED_AT_MOST
    slow = TEXT.replace("| 2. Structure | 1 | 4 | 2 | 2 | 9 |", "| 2. Structure | 1 | 4 | 2 | 2 | 90 |")
    rows, total = plan(slow)
    read, type_, run, check, minutes = rows[2]
    assert read + type_ + run + check != minutes  # the plan's test fails on a row that does not add up
    assert sum(row[-1] for row in rows.values()) > MINUTES_AT_MOST and total == 148  # and on a wrong total


@pytest.mark.parametrize("lang", EDITIONS)
def test_the_workshop_steps_name_nothing_of_later_steps(lang):
    """Steps 1-6 do not lean on ideas the student has not met: rate limits, rooms, the Authorize
    button, eventlet, paging by id, AsyncAPI."""
    text = EDITIONS[lang].read_text()
    workshop = text[text.index("\n## 1. "):text.index("\n## 7. ")]
    for idea in ("rate limit", "room", "Authorize", "eventlet", "before=", "after=", "AsyncAPI",
                 "/docs/events", "/health", "/auth/me"):
        assert idea.lower() not in workshop.lower(), idea


# --- Your own page (step 4) --------------------------------------------------------------------

FILE_BLOCKS = [b for b in BLOCKS if b.mark.startswith("file ")]


def test_the_page_the_student_writes_is_in_the_text_and_in_the_repository_the_same():
    assert [b.mark for b in FILE_BLOCKS] == ["file static/mini.html", "file static/mini.js"]
    for lang, path in EDITIONS.items():
        shown = [b for b in blocks(path.read_text()) if b.mark.startswith("file ")]
        for block in shown:
            assert block.text == (ROOT / block.mark.removeprefix("file ")).read_text(), (lang, block.mark)
        assert all(step_number(b.section) == 4 for b in shown)


TANGLE_RULES = """
## 1. One

```python app.py
\"\"\"Doc.\"\"\"

# --- Step 1: one ---
def first():
    return 1


if __name__ == "__main__":
    first()
```

```python app.py
SECOND = 2
```

## 2. Two

```python app.py replace first
# A comment right above belongs to the definition.
@decorated
def first():
    return "one"
```

```python app.py after first
def between():
    pass
```

```python
print("an illustration builds nothing")
```
"""


def test_the_tangle_rules():
    assert checkpoint.tangle(TANGLE_RULES, 1) == (
        '\"\"\"Doc.\"\"\"\n\n# --- Step 1: one ---\ndef first():\n    return 1\n\n\nSECOND = 2\n\n\n'
        'if __name__ == "__main__":\n    first()\n')
    assert checkpoint.tangle(TANGLE_RULES) == (
        '\"\"\"Doc.\"\"\"\n\n# --- Step 1: one ---\n# A comment right above belongs to the definition.\n'
        '@decorated\ndef first():\n    return "one"\n\n\ndef between():\n    pass\n\n\nSECOND = 2\n\n\n'
        'if __name__ == "__main__":\n    first()\n')
    again = checkpoint.tangle(TANGLE_RULES.replace("```python app.py after first",
                                                   "```python app.py replace first"))
    assert "# --- Step 1: one ---\ndef between" in again  # a banner never belongs to a definition
    with pytest.raises(checkpoint.TangleError, match="no top-level definition of missing"):
        checkpoint.tangle(TANGLE_RULES.replace("replace first", "replace missing"))
    with pytest.raises(checkpoint.TangleError, match="no step 3"):
        checkpoint.tangle(TANGLE_RULES, 3)
    before = checkpoint.tangle(TANGLE_RULES.replace("```python app.py after first",
                                                    "```python app.py before SECOND"))
    assert "    return \"one\"\n\n\ndef between():\n    pass\n\n\nSECOND = 2\n" in before
    imported = checkpoint.tangle("## 1. One\n\n```python app.py\nimport os\n\nfrom flask import Flask\n```\n\n"
                                 "```python app.py before Flask\nPATCHED = True\n```\n")
    assert imported == "import os\n\n\nPATCHED = True\n\n\nfrom flask import Flask\n"


def test_changing_one_line_of_app_py_or_of_a_block_is_caught():
    """The byte-for-byte check can fail: one changed line, on either side, breaks the match."""
    app_py = (ROOT / "app.py").read_text()
    assert checkpoint.tangle(TEXT) == app_py
    lines = app_py.splitlines(keepends=True)
    middle = len(lines) // 2
    assert checkpoint.tangle(TEXT) != "".join(lines[:middle] + ["# changed\n"] + lines[middle + 1:])
    kept = [b for b in BLOCKS if b.build.startswith("app.py") and b.text.strip("\n") in app_py]
    block = kept[len(kept) // 2]  # a block that no later step replaces
    changed = block.text.replace("\n", "\n# changed\n", 1)
    assert checkpoint.tangle(TEXT.replace(block.text, changed, 1)) != app_py


@pytest.fixture(scope="module")
def checkpoint_folders(tmp_path_factory):
    """{N: a folder with checkpoint N as app.py, and the repository's templates/ and static/}."""
    folders = {}
    for number in STEPS:
        folder = tmp_path_factory.mktemp(f"checkpoint{number}")
        (folder / "app.py").write_text(checkpoint.checkpoint(number))
        for name in ("templates", "static"):
            shutil.copytree(ROOT / name, folder / name)
        folders[number] = folder
    return folders


@pytest.mark.parametrize("number", STEPS[:-1])  # the last checkpoint is app.py: the suite tests it
@pytest.mark.timeout(900)  # step 11's attack tests take minutes
def test_the_tests_of_each_step_pass_against_its_checkpoint(checkpoint_folders, number):
    """What a student who typed along up to step N has: `python app.py` and that step's tests work."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         *sorted(str(path) for path in (ROOT / "tests").glob(f"test_step{number}_*.py"))],
        cwd=ROOT, env={**os.environ, "CHAT_LIVE_APP": str(checkpoint_folders[number])},
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"checkpoint {number}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"


# --- Every block is checked ---------------------------------------------------------------------

SNIPPETS = [b for b in BLOCKS if b.mark.startswith("from ")]


def find_snippet(snippet, source):
    """The line numbers (0-based) where all the snippet's lines appear in a row in source."""
    lines, wanted = source.splitlines(), snippet.splitlines()
    return [i for i in range(len(lines) - len(wanted) + 1) if lines[i:i + len(wanted)] == wanted]


@pytest.mark.parametrize("block", SNIPPETS, ids=lambda b: f"line{b.line}")
def test_every_snippet_appears_verbatim_in_its_file(block):
    name = block.mark.removeprefix("from ")
    assert find_snippet(block.text, (ROOT / name).read_text()), f"tutorial.md line {block.line}: not in {name}"


APPENDIX = {"en": "Coming from the NestJS tutorial", "es": "Si vienes del tutorial de NestJS"}


def test_the_tutorial_has_its_steps_in_order_then_postman_then_the_nestjs_appendix():
    headings = re.findall(r"^## (.*)$", TEXT, re.M)
    assert [step_number(h) for h in headings] == [*range(1, LAST + 1), None, None]
    assert STEPS == list(range(1, LAST + 1)) and LAST >= 9
    assert headings[-2:] == ["Postman", APPENDIX["en"]]  # the README links to tutorial.md#postman


@pytest.mark.parametrize("lang", EDITIONS)
def test_the_workshop_steps_teach_flask_not_nestjs(lang):
    """Steps 1-6 name NestJS only to point at the appendix that maps its pieces to ours."""
    text = EDITIONS[lang].read_text()
    workshop = text[:text.index("\n## 7. ")]
    assert workshop.count("NestJS") <= 5, workshop.count("NestJS")
    anchor = "#" + re.sub(r"[^\w -]", "", APPENDIX[lang].lower()).replace(" ", "-")
    assert f"]({anchor})" in workshop and f"\n## {APPENDIX[lang]}\n" in text


@pytest.mark.parametrize("step", STEPS)
def test_each_step_builds_code_and_says_how_to_check_it_with_its_tests(step):
    assert [b for b in BLOCKS if b.build.startswith("app.py") and step_number(b.section) == step]
    runs = [c.command for c in COMMANDS
            if step_number(c.block.section) == step and kind(c.command) == "pytest"]
    assert runs == [f"python -m pytest tests/test_step{step}_*.py"]
    assert list((ROOT / "tests").glob(f"test_step{step}_*.py"))


def test_every_block_is_checked_by_some_test():
    known = {("js", "", "from static/chat.js"), ("python", "", "save as client.py"), ("console", "", ""),
             ("text", "", "files"), ("json", "", "postman: event_message"), ("python", "", "edit client.py"),
             ("html", "", "file static/mini.html"), ("js", "", "file static/mini.js")}
    for block in BLOCKS:
        builds = block.lang == "python" and re.fullmatch(
            r"app\.py(?: (?:replace|after|before) \w+)?(?: exercise=[a-z0-9-]+)?", block.build)
        assert builds or (block.lang, block.build, block.mark) in known, (
            f"tutorial.md line {block.line}: nothing checks this block")


NESTJS_NAMES = {"getAllMessages()"}  # the seed's own names, which the tutorial compares with ours


def test_every_name_in_backticks_exists_in_the_code():
    """A function or variable the prose names in backticks (`save_message()`, `on_connect`) is
    defined or used in app.py, nginx.conf, a file the tutorial saves (client.py) or an exercise's solution."""
    prose = re.sub(r"^```.*?^```$", "", TEXT, flags=re.M | re.S)
    code = (ROOT / "app.py").read_text() + (ROOT / "nginx.conf").read_text() + "".join(
        b.text for b in BLOCKS if b.mark.startswith("save as ") or " exercise=" in b.build)
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
CHECKPOINT = re.compile(r"python tests/checkpoint\.py (\d+) > app\.py")


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
    if CHECKPOINT.fullmatch(command):
        return "checkpoint"  # test_the_checkpoint_command_prints_the_checkpoint
    if SERVER.fullmatch(command):
        return "server"
    if re.match(r'(curl|export \w+=\$\(curl|python client\.py( "\$TOKEN")?$)', command):
        return "shell"
    if re.fullmatch(r"flask --app app moderator [\w.-]+", command):
        return "flask"
    return None


def test_every_command_is_checked_by_some_test():
    for command in COMMANDS:
        where = f"tutorial.md line {command.block.line}: `{command.command}`"
        assert kind(command.command), f"{where}: no test checks this command"
        if kind(command.command) in ("setup", "pip", "pytest", "newman", "checkpoint"):
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


def edited(text, change):
    """`text` with each line of `change` in place of the one line that begins the same way (up to its
    first parenthesis): how the tutorial asks for a one-line change to a file saved earlier."""
    lines = text.splitlines(keepends=True)
    for new in change.splitlines(keepends=True):
        start = new[:new.index("(") + 1]
        (where,) = [i for i, line in enumerate(lines) if line.startswith(start)]
        lines[where] = new
    return "".join(lines)


def test_a_one_line_edit_replaces_exactly_one_line():
    saved = 'import sys\ntry:\n    sio.connect(URL, auth={"name": "ana"})\nexcept OSError:\n    pass\n'
    assert edited(saved, '    sio.connect(URL, auth={"token": 1})\n') == saved.replace('"name": "ana"', '"token": 1')
    with pytest.raises(ValueError):
        edited(saved, "    print(nothing)\n")


TUTORIAL_PASSWORD = "correct horse"  # what the tutorial says to type at a password prompt


def flask_command(command, folder, database):
    """Run `flask --app app ...` in the folder of the step's checkpoint, on the servers' database,
    typing the tutorial's password at each prompt the output shows (a line ending in ":"). A terminal
    ends each prompt's line when the student presses Enter; a pipe does not, so the test does."""
    prompts = [line for line in command.output.splitlines() if line.endswith(":")]
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL", "ASYNC_MODE")}
    result = subprocess.run([sys.executable, "-m", *command.command.split()], cwd=folder,
                            env={**env, "JWT_SECRET_KEY": "", "DATABASE_URL": database},
                            input=f"{TUTORIAL_PASSWORD}\n" * len(prompts), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=WAIT * 4)
    real = result.stdout
    for prompt in prompts:
        real = real.replace(prompt + " ", prompt + "\n", 1)
    return real


def test_following_the_tutorial_from_start_to_finish(start_server, shell, checkpoint_folders, tmp_path):
    """Every server start, curl and client run of the tutorial, in order, on one fresh database,
    each server running the checkpoint of the step where it is started."""
    server = None
    for block in BLOCKS:
        if block.mark.startswith("save as "):  # the student saves this file in the project folder
            shell.saved[block.mark.removeprefix("save as ")] = block.text
        if block.mark.startswith("edit "):  # the student changes the line that starts the same way
            shell.saved[block.mark.removeprefix("edit ")] = edited(
                shell.saved[block.mark.removeprefix("edit ")], block.text)
        if block.lang != "console":
            continue
        for command in commands(block):
            if kind(command.command) == "server":
                if server:
                    server.stop()  # Ctrl+C
                env = dict(assignment.split("=", 1)
                           for assignment in SERVER.fullmatch(command.command).group(1).split())
                folder = checkpoint_folders[step_number(block.section)]
                server = start_server(JWT_SECRET_KEY="", cwd=folder, **env)  # a newcomer sets no keys
                real = server.log()
            elif kind(command.command) == "shell":
                assert server, f"`{command.command}` runs before any server was started"
                real = shell(command.command, server.url)
            elif kind(command.command) == "flask":  # the student's app.py of this step, on its database
                assert server, f"`{command.command}` runs before any server made the database"
                real = flask_command(command, checkpoint_folders[step_number(block.section)],
                                     f"sqlite:///{tmp_path}/chat.db")
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
    for needed in ("<http://127.0.0.1:5000/docs/events>", "ws://127.0.0.1:5000", "/socket.io", "**v4**",
                   "`new_message`", "`message_error`", "`presence`", "`event_message`", "**Ack**",
                   "`Authorization`", "`Bearer `", "`token`", "?token="):
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
    assert reasons == [{"message": "missing token: log in, then send it in auth {token} or ?token="}]

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
    assert {v["key"] for v in collection["variable"]} == {"baseUrl", "username", "password", "token",
                                                            "messageId"}
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
    # Login, then Me, the four History requests, Rooms and the three requests by id (no token)
    assert failed == 10, result.stdout


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
    for link in ("(tutorial.md)", "(tutorial.es.md)", "(tutorial.md#postman)", "<http://127.0.0.1:5000/docs/>",
                 "<http://127.0.0.1:5000/docs/events>", "(static/chat-live.postman_collection.json)"):
        assert link in README, link
    assert "\n## Postman\n" in TEXT  # where tutorial.md#postman lands
    for page in (README, TEXT):
        for path in re.findall(r"\]\((static/[^)#]+)\)", page):
            assert (ROOT / path).exists(), path


def test_nothing_the_project_ships_cites_a_file_outside_the_repository():
    """The README, the tutorial, bench/README.md, the pages and app.py stand on their own."""
    shipped = [ROOT / "README.md", ROOT / "bench" / "README.md", ROOT / "app.py", *EDITIONS.values(),
               *(ROOT / "templates").glob("*.html"), ROOT / "static" / "README.md",
               ROOT / "static" / "chat.js", ROOT / "static" / "events.js"]  # ours, not the vendored files
    for path in shipped:
        text = path.read_text()
        for outside in ("PROTOCOL.md", "PITFALLS.md", "STYLE.md", "shared/", "../"):
            assert outside not in text, f"{path.relative_to(ROOT)} cites {outside}"


def test_the_readme_config_table_names_every_variable_app_py_reads():
    source = (ROOT / "app.py").read_text()
    read = set(re.findall(r'(?:os\.environ\.get|secret_key|env_flag)\("([A-Z_]+)"', source))
    table = set(re.findall(r"^\| (.*?) \|", README, re.M))
    documented = {name for row in table for name in re.findall(r"`([A-Z_]+)`", row)}
    assert read and read <= documented, read - documented
