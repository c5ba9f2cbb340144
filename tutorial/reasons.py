"""The notebook's view of principal reasons: flags by gender with bootstrap intervals, the approval gap,
and a model trained without the prohibited inputs. The reasons themselves live in pipeline/loan_reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.loan_reasons.reason_codes import PROHIBITED

from .fairness import _quantiles, blinded, bootstrap_rows, with_interval

DIRECT = ["gender", "ethnicity", "marital-status", "native-country"]  # relationship is left: the proxy


def flags_matrix(records: list[dict], features=(*PROHIBITED, "age")) -> pd.DataFrame:
    """One row per explained rejection, one boolean column per flaggable feature."""
    flagged = [{f["feature"] for f in record["flags"]} for record in records]
    return pd.DataFrame([[name in row for name in features] for row in flagged], columns=list(features))


def flag_shares(records: list[dict], genders, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Per gender: rejections, and the share of them flagged for each basis (any, then by feature), with
    95% bootstrap intervals over the rejections."""
    flags = flags_matrix(records)
    flags.insert(0, "any prohibited basis", flags.any(axis=1))
    genders = np.asarray(genders)
    table = {}
    for gender in sorted(set(genders)):
        mine = flags[genders == gender].to_numpy(dtype=float)
        boot = np.array([mine[rows].mean(axis=0) for rows in bootstrap_rows(len(mine), n_boot, seed)])
        low, high = _quantiles(boot, axis=0)
        table[gender] = {"rejections": f"{len(mine):,}"} | {
            name: with_interval(v, lo, hi) for name, v, lo, hi in zip(flags.columns, mine.mean(axis=0), low, high)}
    return pd.DataFrame(table).T


def approval_gap(approved, genders, n_boot: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """Men's approval rate minus women's, with a 95% bootstrap interval over the applicants."""
    approved, men = np.asarray(approved, dtype=float), np.asarray(genders) == "Male"

    def gap(rows):
        return approved[rows][men[rows]].mean() - approved[rows][~men[rows]].mean()

    value = gap(np.arange(len(approved)))
    low, high = _quantiles(np.array([gap(rows) for rows in bootstrap_rows(len(approved), n_boot, seed)]))
    return value, low, high


def blind(X) -> np.ndarray:
    """Rows with the direct prohibited inputs set to one constant: a forest trained and scored on these
    cannot split on them (the same as dropping the columns, with the same row layout)."""
    return blinded(np.asarray(X, dtype=float), DIRECT)


def top_reason_changed(rows_a, records_a: list[dict], rows_b, records_b: list[dict]) -> float:
    """Share of applicants rejected by both models (rows found in both lists) whose first cited reason differs."""
    first_b = {tuple(row): r["reasons"][0]["feature"] for row, r in zip(np.asarray(rows_b).tolist(), records_b)
               if r["reasons"]}
    changed = [r["reasons"][0]["feature"] != first_b[tuple(row)]
               for row, r in zip(np.asarray(rows_a).tolist(), records_a) if r["reasons"] and tuple(row) in first_b]
    return float(np.mean(changed))
