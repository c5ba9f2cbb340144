"""The test set-up itself: a hung test fails with its traceback and the run goes on (pytest-timeout, as
pyproject.toml configures it), and every environment that runs pytest pins the same runner."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HANG = '''
import threading


def test_waits_for_what_never_comes():
    threading.Event().wait()


def test_after_it():
    assert True
'''


def pytest_in(folder, *args):
    """pytest with the project's configuration, on a folder of throwaway tests."""
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(folder),
               "-p", "no:cacheprovider", *args, str(folder)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=folder)


def test_a_hung_test_fails_with_its_traceback_and_the_next_test_runs(tmp_path):
    (tmp_path / "test_hang.py").write_text(HANG)
    run = pytest_in(tmp_path, "-o", "timeout=2")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Timeout (>2.0s) from pytest-timeout" in run.stdout, run.stdout
    assert ">       threading.Event().wait()\n\ntest_hang.py:6: " in run.stdout, run.stdout  # where it hung
    assert "1 failed, 1 passed" in run.stdout, run.stdout


def test_the_project_sets_a_timeout_for_every_test(tmp_path):
    (tmp_path / "test_hang.py").write_text(HANG)
    header = pytest_in(tmp_path, "--collect-only").stdout
    assert re.search(r"^timeout: \d+\.\ds$", header, re.M), header


def pins(path, names=("pytest", "pytest-timeout")):
    found = {}
    for line in path.read_text().splitlines():
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip(), names))
        name, _, version = line.partition("==")
        if name.strip() in names:
            found[name.strip()] = version.strip()
    return found


def test_every_environment_that_runs_pytest_pins_the_same_runner_and_timeout_plugin():
    notebook = pins(REPO / "requirements.txt")
    assert set(notebook) == {"pytest", "pytest-timeout"}, notebook
    others = [REPO / "tests" / "requirements.txt", *sorted((REPO / "pipeline").glob("**/requirements-test.txt"))]
    for path in others:
        assert pins(path) == notebook, path
