import numpy as np
import pytest

from tutorial.data import FEATURES, load_adult
from tutorial.models import build_keras_model, build_preprocessor, build_rf_pipeline


@pytest.fixture(scope="module")
def sample():
    return load_adult("train", n_rows=2_000, seed=0)


def test_preprocessor_one_hot_encodes_every_known_category(sample):
    pre = build_preprocessor(sample.category_map).fit(sample.X[:50])  # a few rows miss most categories
    width = sum(len(names) for names in sample.category_map.values()) + (len(FEATURES) - len(sample.category_map))
    assert pre.transform(sample.X).shape == (len(sample), width)


def test_preprocessor_rejects_an_unknown_code(sample):
    pre = build_preprocessor(sample.category_map).fit(sample.X)
    row = sample.X[:1].copy()
    row[0, FEATURES.index("gender")] = 7
    with pytest.raises(ValueError):
        pre.transform(row)


def test_rf_pipeline_takes_plain_arrays_and_is_reproducible(sample):
    a = build_rf_pipeline(sample.category_map, n_estimators=10, seed=0).fit(sample.X, sample.y)
    b = build_rf_pipeline(sample.category_map, n_estimators=10, seed=0).fit(sample.X, sample.y)
    proba = a.predict_proba(sample.X[:100])
    assert proba.shape == (100, 2) and np.allclose(proba.sum(axis=1), 1)
    # same trees; predict_proba sums them in thread order, so compare to float precision
    assert np.allclose(proba, b.predict_proba(sample.X[:100]))
    assert np.array_equal(a.predict(sample.X), b.predict(sample.X))
    assert a.score(sample.X, sample.y) > 0.8


def test_keras_model_outputs_two_class_probabilities_with_a_separate_softmax():
    model = build_keras_model(20, seed=0)
    assert model.output_shape == (None, 2)
    assert model.layers[-1].name == "probabilities" and model.layers[-2].name == "logits"
