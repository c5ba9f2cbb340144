"""Principal reasons for a rejection, by the cutoff method of Regulation B (comment 9(b)(2)-5).

References are applicants the model approves at or slightly above the threshold. For a rejected
applicant, each feature in turn is replaced by every reference's value, and the mean change in
P(approved) is that feature's gain; the largest gains are the principal reasons. The model is any
function ``p_approved(rows) -> P(approved) per row``, so a retrained or different model is explained by
the same code. Runs on Python 3.8 with numpy only (the serving image).
"""

import json

import numpy as np

from .reason_codes import CODES, ELDERLY_AGE, PROHIBITED

MAX_REASONS = 4  # the official interpretation: more than four is not likely to be helpful
THRESHOLD = 0.5  # approved when P(approved) > 0.5, as the model service decides
BAND = (0.5, 0.6)  # "at or slightly above the minimum passing score"


def reference_set(p_approved, X, band=BAND, size=200, seed=0):
    """``size`` rows of ``X`` (a fixed-seed sample, in their order; all of them if fewer) that the model
    approves with P(approved) in ``band``: above the threshold, and only just."""
    p = np.asarray(p_approved(X), dtype=float)
    candidates = np.flatnonzero((p > band[0]) & (p <= band[1]))
    if not len(candidates):
        raise ValueError("no row scores in {}".format(band))
    chosen = np.random.default_rng(seed).choice(candidates, min(size, len(candidates)), replace=False)
    return np.asarray(X, dtype=float)[np.sort(chosen)]


class Reasons:
    """The frozen reference set and what is derived from it: per-feature values, typical values, codes."""

    def __init__(self, reference, features, category_map):
        self.reference = np.asarray(reference, dtype=float)
        self.features = list(features)
        self.category_map = {int(i): list(names) for i, names in category_map.items()}
        # Each feature's distinct reference values and their shares: the same mean as substituting every
        # reference row, in ~130 model rows per applicant instead of 200 x 12.
        self.values = [np.unique(column, return_counts=True) for column in self.reference.T]
        self.typical = np.array([self._typical(j) for j in range(len(self.features))])
        columns = np.concatenate([np.full(len(v), j) for j, (v, _) in enumerate(self.values)])
        weights = np.zeros((len(columns), len(self.features)))  # substitution k -> its share of feature j
        weights[np.arange(len(columns)), columns] = np.concatenate([c for _, c in self.values]) / len(self.reference)
        self._substitutions = columns, np.concatenate([v for v, _ in self.values]), weights
        self._counts = np.concatenate([c for _, c in self.values])

    def _typical(self, j):
        values, counts = self.values[j]
        if j in self.category_map:
            return values[np.argmax(counts)]  # the most common category
        return float(np.median(self.reference[:, j]))

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        return cls(data["rows"], data["features"], data["category_map"])

    def to_json(self):
        return json.dumps({
            "features": self.features, "band": list(BAND), "category_map": {str(i): n for i, n in
                                                                              self.category_map.items()},
            "rows": self.reference.tolist()}, indent=1) + "\n"  # fmt: skip

    def gains(self, p_approved, rows, chunk=400):
        """P(approved) of each row, the change of it for each distinct reference value of each feature
        (in ``values`` order), and its mean per feature over the references: the feature's gain."""
        rows = np.asarray(rows, dtype=float)
        columns, values, weights = self._substitutions
        p, deltas = np.empty(len(rows)), np.empty((len(rows), len(columns)))
        for start in range(0, len(rows), chunk):  # one model call per chunk; memory bounded
            part = rows[start:start + chunk]
            batch = np.repeat(part[:, None, :], len(columns) + 1, axis=1)
            batch[:, 1 + np.arange(len(columns)), columns] = values
            scores = np.asarray(p_approved(batch.reshape(-1, rows.shape[1])), dtype=float).reshape(len(part), -1)
            p[start:start + chunk] = scores[:, 0]
            deltas[start:start + chunk] = scores[:, 1:] - scores[:, :1]
        return p, deltas, deltas @ weights

    def explain(self, p_approved, rows):
        """One record per row: decision, P(approved), and for a rejection its reasons and flags. A row that
        repeats is explained once (its records are the same object)."""
        rows, inverse = np.unique(np.asarray(rows, dtype=float), axis=0, return_inverse=True)
        p, deltas, gains = self.gains(p_approved, rows)
        records = [self._record(*args) for args in zip(rows, p, deltas, gains)]
        return [records[i] for i in np.ravel(inverse)]

    def _record(self, row, prob, delta, gain):
        record = {"decision": "approved" if prob > THRESHOLD else "rejected", "probability": float(prob),
                  "reasons": [], "flags": []}
        if prob > THRESHOLD:
            return record
        order = [j for j in np.argsort(-gain, kind="stable") if gain[j] > 0]
        for rank, j in enumerate(order):
            basis = self._prohibited(j, row)
            if basis:
                if rank < MAX_REASONS:
                    record["flags"].append({"feature": self.features[j], "basis": basis, "rank": rank + 1,
                                            "gain": round(float(gain[j]), 4)})
            elif len(record["reasons"]) < MAX_REASONS:
                record["reasons"].append(self._reason(j, row, delta, gain[j]))
        if not record["reasons"]:
            record["reasons"] = self._fallback(row, delta, gain)
        return record

    def _fallback(self, row, delta, gain):
        """When no citable feature raises the mean (only prohibited bases do, rare): the citable features
        some reference values raise the score for, ranked by the largest such rise."""
        columns = self._substitutions[0]
        best = np.array([delta[columns == j].max() for j in range(len(self.features))])
        order = [j for j in np.argsort(-best, kind="stable") if best[j] > 0 and not self._prohibited(j, row)]
        return [dict(self._reason(j, row, delta, gain[j]), ranked_by="largest rise") for j in order[:MAX_REASONS]]

    def _prohibited(self, j, row):
        name = self.features[j]
        if name == "age" and row[j] >= ELDERLY_AGE:
            return "age of an elderly applicant"
        return PROHIBITED.get(name)

    def _reason(self, j, row, delta, gain):
        name = self.features[j]
        code, sentence = CODES[name]
        reference = self._better(j, delta)
        if j not in self.category_map:
            sentence = sentence.format("low" if row[j] < reference else "high")
        return {"code": code, "feature": name, "sentence": sentence, "applicant": self.show(j, row[j]),
                "reference": self.show(j, reference), "gain": round(float(gain), 4)}

    def _better(self, j, delta):
        """The references' typical value of feature j among those that score this applicant higher: the
        most common category, or the median number (a gain > 0 means there is one)."""
        columns, values, _ = self._substitutions
        better = (columns == j) & (delta > 0)
        values, counts = values[better], self._counts[better]
        if j in self.category_map:
            return values[np.argmax(counts)]
        return values[np.searchsorted(np.cumsum(counts), counts.sum() / 2.0)]

    def show(self, j, value):
        if j in self.category_map:
            return self.category_map[j][int(value)]
        return "{:,.0f}".format(value) if float(value).is_integer() else "{:,.1f}".format(value)

    def with_typical(self, rows, features):
        """``rows`` with these features (names) set to the references' typical values."""
        rows = np.array(rows, dtype=float)
        for name in features:
            j = self.features.index(name)
            rows[:, j] = self.typical[j]
        return rows
