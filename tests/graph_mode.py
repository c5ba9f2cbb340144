"""Checks that need TF1 graph mode run in a child Python: graph mode is process-wide, and the other
tests in this process build Keras models eagerly."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_in_graph_mode(test_file: str, check: str, expected_output: str) -> None:
    """Run ``check`` of ``test_file`` (see ``main``) in a child Python; fail with its output."""
    result = subprocess.run([sys.executable, test_file, check], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert expected_output in result.stdout, result.stdout[-2000:]


def main(checks: dict) -> None:
    """The child's side: switch to graph mode, then run the check named on the command line."""
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    checks[sys.argv[1]]()
