"""Fidelity checks of principal reasons: do the top-ranked features move the model the way the ranking says?

Each check sets features of a rejected applicant to the references' typical values (most common
category, median number) and measures P(approved) on the model that decided. A ranking that is
reversed, or references that are not approved applicants, fail them.
"""

import numpy as np


def _with(reasons, rows, columns):
    rows = np.array(rows, dtype=float)
    index = np.arange(len(rows))[:, None]
    rows[index, columns] = reasons.typical[columns]
    return rows


def fidelity(p_approved, reasons, rows, gains, k=4, seed=0):
    """Shares of ``rows`` (rejections) where the top-ranked feature alone raises P(approved), and where the
    top ``k`` together raise it more than ``k`` features drawn at random (a seeded draw per row)."""
    rows = np.asarray(rows, dtype=float)
    order = np.argsort(-np.asarray(gains), axis=1, kind="stable")
    rng = np.random.default_rng(seed)
    drawn = np.array([rng.choice(rows.shape[1], k, replace=False) for _ in rows])
    p = np.asarray(p_approved(rows), dtype=float)
    top1 = np.asarray(p_approved(_with(reasons, rows, order[:, :1])), dtype=float)
    topk = np.asarray(p_approved(_with(reasons, rows, order[:, :k])), dtype=float)
    random_k = np.asarray(p_approved(_with(reasons, rows, drawn)), dtype=float)
    return {"top reason raises P(approved)": float(np.mean(top1 > p)),
            "top {} beat {} random".format(k, k): float(np.mean(topk > random_k))}
