"""Group fairness of loan decisions with fairlearn: per-group metrics, disparities, mitigated models.

The notebook keeps the fairlearn calls a reader should see (MetricFrame, ThresholdOptimizer,
ExponentiatedGradient); the repeated blocks (the same metrics for every model, the comparison
table, the two plots, coding a balanced display frame back to model features) live here.

Confidence intervals come from the bootstrap resamples fairlearn's ``MetricFrame(n_boot=...,
random_state=...)`` draws (the same rows), counted with NumPy: MetricFrame recomputes every metric
with a pandas group-by per resample, 36 s for 100 resamples of the gender table on adult.test here,
and it has no interval for the equalized odds difference (the larger of two differences per resample).
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
from .figures import GENDER_COLOURS, GENDER_NAMES, fit_to_slide

GROUP_METRICS = {
    "approval rate": selection_rate,
    "true positive rate": true_positive_rate,
    "false positive rate": false_positive_rate,
    "accuracy": accuracy_score,
    "applicants": count,
}


RATES = ["approval rate", "true positive rate", "false positive rate", "accuracy"]
QUANTILES = (0.025, 0.975)  # a 95% interval


def bootstrap_rows(n_rows: int, n_boot: int, seed: int):
    """Row indices of each bootstrap resample, the ones fairlearn's MetricFrame draws for ``random_state=seed``
    (``DataFrame.sample(frac=1, replace=True)`` seeded from a generator of ``seed``)."""
    seeds = np.random.default_rng(seed).integers(0, np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32)
    for s in seeds:
        yield np.random.RandomState(s).choice(n_rows, size=n_rows, replace=True)


def _codes(groups) -> tuple[np.ndarray, list]:
    """Group labels as codes 0..k-1 and the sorted labels (MetricFrame's order); a DataFrame crosses its columns."""
    if isinstance(groups, pd.DataFrame):
        keys = pd.MultiIndex.from_frame(groups.astype(str))
        labels = sorted(set(keys))
        lookup = {label: i for i, label in enumerate(labels)}
        return np.array([lookup[k] for k in keys]), labels
    codes, labels = pd.factorize(pd.Series(np.asarray(groups)).astype(str), sort=True)
    return codes, list(labels)


def _rates(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Rates per group from counts shaped (..., group, y_true, y_pred); NaN where a group has no such rows."""
    with np.errstate(invalid="ignore", divide="ignore"):
        n = cells.sum(axis=(-1, -2))
        return {
            "approval rate": cells[..., 1].sum(axis=-1) / n,
            "true positive rate": cells[..., 1, 1] / cells[..., 1, :].sum(axis=-1),
            "false positive rate": cells[..., 0, 1] / cells[..., 0, :].sum(axis=-1),
            "accuracy": (cells[..., 0, 0] + cells[..., 1, 1]) / n,
        }


def _resampled_cells(y_true, y_pred, codes, n_groups, n_boot, seed) -> np.ndarray:
    """Counts (resample, group, y_true, y_pred) of every bootstrap resample."""
    cell = codes * 4 + 2 * np.asarray(y_true, dtype=int) + np.asarray(y_pred, dtype=int)
    counts = [np.bincount(cell[rows], minlength=4 * n_groups) for rows in bootstrap_rows(len(cell), n_boot, seed)]
    return np.array(counts).reshape(n_boot, n_groups, 2, 2)


class GroupMetrics:
    """fairlearn's MetricFrame per group, with bootstrap intervals ``low`` and ``high`` (same index, RATES)."""

    def __init__(self, y_true, y_pred, sensitive, n_boot: int | None = None, seed: int = 0):
        self.frame = MetricFrame(metrics=GROUP_METRICS, y_true=y_true, y_pred=y_pred,
                                 sensitive_features=sensitive)
        self.by_group = self.frame.by_group
        self.low = self.high = None
        if n_boot:
            # each row's position in by_group's index, so the counts line up with MetricFrame's groups
            lookup = {key: i for i, key in enumerate(self.by_group.index)}
            keys = (zip(*(sensitive[c] for c in sensitive)) if isinstance(sensitive, pd.DataFrame)
                    else np.asarray(sensitive))
            codes = np.array([lookup[key] for key in keys])
            rates = _rates(_resampled_cells(y_true, y_pred, codes, len(self.by_group), n_boot, seed))
            bounds = {m: _quantiles(v, axis=0) for m, v in rates.items()}
            self.low = pd.DataFrame({m: b[0] for m, b in bounds.items()}, index=self.by_group.index)
            self.high = pd.DataFrame({m: b[1] for m, b in bounds.items()}, index=self.by_group.index)


def group_metrics(y_true, y_pred, sensitive, n_boot: int | None = None, seed: int = 0) -> GroupMetrics:
    """Approval rate, TPR, FPR and accuracy for each group of ``sensitive`` (fairlearn's MetricFrame),
    with 95% bootstrap intervals from ``n_boot`` resamples of the rows."""
    return GroupMetrics(y_true, y_pred, sensitive, n_boot, seed)


def with_interval(value: float, low: float, high: float, fmt: str = ".2f") -> str:
    """``0.08 [0.07, 0.09]``; just the value where no resample had the rows to measure it."""
    if np.isnan(low) or np.isnan(high):
        return format(value, fmt)
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def _quantiles(values: np.ndarray, axis=None) -> np.ndarray:
    """QUANTILES of ``values`` ignoring NaN (a resample without a group's rows); NaN if all are."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "All-NaN slice"
        return np.nanquantile(values, QUANTILES, axis=axis)


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


def _formatted(metrics: GroupMetrics, digits: int = 2) -> pd.DataFrame:
    """Rates as "value [low, high]" strings (just the values without intervals), applicants as integers."""
    by_group = metrics.by_group
    table = pd.DataFrame(index=by_group.index)
    for m in RATES:
        if metrics.low is None:
            table[m] = by_group[m].round(digits)
        else:
            table[m] = [with_interval(v, lo, hi, f".{digits}f")
                        for v, lo, hi in zip(by_group[m], metrics.low[m], metrics.high[m])]
    table["applicants"] = by_group["applicants"].astype(int)
    return table


def group_table(metric_frames: dict[str, GroupMetrics], digits: int = 2) -> pd.DataFrame:
    """Per-group metrics of several sensitive features stacked in one table (feature, group) x metric,
    each rate with its 95% interval when the metrics were bootstrapped."""
    parts = []
    for feature, metrics in metric_frames.items():
        part = _formatted(metrics, digits)
        part.index = pd.MultiIndex.from_tuples([(feature, g) for g in part.index], names=["feature", "group"])
        parts.append(part)
    return pd.concat(parts)


def intersectional_table(metrics: GroupMetrics, min_size: int = 100, rank_by: str = "approval rate",
                         columns=("approval rate", "true positive rate"), digits: int = 2) -> pd.DataFrame:
    """Crossed groups (e.g. gender x ethnicity) with their sizes and ``rank_by`` ranks (1 = highest);
    groups under ``min_size`` applicants are marked too small to rank instead of ranked."""
    table = _formatted(metrics, digits)[[*columns, "applicants"]]
    large = table["applicants"] >= min_size
    ranks = metrics.by_group.loc[large, rank_by].rank(ascending=False, method="min").astype(int)
    table[f"rank ({rank_by})"] = [str(ranks[g]) if large[g] else f"too small (< {min_size})" for g in table.index]
    return table


def _gaps(rates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Demographic parity and equalized odds differences from per-group rates (last axis = group)."""
    def spread(v):
        return np.nanmax(v, axis=-1) - np.nanmin(v, axis=-1)
    return {"demographic parity difference": spread(rates["approval rate"]),
            "equalized odds difference": np.maximum(spread(rates["true positive rate"]),
                                                    spread(rates["false positive rate"]))}


def bootstrap_disparities(y_true, predictions: dict[str, np.ndarray], sensitive: dict[str, object],
                          n_boot: int, seed: int = 0) -> dict[tuple[str, str, str], np.ndarray]:
    """Each disparity of each model on every bootstrap resample: {(model, feature, metric): (n_boot,)}.

    All models are measured on the same resamples (paired), so their differences are resampled too.
    """
    y_true = np.asarray(y_true, dtype=int)
    coded = {f: _codes(g) for f, g in sensitive.items()}
    cells = {(name, f): codes * 4 + 2 * y_true + np.asarray(y_pred, dtype=int)
             for name, y_pred in predictions.items() for f, (codes, _) in coded.items()}
    counts = {key: [] for key in cells}
    for rows in bootstrap_rows(len(y_true), n_boot, seed):
        for (name, f), cell in cells.items():
            counts[(name, f)].append(np.bincount(cell[rows], minlength=4 * len(coded[f][1])))
    result = {}
    for (name, f), c in counts.items():
        gaps = _gaps(_rates(np.array(c).reshape(n_boot, -1, 2, 2)))
        result.update({(name, f, metric): v for metric, v in gaps.items()})
    return result


def compare_models(y_true, predictions: dict[str, np.ndarray], sensitive: dict[str, object],
                   baselines: dict[str, str] | None = None, n_boot: int | None = None,
                   seed: int = 0) -> pd.DataFrame:
    """One row per model: accuracy and the disparities for each sensitive feature.

    ``baselines`` maps a mitigated model to the unmitigated one it is compared with; its row then
    gets the accuracy change in points and the share of the gender (first sensitive feature) demographic
    parity difference that the mitigation removed. With ``n_boot``, every disparity and the share removed
    also get a 95% bootstrap interval (columns ``... low`` and ``... high``).
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
    removed = f"{first} parity gap removed"
    table[removed] = np.nan
    for name, base in (baselines or {}).items():
        table.loc[name, "compared with"] = base
        change = table.loc[name, "accuracy"] - table.loc[base, "accuracy"]
        table.loc[name, "accuracy change (points)"] = 100 * change
        table.loc[name, removed] = 1 - table.loc[name, dpd] / table.loc[base, dpd]
    if n_boot:
        resampled = bootstrap_disparities(y_true, predictions, sensitive, n_boot, seed)
        for (name, feature, metric), values in resampled.items():
            low, high = _quantiles(values)
            table.loc[name, [f"{feature}: {metric} low", f"{feature}: {metric} high"]] = low, high
        for name, base in (baselines or {}).items():
            with np.errstate(invalid="ignore", divide="ignore"):
                share = 1 - (resampled[(name, first, "demographic parity difference")]
                             / resampled[(base, first, "demographic parity difference")])
            table.loc[name, [f"{removed} low", f"{removed} high"]] = _quantiles(share)
    return table


def comparison_view(table: pd.DataFrame, feature: str = "gender") -> pd.DataFrame:
    """The columns of ``compare_models`` that carry the point, narrow enough for a slide: accuracy and its
    change, the two ``feature`` disparities and the share of the parity gap removed, each with its 95%
    interval in brackets when bootstrapped."""
    view = pd.DataFrame(index=table.index)
    view["accuracy"] = table["accuracy"].round(3)
    view["change (points)"] = table["accuracy change (points)"].round(1)

    def column(name, fmt):
        if f"{name} low" not in table:
            return [("" if np.isnan(v) else format(v, fmt)) for v in table[name]]
        return [("" if np.isnan(v) else with_interval(v, lo, hi, fmt))
                for v, lo, hi in zip(table[name], table[f"{name} low"], table[f"{name} high"])]
    view["parity difference"] = column(f"{feature}: demographic parity difference", ".2f")
    view["equalized odds difference"] = column(f"{feature}: equalized odds difference", ".2f")
    view["parity gap removed"] = column(f"{feature} parity gap removed", ".0%")
    return view.fillna("")


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


def plot_group_metrics(metric_frames: dict[str, GroupMetrics], metrics=tuple(RATES)):
    """One bar panel per sensitive feature: each metric for each group, with its 95% interval if bootstrapped.

    Women and men get the colours of every chart (GENDER_COLOURS); the text keeps the slide style's sizes.
    """
    fig, axes = plt.subplots(1, len(metric_frames), figsize=(7 * len(metric_frames), 4.2), squeeze=False)
    for ax, (feature, frame) in zip(axes[0], metric_frames.items()):
        values = frame.by_group[list(metrics)].T
        values.index = [name.replace(" rate", "\nrate") for name in values.index]
        errors = None
        if frame.low is not None:  # matplotlib wants (2, groups, metrics)-like distances below and above
            below = (frame.by_group[list(metrics)] - frame.low[list(metrics)]).T
            above = (frame.high[list(metrics)] - frame.by_group[list(metrics)]).T
            errors = np.stack([below.to_numpy().T, above.to_numpy().T], axis=1).clip(min=0)
        colours = [GENDER_COLOURS[g] for g in values.columns] if set(values.columns) <= set(GENDER_COLOURS) else None
        values.columns = [GENDER_NAMES.get(g, str(g)) for g in values.columns]
        values.plot.bar(ax=ax, rot=0, width=0.8, yerr=errors, capsize=2, error_kw={"elinewidth": 0.8},
                        color=colours)
        ax.set_title(f"by {feature}" + (" (95% bootstrap intervals)" if errors is not None else ""))
        many = len(values.columns) > 2
        ax.set_ylim(0, 1.5 if many else 1.0)  # room above the bars for a legend of many groups
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.legend(loc="upper left", ncols=2 if many else 1)
    fig.tight_layout()
    fit_to_slide(fig)
    return fig


def plot_accuracy_vs_disparity(table: pd.DataFrame, feature: str = "gender",
                               curve: pd.DataFrame | None = None, curve_label: str = "trade-off"):
    """Accuracy against the ``feature`` demographic parity difference, one point per model.

    ``curve`` (optional, same columns) is drawn as a line: the same mitigation at several strengths.
    """
    dpd = f"{feature}: demographic parity difference"
    fig, ax = plt.subplots(figsize=(11, 4.2))
    if curve is not None:
        ax.plot(curve[dpd], curve["accuracy"], "-", color="0.6", zorder=1, label=curve_label)
    for name, row in table.iterrows():
        ax.scatter(row[dpd], row["accuracy"], s=60, zorder=2, label=name)
    ax.set_xlabel(f"{feature}: demographic parity difference\n(0 = equal approval rates)")
    ax.set_ylabel("accuracy on adult.test")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fit_to_slide(fig)
    return fig


def _ci(table: pd.DataFrame, row: str, column: str, percent: bool = False) -> str:
    """`` (95% CI 0.16 to 0.19)`` from the ``low``/``high`` columns, or nothing without them."""
    if f"{column} low" not in table:
        return ""
    low, high = table.loc[row, f"{column} low"], table.loc[row, f"{column} high"]
    return f" (95% CI {low:.0%} to {high:.0%})" if percent else f" (95% CI {low:.2f} to {high:.2f})"


def describe_baseline(metrics: GroupMetrics, historical: pd.Series, gaps: pd.DataFrame,
                      ethnicity: GroupMetrics, noisy_below: int = 500) -> str:
    """The forest's gender gap in words: approval rates, the gap against the historical one, TPRs, and
    how many ethnic groups are small enough for their rates to be noisy."""
    rates, tpr = metrics.by_group["approval rate"], metrics.by_group["true positive rate"]
    small = ethnicity.by_group.index[ethnicity.by_group["applicants"] < noisy_below]
    hist_gap = historical["Male"] - historical["Female"]
    dpd = gaps.loc["demographic parity difference", "gender"]
    low, high = metrics.low, metrics.high
    tpr_text = (f"creditworthy women are also approved less often than creditworthy men (true positive rate "
                f"{tpr['Female']:.2f} against {tpr['Male']:.2f}, the intervals apart)"
                if low is not None and high.loc["Female", "true positive rate"] < low.loc["Male", "true positive rate"]
                else f"true positive rate {tpr['Female']:.2f} for women against {tpr['Male']:.2f} for men")
    return (f"The forest approves {rates['Male']:.0%} of the men and {rates['Female']:.0%} of the women "
            f"(demographic parity difference {dpd:.2f}); in the training data {historical['Male']:.0%} of the men "
            f"and {historical['Female']:.0%} of the women had a high income, a gap of {hist_gap:.2f}. The gap is "
            f"not only in who is "
            f"creditworthy: {tpr_text}. Across "
            f"ethnicities the largest gap in approval rate is "
            f"{gaps.loc['demographic parity difference', 'ethnicity']:.2f}, but {len(small)} groups "
            f"({', '.join(small)}) have fewer than {noisy_below} applicants in `adult.test`, and their wide "
            f"intervals show how noisy their rates are.")


# The rule that forbids deciding on sex in US consumer credit, linked to its primary text (as of 2026-12).
REG_B_6B1 = ("[12 CFR 1002.6(b)(1)](https://www.ecfr.gov/current/title-12/chapter-X/part-1002/section-1002.6"
             "#p-1002.6(b)(1))")


def _cost(points: float) -> str:
    """An accuracy change in words: ``costs 1.2 points`` or ``gains 0.3 points``."""
    return f"costs {-points:.1f} points" if points <= 0 else f"gains {points:.1f} points"


def describe_mitigations(table: pd.DataFrame, base: str, balanced: str, strict: str, relaxed: str,
                         logistic: str, reduction: str, feature: str = "gender") -> str:
    """What the comparison says, as Markdown bullets, every number from ``table`` (``compare_models``)."""
    dpd, eod = f"{feature}: demographic parity difference", f"{feature}: equalized odds difference"
    removed, change = f"{feature} parity gap removed", "accuracy change (points)"
    share = table.loc[balanced, removed]
    low, high = ((table.loc[balanced, f"{removed} low"], table.loc[balanced, f"{removed} high"])
                 if f"{removed} low" in table else (share, share))
    half = ("less than half" if high < 0.5 else "more than half" if low > 0.5 else
            "about half: the interval includes one half")
    best = best_mitigation(table.drop(index=[strict, relaxed]), feature, min_gap_removed=0.5)
    best_text = ("Without per-gender thresholds, no mitigation here removes half of the gap." if best is None else
                 f"Without per-gender thresholds, the cheapest mitigation that removes at least half of the gap is "
                 f"**{best}**: {table.loc[best, removed]:.0%} of the gap removed, and it "
                 f"{_cost(table.loc[best, change])} of accuracy; like every model here, it still takes gender as "
                 f"an input.")
    return "\n".join([
        f"- Balanced data narrows the {feature} gap from {table.loc[base, dpd]:.2f} to {table.loc[balanced, dpd]:.2f}"
        f" and {_cost(table.loc[balanced, change])} of accuracy: it removes {share:.0%} of the gap"
        f"{_ci(table, balanced, removed, percent=True)}, {half}.",
        f"- Group thresholds close the gap: exact parity ({table.loc[strict, dpd]:.2f}) "
        f"{_cost(table.loc[strict, change])}, a gap of up to 0.05 ({table.loc[relaxed, dpd]:.2f} on "
        f"`adult.test`, {table.loc[relaxed, removed]:.0%} removed) {_cost(table.loc[relaxed, change])}. "
        f"The grey line is the whole trade-off. These thresholds take sex into account at decision time, which "
        f"{REG_B_6B1} forbids in US consumer credit (as of 2026-12; not legal advice).",
        f"- ExponentiatedGradient takes the LogisticRegression from {table.loc[logistic, dpd]:.2f} to "
        f"{table.loc[reduction, dpd]:.2f} and {_cost(table.loc[reduction, change])} "
        f"({table.loc[logistic, 'accuracy']:.3f} -> {table.loc[reduction, 'accuracy']:.3f}).",
        f"- {best_text}",
        "",
        f"Parity of approval rates is one definition of fair among several: forcing equal approval rates "
        f"makes the *error* rates less equal, the equalized odds difference goes from {table.loc[base, eod]:.2f}"
        f"{_ci(table, base, eod)} to {table.loc[strict, eod]:.2f}{_ci(table, strict, eod)} for exact parity. "
        f"Which gap matters is a policy choice, not a statistical one.",
    ])


def blinded(X: np.ndarray, features) -> np.ndarray:
    """``X`` with the columns of ``features`` set to one constant: a forest can no longer split on them, and
    the fitted pipeline keeps its shape (the same as training without them)."""
    from .data import FEATURES

    X = np.array(X, copy=True)
    X[:, [FEATURES.index(f) for f in features]] = 0
    return X


def forests_without(category_map, runs: dict, X_test: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Predictions on ``X_test`` of forests trained on ``runs``: {name: (features removed, X, y)}."""
    from .models import build_rf_pipeline

    predictions = {}
    for name, (features, X, y) in runs.items():
        forest = build_rf_pipeline(category_map, seed=seed).fit(blinded(X, features), y)
        predictions[name] = forest.predict(blinded(X_test, features))
    return predictions


def describe_unawareness(table: pd.DataFrame, base: str, no_gender: str, no_proxies: str,
                         balanced: str, balanced_no_proxies: str, feature: str = "gender") -> str:
    """What retraining without gender, and without gender and its proxies, does to the parity gap: each
    comparison stated only as far as the paired bootstrap interval of the share removed supports it."""
    removed = f"{feature} parity gap removed"

    def effect(name):
        low, high = table.loc[name, f"{removed} low"], table.loc[name, f"{removed} high"]
        verdict = "the gap narrows" if low > 0 else "the gap widens" if high < 0 else "no change beyond the noise"
        return f"{table.loc[name, removed]:.0%} removed [{low:.0%}, {high:.0%}]: {verdict}"
    return (f"- Without the {feature} column: {effect(no_gender)}.\n"
            f"- Without {feature}, relationship and marital status: {effect(no_proxies)}.\n"
            f"- Balanced data: {effect(balanced)}.\n"
            f"- Balanced data without the three: {effect(balanced_no_proxies)}.")
