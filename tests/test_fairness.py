import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from tutorial.data import FEATURES, load_adult, to_model_features  # noqa: E402
from tutorial.fairness import (  # noqa: E402
    best_mitigation,
    compare_models,
    disparities,
    group_metrics,
    group_table,
    plot_accuracy_vs_disparity,
    plot_group_metrics,
    xai_balanced,
)

# Two groups of 4: group a is approved 3 times in 4, group b once.
Y_TRUE = np.array([1, 1, 0, 0, 1, 1, 0, 0])
Y_PRED = np.array([1, 1, 1, 0, 1, 0, 0, 0])
GROUPS = pd.Series(["a"] * 4 + ["b"] * 4)


@pytest.fixture(scope="module")
def sample():
    return load_adult("train", n_rows=1_500, seed=0)


def test_group_metrics_are_the_rates_of_each_group():
    frame = group_metrics(Y_TRUE, Y_PRED, GROUPS).by_group
    assert frame.loc["a", "approval rate"] == 0.75 and frame.loc["b", "approval rate"] == 0.25
    assert frame.loc["a", "true positive rate"] == 1.0 and frame.loc["b", "true positive rate"] == 0.5
    assert frame.loc["a", "false positive rate"] == 0.5 and frame.loc["b", "false positive rate"] == 0.0
    assert frame.loc["a", "accuracy"] == 0.75 and frame.loc["b", "applicants"] == 4


def test_disparities_are_the_largest_gaps_between_groups():
    gaps = disparities(Y_TRUE, Y_PRED, GROUPS)
    assert gaps["demographic parity difference"] == pytest.approx(0.5)
    assert gaps["equalized odds difference"] == pytest.approx(0.5)  # max(TPR gap 0.5, FPR gap 0.5)
    assert disparities(Y_TRUE, Y_TRUE, GROUPS)["equalized odds difference"] == 0


def test_group_table_stacks_features_and_groups():
    other = pd.Series(list("xyxyxyxy"))
    frames = {"g": group_metrics(Y_TRUE, Y_PRED, GROUPS), "h": group_metrics(Y_TRUE, Y_PRED, other)}
    table = group_table(frames)
    assert list(table.index) == [("g", "a"), ("g", "b"), ("h", "x"), ("h", "y")]
    assert table["applicants"].dtype.kind == "i"


def test_compare_models_measures_each_mitigation_against_its_baseline():
    fair = np.array([1, 1, 0, 0, 1, 1, 0, 0])  # perfect and at parity
    half = np.array([1, 1, 1, 0, 1, 1, 0, 0])  # approval 0.75 vs 0.5
    table = compare_models(Y_TRUE, {"base": Y_PRED, "fair": fair, "half": half}, {"gender": GROUPS},
                           {"fair": "base", "half": "base"})
    assert table.loc["base", "accuracy"] == 0.75
    assert table.loc["fair", "accuracy change (points)"] == pytest.approx(25.0)
    assert table.loc["fair", "gender parity gap removed"] == pytest.approx(1.0)
    assert table.loc["half", "gender parity gap removed"] == pytest.approx(0.5)
    assert np.isnan(table.loc["base", "gender parity gap removed"])
    assert table.loc["half", "compared with"] == "base"


def test_best_mitigation_is_the_cheapest_that_removes_enough_of_the_gap():
    table = pd.DataFrame({
        "gender parity gap removed": [np.nan, 0.9, 0.6, 0.3],
        "accuracy change (points)": [np.nan, -2.5, -1.0, -0.1],
    }, index=["base", "strict", "relaxed", "weak"])
    assert best_mitigation(table, "gender", 0.5) == "relaxed"
    assert best_mitigation(table, "gender", 0.95) is None


def test_to_model_features_gives_back_the_loader_codes(sample):
    assert np.array_equal(to_model_features(sample.display, sample.category_map), sample.X)
    as_strings = sample.display.astype({"gender": str, "ethnicity": str})
    assert np.array_equal(to_model_features(as_strings, sample.category_map), sample.X)
    broken = sample.display.astype({"gender": str}).head(3)
    broken.loc[broken.index[0], "gender"] = "unknown"
    with pytest.raises(ValueError):
        to_model_features(broken, sample.category_map)


def test_xai_balanced_up_samples_the_small_groups_reproducibly(sample):
    X, y, frame = xai_balanced(sample, "gender", "loan", upsample=0.5, downsample=1.0, seed=0)
    counts = frame.groupby(["gender", "loan"], observed=True).size()
    assert counts.min() >= int(0.5 * counts.max())  # approved women were ~4% of the sample
    assert len(frame) > len(sample) and X.shape == (len(frame), len(FEATURES))
    assert np.array_equal(y, frame["loan"].to_numpy())
    assert np.array_equal(X, to_model_features(frame, sample.category_map))
    X_again, _, _ = xai_balanced(sample, "gender", "loan", upsample=0.5, downsample=1.0, seed=0)
    assert np.array_equal(X, X_again)


def test_plots_draw_one_panel_per_feature_and_one_point_per_model():
    frames = {"g": group_metrics(Y_TRUE, Y_PRED, GROUPS), "h": group_metrics(Y_TRUE, Y_PRED, GROUPS)}
    assert len(plot_group_metrics(frames).axes) == 2
    table = compare_models(Y_TRUE, {"base": Y_PRED, "fair": Y_TRUE}, {"gender": GROUPS}, {"fair": "base"})
    fig = plot_accuracy_vs_disparity(table, curve=table)
    ax = fig.axes[0]
    assert len(ax.collections) == 2 and len(ax.lines) == 1
