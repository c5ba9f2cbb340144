"""Loading the UCI Adult census data as the loan-approval data set of the tutorial.

"loan" is 1 when income is >50K; race and sex are called ethnicity and gender. Every call returns
both a display frame (readable strings, for plots and tables) and a model frame (numbers, for models
and explainers), with alibi's ``category_map`` ({column index: [category names]}).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

RAW_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
    "native-country", "income",
]
RENAMED = {"race": "ethnicity", "sex": "gender"}
# fnlwgt is a census sampling weight, not a property of the applicant; education-num repeats
# education as a number, so the readable category is kept.
DROPPED = ["fnlwgt", "education-num"]

FEATURES = [
    "age", "workclass", "education", "marital-status", "occupation", "relationship", "ethnicity",
    "gender", "capital-gain", "capital-loss", "hours-per-week", "native-country",
]
CATEGORICAL = [
    "workclass", "education", "marital-status", "occupation", "relationship", "ethnicity",
    "gender", "native-country",
]
NUMERIC = [f for f in FEATURES if f not in CATEGORICAL]
TARGET = "loan"
FILES = {"train": "adult.data", "test": "adult.test"}


@dataclass
class AdultData:
    """One split of the data, in two views that share the row index."""

    display: pd.DataFrame  # readable: categories as strings, loan as 0/1
    model: pd.DataFrame  # numeric: categories as codes 0..k-1, loan as 0/1
    category_map: dict[int, list[str]]  # alibi's shape: feature index -> category names

    @property
    def feature_names(self) -> list[str]:
        return list(FEATURES)

    @property
    def X(self) -> np.ndarray:
        """Model features as a float array, columns in ``FEATURES`` order."""
        return self.model[FEATURES].to_numpy(dtype=float)

    @property
    def y(self) -> np.ndarray:
        return self.model[TARGET].to_numpy()

    def __len__(self) -> int:
        return len(self.model)

    def subset(self, index) -> "AdultData":
        """The rows with these index labels, in both views."""
        return AdultData(self.display.loc[index], self.model.loc[index], self.category_map)


def read_raw(split: str, data_dir: Path | str = DATA_DIR) -> pd.DataFrame:
    """One original file as strings and numbers, "?" read as missing, labels without the test "."."""
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, not {split!r}")
    path = Path(data_dir) / FILES[split]
    frame = pd.read_csv(
        path,
        header=None,
        names=RAW_COLUMNS,
        sep=",",
        skipinitialspace=True,
        na_values="?",
        # adult.test opens with a line "|1x3 Cross validator".
        skiprows=1 if split == "test" else 0,
        skip_blank_lines=True,
    )
    frame["income"] = frame["income"].str.rstrip(".")
    return frame


def categories(data_dir: Path | str = DATA_DIR) -> dict[str, list[str]]:
    """Sorted category names of each categorical feature, over both files, so codes agree."""
    both = pd.concat([read_raw(s, data_dir) for s in FILES]).rename(columns=RENAMED)
    return {c: sorted(both[c].dropna().unique().tolist()) for c in CATEGORICAL}


def load_adult(
    split: str = "train",
    n_rows: int | None = None,
    seed: int = 0,
    dropna: bool = True,
    data_dir: Path | str = DATA_DIR,
) -> AdultData:
    """Load one split as display and model frames.

    ``n_rows`` takes a random sample of that many rows (the fast-mode knob); ``dropna`` drops the
    rows with a missing value ("?"): 30,162 of 32,561 training rows and 15,060 of 16,281 test rows
    remain. With ``dropna=False`` a missing category is coded -1 in the model frame.
    """
    raw = read_raw(split, data_dir).rename(columns=RENAMED)
    if dropna:
        raw = raw.dropna()
    raw = raw.reset_index(drop=True)
    if n_rows is not None and n_rows < len(raw):
        # Keep file order, renumber 0..n-1: xai's splitters use the index as row positions.
        raw = raw.sample(n=n_rows, random_state=seed).sort_index().reset_index(drop=True)

    cats = categories(data_dir)
    display = raw[FEATURES].copy()
    for c in CATEGORICAL:
        display[c] = pd.Categorical(display[c], categories=cats[c])
    display[TARGET] = (raw["income"] == ">50K").astype(int)

    model = display.copy()
    for c in CATEGORICAL:
        model[c] = display[c].cat.codes.astype(int)
    category_map = {FEATURES.index(c): cats[c] for c in CATEGORICAL}
    return AdultData(display=display, model=model, category_map=category_map)


def to_display(X: np.ndarray, category_map: dict[int, list[str]]) -> pd.DataFrame:
    """Rows of model features (codes) back as a readable frame, for tables of applicants."""
    X = np.atleast_2d(X)
    frame = pd.DataFrame(X, columns=FEATURES)
    for i, names in category_map.items():
        col = FEATURES[i]
        frame[col] = [names[int(round(v))] for v in frame[col]]
    for col in NUMERIC:
        frame[col] = frame[col].round(0).astype(int)
    return frame


def to_model_features(frame: pd.DataFrame, category_map: dict[int, list[str]]) -> np.ndarray:
    """Model features (codes, in ``FEATURES`` order) of a display frame, by category *name*: the
    inverse of ``to_display``, for display rows made elsewhere (xai.balance returns such rows).

    Coding by name (not by pandas' category codes) keeps the codes of ``load_adult`` even if a frame
    lost its categorical dtype on the way.
    """
    columns = []
    for i, feature in enumerate(FEATURES):
        if feature in CATEGORICAL:
            lookup = {name: code for code, name in enumerate(category_map[i])}
            columns.append(frame[feature].astype(str).map(lookup).to_numpy(dtype=float))
        else:
            columns.append(frame[feature].to_numpy(dtype=float))
    X = np.column_stack(columns)
    if np.isnan(X).any():
        raise ValueError("a category name is not in category_map")
    return X


def skewed_sample(data: AdultData, n_approved: int = 100, n_rejected: int = 7_900, seed: int = 0) -> AdultData:
    """The naive project's training sample: very few approved loans, as in the talk's story."""
    rng = np.random.default_rng(seed)
    approved = data.model.index[data.model[TARGET] == 1]
    rejected = data.model.index[data.model[TARGET] == 0]
    n_approved, n_rejected = min(n_approved, len(approved)), min(n_rejected, len(rejected))
    index = np.concatenate([rng.choice(approved, n_approved, replace=False),
                            rng.choice(rejected, n_rejected, replace=False)])
    return data.subset(np.sort(index))
