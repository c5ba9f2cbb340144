"""Principal reasons for a rejection: an adaptation of Regulation B's cutoff method (comment 9(b)(2)-5).

The cutoff method compares a points system's score of each factor with the average score of that factor
among applicants at or slightly above the passing score. A forest has no per-factor score, so here each
input of a rejected applicant is replaced in turn by every reference applicant's value (references: held-out
applicants the model approves just above the threshold) and the mean change in P(approved) is that input's
gain. For an additive score (a points system, a logistic regression's logit) the gain is exactly the
reference average of the factor's points minus the applicant's: the cutoff method's ranking. For a model
with interactions it is an adaptation, and ``fidelity`` measures how well its reasons hold.

The four largest gains at or above a materiality floor are the principal reasons, none left out. When one of
them is a prohibited basis (a model that may not decide, served for the demo), or the age of an elderly
applicant, or no input reaches the floor, the rejection is held for review and no notice is given.
Numpy only, Python 3.8 (the serving image). Teaching material as of 2026-12, not legal advice.
"""

import json

import numpy as np

from .reason_codes import CODES, ELDERLY_AGE, PROHIBITED

MAX_REASONS = 4  # the official interpretation: more than four is not likely to be helpful
THRESHOLD = 0.5  # approved when P(approved) > 0.5, as the model service decides
BAND = (0.5, 0.6)  # "at or slightly above the minimum passing score"
FLOOR = 0.01  # a gain below this (in P(approved)) is not a principal reason (LOAN_REASON_FLOOR)
CAUSES = ("prohibited_basis", "elderly_age", "no_material_reason")  # why a rejection is held for review


def reference_set(p_approved, X, band=BAND, size=200, seed=0):
    """``size`` rows of ``X`` (held-out applicants; a fixed-seed sample, in their order; all of them if
    fewer) that the model approves with P(approved) in ``band``: above the threshold, and only just."""
    p = np.asarray(p_approved(X), dtype=float)
    candidates = np.flatnonzero((p > band[0]) & (p <= band[1]))
    if not len(candidates):
        raise ValueError("no row scores in {}".format(band))
    chosen = np.random.default_rng(seed).choice(candidates, min(size, len(candidates)), replace=False)
    return np.asarray(X, dtype=float)[np.sort(chosen)]


class Reasons:
    """The frozen reference set and what is derived from it: per-input values, typical values, codes."""

    def __init__(self, reference, features, category_map, floor=FLOOR, model_artefacts=""):
        self.reference = np.asarray(reference, dtype=float)
        self.features = list(features)
        self.category_map = {int(i): list(names) for i, names in category_map.items()}
        self.floor, self.model_artefacts = float(floor), model_artefacts
        # Each input's distinct reference values and their shares: the same mean as substituting every
        # reference row, in ~130 model rows per applicant instead of 200 x 12.
        self.values = [np.unique(column, return_counts=True) for column in self.reference.T]
        self.typical = np.array([self._typical(j) for j in range(len(self.features))])
        columns = np.concatenate([np.full(len(v), j) for j, (v, _) in enumerate(self.values)])
        weights = np.zeros((len(columns), len(self.features)))  # substitution k -> its share of input j
        weights[np.arange(len(columns)), columns] = np.concatenate([c for _, c in self.values]) / len(self.reference)
        self._substitutions = columns, np.concatenate([v for v, _ in self.values]), weights
        self._counts = np.concatenate([c for _, c in self.values])

    def _typical(self, j):
        values, counts = self.values[j]
        if j in self.category_map:
            return values[np.argmax(counts)]  # the most common category
        return float(np.median(self.reference[:, j]))

    @classmethod
    def from_json(cls, text, floor=FLOOR):
        data = json.loads(text)
        return cls(data["rows"], data["features"], data["category_map"], floor, data.get("model_artefacts", ""))

    def to_json(self):
        return json.dumps({
            "features": self.features, "band": list(BAND), "model_artefacts": self.model_artefacts,
            "category_map": {str(i): n for i, n in self.category_map.items()},
            "rows": self.reference.tolist()}, indent=1) + "\n"  # fmt: skip

    def gains(self, p_approved, rows, chunk=400):
        """P(approved) of each row, the change of it for each distinct reference value of each input
        (in ``values`` order), and its mean per input over the references: the input's gain."""
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
        """One record per row: decision, P(approved), and for a rejection its principal reasons, flags and
        whether it is held for review. A row that repeats is explained once (its records are one object)."""
        rows, inverse = np.unique(np.asarray(rows, dtype=float), axis=0, return_inverse=True)
        p, deltas, gains = self.gains(p_approved, rows)
        records = [self._record(*args) for args in zip(rows, p, deltas, gains)]
        return [records[i] for i in np.ravel(inverse)]

    def _record(self, row, prob, delta, gain):
        record = {"decision": "approved" if prob > THRESHOLD else "rejected", "probability": float(prob),
                  "reasons": [], "flags": [], "held": False, "cause": None}
        if prob > THRESHOLD:
            return record
        principal = [j for j in np.argsort(-gain, kind="stable")[:MAX_REASONS] if gain[j] >= self.floor]
        for rank, j in enumerate(principal):
            basis = self._prohibited(j, row)
            if basis:
                record["flags"].append({"feature": self.features[j], "basis": basis, "rank": rank + 1,
                                        "gain": round(float(gain[j]), 4)})
            else:
                record["reasons"].append(self._reason(j, row, delta, gain[j]))
        if record["flags"]:  # a notice would leave out a principal reason, or cite a basis it may not use
            elderly = all(f["feature"] == "age" for f in record["flags"])
            record["held"], record["cause"] = True, "elderly_age" if elderly else "prohibited_basis"
        elif not record["reasons"]:
            record["held"], record["cause"] = True, "no_material_reason"
        return record

    def _prohibited(self, j, row):
        name = self.features[j]
        if name == "age" and row[j] >= ELDERLY_AGE:
            return "age of an elderly applicant"
        return PROHIBITED.get(name)

    def _reason(self, j, row, delta, gain):
        name = self.features[j]
        code, factor = CODES[name]
        reference = self._better(j, delta)
        return {"code": code, "feature": name, "sentence": "{}: yours {}".format(factor, self.show(j, row[j])),
                "applicant": self.show(j, row[j]), "reference": self.show(j, reference),
                "reference_value": float(reference), "gain": round(float(gain), 4)}

    def _better(self, j, delta):
        """What the notice prints beside the applicant's value: the median (or the most common category)
        of the reference values of input j that, substituted alone, raise this applicant's P(approved).
        Not the median of all references: for a category or a mostly-zero amount that is often the
        applicant's own value. A gain > 0 means there is one."""
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
