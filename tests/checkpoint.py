"""Build app.py out of the tutorial, as a student typing along does.

    python tests/checkpoint.py 4 > app.py           # app.py as it is at the end of step 4
    python tests/checkpoint.py 4 --lang es > app.py  # the same, read from tutorial.es.md
    python tests/checkpoint.py 4 --solution private-messages   # step 4 and an exercise's solution

The rules (tutorial.md, "How to read this tutorial"):
- A code block whose info string is `python app.py` is appended to app.py;
  `python app.py replace NAME` replaces the top-level definition of NAME (a def, a class or an
  assignment: its decorators, its body, and the comment lines right above it, with no blank line
  between; a step banner `# --- ` never belongs to a definition); `python app.py after NAME` is
  inserted right after that definition, `python app.py before NAME` right before it. An import names
  what it imports (`from flask import Flask` defines Flask). Other blocks build nothing.
- An `if __name__ == "__main__":` block always stays last: appended code goes before it.
- Blank lines: a block's own leading and trailing blank lines do not count; an appended or inserted
  block is separated from the code around it by two blank lines; a replacing block takes exactly the
  place of what it replaces.
- Checkpoint N applies every block from the top of the tutorial to the end of its section `## N. ...`.
- Exercises: a section `### Exercise: TITLE` (`### Ejercicio: ...`) inside step N, whose text names
  its checker, `python tests/exercise.py SLUG`. Its model solution's blocks end their info string with
  ` exercise=SLUG`: they belong to no checkpoint, and `--solution SLUG` applies them on top of
  checkpoint N.
"""
import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
EDITIONS = {"en": ROOT / "tutorial.md", "es": ROOT / "tutorial.es.md"}
FENCE = re.compile(r"^```python app\.py(?: (replace|after|before) (\w+))?(?: exercise=([a-z0-9-]+))?\n(.*?)^```$",
                   re.M | re.S)
EXERCISE = re.compile(r"^### (?:Exercise|Ejercicio): (.+)$", re.M)
CHECKER = re.compile(r"`python tests/exercise\.py ([a-z0-9-]+)`")
MAIN_GUARD = 'if __name__ == "__main__":'


class TangleError(Exception):
    """A block that cannot be applied: it names a definition that app.py does not have."""


def steps(markdown):
    """[(N, start, end)] for each section `## N. ...`: where it starts and ends in the text."""
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"^## (?:(\d+)\. )?.*$", markdown, re.M)]
    bounds = [start for start, _ in headings] + [len(markdown)]
    return [(int(number), start, bounds[i + 1]) for i, (start, number) in enumerate(headings) if number]


def blocks(markdown, upto=None, solution=None):
    """The app.py blocks, in order, as (action, name, code, line), up to the end of step `upto`; then,
    with `solution`, the blocks of that exercise's model solution."""
    end = len(markdown)
    if upto is not None:
        ends = {number: stop for number, _, stop in steps(markdown)}
        if upto not in ends:
            raise TangleError(f"the tutorial has no step {upto}")
        end = ends[upto]
    if solution is not None:
        step = {slug: number for slug, _, number, _, _ in exercises(markdown)}.get(solution)
        if step is None:
            raise TangleError(f"the tutorial has no exercise {solution}")
        if step != upto:
            raise TangleError(f"exercise {solution} belongs to step {step}: its solution applies to checkpoint {step}")
    found = [(m.group(1) or "append", m.group(2), m.group(4).strip("\n"), markdown.count("\n", 0, m.start()) + 1)
             for m in FENCE.finditer(markdown) if m.start() < end and not m.group(3)]
    return found + [(m.group(1) or "append", m.group(2), m.group(4).strip("\n"), markdown.count("\n", 0, m.start()) + 1)
                    for m in FENCE.finditer(markdown) if solution is not None and m.group(3) == solution]


def exercises(markdown):
    """[(slug, title, step, start, end)] for each `### Exercise: TITLE` section, in order; its slug is
    what its text tells the student to run, `python tests/exercise.py SLUG`."""
    bounds = sorted(m.start() for m in re.finditer(r"^##", markdown, re.M)) + [len(markdown)]
    found = []
    for m in EXERCISE.finditer(markdown):
        end = next(b for b in bounds if b > m.start())
        step = [number for number, start, stop in steps(markdown) if start < m.start() < stop]
        slugs = set(CHECKER.findall(markdown, m.start(), end))
        if len(slugs) != 1 or not step:
            raise TangleError(f"line {markdown.count(chr(10), 0, m.start()) + 1}: an exercise must sit in a step "
                              f"and name one checker, `python tests/exercise.py SLUG` (found {sorted(slugs)})")
        found.append((slugs.pop(), m.group(1).strip(), step[0], m.start(), end))
    return found


def definition(source, name):
    """(first, last) line numbers (0-based, inclusive) of the top-level definition of `name`."""
    lines = source.splitlines()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [target.id for target in node.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.asname or alias.name.split(".")[0] for alias in node.names]
        else:
            continue
        if name in names:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
            while first > 0 and lines[first - 1].startswith("#") and not lines[first - 1].startswith("# --- "):
                first -= 1  # the comment lines right above it
            return first, node.end_lineno - 1
    raise TangleError(f"app.py has no top-level definition of {name}")


def apply(source, action, name, code):
    """app.py's text after one block."""
    lines = source.splitlines()
    if action == "append":
        guard = [i for i, line in enumerate(lines) if line == MAIN_GUARD]
        if not lines:
            return code + "\n"
        if not guard:
            return "\n".join(lines).rstrip("\n") + "\n\n\n" + code + "\n"
        before, after = "\n".join(lines[:guard[0]]), "\n".join(lines[guard[0]:])
        return before.rstrip("\n") + "\n\n\n" + code + "\n\n\n" + after + "\n"
    first, last = definition(source, name)
    if action == "replace":
        return "\n".join(lines[:first] + code.splitlines() + lines[last + 1:]) + "\n"
    if action == "before":
        above, below = "\n".join(lines[:first]).rstrip("\n"), "\n".join(lines[first:])
        return (above + "\n\n\n" if above else "") + code + "\n\n\n" + below + "\n"
    before, after = "\n".join(lines[:last + 1]), "\n".join(lines[last + 1:]).lstrip("\n")
    return before + "\n\n\n" + code + ("\n\n\n" + after if after else "") + "\n"


def tangle(markdown, upto=None, solution=None):
    """app.py as the blocks of `markdown` build it, up to the end of step `upto` (None: all), with the
    model solution of the exercise `solution` if given."""
    source = ""
    for action, name, code, line in blocks(markdown, upto, solution):
        try:
            source = apply(source, action, name, code)
        except TangleError as error:
            raise TangleError(f"line {line}: {error}") from None
    return source


def tutorial_text(lang="en"):
    return EDITIONS[lang].read_text(encoding="utf-8")


def checkpoint(number, lang="en", solution=None):
    return tangle(tutorial_text(lang), number, solution)


def main(argv):
    options = dict(zip(argv[1::2], argv[2::2]))
    if (not argv or not argv[0].isdigit() or len(argv) % 2 == 0 or len(options) != (len(argv) - 1) // 2
            or not set(options) <= {"--lang", "--solution"} or options.get("--lang", "en") not in EDITIONS):
        sys.exit(__doc__)
    try:
        sys.stdout.write(checkpoint(int(argv[0]), options.get("--lang", "en"), options.get("--solution")))
    except TangleError as error:
        sys.exit(f"tutorial: {error}")


if __name__ == "__main__":
    main(sys.argv[1:])
