"""Fidelity of principal reasons as a notice cites them: does changing what the notice names move the model
the way the notice says?

Two shares over the rejections that get a notice, on the model that decided:

- the top cited reason alone, set to the value the notice prints beside the applicant's, raises P(approved);
- the cited reasons together raise it more than as many other citable inputs drawn at random: each set is
  substituted jointly from every reference applicant's row and P(approved) averaged over the references
  (for one input this is its gain, the quantity the reasons are ranked by).

A reversed ranking, or references that are not approved applicants, fail them.
"""

import itertools

import numpy as np


def _joint(p_approved, reasons, rows, sets, chunk=40):
    """Per row, the mean P(approved) over the references when the row's set of inputs takes each reference's
    values jointly: one model call per ``chunk`` rows."""
    n_ref, out = len(reasons.reference), []
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        batch = np.repeat(part[:, None, :], n_ref, axis=1)
        for k, columns in enumerate(sets[start:start + chunk]):
            batch[k][:, columns] = reasons.reference[:, columns]
        scores = np.asarray(p_approved(batch.reshape(-1, rows.shape[1])), dtype=float)
        out.append(scores.reshape(len(part), n_ref).mean(axis=1))
    return np.concatenate(out) if out else np.array([])


def fidelity(p_approved, reasons, rows, records, citable, seed=0):
    """The two shares over the rejections in ``rows`` whose ``records`` (``reasons.explain``) carry a notice;
    ``citable``: the names of the inputs a notice may cite. The random set is a seeded draw per row among the
    sets of citable inputs other than the cited one; a row whose cited set is every citable input is not
    compared (counted in "compared with random inputs")."""
    rows = np.asarray(rows, dtype=float)
    index = {name: j for j, name in enumerate(reasons.features)}
    citable = [index[name] for name in citable]
    rng = np.random.default_rng(seed)
    noticed = [(row, record) for row, record in zip(rows, records) if not record["held"] and record["reasons"]]
    if not noticed:
        return {"notices": 0}
    before = np.asarray(p_approved(np.array([row for row, _ in noticed])), dtype=float)
    top = np.array([row for row, _ in noticed])
    for one, (_, record) in zip(top, noticed):
        one[index[record["reasons"][0]["feature"]]] = record["reasons"][0]["reference_value"]
    compared, cited, drawn = [], [], []
    for row, record in noticed:
        mine = [index[r["feature"]] for r in record["reasons"]]
        others = [c for c in itertools.combinations(citable, len(mine)) if set(c) != set(mine)]
        if others:
            compared.append(row)
            cited.append(mine)
            drawn.append(list(others[rng.integers(len(others))]))
    compared = np.array(compared).reshape(-1, rows.shape[1])
    beat = _joint(p_approved, reasons, compared, cited) > _joint(p_approved, reasons, compared, drawn)
    return {"notices": len(noticed),
            "top cited reason raises P(approved)": float(np.mean(np.asarray(p_approved(top)) > before)),
            "compared with random inputs": len(compared),
            "cited reasons beat as many random citable inputs": float(np.mean(beat)) if len(beat) else 0.0}
