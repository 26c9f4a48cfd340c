"""bench/run.py is a benchmark, not a test: no timing targets here, only that the command starts."""
import subprocess
import sys

from conftest import ROOT


def test_the_benchmark_command_starts_and_explains_itself():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout and "RATE_LIMIT_PER_SECOND=0" in result.stdout


def test_the_benchmark_needs_nothing_beyond_requirements_txt():
    """The README's benchmark command runs after `pip install -r requirements.txt` alone: it imports
    no package that only tests/requirements.txt installs."""
    import ast

    tree = ast.parse((ROOT / "bench" / "run.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    server_packages = {"flask", "flask_socketio", "socketio", "engineio", "sqlalchemy", "eventlet"}
    third_party = {name for name in imported if name not in sys.stdlib_module_names}
    assert third_party <= server_packages, third_party - server_packages
