"""Model builders: the shared preprocessor, the Keras income model and the RandomForest pipeline.

The preprocessor selects columns by position, so the fitted pipeline takes plain arrays of model
features (codes and numbers, in ``data.FEATURES`` order): the same rows the REST service receives.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .data import FEATURES


def build_preprocessor(category_map: dict[int, list[str]], inputs=None) -> ColumnTransformer:
    """One-hot encode the categorical codes, standardise the numbers; ``inputs`` (names): only those
    columns, the others are dropped (the rows keep the same layout)."""
    used = [i for i, name in enumerate(FEATURES) if inputs is None or name in inputs]
    cat_idx = [i for i in sorted(category_map) if i in used]
    num_idx = [i for i in used if i not in category_map]
    # Fixed categories: every code is known up front, so a row missing a rare category in the
    # training sample still encodes, and an unknown code is an error rather than a silent zero.
    encoder = OneHotEncoder(
        categories=[list(range(len(category_map[i]))) for i in cat_idx],
        handle_unknown="error",
        sparse_output=False,
        dtype=np.float32,
    )
    return ColumnTransformer([("categorical", encoder, cat_idx), ("numeric", StandardScaler(), num_idx)])


def build_rf_pipeline(
    category_map, n_estimators: int = 50, min_samples_leaf: int = 3, seed: int = 0, n_jobs: int | None = 1,
    inputs=None,
) -> Pipeline:
    """Preprocessor + RandomForest: the model that is explained with Anchors and served.

    Leaves of at least 3 rows: on adult.test that scores 0.859 against 0.839 for full-depth trees,
    and pickles to ~7 MB instead of ~44 MB, which also makes the served model faster.
    One thread: joblib's thread pool costs more than 50 small trees on the batches Anchors and the
    service send (15 ms against 2.5 ms a row, scripts/bench_serving.py); fitting takes ~1 s anyway.
    """
    forest = RandomForestClassifier(
        n_estimators=n_estimators, min_samples_leaf=min_samples_leaf, random_state=seed, n_jobs=n_jobs
    )
    return Pipeline([("preprocessor", build_preprocessor(category_map, inputs)), ("classifier", forest)])


def scored_inputs(pipeline: Pipeline) -> list[str]:
    """The names of the inputs a fitted or unfitted pipeline of ``build_rf_pipeline`` scores."""
    columns = {i for _, _, idx in pipeline.named_steps["preprocessor"].transformers for i in idx}
    return [name for i, name in enumerate(FEATURES) if i in columns]


def set_seeds(seed: int = 0) -> None:
    """Python, NumPy and TensorFlow seeds, and deterministic TensorFlow ops."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.compat.v1.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_keras_model(n_inputs: int, seed: int = 0, hidden=(64, 32), dropout: float = 0.2):
    """A small dense network with a two-class softmax output.

    Two outputs (not one sigmoid) because alibi's counterfactual methods expect class
    probabilities, and the softmax is a separate layer so LRP can strip it.
    """
    from tensorflow import keras

    init = keras.initializers.GlorotUniform(seed=seed)
    layers = [keras.layers.Input(shape=(n_inputs,), name="applicant")]
    for i, width in enumerate(hidden):
        layers.append(keras.layers.Dense(width, activation="relu", kernel_initializer=init, name=f"dense_{i}"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout, seed=seed, name=f"dropout_{i}"))
    layers.append(keras.layers.Dense(2, kernel_initializer=init, name="logits"))
    layers.append(keras.layers.Activation("softmax", name="probabilities"))
    model = keras.Sequential(layers, name="income_model")
    # The legacy optimizer: the notebook runs in TF1 graph mode (for alibi and innvestigate),
    # where the new Keras optimizers cannot build a training function.
    model.compile(
        optimizer=keras.optimizers.legacy.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model
