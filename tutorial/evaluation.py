"""Repeated metric blocks of the notebook, in one place."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_score, recall_score


def classification_summary(y_true, y_pred, name: str = "model") -> pd.DataFrame:
    """One row of the metrics that tell a useful model from one that rejects everybody."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    row = {
        "rows": len(y_true),
        "accuracy": accuracy_score(y_true, y_pred),
        "balanced accuracy": balanced_accuracy_score(y_true, y_pred),
        "precision": precision_score(y_true, y_pred, zero_division=0),
        "recall (approved found)": recall_score(y_true, y_pred, zero_division=0),
        "approval rate, actual": y_true.mean(),
        "approval rate, predicted": y_pred.mean(),
    }
    return pd.DataFrame([row], index=[name]).round(3)
