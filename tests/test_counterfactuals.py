"""Counterfactual helpers. The alibi search needs TensorFlow's graph mode, which is process-wide while
other tests build Keras models eagerly, so that check runs in a child Python (this file as a script)."""


import numpy as np
import pandas as pd
import pytest
from graph_mode import main, run_in_graph_mode

from tutorial.counterfactuals import (
    CHANGED,
    batch_outcomes,
    before_after,
    change_distance,
    changed_features,
    compare_pairs,
    counterfactual_ranges,
    decode,
    describe_batch,
    describe_example,
    matched_near_threshold,
    summarise_by_gender,
)
from tutorial.data import FEATURES, load_adult
from tutorial.encoding import encoded_layout
from tutorial.models import build_preprocessor

FIXED = ["gender", "ethnicity", "native-country", "relationship", "marital-status"]


@pytest.fixture(scope="module")
def sample():
    return load_adult("train", n_rows=1_000, seed=0)


@pytest.fixture(scope="module")
def preprocessor(sample):
    return build_preprocessor(sample.category_map).fit(sample.X)


def test_layout_matches_the_preprocessor_output(sample, preprocessor):
    layout = encoded_layout(sample.category_map)
    encoded = preprocessor.transform(sample.X[:20])
    assert layout.n_columns == encoded.shape[1] == len(layout.column_features)
    for k, (feature, start, width) in enumerate(zip(layout.features, layout.starts, layout.widths)):
        if k < layout.n_categorical:
            assert layout.cat_vars[start] == width
            hot = encoded[:, start:start + width].argmax(axis=1)
            assert np.array_equal(hot, sample.X[:20, FEATURES.index(feature)])
    assert sorted(layout.features) == sorted(FEATURES)


def test_decode_inverts_the_preprocessor(sample, preprocessor):
    layout = encoded_layout(sample.category_map)
    assert np.array_equal(decode(preprocessor.transform(sample.X[:50]), preprocessor, layout), sample.X[:50])


def test_ranges_pin_fixed_features_and_let_age_only_grow(sample, preprocessor):
    layout = encoded_layout(sample.category_map)
    encoded = preprocessor.transform(sample.X)
    # stand-in category positions: a category's position is its code
    positions = {k: np.arange(w, dtype=float) for k, w in enumerate(layout.widths[:layout.n_categorical])}
    x = encoded[:1]
    low, high = counterfactual_ranges(x, layout, positions, encoded, fixed=FIXED, only_up=["age"])
    assert low.shape == high.shape == (1, len(FEATURES))
    for k, feature in enumerate(layout.features):
        if feature in FIXED:
            assert low[0, k] == high[0, k] == sample.X[0, FEATURES.index(feature)]
        elif feature == "age":
            assert low[0, k] == x[0, layout.starts[k]] and high[0, k] >= low[0, k]
        else:
            assert low[0, k] < high[0, k]


def test_before_after_table_names_categories_and_marks_changes(sample):
    x = sample.X[:1]
    cf = x.copy()
    cf[0, FEATURES.index("capital-gain")] += 5_000
    degrees = sample.category_map[FEATURES.index("education")]
    other = "Doctorate" if degrees[int(x[0, FEATURES.index("education")])] != "Doctorate" else "Masters"
    cf[0, FEATURES.index("education")] = degrees.index(other)
    table = before_after(x, cf, sample.category_map, 0.2, 0.7)
    assert table.loc["education", "after"] == other
    assert set(table.index[table[CHANGED] != ""]) == {"education", "capital-gain"}
    assert table.loc["P(approved)", "after"] == 0.7
    assert changed_features(x, cf) == ["education", "capital-gain"]
    assert (before_after(x, None, sample.category_map, 0.2, None)["after"] == "-").all()


def test_batch_pairs_each_woman_with_the_closest_man_once():
    rng = np.random.default_rng(0)
    proba = rng.random(400)
    gender = np.where(rng.random(400) < 0.4, "Female", "Male")
    batch = matched_near_threshold(proba, gender, n=10, low=0.2, high=0.5, seed=1)
    assert len(batch) == 20 and list(batch["gender"][:2]) == ["Female", "Male"]
    assert batch["row"].is_unique
    assert ((batch["P(approved)"] >= 0.2) & (batch["P(approved)"] < 0.5)).all()
    assert (gender[batch["row"]] == batch["gender"]).all()
    women, men = batch[batch.gender == "Female"], batch[batch.gender == "Male"]
    assert np.abs(women["P(approved)"].to_numpy() - men["P(approved)"].to_numpy()).max() < 0.05
    assert batch.equals(matched_near_threshold(proba, gender, n=10, low=0.2, high=0.5, seed=1))


def test_batch_keeps_its_pairs_when_one_applicant_leaves_the_candidates():
    """Another CPU moves the network's P(approved) a little: an applicant it no longer rejects leaves the
    candidates, and only the pairs that involved them change."""
    rng = np.random.default_rng(0)
    proba = rng.random(2_000)
    gender = np.where(rng.random(2_000) < 0.4, "Female", "Male")
    batch = matched_near_threshold(proba, gender, n=10, low=0.2, high=0.5, seed=1)
    eligible = np.ones(2_000, dtype=bool)
    eligible[batch["row"][2]] = False  # the second pair's woman
    other = matched_near_threshold(proba, gender, n=10, low=0.2, high=0.5, seed=1, eligible=eligible)
    assert batch["row"][2] not in set(other["row"])
    def pairs(b):
        return set(b.groupby("pair")["row"].apply(tuple))
    kept = pairs(batch) & pairs(other)
    assert len(kept) >= 8 and len(pairs(batch) - kept) <= 2, (batch, other)  # her pair, at most one more
    with pytest.raises(ValueError, match="eligible women"):
        matched_near_threshold(proba, gender, n=10, low=0.2, high=0.5, eligible=np.zeros(2_000, dtype=bool))


def test_batch_outcomes_count_changes_and_distance(sample, preprocessor):
    layout = encoded_layout(sample.category_map)
    X = sample.X[:4]
    cf = X[:1].copy()
    cf[0, FEATURES.index("hours-per-week")] += 10
    cf[0, FEATURES.index("workclass")] = (X[0, FEATURES.index("workclass")] + 1) % 3
    encoded = preprocessor.transform(X[:1])
    scale = preprocessor.named_transformers_["numeric"].scale_[layout.features[layout.n_categorical:].index(
        "hours-per-week")]
    assert change_distance(encoded, preprocessor.transform(cf), layout) == pytest.approx(1 + 10 / scale)

    batch = pd.DataFrame({"row": [0, 1, 2, 3], "gender": ["Female", "Male"] * 2, "pair": [0, 0, 1, 1],
                          "P(approved)": [0.3, 0.3, 0.4, 0.4]})
    found = {0: (cf, 1.0), 1: (None, 1.0), 2: (X[2:3], 1.0), 3: (X[3:4], 2.0)}
    approved = {0: 0.7, 2: 0.4, 3: 0.6}  # P(approved) of each counterfactual

    def predict(encoded_rows):
        if len(encoded_rows) == 4:  # the applicants themselves, before
            return np.array([0.31, 0.32, 0.33, 0.34])
        row = next(r for r, (codes, _) in found.items()
                   if codes is not None and np.allclose(preprocessor.transform(codes), encoded_rows))
        return np.array([approved[row]])

    outcomes = batch_outcomes(batch, found, X, preprocessor, layout, predict)
    assert list(outcomes["approved"]) == [True, False, False, True]
    assert list(outcomes["P before"]) == [0.31, 0.32, 0.33, 0.34]  # the searched model's, not the batch's
    assert outcomes.loc[0, "changes"] == 2 and outcomes.loc[0, "changed"] == "workclass, hours-per-week"
    assert outcomes.loc[3, "changes"] == 0 and np.isnan(outcomes.loc[2, "changes"])
    summary = summarise_by_gender(outcomes)
    assert summary.loc["Female", "share found"] == 0.5 and summary.loc["Male", "median changes"] == 0
    assert compare_pairs(outcomes) == {"pairs": 0, "woman more": 0, "equal": 0, "man more": 0, "sign test p": 1.0}
    outcomes.loc[1, "changes"] = 1
    assert compare_pairs(outcomes) == {"pairs": 1, "woman more": 1, "equal": 0, "man more": 0, "sign test p": 1.0}


def outcomes_of(changes_women, changes_men):
    """Outcomes of a batch: one pair per position, NaN = no approved counterfactual."""
    rows = []
    for pair, (w, m) in enumerate(zip(changes_women, changes_men)):
        for gender, c in [("Female", w), ("Male", m)]:
            rows.append({"row": len(rows), "gender": gender, "pair": pair, "P before": 0.3,
                         "P after": np.nan if np.isnan(c) else 0.6, "approved": not np.isnan(c), "changes": c,
                         "distance": c / 2, "changed": "occupation", "seconds": 1.0})
    return pd.DataFrame(rows)


def test_batch_text_says_what_the_batch_shows():
    more = describe_batch(outcomes_of([3, 4, 2, np.nan, 5, 5, 5, 5, 5], [2, 2, 2, 1, 1, 1, 1, 1, 1]), 0.2, 0.5)
    assert "for 8 of 9 women and 9 of 9 men" in more and "more changes in 7, as many in 1 and fewer in 0" in more
    assert "median P(approved): 0.30 for the women, 0.30 for the men" in more
    assert more.endswith("the network asks more changes of women than of men.")
    assert compare_pairs(outcomes_of([3] * 7, [2] * 7))["sign test p"] == pytest.approx(2 / 2 ** 7)
    fewer = describe_batch(outcomes_of([1] * 6, [2] * 6), 0.2, 0.5)
    assert fewer.endswith("asks fewer changes of women than of men.")
    # 4 to 2 is not evidence either way
    lean = describe_batch(outcomes_of([1, 1, 1, 1, 3, 3], [2, 2, 2, 2, 2, 2]), 0.2, 0.5)
    assert "too few pairs lean one way" in lean and "p = 0.69" in lean
    none = describe_batch(outcomes_of([np.nan], [1]), 0.2, 0.5)
    assert "cannot compare" in none and "none found for women, 1 for men" in none and "nan" not in none
    example = describe_example(outcomes_of([3], [np.nan]))
    assert "The woman (applicant 0, P = 0.30) needs 3 changes (occupation) to reach P = 0.60." in example
    assert "The man (applicant 1, P = 0.30) gets no counterfactual" in example


def run_of(accuracy: str, batch: str):
    """A two-cell run: the network's accuracy (varies by machine) and a batch result (follows the network)."""
    import nbformat

    from talk.runs import NETWORK_TAG, VARIES_TAG

    nb = nbformat.v4.new_notebook()
    for i, (text, tags) in enumerate([(accuracy, [VARIES_TAG]), (batch, [VARIES_TAG, NETWORK_TAG])]):
        cell = nbformat.v4.new_code_cell("print()", id=f"c-{i}", metadata={"tags": tags})
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)] if text else []
        nb.cells.append(cell)
    return nb


def test_batch_cells_are_compared_strictly_when_the_network_is_the_committed_one():
    from talk.runs import compare_runs

    committed = run_of("accuracy 0.870\n", "found for 9 of 10 women\n")
    assert compare_runs(committed, run_of("accuracy 0.870\n", "found for 9 of 10 women\n")) == []
    # same network, another batch: the batch changed on one machine kind (load, or stale outputs)
    assert compare_runs(committed, run_of("accuracy 0.870\n", "found for 8 of 10 women\n"))
    # another CPU's network (ONEDNN_MAX_CPU_ISA=AVX2 trains 0.868): another batch is expected...
    assert compare_runs(committed, run_of("accuracy 0.868\n", "found for 8 of 10 women\n")) == []
    # ...but it must still print one
    assert compare_runs(committed, run_of("accuracy 0.868\n", ""))


def test_counterfactual_search_keeps_fixed_features_and_gets_the_loan():
    run_in_graph_mode(__file__, "check_counterfactual_search", "counterfactual found")


def small_network(n_rows: int, epochs: int):
    """In graph mode: a seeded Keras network on a sample of adult.data, as the notebook builds it."""
    from tutorial.models import build_keras_model, set_seeds

    set_seeds(0)
    data = load_adult("train", n_rows=n_rows, seed=0)
    pre = build_preprocessor(data.category_map).fit(data.X)
    layout = encoded_layout(data.category_map)
    encoded = pre.transform(data.X)
    model = build_keras_model(layout.n_columns, seed=0)
    model.fit(encoded, data.y, epochs=epochs, batch_size=64, verbose=0)
    return data, pre, layout, encoded, model, model.predict(encoded)[:, 1]


def check_counterfactual_search():
    """In graph mode: a small Keras model, a rejected applicant, CounterfactualProto as in the notebook."""
    import tensorflow as tf
    from alibi.explainers import CounterfactualProto

    from tutorial.counterfactuals import FIT_KWARGS, category_positions, isolated_copy

    data, pre, layout, encoded, model, proba = small_network(n_rows=1_500, epochs=5)
    positions = category_positions(model, encoded, layout)
    row = int(np.flatnonzero((proba >= 0.3) & (proba < 0.5))[0])
    x = encoded[row:row + 1]
    ops = len(tf.compat.v1.get_default_graph().get_operations())
    with isolated_copy(model) as copy:  # as in the notebook: the search in a graph of its own
        assert np.allclose(copy.predict(encoded[:50]), model.predict(encoded[:50]), atol=1e-6)
        explainer = CounterfactualProto(
            copy, shape=x.shape, cat_vars=layout.cat_vars, ohe=True,
            feature_range=counterfactual_ranges(x, layout, positions, encoded, fixed=FIXED, only_up=["age"]),
            use_kdtree=True, theta=10.0, beta=0.01, kappa=0.1, c_init=1.0, c_steps=3, max_iterations=300)
        explainer.fit(encoded, **FIT_KWARGS)
        explanation = explainer.explain(x)
    assert len(tf.compat.v1.get_default_graph().get_operations()) == ops, "the search grew the model's graph"
    assert explanation.cf is not None, row
    cf = decode(explanation.cf["X"], pre, layout)
    assert not set(changed_features(data.X[row], cf)) & set(FIXED), changed_features(data.X[row], cf)
    assert cf[0, FEATURES.index("age")] >= data.X[row, FEATURES.index("age")]
    assert model.predict(pre.transform(cf))[0, 1] >= 0.5
    print(f"counterfactual found for row {row}: {changed_features(data.X[row], cf)}")


def test_fista_step_takes_momentum_from_the_previous_counterfactual():
    run_in_graph_mode(__file__, "check_fista_order", "FISTA order kept")


def small_explainer(n: int = 6, ordered: bool = True):
    """A CounterfactualProto on a tiny Keras model of ``n`` numeric inputs, in the default graph."""
    import tensorflow as tf
    from alibi.explainers import CounterfactualProto

    from tutorial.counterfactuals import ordered_fista_step

    model = tf.keras.Sequential([tf.keras.layers.Input(shape=(n,)), tf.keras.layers.Dense(2, activation="softmax")])
    explainer = CounterfactualProto(model, shape=(1, n), feature_range=(-10.0, 10.0), use_kdtree=True, beta=0.1)
    if ordered:
        ordered_fista_step(explainer)
    return explainer


def fista_steps(explainer, attempts: int = 50):
    """Run alibi's update ``attempts`` times from random states; yield (adv, adv_s) got and expected.

    Expected (FISTA): adv = shrink(adv_s) towards the original, adv_s = adv + z (adv - previous adv)."""
    n, beta = explainer.shape[1], explainer.beta
    sess = explainer.sess
    rng = np.random.default_rng(0)
    for attempt in range(attempts):
        orig, adv, adv_s = (rng.normal(size=(1, n)).astype(np.float32) for _ in range(3))
        sess.run(explainer.init)
        sess.run(explainer.setup, feed_dict={
            explainer.assign_orig: orig, explainer.assign_target: np.array([[0.0, 1.0]]),
            explainer.assign_const: np.ones(1), explainer.assign_adv: adv, explainer.assign_adv_s: adv_s,
            explainer.assign_target_proto: orig})
        step = 1.0 + attempt % 7
        sess.run(explainer.global_step.assign(step))
        sess.run([explainer.adv_updater, explainer.adv_updater_s, explainer.delta, explainer.delta_s])
        diff = adv_s - orig
        new = np.where(diff > beta, adv_s - beta, np.where(diff < -beta, adv_s + beta, orig))
        yield sess.run([explainer.adv, explainer.adv_s]), (new, new + step / (step + 3) * (new - adv))


def fista_step_is_right(got, expected) -> bool:
    return all(np.allclose(g, e, atol=1e-5) for g, e in zip(got, expected))


def check_fista_order():
    """With ordered_fista_step, alibi's update gives FISTA's result every time."""
    explainer = small_explainer()
    for attempt, (got, expected) in enumerate(fista_steps(explainer)):
        assert fista_step_is_right(got, expected), (attempt, got, expected)
    print("FISTA order kept")


def check_fista_order_reversed():
    """The wrong order on purpose (the momentum reads adv after its update): the check must fail."""
    import tensorflow as tf

    explainer = small_explainer(ordered=False)
    with tf.control_dependencies([explainer.adv_updater]):
        late = explainer.assign_adv + explainer.zt * (explainer.assign_adv - explainer.adv.read_value())
        explainer.adv_updater_s = explainer.adv_s.assign(late)
    wrong = sum(not fista_step_is_right(*step) for step in fista_steps(explainer))
    assert wrong == 0, f"{wrong} of 50 updates lost the momentum"


def check_fista_order_as_shipped():
    """alibi 0.9.4 unchanged: prints how many of 200 updates lost the momentum (varies with the load)."""
    explainer = small_explainer(ordered=False)
    wrong = sum(not fista_step_is_right(*step) for step in fista_steps(explainer, 200))
    print(f"as shipped: {wrong} of 200 updates lost the momentum")


def test_one_search_gives_the_same_answer_while_the_cpu_is_busy():
    run_in_graph_mode(__file__, "check_search_under_load", "same search under load")


def check_search_under_load():
    """One applicant searched twice in one process, the second time while busy loops load every core:
    alibi's final counterfactual state (adv, adv_s) is the same to the bit."""
    import subprocess
    import sys

    from alibi.explainers import CounterfactualProto

    from tutorial.counterfactuals import FIT_KWARGS, category_positions, isolated_copy, ordered_fista_step

    data, pre, layout, encoded, model, proba = small_network(n_rows=1_000, epochs=3)
    np.random.seed(0)
    positions = category_positions(model, encoded, layout)
    row = int(np.flatnonzero((proba >= 0.2) & (proba < 0.5))[0])
    x = encoded[row:row + 1]

    def search():
        with isolated_copy(model) as copy:
            explainer = CounterfactualProto(
                copy, shape=x.shape, cat_vars=layout.cat_vars, ohe=True,
                feature_range=counterfactual_ranges(x, layout, positions, encoded, fixed=FIXED, only_up=["age"]),
                use_kdtree=True, theta=10.0, beta=0.01, kappa=0.1, c_init=1.0, c_steps=1, max_iterations=150)
            ordered_fista_step(explainer)
            np.random.seed(0)
            explainer.fit(encoded, **FIT_KWARGS)
            explainer.explain(x)
            return np.concatenate([explainer.sess.run(v).ravel() for v in (explainer.adv, explainer.adv_s)])

    idle = search()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        busy = search()
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert np.array_equal(idle, busy), np.abs(idle - busy).max()
    print("same search under load")


if __name__ == "__main__":
    main(globals())
