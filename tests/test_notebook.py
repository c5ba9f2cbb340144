"""The notebook runs top to bottom in fast mode, and the committed copy is the executed full run."""

import re

import nbformat
import pytest

from talk.runs import NOTEBOOK, execute, first_difference


@pytest.fixture(scope="session")
def fast_run(tmp_path_factory):
    """Execute the notebook with FAST = True; any cell error or failed assert fails the fixture."""
    out = tmp_path_factory.mktemp("notebook")
    return execute(out / NOTEBOOK.name, fast=True, images_dir=out / "images", timeout=600), out / "images"


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_fast_run_executes_every_cell_without_error(fast_run):
    nb, _ = fast_run
    assert nb.metadata.papermill.parameters == {"FAST": True}
    for cell in code_cells(nb):
        assert cell.execution_count is not None, cell.source[:80]
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source[:80]


def test_fast_run_saves_every_figure_it_draws(fast_run):
    nb, images = fast_run
    saved = {p.stem for p in images.glob("*.png")}
    pattern = re.compile(r'(?:figure_saved_as|save_fig|live_training_plot)\("([^"]+)"')
    named = {name for cell in code_cells(nb) for name in pattern.findall(cell.source)}
    assert named and named <= saved, named - saved


def test_two_fast_runs_print_the_same_numbers(fast_run, tmp_path):
    """Seeds are fixed: metrics, anchors, counterfactuals and tables come out the same again."""
    again = execute(tmp_path / NOTEBOOK.name, fast=True, images_dir=tmp_path / "images", timeout=600)
    assert first_difference(fast_run[0], again) is None


def test_notebook_has_a_papermill_parameters_cell_with_full_run_default():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1 and "FAST = False" in cells[0].source


def test_committed_notebook_is_the_executed_full_run():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata.get("papermill", {}).get("parameters", {}).get("FAST", False) is False
    for cell in code_cells(nb):
        assert cell.execution_count is not None, f"not executed: {cell.source[:80]}"
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source[:80]
