from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from tutorial.environment import EnvironmentWarning, check_environment, pinned_versions, version_mismatches  # noqa: E402
from tutorial.evaluation import classification_summary  # noqa: E402
from tutorial.figures import figure_saved_as, save_fig  # noqa: E402


def test_save_fig_writes_a_png(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_fig("line", fig, images_dir=tmp_path)
    assert path == tmp_path / "line.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)


def test_figure_saved_as_catches_a_figure_the_library_shows_itself(tmp_path):
    def plot_like_xai():
        plt.figure()
        plt.bar(["a", "b"], [1, 2])
        plt.show()  # xai does this, and a notebook closes the figure here
        plt.close("all")

    with figure_saved_as("bars", images_dir=tmp_path) as saved:
        plot_like_xai()
    assert saved == [tmp_path / "bars.png"] and (tmp_path / "bars.png").stat().st_size > 1000
    assert plt.show is not None and plt.show.__name__ == "show"  # restored


def test_figure_saved_as_without_show_saves_the_current_figure(tmp_path):
    with figure_saved_as("plain", images_dir=tmp_path):
        plt.figure()
        plt.plot([1, 2, 3])
    assert (tmp_path / "plain.png").exists()
    plt.close("all")


def test_figure_saved_as_shows_a_figure_the_library_left_open(tmp_path, monkeypatch):
    # A papermill kernel displays a figure left open at the end of a cell only until the first plt.show().
    shown = []
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: shown.append(plt.get_fignums()))
    with figure_saved_as("left-open", images_dir=tmp_path):
        plt.figure()
        plt.bar(["a", "b"], [1, 2])  # xai.metrics_plot ends like this, without plt.show()
    assert (tmp_path / "left-open.png").exists() and len(shown) == 1 and shown[0]
    plt.close("all")


def test_figure_saved_as_keeps_the_interactive_mode_the_backend_switched_on(tmp_path, monkeypatch):
    # The inline backend switches interactive mode on with the notebook's first figure; if that happens in
    # the block, switching it off again afterwards would stop every later cell from showing its figures.
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    was = matplotlib.is_interactive()
    try:
        matplotlib.interactive(False)
        with figure_saved_as("first", images_dir=tmp_path):
            matplotlib.interactive(True)  # what the inline backend does on its first figure
            plt.figure()
        assert matplotlib.is_interactive()
    finally:
        matplotlib.interactive(was)
        plt.close("all")


def test_version_checks_read_exact_pins_and_find_mismatches(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nalibi[tensorflow]==0.9.4\npytest==0.0.1  # wrong on purpose\nnumpy>=1\n")
    assert pinned_versions(req) == {"alibi": "0.9.4", "pytest": "0.0.1"}
    assert set(version_mismatches(req)) == {"pytest"}


def test_check_environment_warns_about_what_the_notebook_imports_and_runs_on(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("numpy==0.0.1\npytest==0.0.1\n")  # pytest is not imported by the notebook
    with pytest.warns(EnvironmentWarning, match="numpy") as caught:
        problems = check_environment(req)
    assert len(problems) == 1 and "pinned 0.0.1" in problems[0] and len(caught) == 1


def test_check_environment_is_quiet_in_the_pinned_environment(recwarn):
    assert check_environment() == []
    assert not [w for w in recwarn if issubclass(w.category, EnvironmentWarning)]


def test_the_test_environment_is_the_pinned_one():
    assert version_mismatches() == {}


def test_classification_summary_exposes_a_model_that_rejects_everybody():
    row = classification_summary([0] * 98 + [1] * 2, [0] * 100, "reject all")
    assert row.loc["reject all", "accuracy"] == pytest.approx(0.98)
    assert row.loc["reject all", "recall (approved found)"] == 0
    assert row.loc["reject all", "balanced accuracy"] == pytest.approx(0.5)


def test_figures_of_later_cells_are_still_shown_after_figure_saved_as(tmp_path):
    """In a real kernel: a figure the library does not show itself is saved, and later cells still display."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [
        "import matplotlib.pyplot as plt\n"
        "from tutorial.figures import figure_saved_as, use_slide_style\nuse_slide_style()",
        f"with figure_saved_as('quiet', images_dir={str(tmp_path)!r}):\n    plt.figure(); plt.plot([1, 2])",
        "plt.figure(); plt.plot([2, 1])",
    ]
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(Path(__file__).resolve().parent.parent)}}).execute()
    images = [sum("image/png" in o.get("data", {}) for o in c.outputs) for c in nb.cells]
    assert images == [0, 1, 1] and (tmp_path / "quiet.png").exists()


def test_a_figure_shown_in_a_kernel_records_the_smallest_text_it_draws():
    """The PNG the notebook keeps (and the deck shows) records a 7 pt legend, not the style's 14 pt."""
    import base64

    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    from tutorial.figures import recorded_text_px

    cells = [
        "import matplotlib.pyplot as plt\nfrom tutorial.figures import use_slide_style\nuse_slide_style()",
        "plt.figure(); plt.plot([1, 2], label='women'); plt.legend(fontsize=7); plt.show()",
        "plt.figure(); plt.plot([2, 1], label='men'); plt.legend(); plt.show()",
    ]
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(Path(__file__).resolve().parent.parent)}}).execute()
    pngs = [base64.b64decode(o["data"]["image/png"]) for c in nb.cells[1:] for o in c.outputs if "data" in o]
    assert [recorded_text_px(png) for png in pngs] == [pytest.approx(7 * 100 / 72, abs=0.01),
                                                        pytest.approx(14 * 100 / 72, abs=0.01)]


def test_an_anchor_rule_selects_the_rows_it_describes():
    from tutorial.evaluation import rule_matches

    frame = pd.DataFrame({"age": [25, 30, 40, 50], "relationship": ["Husband", "Wife", "Husband", "Husband"],
                          "capital-gain": [0, 0, 500, 0]})
    assert rule_matches(frame, ["relationship = Husband", "age <= 28.00"]).tolist() == [True, False, False, False]
    assert rule_matches(frame, ["37.00 < age <= 47.00", "capital-gain > 0.00"]).tolist() == [False, False, True, False]
    assert rule_matches(frame, []).all()
    with pytest.raises(ValueError):
        rule_matches(frame, ["age is young"])
