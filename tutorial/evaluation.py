"""Repeated metric blocks of the notebook, in one place."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    balanced_accuracy_score,
    precision_score,
    recall_score,
)

OUTCOMES = ["rejected", "approved"]  # label 0, label 1


def classification_summary(y_true, y_pred, name: str = "model") -> pd.DataFrame:
    """One row of the metrics that tell a useful model from one that rejects everybody."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    row = {
        "rows": len(y_true),
        "accuracy": accuracy_score(y_true, y_pred),
        "accuracy of rejecting everybody": 1 - y_true.mean(),
        "balanced accuracy": balanced_accuracy_score(y_true, y_pred),
        "precision": precision_score(y_true, y_pred, zero_division=0),
        "recall (approved found)": recall_score(y_true, y_pred, zero_division=0),
        "approval rate, actual": y_true.mean(),
        "approval rate, predicted": y_pred.mean(),
    }
    return pd.DataFrame([row], index=[name]).round(3)


def plot_confusion_matrix(y_true, y_pred, title: str):
    """Counts of decisions: actual outcome on the rows, the model's decision on the columns (scikit-learn's
    ConfusionMatrixDisplay; xai's confusion_matrix_plot labels its axes the other way round)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=[0, 1], display_labels=OUTCOMES, ax=ax,
                                            values_format=",d", colorbar=False, cmap="Blues")
    ax.set_xlabel("decided by the model")
    ax.set_ylabel("actual outcome")
    ax.set_title(title)
    fig.tight_layout()
    return fig


_BETWEEN = re.compile(r"^(?P<low>-?[\d.]+) < (?P<feature>.+) <= (?P<high>-?[\d.]+)$")
_COMPARE = re.compile(r"^(?P<feature>.+?) (?P<op><=|>|<|>=|=) (?P<value>.+)$")


def rule_matches(frame: pd.DataFrame, predicates) -> np.ndarray:
    """Rows of ``frame`` (readable values, as ``AdultData.display``) that satisfy every predicate of an
    alibi anchor (``"age <= 28.00"``, ``"37.00 < age <= 47.00"``, ``"relationship = Husband"``)."""
    mask = np.ones(len(frame), dtype=bool)
    for predicate in predicates:
        between = _BETWEEN.match(predicate)
        if between:
            column = frame[between["feature"]].astype(float)
            mask &= (column > float(between["low"])).to_numpy() & (column <= float(between["high"])).to_numpy()
            continue
        parts = _COMPARE.match(predicate)
        if parts is None:
            raise ValueError(f"not an anchor predicate: {predicate!r}")
        column, op, value = frame[parts["feature"]], parts["op"], parts["value"]
        if op == "=":
            mask &= (column.astype(str) == value).to_numpy()
        else:
            number = column.astype(float)
            mask &= {"<=": number <= float(value), ">": number > float(value), "<": number < float(value),
                     ">=": number >= float(value)}[op].to_numpy()
    return mask
