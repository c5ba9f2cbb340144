"""Counterfactual explanations with alibi's CounterfactualProto on the Keras model's encoded input.

The Keras model takes the preprocessor's output (one-hot blocks, then standardised numbers), so the
counterfactual search runs in that space with alibi's one-hot support (``cat_vars``, ``ohe=True``).
alibi moves a categorical feature along a learned number line (each category's position from the ABDM
distances between categories, scaled by multidimensional scaling); a feature is held fixed by giving it
a range of a single value in that line, ``feature_range`` min = max. Those positions are needed before
the explainer that uses them exists, hence ``category_positions`` (a first fit with open ranges).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd

from .data import FEATURES, NUMERIC, to_display
from .encoding import EncodedLayout

# Arguments of CounterfactualProto.fit shared by the probe and the real explainers: standardised
# category positions do not depend on feature_range, so the probe's positions are the explainer's.
FIT_KWARGS = dict(d_type="abdm", disc_perc=[25, 50, 75], standardize_cat_vars=True,
                  update_feature_range=False)


@contextmanager
def isolated_copy(model):
    """A copy of the Keras ``model`` in a fresh TF1 graph and session, made the defaults inside the block.

    Each CounterfactualProto adds its search (~700 ops) to the graph of the model it explains; in the
    shared graph every later search, and innvestigate's LRP after them, gets slower (measured here: 4.3 s
    to 8 s per search over 12 searches). A graph per search keeps each search as fast as the first.
    """
    import tensorflow as tf

    weights = model.get_weights()
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph).as_default() as session:
        copy = tf.keras.models.clone_model(model)
        copy.set_weights(weights)
        yield copy
    session.close()


def ordered_fista_step(explainer) -> None:
    """Make alibi's FISTA step independent of TensorFlow's op order (alibi 0.9.4, TF1 graph mode).

    One ``session.run`` of ``CounterfactualProto`` assigns the new ``adv`` and reads the old one for the
    momentum of ``adv_s`` (``adv_s = adv_new + z (adv_new - adv_old)``), with nothing ordering the read and
    the assignment. TensorFlow's executor orders ready ops by their *measured* cost (it runs cheap ops inline
    and queues expensive ones), so the machine's load decides whether the momentum is kept or lost, and two
    runs of one search can end differently. Here the assignment of ``adv`` waits for the momentum's value,
    which gives FISTA's order (momentum from the previous ``adv``) on every run.
    """
    import tensorflow as tf

    with explainer.sess.graph.as_default(), tf.control_dependencies([explainer.assign_adv_s.op]):
        explainer.adv_updater = explainer.adv.assign(explainer.assign_adv)


def category_positions(predictor, X_train_encoded: np.ndarray,
                       layout: EncodedLayout) -> dict[int, np.ndarray]:
    """alibi's position of every category on its feature's number line, keyed by encoded feature index."""
    from alibi.explainers import CounterfactualProto

    n = len(layout.features)
    probe = CounterfactualProto(predictor, shape=(1, layout.n_columns), cat_vars=layout.cat_vars, ohe=True,
                                feature_range=(np.full((1, n), -1e3), np.full((1, n), 1e3)))
    probe.fit(X_train_encoded, **FIT_KWARGS)
    return {k: np.asarray(v) for k, v in probe.d_abs.items()}


def counterfactual_ranges(x_encoded: np.ndarray, layout: EncodedLayout, positions: dict[int, np.ndarray],
                          X_train_encoded: np.ndarray, fixed=(), only_up=()) -> tuple[np.ndarray, np.ndarray]:
    """alibi ``feature_range`` (min, max), shape (1, n features) in encoded feature order.

    ``fixed`` features keep the applicant's value (min = max); ``only_up`` numeric features may grow, not
    shrink; the rest may move over the range seen in training.
    """
    x_encoded = np.atleast_2d(x_encoded)
    n = len(layout.features)
    low, high = np.zeros((1, n)), np.zeros((1, n))
    for k, (feature, start, width) in enumerate(zip(layout.features, layout.starts, layout.widths)):
        if k < layout.n_categorical:
            line = positions[k]
            current = line[int(np.argmax(x_encoded[0, start:start + width]))]
            low[0, k], high[0, k] = (current, current) if feature in fixed else (line.min(), line.max())
        else:
            current = x_encoded[0, start]
            low[0, k], high[0, k] = X_train_encoded[:, start].min(), X_train_encoded[:, start].max()
            if feature in fixed:
                low[0, k] = high[0, k] = current
            elif feature in only_up:
                low[0, k] = current
                high[0, k] = max(high[0, k], current)
    return low, high


def decode(x_encoded: np.ndarray, preprocessor, layout: EncodedLayout) -> np.ndarray:
    """Encoded rows back to model features (codes, whole numbers), in ``FEATURES`` order."""
    x_encoded = np.atleast_2d(x_encoded)
    codes = np.zeros((len(x_encoded), len(FEATURES)))
    for k, (feature, start, width) in enumerate(zip(layout.features, layout.starts, layout.widths)):
        if k < layout.n_categorical:
            codes[:, FEATURES.index(feature)] = x_encoded[:, start:start + width].argmax(axis=1)
    numeric = layout.features[layout.n_categorical:]
    first = layout.starts[layout.n_categorical]
    scaler = preprocessor.named_transformers_["numeric"]
    values = scaler.inverse_transform(x_encoded[:, first:first + len(numeric)])
    for j, feature in enumerate(numeric):
        codes[:, FEATURES.index(feature)] = np.round(values[:, j])
    return codes


CHANGED = "Δ"  # the column that marks a changed feature: one character, so a pair's table fits GitHub's width


def before_after(x_codes: np.ndarray, cf_codes: np.ndarray, category_map, p_before: float,
                 p_after: float | None) -> pd.DataFrame:
    """One applicant before and after the counterfactual change, readable, with P(approved).

    ``cf_codes`` None (no counterfactual found) gives an empty "after" column.
    """
    before = to_display(x_codes, category_map).iloc[0]
    table = pd.DataFrame({"before": before.astype(object)})
    if cf_codes is None:
        table["after"] = "-"
        table[CHANGED] = ""
    else:
        after = to_display(cf_codes, category_map).iloc[0].astype(object)
        table["after"] = after
        table[CHANGED] = np.where(before.astype(str) != after.astype(str), "<-", "")
    probabilities = pd.DataFrame(
        {"before": [round(float(p_before), 3)],
         "after": ["-" if p_after is None else round(float(p_after), 3)], CHANGED: [""]},
        index=["P(approved)"])
    return pd.concat([table, probabilities])


def changed_features(x_codes: np.ndarray, cf_codes: np.ndarray) -> list[str]:
    """Names of the features whose value differs between the two rows of model features."""
    x_codes, cf_codes = np.ravel(x_codes), np.ravel(cf_codes)
    return [f for i, f in enumerate(FEATURES)
            if (abs(x_codes[i] - cf_codes[i]) >= 0.5 if f in NUMERIC else x_codes[i] != cf_codes[i])]


def matched_near_threshold(proba: np.ndarray, gender, n: int, low: float = 0.2, high: float = 0.5,
                           seed: int = 0, eligible=None) -> pd.DataFrame:
    """A batch of rejected applicants near the threshold, women and men at the same starting point.

    ``n`` women are drawn at random among the ``eligible`` ones (default: all) with ``low`` <= ``proba`` <
    ``high``; each is paired with the eligible man in that band whose ``proba`` is closest (each man used
    once, ties to the lower row). The draw walks one seeded permutation of all rows, so an applicant who
    joins or leaves the candidates changes the batch only where they stand. One row per applicant:
    ``row`` (position in ``proba``), ``gender``, ``pair`` and ``P(approved)``, woman then man of each pair.
    """
    proba, gender = np.asarray(proba), np.asarray(gender).astype(str)
    band = (proba >= low) & (proba < high)
    if eligible is not None:
        band &= np.asarray(eligible, dtype=bool)
    order = np.random.default_rng(seed).permutation(len(proba))
    women = order[(band & (gender == "Female"))[order]][:n]
    if len(women) < n:
        raise ValueError(f"only {len(women)} eligible women in the band, {n} asked")
    men = list(np.flatnonzero(band & (gender == "Male")))
    rows = []
    for pair, woman in enumerate(women):
        man = min(men, key=lambda m: (abs(proba[m] - proba[woman]), m))
        men.remove(man)
        rows += [(int(woman), "Female", pair, float(proba[woman])), (int(man), "Male", pair, float(proba[man]))]
    return pd.DataFrame(rows, columns=["row", "gender", "pair", "P(approved)"])


def change_distance(x_encoded: np.ndarray, cf_encoded: np.ndarray, layout: EncodedLayout) -> float:
    """How far the counterfactual moved: each changed category counts 1, each number its change in
    standard deviations of the training data (the preprocessor's scale), summed (L1)."""
    x_encoded, cf_encoded = np.ravel(x_encoded), np.ravel(cf_encoded)
    total = 0.0
    for k, (start, width) in enumerate(zip(layout.starts, layout.widths)):
        if k < layout.n_categorical:
            total += float(np.argmax(x_encoded[start:start + width]) != np.argmax(cf_encoded[start:start + width]))
        else:
            total += float(abs(x_encoded[start] - cf_encoded[start]))
    return total


def batch_outcomes(batch: pd.DataFrame, found: dict, X_codes: np.ndarray, preprocessor, layout: EncodedLayout,
                   predict_approved) -> pd.DataFrame:
    """One row per searched applicant: the searched model's P(approved) before and after, whether the
    readable (rounded) counterfactual is approved, how many features and how far it changed, and the
    search time.

    ``found`` maps a row to (counterfactual codes or None, seconds); ``predict_approved`` gives the
    searched model's P(approved) for encoded rows (the batch's own ``P(approved)`` may be another model's).
    """
    p_before = np.ravel(predict_approved(preprocessor.transform(X_codes[batch["row"].to_numpy()])))
    records = []
    for (row, gender, pair), before in zip(batch[["row", "gender", "pair"]].itertuples(index=False), p_before):
        cf_codes, seconds = found[row]
        record = {"row": row, "gender": gender, "pair": pair, "P before": float(before), "P after": np.nan,
                  "approved": False, "changes": np.nan, "distance": np.nan, "changed": "", "seconds": seconds}
        if cf_codes is not None:
            cf_encoded = preprocessor.transform(cf_codes)
            record["P after"] = float(np.ravel(predict_approved(cf_encoded))[0])
            record["approved"] = record["P after"] >= 0.5
        if record["approved"]:
            changed = changed_features(X_codes[row], cf_codes)
            record.update(changes=len(changed), changed=", ".join(changed),
                          distance=change_distance(preprocessor.transform(X_codes[row:row + 1]), cf_encoded, layout))
        records.append(record)
    return pd.DataFrame(records)


def summarise_by_gender(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per gender: applicants searched, share with an approved counterfactual, and the median number of
    changed features and median distance among those."""
    grouped = outcomes.groupby("gender")
    return pd.DataFrame({
        "applicants": grouped.size(),
        "median P before": grouped["P before"].median().round(2),
        "share found": grouped["approved"].mean().round(2),
        "median changes": grouped["changes"].median(),
        "median distance": grouped["distance"].median().round(2),
    })


def compare_pairs(outcomes: pd.DataFrame, column: str = "changes") -> dict[str, float]:
    """Over the pairs where both applicants got an approved counterfactual: in how many the woman needed
    more (``column``) than the man, as many, or fewer, and the two-sided sign test's p-value (ties left out)."""
    from scipy.stats import binomtest

    wide = outcomes.pivot(index="pair", columns="gender", values=column).dropna()
    more, fewer = int((wide["Female"] > wide["Male"]).sum()), int((wide["Female"] < wide["Male"]).sum())
    p_value = binomtest(more, more + fewer, 0.5).pvalue if more + fewer else 1.0
    return {"pairs": len(wide), "woman more": more, "equal": int((wide["Female"] == wide["Male"]).sum()),
            "man more": fewer, "sign test p": float(p_value)}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def describe_example(outcomes: pd.DataFrame, pair: int = 0) -> str:
    """One sentence per applicant of ``pair``: where they start and what their counterfactual changed."""
    sentences = []
    for record in outcomes[outcomes["pair"] == pair].itertuples(index=False):
        who = f"The {'woman' if record.gender == 'Female' else 'man'} (applicant {record.row}, P = {record[3]:.2f})"
        if record.approved:
            sentences.append(f"{who} needs {_plural(int(record.changes), 'change')} ({record.changed}) to reach "
                             f"P = {record[4]:.2f}.")
        else:
            sentences.append(f"{who} gets no counterfactual that the model approves within the search budget.")
    return " ".join(sentences)


def describe_batch(outcomes: pd.DataFrame, low: float, high: float, alpha: float = 0.05) -> str:
    """The batch's result in words: how it was drawn (band and pairs on the forest's P(approved), the
    network's median P(approved) before), share found, median changes and distance per gender, the paired
    count, and which way the batch points if the sign test over the pairs says so at level ``alpha`` (or
    that it does not)."""
    summary = summarise_by_gender(outcomes)
    n = int(summary["applicants"].min())
    found = {g: int(outcomes.loc[outcomes.gender == g, "approved"].sum()) for g in ["Female", "Male"]}
    pairs = compare_pairs(outcomes)
    women, men = summary.loc["Female"], summary.loc["Male"]
    def median(row, column, fmt):
        return "none found" if np.isnan(row[column]) else format(row[column], fmt)
    text = (f"Over a batch of {n} women whom both models reject, with {low} <= P(approved) < {high} under the "
            f"forest, each paired with the rejected man closest to her forest P(approved) (the network's median "
            f"P(approved): {women['median P before']:.2f} for the women, {men['median P before']:.2f} for the "
            f"men), the search on the network found an approved counterfactual for "
            f"{found['Female']} of {n} women and {found['Male']} of {n} men. Median number of changed features: "
            f"{median(women, 'median changes', 'g')} for women, {median(men, 'median changes', 'g')} for men "
            f"(median distance {median(women, 'median distance', '.2f')} and "
            f"{median(men, 'median distance', '.2f')}). ")
    if pairs["pairs"] == 0:
        return text + "No pair has a counterfactual for both, so the batch cannot compare them."
    text += (f"In the {_plural(pairs['pairs'], 'pair')} where both got one, the woman needed more changes in "
             f"{pairs['woman more']}, as many in {pairs['equal']} and fewer in {pairs['man more']} (sign test "
             f"p = {pairs['sign test p']:.2f}): ")
    if pairs["sign test p"] >= alpha:
        return text + ("too few pairs lean one way to tell women and men apart; this batch does not show that "
                       "the network asks more changes of one gender.")
    side = "more" if pairs["woman more"] > pairs["man more"] else "fewer"
    return text + f"in this batch, the network asks {side} changes of women than of men."
