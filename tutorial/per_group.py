"""The network per group on the balanced validation set: ROC curves, AUC and recall, each gap with an interval.

xai's ``roc_plot`` draws the right curves under swapped axis labels (x "True Positive Rate" for what is
the false positive rate), so the curves are drawn here with scikit-learn's ``roc_curve``. The balanced set
is small (300 per gender and outcome), so every gap between the genders gets a bootstrap interval,
resampled within each gender x outcome cell to keep the set's design.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_score, recall_score, roc_auc_score, roc_curve

from .figures import GENDER_COLOURS, GENDER_NAMES

QUANTILES = (0.025, 0.975)  # a 95% interval
PEOPLE = GENDER_NAMES


def _people(group: str) -> str:
    return PEOPLE.get(group, str(group))


def _stratified_rows(y, groups, n_boot: int, seed: int):
    """Row indices of bootstrap resamples drawn within each (group, outcome) cell."""
    rng = np.random.default_rng(seed)
    cells = [np.flatnonzero((groups == g) & (y == label)) for g in np.unique(groups) for label in (0, 1)]
    for _ in range(n_boot):
        yield np.concatenate([rng.choice(cell, size=len(cell), replace=True) for cell in cells if len(cell)])


def group_gap(y, score, groups, metric, first: str, second: str, n_boot: int = 1000, seed: int = 0) -> pd.Series:
    """``metric(y, score)`` for ``first`` and ``second`` and their difference (second - first), the difference
    with a 95% bootstrap interval (``low``, ``high``)."""
    y, score, groups = np.asarray(y), np.asarray(score), np.asarray(groups)

    def both(rows):
        return [metric(y[rows][groups[rows] == g], score[rows][groups[rows] == g]) for g in (first, second)]

    a, b = both(np.arange(len(y)))
    diffs = [np.subtract(*both(rows)[::-1]) for rows in _stratified_rows(y, groups, n_boot, seed)]
    low, high = np.quantile(diffs, QUANTILES)
    return pd.Series({first: a, second: b, "difference": b - a, "low": low, "high": high})


def auc_gap(y, proba, groups, first="Female", second="Male", **kwargs) -> pd.Series:
    """Area under the ROC curve per group, and the difference with its interval."""
    return group_gap(y, proba, groups, roc_auc_score, first, second, **kwargs)


def recall_gap(y, pred, groups, first="Female", second="Male", **kwargs) -> pd.Series:
    """Recall (creditworthy applicants approved) per group, and the difference with its interval."""
    return group_gap(y, pred, groups, recall_score, first, second, **kwargs)


def plot_roc(y, proba, groups=None, title: str = "ROC curve"):
    """ROC curves (one per group if ``groups``), false positive rate on x, true positive rate on y."""
    y, proba = np.asarray(y), np.asarray(proba)
    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    parts = [("all", np.ones(len(y), bool))] if groups is None else [
        (g, np.asarray(groups) == g) for g in np.unique(groups)]
    for label, mask in parts:
        fpr, tpr, _ = roc_curve(y[mask], proba[mask])
        ax.plot(fpr, tpr, color=GENDER_COLOURS.get(label), lw=2,
                label=f"{_people(label)} (AUC {roc_auc_score(y[mask], proba[mask]):.2f})")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="chance")
    ax.set_xlabel("false positive rate (others approved)")
    ax.set_ylabel("true positive rate\n(creditworthy approved)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_rates_by_group(y, pred, groups, title: str = "at the 0.5 threshold"):
    """Recall, precision and approval rate of 0/1 decisions per group (one colour per gender).

    Drawn here rather than with xai's metrics_plot, whose legend shows the group as a tuple and whose "auc"
    bar comes from the 0/1 decisions, not from the scores a ROC curve ranks.
    """
    y, pred, groups = np.asarray(y), np.asarray(pred), np.asarray(groups)
    rates = {
        "recall\n(creditworthy approved)": lambda t, p: recall_score(t, p, zero_division=0),
        "precision\n(approved, creditworthy)": lambda t, p: precision_score(t, p, zero_division=0),
        "approval rate": lambda t, p: p.mean(),
    }
    table = pd.DataFrame({g: {name: f(y[groups == g], pred[groups == g]) for name, f in rates.items()}
                          for g in np.unique(groups)})
    fig, ax = plt.subplots(figsize=(11, 4))
    table.rename(columns=_people).plot.bar(ax=ax, rot=0, width=0.7,
                                           color=[GENDER_COLOURS.get(g) for g in table.columns])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def direction(gap: pd.Series, first: str = "Female", second: str = "Male") -> str:
    """Which way a gap goes, stated only when its 95% interval excludes 0."""
    if gap["low"] > 0:
        return f"higher for {_people(second)} than for {_people(first)}"
    if gap["high"] < 0:
        return f"higher for {_people(first)} than for {_people(second)}"
    return "no difference this set can tell apart from noise"


def describe_gap(what: str, gap: pd.Series, first: str = "Female", second: str = "Male") -> str:
    """One gap in words: both values, the difference with its interval, and its direction if the interval
    supports one."""
    return (f"{what}: {_people(first)} **{gap[first]:.3f}**, {_people(second)} **{gap[second]:.3f}** "
            f"({_people(second)} minus {_people(first)} {gap['difference']:+.3f}, 95% CI {gap['low']:+.2f} to "
            f"{gap['high']:+.2f}): {direction(gap, first, second)}.")
