"""Which inputs moved: each feature of a window of decisions against the training data.

A two-sample Kolmogorov-Smirnov test for numeric features and a chi-square goodness-of-fit test against
the training proportions for categorical ones (categories expected fewer than 10 times in the window
pooled into one bin), then Holm's correction over the features, so that the chance of naming any
input in a window of unshifted traffic stays at most ``alpha``. A value the training data never held
(an unknown code, a category never seen, NaN) is counted as unknown and left out of its feature's test.
"""

import json

import numpy as np
from scipy import stats

MIN_EXPECTED = 10  # a category expected fewer times in a window is pooled: the chi-square's tail stays honest


class Reference:
    """The training data's distribution of every feature: the values of numeric features (as unique
    values and counts), the counts of each category of categorical ones."""

    def __init__(self, features, category_map, numeric, categorical):
        self.features, self.category_map = list(features), {int(k): list(v) for k, v in category_map.items()}
        # Each numeric feature's distinct values and the share of training rows at or below each.
        self.numeric = {
            f: (np.asarray(v, float), np.cumsum(c) / np.sum(c), int(np.sum(c))) for f, (v, c) in numeric.items()
        }
        self.categorical = {f: np.asarray(c, float) for f, c in categorical.items()}
        self._stored = {"numeric": numeric, "categorical": categorical}

    @classmethod
    def fit(cls, features, category_map, rows):
        rows, numeric, categorical = np.asarray(rows, float), {}, {}
        for i, feature in enumerate(features):
            if i in category_map:
                codes = rows[:, i][rows[:, i] >= 0].astype(int)  # -1: a missing value
                categorical[feature] = np.bincount(codes, minlength=len(category_map[i])).tolist()
            else:
                values, counts = np.unique(rows[:, i], return_counts=True)
                numeric[feature] = [values.tolist(), counts.tolist()]
        return cls(features, category_map, numeric, categorical)

    def to_json(self) -> str:
        return json.dumps({"features": self.features, "category_map": self.category_map, **self._stored})

    @classmethod
    def from_json(cls, text: str):
        data = json.loads(text)
        return cls(data["features"], data["category_map"], data["numeric"], data["categorical"])

    def codes(self, rows, feature) -> tuple[np.ndarray, int]:
        """The known codes of a categorical feature in ``rows``, and how many values were unknown."""
        column = np.asarray(rows, float).reshape(-1, len(self.features))[:, self.features.index(feature)]
        counts = self.categorical[feature]
        whole = np.isfinite(column) & (column == np.round(column)) & (column >= 0) & (column < len(counts))
        known = whole.copy()
        known[whole] = counts[column[whole].astype(int)] > 0  # a category never seen in training: unknown
        return column[known].astype(int), int((~known).sum())


def holm(p_values: dict) -> dict:
    """Holm's step-down adjusted p-values (family-wise error); NaN (a feature not tested) stays NaN."""
    tested = sorted((p, f) for f, p in p_values.items() if np.isfinite(p))
    adjusted, running = dict.fromkeys(p_values, float("nan")), 0.0
    for rank, (p, feature) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[feature] = running
    return adjusted


def compare(reference: Reference, rows, alpha: float = 0.01) -> dict:
    """{feature: {"p": Holm-adjusted p-value (NaN: not tested), "drifted": bool, "n": values tested,
    "unknown": values left out}} for a window of rows (possibly empty)."""
    rows = np.asarray(rows, float).reshape(-1, len(reference.features))
    p, n, unknown = {}, {}, {}
    for feature in reference.features:
        if feature in reference.numeric:
            column = rows[:, reference.features.index(feature)]
            values = column[np.isfinite(column)]
            n[feature], unknown[feature] = len(values), len(column) - len(values)
            p[feature] = _kolmogorov_smirnov(np.sort(values), *reference.numeric[feature]) if len(values) else np.nan
        else:
            codes, unknown[feature] = reference.codes(rows, feature)
            n[feature] = len(codes)
            p[feature] = _chi_square(np.bincount(codes, minlength=len(reference.categorical[feature])),
                                     reference.categorical[feature])  # fmt: skip
    adjusted = holm(p)
    return {f: {"p": adjusted[f], "drifted": bool(adjusted[f] < alpha), "n": n[f], "unknown": unknown[f]}
            for f in reference.features}  # fmt: skip


def _kolmogorov_smirnov(window: np.ndarray, values: np.ndarray, cdf: np.ndarray, m: int) -> float:
    """Two-sided two-sample KS p-value of a sorted window against the training column, as
    ``scipy.stats.ks_2samp`` computes it when a sample exceeds 10,000 rows (Smirnov's asymptotic
    distribution, ``kstwo``), from the training ECDF kept by the reference instead of sorting its rows
    again for every window."""
    points = np.concatenate([window, values])
    below = np.searchsorted(values, points, side="right")
    training = np.where(below > 0, cdf[np.maximum(below - 1, 0)], 0.0)
    d = np.max(np.abs(np.searchsorted(window, points, side="right") / len(window) - training))
    n = len(window)
    return float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def _chi_square(observed: np.ndarray, training: np.ndarray) -> float:
    seen = training > 0
    observed, expected = observed[seen], training[seen] / training[seen].sum() * observed.sum()
    rare = expected < MIN_EXPECTED
    if rare.any():
        observed = np.append(observed[~rare], observed[rare].sum())
        expected = np.append(expected[~rare], expected[rare].sum())
        if expected[-1] < MIN_EXPECTED and len(expected) > 2:  # the pooled bin still too small: into the next
            smallest = np.argmin(expected[:-1])
            observed[smallest] += observed[-1]
            expected[smallest] += expected[-1]
            observed, expected = observed[:-1], expected[:-1]
    if observed.sum() == 0 or len(observed) < 2:
        return float("nan")  # an empty window, or a single bin: nothing to compare
    return float(stats.chisquare(observed, expected).pvalue)
