"""bench/run.py is a benchmark, not a test: no timing targets here, only that the command starts."""
import subprocess
import sys

from conftest import ROOT


def test_the_benchmark_command_starts_and_explains_itself():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout and "RATE_LIMIT_PER_SECOND=0" in result.stdout
