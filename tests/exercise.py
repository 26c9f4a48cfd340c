"""Check your solution to one of the tutorial's exercises, or list them.

    python tests/exercise.py                    # the exercises, step by step
    python tests/exercise.py private-messages   # run that exercise's tests against your app.py
    python tests/exercise.py --lang es          # the list, with the titles of tutorial.es.md

The tests (tests/exercises/test_SLUG.py) start your app.py for real, on a free port and a database of
their own, and chat with it as users would. Each failing check says what is still missing.
Exit status: 0 when every check passes, 1 when some do not, 2 for a name that is not an exercise.
"""
import os
import pathlib
import subprocess
import sys
import tempfile

import checkpoint

ROOT = checkpoint.ROOT
TESTS = ROOT / "tests" / "exercises"


def listing(lang):
    """The exercises of the tutorial, by step, with the command that checks each."""
    lines, step = [], None
    for slug, title, number, _, _ in checkpoint.exercises(checkpoint.tutorial_text(lang)):
        if number != step:
            lines.append(f"Step {number}:" if lang == "en" else f"Paso {number}:")
            step = number
        lines.append(f"  {slug:<20} {title}")
    return "\n".join(lines + ["", "Check one: python tests/exercise.py SLUG"])


class Outcomes:
    """A pytest plugin that keeps, for each test, whether it passed and the sentence it failed with."""

    def __init__(self):
        self.results = []  # (test name, passed, why)

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.failed):  # a test counts once
            name = report.nodeid.split("::")[-1].removeprefix("test_").replace("_", " ")
            self.results.append((name, report.passed, "" if report.passed else sentence(report)))


def sentence(report):
    """The first lines of why a test failed: its own message, without Python's assert details."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash else str(report.longrepr)
    text = text.removeprefix("AssertionError: ").removeprefix("Failed: ")
    kept = []
    for line in text.splitlines():
        if line.startswith("assert ") or line.startswith("+") or line.startswith("-  "):
            break  # pytest's explanation of the expression follows the sentence
        kept.append(line)
    return "\n".join(kept[-12:]).strip() or text.strip()


def does_not_start(app_dir):
    """Why `import app` fails in app_dir (its last traceback line), or None when it imports. On a
    throwaway database: the student's own chat.db stays as it is."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "PYTHONPATH": str(app_dir), "DATABASE_URL": f"sqlite:///{scratch}/chat.db"}
        try:
            result = subprocess.run([sys.executable, "-c", "import app"], cwd=app_dir, capture_output=True,
                                    text=True, timeout=60, env=env)
        except subprocess.TimeoutExpired:
            return ('importing it did not finish in 60 s: does it start a server outside '
                    '`if __name__ == "__main__":`?')
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"it exited with status {result.returncode}"


def check(slug):
    import pytest  # only here: listing the exercises needs nothing installed

    found = {s: (title, number) for s, title, number, _, _ in checkpoint.exercises(checkpoint.tutorial_text())}
    tests = TESTS / f"test_{slug.replace('-', '_')}.py"
    if slug not in found or not tests.exists():
        print(f"There is no exercise called {slug!r}.\n\n{listing('en')}", file=sys.stderr)
        return 2
    title, number = found[slug]
    app_dir = pathlib.Path(os.environ.get("CHAT_LIVE_APP", ROOT)).resolve()
    print(f"Exercise {slug} (step {number}): {title}\nChecking {app_dir / 'app.py'} ...\n")
    problem = does_not_start(app_dir)
    if problem:
        print(f"Your app.py does not start: {problem}\nFix that first (python app.py shows the whole error).")
        return 1
    outcomes = Outcomes()
    status = pytest.main(["-p", "no:cacheprovider", "-p", "no:terminal", str(tests)], plugins=[outcomes])
    if not outcomes.results:
        print(f"The tests could not run (pytest's exit status {int(status)}): "
              f"python -m pytest {tests.relative_to(ROOT)} shows why.")
        return 1
    for name, passed, why in outcomes.results:
        print(f"  {'ok     ' if passed else 'not yet'}  {name}")
        if why:
            print("           " + why.replace("\n", "\n           "))
    passing = sum(passed for _, passed, _ in outcomes.results)
    if outcomes.results and passing == len(outcomes.results):
        print(f"\nDone: all {passing} checks pass.")
        return 0
    print(f"\n{passing} of {len(outcomes.results)} checks pass. Stuck? The hints and a model solution are in "
          f"the tutorial, step {number}, \"Exercise: {title}\".")
    return 1


def main(argv):
    sys.stdout.reconfigure(errors="backslashreplace")  # a Windows console that cannot show an emoji
    if argv in ([], ["--lang", "en"], ["--lang", "es"]):
        print(listing(argv[1] if argv else "en"))
        return 0
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    return check(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
