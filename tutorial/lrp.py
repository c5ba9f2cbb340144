"""Layer-wise relevance propagation (LRP) of the Keras income model with innvestigate (TF graph mode).

LRP sends the model's output back through the network, layer by layer, onto the input columns. Here
the one-hot columns of a feature are added back up, so each applicant gets one relevance per feature.
Truncating the model after each Dense layer shows what the layers in between already "look at";
weights captured after each training epoch show how that forms while the model learns.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tensorflow import keras

from .encoding import EncodedLayout

DENSE_LAYERS = ("dense_0", "dense_1", "logits")
APPROVED = 1  # index of the "loan approved" logit


class LayerRelevance:
    """LRP analyzers for the model truncated after each of ``layers``, built once.

    The truncated models share their layers (and so their weights) with ``model``: after
    ``model.set_weights(...)`` the same analyzers explain the new weights.
    For a hidden layer the relevance that is sent back is the layer's whole activation; for the
    logits it is the "approved" logit only.
    """

    def __init__(self, model, layout: EncodedLayout, layers=DENSE_LAYERS, method: str = "lrp.epsilon"):
        import innvestigate

        self.layout, self.layers, self.method = layout, list(layers), method
        self.analyzers = {}
        for name in self.layers:
            truncated = keras.Model(model.inputs, model.get_layer(name).output, name=f"up_to_{name}")
            mode = "index" if name == "logits" else "all"
            self.analyzers[name] = innvestigate.create_analyzer(method, truncated, neuron_selection_mode=mode)

    def per_feature(self, X_encoded: np.ndarray, layer: str = "logits") -> pd.DataFrame:
        """Signed relevance of each feature for each row (one-hot columns summed), rows x 12 features."""
        analyzer = self.analyzers[layer]
        if layer == "logits":
            relevance = analyzer.analyze(X_encoded, neuron_selection=APPROVED)
        else:
            relevance = analyzer.analyze(X_encoded)
        return feature_relevance(relevance, self.layout)

    def shares(self, X_encoded: np.ndarray) -> pd.DataFrame:
        """Share of the absolute relevance on each feature, averaged over rows: layers x features."""
        shares = {name: relevance_share(self.per_feature(X_encoded, name)) for name in self.layers}
        return pd.DataFrame(shares).T


def feature_relevance(relevance: np.ndarray, layout: EncodedLayout) -> pd.DataFrame:
    """Relevance of encoded columns added up per feature (a one-hot block becomes one number)."""
    columns = pd.DataFrame(relevance, columns=layout.column_features)
    return columns.T.groupby(level=0, sort=False).sum().T


def relevance_share(per_feature: pd.DataFrame) -> pd.Series:
    """Each feature's share of a row's absolute relevance, averaged over rows (sums to 1)."""
    absolute = per_feature.abs()
    return absolute.div(absolute.sum(axis=1).replace(0, np.nan), axis=0).mean()


def plot_relevance_heatmap(table: pd.DataFrame, title: str = "", ax=None, vmax: float | None = None,
                           highlight=("gender", "ethnicity")):
    """Heatmap of a (rows x features) table of relevance shares, with the values written in."""
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 1.0 + 0.6 * len(table)))
    values = table.to_numpy(dtype=float)
    vmax = vmax or values.max()
    image = ax.imshow(values, cmap="Reds", aspect="auto", vmin=0, vmax=vmax)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=40, ha="right", fontsize=14)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=14)
    for label in ax.get_xticklabels():
        if label.get_text() in highlight:
            label.set_fontweight("bold")
    for (i, j), v in np.ndenumerate(values):
        # White on the dark half of the colour map, black on the light half: legible on every cell.
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=14,
                color="white" if v > 0.55 * vmax else "black")
    ax.set_title(title, fontsize=16)
    colorbar = ax.figure.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    colorbar.ax.tick_params(labelsize=14)
    return ax.figure


class WeightHistory(keras.callbacks.Callback):
    """A Keras callback keeping a copy of the weights before training and after every epoch."""

    def __init__(self):
        super().__init__()
        self.weights = []  # weights[0]: before training; weights[e]: after epoch e

    def on_train_begin(self, logs=None):
        if not self.weights:
            self.weights.append(self.model.get_weights())

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def relevance_over_epochs(model, weights: list, relevance: LayerRelevance, X_encoded: np.ndarray) -> list:
    """Layer x feature relevance shares for each captured set of weights (``model`` is overwritten)."""
    tables = []
    for w in weights:
        model.set_weights(w)
        tables.append(relevance.shares(X_encoded))
    return tables


def write_gif(tables: list[pd.DataFrame], path: Path | str, title: str = "LRP relevance share, epoch {epoch}",
              duration_ms: int = 500, dpi: int = 100) -> Path:
    """An animated GIF of the heatmaps (frame e: the table after epoch e), written with Pillow."""
    from PIL import Image

    vmax = max(float(t.to_numpy().max()) for t in tables)
    frames = []
    for epoch, table in enumerate(tables):
        fig, ax = plt.subplots(figsize=(12, 1.4 + 0.6 * len(table)))
        plot_relevance_heatmap(table, title.format(epoch=epoch), ax=ax, vmax=vmax)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        plt.close(fig)
        buffer.seek(0)
        frames.append(Image.open(buffer).convert("P", palette=Image.ADAPTIVE))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)
    return path


def impurity_importance(rf_pipeline, layout: EncodedLayout) -> pd.Series:
    """The forest's impurity importance, one-hot columns added up per feature (sums to 1)."""
    forest = rf_pipeline.named_steps["classifier"]
    per_column = pd.Series(forest.feature_importances_, index=layout.column_features)
    return per_column.groupby(level=0, sort=False).sum()


def compare_importances(importances: dict[str, pd.Series]) -> pd.DataFrame:
    """Side by side: each method's importance as a share of its total, and each method's rank (1 = top)."""
    shares = pd.DataFrame({name: s.clip(lower=0) / s.clip(lower=0).sum() for name, s in importances.items()})
    ranks = shares.rank(ascending=False, method="min").astype(int).add_prefix("rank: ")
    return pd.concat([shares.round(3), ranks], axis=1).sort_values(f"rank: {next(iter(importances))}")


def signed_gap(per_feature: pd.DataFrame, groups, feature: str = "gender", first: str = "Female",
               second: str = "Male") -> float:
    """How much more ``feature`` pushes ``second`` than ``first`` towards approval: its signed relevance for
    the "approved" logit averaged per group, ``second`` minus ``first``, in logits (0.1 is a factor of
    about 1.1 on the odds of approval)."""
    by_group = per_feature[feature].groupby(np.asarray(groups)).mean()
    return float(by_group[second] - by_group[first])


def untrained_gaps(build, layout: EncodedLayout, X_encoded: np.ndarray, groups, seeds, **kwargs) -> np.ndarray:
    """``signed_gap`` of untrained networks ``build(seed)``: what the gap looks like when nothing was learnt.

    Each network gets its own TF1 graph and session: analyzers added to the notebook's shared graph get
    slower with every op already in it.
    """
    import tensorflow as tf

    gaps = []
    for seed in seeds:
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph).as_default() as session:
            relevance = LayerRelevance(build(seed), layout, layers=["logits"])
            gaps.append(signed_gap(relevance.per_feature(X_encoded, "logits"), groups, **kwargs))
        session.close()
    return np.array(gaps)
