"""Where each of the 12 features lands in the preprocessor's output (one-hot blocks, then numbers).

``models.build_preprocessor`` puts the one-hot blocks of the categorical features first (in feature
order), then the standardised numeric features. Counterfactuals (alibi's ``cat_vars``) and LRP (adding
one-hot relevance back up to a feature) both need that map.
"""

from __future__ import annotations

from dataclasses import dataclass

from .data import FEATURES


@dataclass(frozen=True)
class EncodedLayout:
    features: list[str]  # the features in encoded order: categorical first, then numeric
    widths: list[int]  # encoded columns of each feature (number of categories, or 1)
    n_categorical: int  # the first n_categorical features are one-hot blocks

    @property
    def starts(self) -> list[int]:
        """First encoded column of each feature."""
        return [sum(self.widths[:i]) for i in range(len(self.widths))]

    @property
    def n_columns(self) -> int:
        return sum(self.widths)

    @property
    def cat_vars(self) -> dict[int, int]:
        """alibi's one-hot ``cat_vars``: first column of each one-hot block -> number of categories."""
        return {s: w for s, w, f in zip(self.starts, self.widths, self.features) if f in self.categorical}

    @property
    def categorical(self) -> list[str]:
        return self.features[: self.n_categorical]

    @property
    def column_features(self) -> list[str]:
        """The feature each encoded column belongs to."""
        return [f for f, w in zip(self.features, self.widths) for _ in range(w)]


def encoded_layout(category_map: dict[int, list[str]]) -> EncodedLayout:
    """The layout of ``build_preprocessor(category_map)``'s output."""
    cat_idx = sorted(category_map)
    num_idx = [i for i in range(len(FEATURES)) if i not in category_map]
    return EncodedLayout(
        features=[FEATURES[i] for i in cat_idx + num_idx],
        widths=[len(category_map[i]) for i in cat_idx] + [1] * len(num_idx),
        n_categorical=len(cat_idx),
    )
