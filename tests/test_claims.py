"""The per-group claims of section 2 (ROC, AUC, recall on the balanced set): directions are stated only when
the interval supports them, so a swapped group or a gap within the noise changes the sentence."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tutorial.per_group import auc_gap, describe_gap, direction, plot_roc, recall_gap  # noqa: E402


def balanced_set(per_cell: int, recall_women: float, recall_men: float, seed: int = 0):
    """A balanced set like the notebook's: per_cell applicants per gender x outcome; decisions that find the
    creditworthy with the given recall per gender and approve 10% of the others."""
    rng = np.random.default_rng(seed)
    gender = np.repeat(["Female", "Male"], 2 * per_cell)
    y = np.tile(np.repeat([0, 1], per_cell), 2)
    recall = np.where(gender == "Female", recall_women, recall_men)
    pred = np.where(y == 1, rng.random(len(y)) < recall, rng.random(len(y)) < 0.1).astype(int)
    proba = np.clip(0.5 * pred + 0.5 * rng.random(len(y)) * (1 + y) / 2, 0, 1)
    return y, pred, proba, pd.Series(gender)


def test_a_real_recall_gap_is_stated_with_its_direction_and_swapping_groups_swaps_it():
    y, pred, _, gender = balanced_set(per_cell=1_000, recall_women=0.45, recall_men=0.65)
    gap = recall_gap(y, pred, gender, n_boot=300)
    assert gap["low"] > 0 and direction(gap) == "higher for men than for women"
    swapped = gender.map({"Female": "Male", "Male": "Female"})
    assert direction(recall_gap(y, pred, swapped, n_boot=300)) == "higher for women than for men"


def test_a_gap_of_six_points_on_300_per_group_is_not_stated_as_a_finding():
    # the notebook's case: recall 0.52 against 0.58 with 300 creditworthy applicants per gender
    y, pred, _, gender = balanced_set(per_cell=300, recall_women=0.52, recall_men=0.58, seed=1)
    gap = recall_gap(y, pred, gender, n_boot=500)
    assert gap["low"] < 0 < gap["high"], gap
    text = describe_gap("Recall", gap)
    assert "can tell apart from noise" in text and "higher for" not in text
    assert f"**{gap['Female']:.3f}**" in text and f"{gap['difference']:+.3f}" in text


def test_auc_per_group_and_its_interval():
    y, _, proba, gender = balanced_set(per_cell=400, recall_women=0.5, recall_men=0.5)
    gap = auc_gap(y, proba, gender, n_boot=200)
    assert 0.5 < gap["Female"] < 1 and 0.5 < gap["Male"] < 1
    assert gap["low"] <= gap["difference"] <= gap["high"]


def test_roc_is_drawn_with_the_false_positive_rate_on_x():
    y, _, proba, gender = balanced_set(per_cell=100, recall_women=0.5, recall_men=0.7)
    fig = plot_roc(y, proba, gender)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("false positive rate") and ax.get_ylabel().startswith("true positive rate")
    assert [line.get_label().split(" ")[0] for line in ax.lines] == ["women", "men", "chance"]
    plt.close(fig)
