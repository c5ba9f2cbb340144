import numpy as np
import pytest

from tutorial.data import CATEGORICAL, FEATURES, NUMERIC, load_adult, read_raw, skewed_sample, to_display


@pytest.fixture(scope="module")
def train():
    return load_adult("train")


@pytest.fixture(scope="module")
def test_split():
    return load_adult("test")


def test_row_counts_match_the_documented_files():
    assert len(read_raw("train")) == 32_561
    assert len(read_raw("test")) == 16_281  # the "|1x3 Cross validator" line is not a row


def test_complete_rows_and_missing_values(train, test_split):
    assert (len(train), len(test_split)) == (30_162, 15_060)
    with_missing = load_adult("train", dropna=False)
    assert len(with_missing) == 32_561
    # "?" is missing, never a category; the model frame codes it -1.
    assert "?" not in with_missing.category_map[FEATURES.index("workclass")]
    assert (with_missing.model["workclass"] == -1).sum() == with_missing.display["workclass"].isna().sum() > 0


def test_loan_label_ignores_the_test_files_full_stop(train, test_split):
    assert set(np.unique(train.y)) == {0, 1} and set(np.unique(test_split.y)) == {0, 1}
    assert 0.24 < train.y.mean() < 0.26
    assert 0.24 < test_split.y.mean() < 0.26


def test_renamed_columns_and_dropped_weight(train):
    assert {"ethnicity", "gender"} <= set(train.display.columns)
    assert not {"race", "sex", "fnlwgt", "income"} & set(train.display.columns)
    assert train.category_map[FEATURES.index("gender")] == ["Female", "Male"]


def test_category_map_has_alibis_shape_and_agrees_between_splits(train, test_split):
    assert train.category_map == test_split.category_map
    assert sorted(train.category_map) == [FEATURES.index(c) for c in CATEGORICAL]
    for index, names in train.category_map.items():
        codes = train.model[FEATURES[index]]
        assert codes.min() >= 0 and codes.max() < len(names)
        # the code points at the same name the display frame shows
        shown = train.display[FEATURES[index]].astype(str)
        assert (np.array(names)[codes.to_numpy()] == shown.to_numpy()).all()


def test_model_frame_is_numeric_and_display_round_trips(train):
    assert train.X.dtype == float and train.X.shape == (30_162, len(FEATURES))
    back = to_display(train.X[:50], train.category_map)
    expected = train.display[FEATURES].head(50).astype({c: str for c in CATEGORICAL}).reset_index(drop=True)
    assert back.astype({c: int for c in NUMERIC}).equals(expected.astype({c: int for c in NUMERIC}))


def test_fast_mode_sample_is_reproducible_and_positional():
    a, b = load_adult("train", n_rows=500, seed=1), load_adult("train", n_rows=500, seed=1)
    assert len(a) == 500 and a.model.equals(b.model)
    assert list(a.model.index) == list(range(500))  # xai's splitters use index labels as positions
    assert not a.model.equals(load_adult("train", n_rows=500, seed=2).model)


def test_skewed_sample_has_the_storys_proportions(train):
    skewed = skewed_sample(train, n_approved=100, n_rejected=7_900, seed=0)
    assert len(skewed) == 8_000 and skewed.y.sum() == 100


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="split must be one of"):
        load_adult("validation")
