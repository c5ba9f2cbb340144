"""The notebook runs top to bottom in fast mode, and the committed copy is the executed full run."""

import re
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "explainability-and-bias.ipynb"


@pytest.fixture(scope="session")
def fast_run(tmp_path_factory, monkeypatch_session):
    """Execute the notebook with FAST = True; any cell error or failed assert fails the fixture."""
    out = tmp_path_factory.mktemp("notebook")
    monkeypatch_session.setenv("TUTORIAL_IMAGES_DIR", str(out / "images"))
    executed = out / NOTEBOOK.name
    papermill.execute_notebook(
        str(NOTEBOOK), str(executed), parameters={"FAST": True}, cwd=str(ROOT),
        kernel_name="python3", progress_bar=False, execution_timeout=600,
    )
    return nbformat.read(executed, as_version=4), out / "images"


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
