"""`make test` runs the full notebook once: every cell and every assert cell, then the committed notebook is
compared with that run (talk.runs.compare_runs), so a stale committed notebook or stale prose fails."""

import copy
import re

import nbformat
import pytest

from talk.runs import NOTEBOOK, VARIES_TAG, VOLATILE, compare_runs, execute

# The first test that asks for the full run also waits for it (3 min here, several times that on a busy machine).
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="session")
def full_run(tmp_path_factory):
    """Execute the notebook as `make run` does (FAST = False); a failed cell or assert fails the fixture."""
    out = tmp_path_factory.mktemp("notebook")
    return execute(out / NOTEBOOK.name, fast=False, images_dir=out / "images", timeout=900), out / "images"


@pytest.fixture(scope="module")
def committed():
    return nbformat.read(NOTEBOOK, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_full_run_executes_every_cell_and_assert_without_error(full_run):
    nb, _ = full_run
    assert nb.metadata.papermill.parameters == {"FAST": False}
    for cell in code_cells(nb):
        assert cell.execution_count is not None, cell.source[:80]
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source[:80]


def test_full_run_saves_every_figure_it_draws(full_run):
    nb, images = full_run
    saved = {p.stem for p in images.iterdir()}
    pattern = re.compile(r'(?:figure_saved_as|save_fig|live_training_plot)\("([^"]+)"')
    named = {name for cell in code_cells(nb) for name in pattern.findall(cell.source)}
    assert named and named <= saved, named - saved


def test_committed_notebook_prints_what_the_run_prints(full_run, committed):
    problems = compare_runs(committed, full_run[0])
    assert not problems, "the committed notebook differs from a fresh run (run `make run`):\n" + "\n".join(problems)


def stable_printing_cell(nb):
    return next(c for c in code_cells(nb) if VARIES_TAG not in c.metadata.get("tags", [])
                and any(o.get("text") and re.search(r"\d\.\d", VOLATILE.sub("", o["text"])) for o in c.outputs))


def test_the_comparison_notices_a_changed_number_and_a_changed_word(committed):
    assert compare_runs(committed, committed) == []
    changed = copy.deepcopy(committed)
    output = next(o for o in stable_printing_cell(changed).outputs if o.get("text"))
    number = re.search(r"\d\.\d+", VOLATILE.sub("", output["text"])).group()
    output["text"] = output["text"].replace(number, str(round(float(number) * 1.5 + 0.3, 3)), 1)
    assert compare_runs(committed, changed)
    reworded = copy.deepcopy(committed)
    output = next(o for o in stable_printing_cell(reworded).outputs if o.get("text"))
    output["text"] = "another story " + output["text"]
    assert compare_runs(committed, reworded)


def test_notebook_has_a_papermill_parameters_cell_with_full_run_default(committed):
    cells = [c for c in committed.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1 and "FAST = False" in cells[0].source


def test_committed_notebook_is_the_executed_full_run(committed):
    assert committed.metadata.get("papermill", {}).get("parameters", {}).get("FAST", False) is False
    for cell in code_cells(committed):
        assert cell.execution_count is not None, f"not executed: {cell.source[:80]}"
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source[:80]
