"""Build app.py out of the tutorial, as a student typing along does.

    python tests/checkpoint.py 4 > app.py           # app.py as it is at the end of step 4
    python tests/checkpoint.py 4 --lang es > app.py  # the same, read from tutorial.es.md

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
"""
import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
EDITIONS = {"en": ROOT / "tutorial.md", "es": ROOT / "tutorial.es.md"}
FENCE = re.compile(r"^```python app\.py(?: (replace|after|before) (\w+))?\n(.*?)^```$", re.M | re.S)
MAIN_GUARD = 'if __name__ == "__main__":'


class TangleError(Exception):
    """A block that cannot be applied: it names a definition that app.py does not have."""


def steps(markdown):
    """[(N, start, end)] for each section `## N. ...`: where it starts and ends in the text."""
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"^## (?:(\d+)\. )?.*$", markdown, re.M)]
    bounds = [start for start, _ in headings] + [len(markdown)]
    return [(int(number), start, bounds[i + 1]) for i, (start, number) in enumerate(headings) if number]


def blocks(markdown, upto=None):
    """The app.py blocks, in order, as (action, name, code, line), up to the end of step `upto`."""
    end = len(markdown)
    if upto is not None:
        ends = {number: stop for number, _, stop in steps(markdown)}
        if upto not in ends:
            raise TangleError(f"the tutorial has no step {upto}")
        end = ends[upto]
    return [(m.group(1) or "append", m.group(2), m.group(3).strip("\n"), markdown.count("\n", 0, m.start()) + 1)
            for m in FENCE.finditer(markdown) if m.start() < end]


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


def tangle(markdown, upto=None):
    """app.py as the blocks of `markdown` build it, up to the end of step `upto` (None: all)."""
    source = ""
    for action, name, code, line in blocks(markdown, upto):
        try:
            source = apply(source, action, name, code)
        except TangleError as error:
            raise TangleError(f"line {line}: {error}") from None
    return source


def checkpoint(number, lang="en"):
    return tangle(EDITIONS[lang].read_text(encoding="utf-8"), number)


def main(argv):
    if len(argv) not in (1, 3) or not argv[0].isdigit() or (len(argv) == 3 and argv[1] != "--lang"):
        sys.exit(__doc__)
    lang = argv[2] if len(argv) == 3 else "en"
    try:
        sys.stdout.write(checkpoint(int(argv[0]), lang))
    except TangleError as error:
        sys.exit(f"tutorial: {error}")


if __name__ == "__main__":
    main(sys.argv[1:])
