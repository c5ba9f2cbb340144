"""Group fairness of loan decisions with fairlearn: per-group metrics, disparities, mitigated models.

The notebook keeps the fairlearn calls a reader should see (MetricFrame, ThresholdOptimizer,
ExponentiatedGradient); the repeated blocks (the same metrics for every model, the comparison
table, the two plots, coding a balanced display frame back to model features) live here.
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xai
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from .data import CATEGORICAL, TARGET, AdultData, to_model_features

GROUP_METRICS = {
    "approval rate": selection_rate,
    "true positive rate": true_positive_rate,
    "false positive rate": false_positive_rate,
    "accuracy": accuracy_score,
    "applicants": count,
}


def group_metrics(y_true, y_pred, sensitive) -> MetricFrame:
    """fairlearn's MetricFrame: approval rate, TPR, FPR and accuracy for each group of ``sensitive``."""
    return MetricFrame(metrics=GROUP_METRICS, y_true=y_true, y_pred=y_pred, sensitive_features=sensitive)


def disparities(y_true, y_pred, sensitive) -> dict[str, float]:
    """The two headline gaps between groups (0 is parity).

    Demographic parity difference: largest gap in approval rate. Equalized odds difference: the
    larger of the largest gaps in TPR and in FPR.
    """
    return {
        "demographic parity difference":
            demographic_parity_difference(y_true, y_pred, sensitive_features=sensitive),
        "equalized odds difference": equalized_odds_difference(y_true, y_pred, sensitive_features=sensitive),
    }


def group_table(metric_frames: dict[str, MetricFrame]) -> pd.DataFrame:
    """Per-group metrics of several sensitive features stacked in one table (feature, group) x metric."""
    parts = []
    for feature, frame in metric_frames.items():
        by_group = frame.by_group.copy()
        by_group.index = pd.MultiIndex.from_tuples([(feature, g) for g in by_group.index],
                                                   names=["feature", "group"])
        parts.append(by_group)
    table = pd.concat(parts)
    table["applicants"] = table["applicants"].astype(int)
    return table


def compare_models(y_true, predictions: dict[str, np.ndarray], sensitive: dict[str, object],
                   baselines: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per model: accuracy and the disparities for each sensitive feature.

    ``baselines`` maps a mitigated model to the unmitigated one it is compared with; its row then
    gets the accuracy change in points and the share of the gender (first sensitive feature) demographic
    parity difference that the mitigation removed.
    """
    rows = {}
    for name, y_pred in predictions.items():
        row = {"accuracy": accuracy_score(y_true, y_pred), "approval rate": float(np.mean(y_pred))}
        for feature, groups in sensitive.items():
            for metric, value in disparities(y_true, y_pred, groups).items():
                row[f"{feature}: {metric}"] = value
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    first = next(iter(sensitive))
    dpd = f"{first}: demographic parity difference"
    table["compared with"] = ""
    table["accuracy change (points)"] = np.nan
    table[f"{first} parity gap removed"] = np.nan
    for name, base in (baselines or {}).items():
        table.loc[name, "compared with"] = base
        change = table.loc[name, "accuracy"] - table.loc[base, "accuracy"]
        table.loc[name, "accuracy change (points)"] = 100 * change
        table.loc[name, f"{first} parity gap removed"] = 1 - table.loc[name, dpd] / table.loc[base, dpd]
    return table


def best_mitigation(table: pd.DataFrame, feature: str = "gender", min_gap_removed: float = 0.5) -> str | None:
    """The mitigated model that removes at least ``min_gap_removed`` of the parity gap at the smallest
    accuracy cost; None if no mitigation removes that much."""
    removed = table[f"{feature} parity gap removed"]
    candidates = table[removed >= min_gap_removed]
    if candidates.empty:
        return None
    return candidates["accuracy change (points)"].idxmax()


def xai_balanced(data: AdultData, *cross_cols: str, upsample: float = 0.5, downsample: float = 1.0,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """xai.balance on the display frame (up/down-sampling each ``cross_cols`` group), coded for models.

    Returns (X, y, balanced display frame). xai samples with NumPy's global generator, hence the seed.
    """
    np.random.seed(seed)
    with warnings.catch_warnings():  # xai 0.3.0 groups with a pandas option pandas 2.2 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        balanced = xai.balance(data.display, *cross_cols, upsample=upsample, downsample=downsample,
                               categorical_cols=list(CATEGORICAL) + [TARGET], plot=False)
    return to_model_features(balanced, data.category_map), balanced[TARGET].to_numpy(dtype=int), balanced


def plot_group_metrics(metric_frames: dict[str, MetricFrame],
                       metrics=("approval rate", "true positive rate", "false positive rate", "accuracy")):
    """One bar panel per sensitive feature: each metric for each group."""
    fig, axes = plt.subplots(1, len(metric_frames), figsize=(6 * len(metric_frames), 3.6), squeeze=False)
    for ax, (feature, frame) in zip(axes[0], metric_frames.items()):
        frame.by_group[list(metrics)].T.plot.bar(ax=ax, rot=0, width=0.8)
        ax.set_title(f"by {feature}")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="upper left")
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_disparity(table: pd.DataFrame, feature: str = "gender",
                               curve: pd.DataFrame | None = None, curve_label: str = "trade-off"):
    """Accuracy against the ``feature`` demographic parity difference, one point per model.

    ``curve`` (optional, same columns) is drawn as a line: the same mitigation at several strengths.
    """
    dpd = f"{feature}: demographic parity difference"
    fig, ax = plt.subplots(figsize=(6.5, 4))
    if curve is not None:
        ax.plot(curve[dpd], curve["accuracy"], "-", color="0.6", zorder=1, label=curve_label)
        for name, row in curve.iterrows():
            ax.annotate(str(name), (row[dpd], row["accuracy"]), fontsize=7, color="0.4",
                        xytext=(3, -9), textcoords="offset points")
    for name, row in table.iterrows():
        ax.scatter(row[dpd], row["accuracy"], s=50, zorder=2, label=name)
    ax.set_xlabel(f"{feature}: demographic parity difference (0 = equal approval rates)")
    ax.set_ylabel("accuracy on adult.test")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
