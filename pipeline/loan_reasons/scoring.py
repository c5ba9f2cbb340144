"""Age as 1002.6(b)(2)(ii) lets an empirically derived system score it: an elderly applicant (62 or older,
1002.2(o)) never gets a value for age less favourable than the most favoured age below 62.

The served model scores a 62+ applicant at whichever age of 18..61, or their own, gives the highest
P(approved): exact for every model, at the cost of 44 more rows per elderly applicant.
"""

import numpy as np

from .reason_codes import CAPACITY_AGE, ELDERLY_AGE


def elderly_floor(predict_proba, rows, age_column):
    """``predict_proba(rows)`` (n, 2), each applicant aged 62+ scored at their most favoured age."""
    rows = np.asarray(rows, dtype=float)
    p = np.array(predict_proba(rows), dtype=float)
    elderly = np.flatnonzero(rows[:, age_column] >= ELDERLY_AGE)
    if not len(elderly):
        return p
    ages = np.arange(CAPACITY_AGE, ELDERLY_AGE, dtype=float)
    trial = np.repeat(rows[elderly], len(ages), axis=0)
    trial[:, age_column] = np.tile(ages, len(elderly))
    best = np.asarray(predict_proba(trial), dtype=float)[:, 1].reshape(len(elderly), len(ages)).max(axis=1)
    higher = best > p[elderly, 1]
    p[elderly[higher]] = np.column_stack([1.0 - best[higher], best[higher]])
    return p
