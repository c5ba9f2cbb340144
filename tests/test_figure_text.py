"""The smallest text a figure draws, read from its artists at save time (whatever set the size: the style,
``fontsize=`` or ``tick_params``), recorded in the PNG the deck shows and the file images/ keeps."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from tutorial.figures import (  # noqa: E402
    GENDER_COLOURS,
    MIN_TEXT_PT,
    SLIDE_STYLE,
    recorded_text_px,
    save_fig,
    smallest_text_pt,
)


@pytest.fixture(autouse=True)
def slide_style():
    with plt.rc_context(SLIDE_STYLE):
        yield
    plt.close("all")


def test_a_7_pt_legend_in_a_14_pt_style_is_measured_at_7_pt(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="women")
    ax.legend(fontsize=7)
    assert smallest_text_pt(fig) == 7
    assert recorded_text_px(save_fig("small", fig, tmp_path).read_bytes()) == pytest.approx(7 * 100 / 72, abs=0.01)


def test_tick_labels_set_by_tick_params_count_and_hidden_texts_do_not():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.tick_params(axis="x", labelsize=8)
    assert smallest_text_pt(fig) == 8
    ax.tick_params(axis="x", labelsize=14)
    ax.text(0.5, 0.5, "hidden", fontsize=5, visible=False)
    ax.set_title("", fontsize=3)  # an empty title draws nothing
    assert smallest_text_pt(fig) == 14


def _checked(fig):
    assert smallest_text_pt(fig) >= MIN_TEXT_PT, [(t.get_text(), t.get_fontsize()) for t in fig.findobj(
        matplotlib.text.Text) if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_TEXT_PT]


def test_the_charts_of_the_notebook_draw_no_text_under_14_pt_and_one_colour_per_gender():
    from tutorial.evaluation import plot_confusion_matrix
    from tutorial.fairness import compare_models, group_metrics, plot_accuracy_vs_disparity, plot_group_metrics
    from tutorial.per_group import plot_rates_by_group, plot_roc

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2_000)
    pred = np.where(rng.random(2_000) < 0.8, y, 1 - y)
    gender = pd.Series(rng.choice(["Female", "Male"], 2_000))
    ethnicity = pd.Series(rng.choice(["White", "Black", "Other"], 2_000))
    _checked(plot_confusion_matrix(y, pred, "production"))
    roc = plot_roc(y, rng.random(2_000) * 0.5 + 0.5 * y, gender)
    _checked(roc)
    rates = plot_rates_by_group(y, pred, gender)
    _checked(rates)
    groups = plot_group_metrics({"gender": group_metrics(y, pred, gender, n_boot=20),
                                 "ethnicity": group_metrics(y, pred, ethnicity, n_boot=20)})
    _checked(groups)
    table = compare_models(y, {"RandomForest": pred, "other": 1 - pred}, {"gender": gender})
    _checked(plot_accuracy_vs_disparity(table, curve=table, curve_label="curve"))
    women, men = (matplotlib.colors.to_hex(GENDER_COLOURS[g]) for g in ("Female", "Male"))
    assert [matplotlib.colors.to_hex(line.get_color()) for line in roc.axes[0].lines[:2]] == [women, men]
    for fig in (rates, groups):
        bars = [matplotlib.colors.to_hex(patch.get_facecolor()) for patch in fig.axes[0].patches]
        assert set(bars) == {women, men}
    assert [t.get_text() for t in rates.axes[0].get_legend().get_texts()] == ["women", "men"]
