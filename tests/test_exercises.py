"""The tutorial's exercises: homework that checks itself.

- Every `### Exercise:` section (both editions) names its checker, `python tests/exercise.py SLUG`,
  has hints and a model solution, and has its tests, tests/exercises/test_SLUG.py; every solution block
  (` exercise=SLUG`) belongs to its exercise's section; both editions hold the same exercises and build
  the same solutions.
- Each exercise's tests fail against its step's checkpoint, one by one, and pass once the model solution
  is applied: run through `python tests/exercise.py SLUG`, as a student does.
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

import checkpoint
from conftest import ROOT

EDITIONS = checkpoint.EDITIONS
TEXTS = {lang: path.read_text(encoding="utf-8") for lang, path in EDITIONS.items()}
EXERCISES = checkpoint.exercises(TEXTS["en"])
SLUGS = [slug for slug, _, _, _, _ in EXERCISES]
STEP = {slug: step for slug, _, step, _, _ in EXERCISES}
TESTS = ROOT / "tests" / "exercises"
IDEA = {"en": "*The idea: ", "es": "*La idea: "}
SOLUTION = {"en": "<details><summary>A model solution</summary>", "es": "<details><summary>Una solución modelo</summary>"}


def test_there_are_at_least_eight_exercises_one_at_the_end_of_each_workshop_step_at_least():
    steps = [step for _, _, step, _, _ in EXERCISES]
    assert len(set(SLUGS)) == len(SLUGS) >= 8, SLUGS
    assert {4, 5, 6} <= set(steps) and any(step > 6 for step in steps), steps


def test_both_editions_have_the_same_exercises_in_the_same_steps():
    spanish = checkpoint.exercises(TEXTS["es"])
    assert [(slug, step) for slug, _, step, _, _ in spanish] == [(slug, step) for slug, _, step, _, _ in EXERCISES]
    assert all(re.fullmatch(r"[a-z0-9-]+", slug) for slug in SLUGS)


@pytest.mark.parametrize("lang", EDITIONS)
def test_each_exercise_says_its_idea_gives_hints_and_hides_a_model_solution(lang):
    for slug, title, step, start, end in checkpoint.exercises(TEXTS[lang]):
        section = TEXTS[lang][start:end]
        first = section.split("\n\n")[1]
        assert first.startswith(IDEA[lang]), f"{lang} exercise {slug}: its first line says which idea it teaches"
        assert re.search(r"\b(1[5-9]|[23]\d|40)\s+min", first), f"{lang} exercise {slug}: sized for 15-40 minutes"
        assert section.count(SOLUTION[lang]) == 1 and section.rstrip().endswith("</details>"), slug
        assert re.search(r"^\*\*(Hints|Pistas)\.\*\*\n- ", section, re.M), f"{lang} exercise {slug}: no hints"
        solution = section[section.index(SOLUTION[lang]):]
        assert f" exercise={slug}\n" in solution, f"{lang} exercise {slug}: no solution block"
        assert f" exercise={slug}\n" not in section[:section.index(SOLUTION[lang])], f"{slug}: solution shown early"


@pytest.mark.parametrize("lang", EDITIONS)
def test_every_solution_block_sits_in_its_exercise_and_every_exercise_has_tests_and_back(lang):
    text = TEXTS[lang]
    spans = {slug: (start, end) for slug, _, _, start, end in checkpoint.exercises(text)}
    for m in checkpoint.FENCE.finditer(text):
        if m.group(3):
            line = text.count("\n", 0, m.start()) + 1
            assert m.group(3) in spans, f"{EDITIONS[lang].name} line {line}: exercise={m.group(3)} has no exercise"
            start, end = spans[m.group(3)]
            assert start < m.start() < end, f"{EDITIONS[lang].name} line {line}: outside its exercise's section"
    files = {path.stem.removeprefix("test_").replace("_", "-") for path in TESTS.glob("test_*.py")}
    assert files == set(spans), f"exercises without tests: {set(spans) - files}; tests without an exercise: {files - set(spans)}"


@pytest.mark.parametrize("slug", SLUGS)
def test_both_editions_build_the_same_solution_and_it_changes_the_checkpoint(slug):
    solved = checkpoint.tangle(TEXTS["en"], STEP[slug], slug)
    assert solved == checkpoint.tangle(TEXTS["es"], STEP[slug], slug)
    assert solved != checkpoint.tangle(TEXTS["en"], STEP[slug])
    compile(solved, f"checkpoint {STEP[slug]} with the solution of {slug}", "exec")


def run(*args, app_dir=None):
    """A command as a student runs it: without the settings this suite gives the app it imports."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ASYNC_MODE", "SECRET_KEY")}
    env.update({"CHAT_LIVE_APP": str(app_dir)} if app_dir else {})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_commands_list_the_exercises_and_print_a_solution():
    listed = run("tests/exercise.py")
    assert listed.returncode == 0 and all(f"  {slug} " in listed.stdout for slug in SLUGS), listed.stdout
    assert listed.stdout.index("Step 4:") < listed.stdout.index("Step 5:")
    assert "Paso 4:" in run("tests/exercise.py", "--lang", "es").stdout
    unknown = run("tests/exercise.py", "no-such-exercise")
    assert unknown.returncode == 2 and "no exercise called 'no-such-exercise'" in unknown.stderr
    slug = SLUGS[0]
    printed = run("tests/checkpoint.py", str(STEP[slug]), "--solution", slug)
    assert printed.returncode == 0 and printed.stdout == checkpoint.checkpoint(STEP[slug], solution=slug)
    wrong = run("tests/checkpoint.py", str(STEP[slug] + 1), "--solution", slug)
    assert wrong.returncode != 0 and f"belongs to step {STEP[slug]}" in wrong.stderr


def test_an_app_py_that_does_not_start_is_named_before_any_check(tmp_path):
    broken = student_folder(tmp_path / "broken", checkpoint.checkpoint(4) + "\nprint((\n")
    result = run("tests/exercise.py", SLUGS[0], app_dir=broken)
    assert result.returncode == 1 and "Your app.py does not start: SyntaxError" in result.stdout, result.stdout
    assert "not yet" not in result.stdout


def student_folder(folder, source):
    folder.mkdir()
    (folder / "app.py").write_text(source)
    for name in ("templates", "static"):
        shutil.copytree(ROOT / name, folder / name)
    return folder


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.timeout(300)
def test_each_exercise_fails_on_its_checkpoint_and_passes_with_its_model_solution(slug, tmp_path):
    """What a student sees: on their unchanged checkpoint every check says what is missing; once they
    have pasted the model solution's blocks, every check passes."""
    tests = (TESTS / f"test_{slug.replace('-', '_')}.py").read_text()
    count = len(re.findall(r"^def test_", tests, re.M))
    folder = student_folder(tmp_path / "plain", checkpoint.checkpoint(STEP[slug]))
    plain = run("tests/exercise.py", slug, app_dir=folder)
    assert not (folder / "instance" / "chat.db").exists(), "the checks wrote into the student's own database"
    assert plain.returncode == 1, plain.stdout + plain.stderr
    not_yet = re.findall(r"^  not yet  .*\n {11}(\S.*)$", plain.stdout, re.M)
    assert len(not_yet) == count and f"0 of {count} checks pass" in plain.stdout, plain.stdout
    assert not any("Traceback" in why or "Error:" in why for why in not_yet), plain.stdout  # plain sentences
    solved = run("tests/exercise.py", slug,
                 app_dir=student_folder(tmp_path / "solved", checkpoint.checkpoint(STEP[slug], solution=slug)))
    assert solved.returncode == 0 and f"Done: all {count} checks pass." in solved.stdout, solved.stdout + solved.stderr


def test_the_readme_lists_every_exercise_with_its_step():
    readme = (ROOT / "README.md").read_text()
    for slug in SLUGS:
        assert f"  - `{slug}` (step {STEP[slug]}): " in readme, f"README.md does not list the exercise {slug}"
    assert "python tests/exercise.py" in readme
