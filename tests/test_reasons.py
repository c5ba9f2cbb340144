"""Principal reasons (pipeline/loan_reasons): fidelity on a real forest, prohibited bases, the notice."""

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from pipeline.loan_reasons import notice
from pipeline.loan_reasons.fidelity import fidelity
from pipeline.loan_reasons.reason_codes import PROHIBITED
from pipeline.loan_reasons.reasons import BAND, MAX_REASONS, Reasons, reference_set
from tutorial import artefacts
from tutorial.data import FEATURES, load_adult
from tutorial.models import build_preprocessor, build_rf_pipeline


@pytest.fixture(scope="module")
def train():
    return load_adult("train", n_rows=8_000, seed=0)


@pytest.fixture(scope="module")
def forest(train):
    model = build_rf_pipeline(train.category_map, seed=0).fit(train.X, train.y)
    return lambda X: model.predict_proba(X)[:, 1]


@pytest.fixture(scope="module")
def reasons(train, forest):
    return Reasons(reference_set(forest, train.X), FEATURES, train.category_map)


@pytest.fixture(scope="module")
def rejected(forest):
    X = load_adult("test", n_rows=3_000, seed=1).X
    return X[forest(X) <= 0.5][:600]


@pytest.fixture(scope="module")
def explained(reasons, forest, rejected):
    return reasons.explain(forest, rejected)


def test_references_are_approved_just_above_the_threshold(train, forest, reasons):
    p = forest(reasons.reference)
    assert len(reasons.reference) == 200 and np.all((p > BAND[0]) & (p <= BAND[1]))
    again = reference_set(forest, train.X)
    assert np.array_equal(again, reasons.reference)  # a fixed seed: the same set on every export
    assert not np.array_equal(reference_set(forest, train.X, seed=1), reasons.reference)


def test_a_repeated_row_gets_the_same_record(reasons, forest, rejected):
    records = reasons.explain(forest, rejected[[2, 0, 2, 1]])
    assert records[0] == records[2] == reasons.explain(forest, rejected[[2]])[0]
    assert records[1] == reasons.explain(forest, rejected[[0]])[0] != records[0]


def test_gains_are_the_mean_over_every_reference_row(reasons, forest, rejected):
    rows = rejected[:3]
    p, _, gains = reasons.gains(forest, rows)
    for row, p_row, gain in zip(rows, p, gains):
        for j in (0, 4, 8):  # age, occupation, capital-gain
            substituted = np.repeat(row[None, :], len(reasons.reference), axis=0)
            substituted[:, j] = reasons.reference[:, j]
            assert gain[j] == pytest.approx(forest(substituted).mean() - p_row, abs=1e-9)


def test_fidelity_on_a_forest(reasons, forest, rejected):
    _, _, gains = reasons.gains(forest, rejected)
    shares = fidelity(forest, reasons, rejected, gains)
    assert min(shares.values()) >= 0.9, shares


def test_fidelity_fails_a_reversed_ranking(reasons, forest, rejected):
    _, _, gains = reasons.gains(forest, rejected)
    shares = fidelity(forest, reasons, rejected, -gains)
    assert max(shares.values()) < 0.5, shares


def test_fidelity_fails_references_that_were_rejected(train, forest, rejected):
    p = forest(train.X)
    low = train.X[np.random.default_rng(0).choice(np.flatnonzero(p < 0.2), 200, replace=False)]
    wrong = Reasons(low, FEATURES, train.category_map)
    shares = fidelity(forest, wrong, rejected, wrong.gains(forest, rejected)[2])
    assert shares["top reason raises P(approved)"] < 0.9, shares


def test_every_rejection_has_one_to_four_reasons_and_none_is_prohibited(explained):
    for record in explained:
        assert record["decision"] == "rejected"
        assert 1 <= len(record["reasons"]) <= MAX_REASONS, record
        assert not {r["feature"] for r in record["reasons"]} & set(PROHIBITED), record
        gains = [r["gain"] for r in record["reasons"]]
        assert gains == sorted(gains, reverse=True) and min(gains) > 0, record


def test_prohibited_bases_are_flagged_when_they_rank_in_the_top_four(explained):
    flagged = [f["feature"] for record in explained for f in record["flags"]]
    assert {"marital-status", "relationship"} <= set(flagged)
    assert all(f["rank"] <= MAX_REASONS and f["gain"] > 0 for record in explained for f in record["flags"])


def test_age_counts_against_an_elderly_applicant_only_as_a_flag(reasons, forest, rejected):
    elderly = rejected.copy()
    elderly[:, FEATURES.index("age")] = 70
    records = reasons.explain(forest, elderly[forest(elderly) <= 0.5])
    assert not any(r["feature"] == "age" for record in records for r in record["reasons"])
    assert any(f["feature"] == "age" for record in records for f in record["flags"])


def test_a_rejection_that_only_a_prohibited_basis_explains_on_average_still_gets_reasons(train):
    """A model (a plain function) where, on average over the references, only relationship raises the score:
    the reasons fall back to the features some reference values raise it for."""
    age, relationship = FEATURES.index("age"), FEATURES.index("relationship")

    def model(rows):
        rows = np.asarray(rows)
        return (0.4 * (rows[:, relationship] == 0) + 0.15 * (rows[:, age] >= 60)
                - 0.05 * ((rows[:, age] >= 30) & (rows[:, age] < 60)) + 0.3)

    reference = train.X[model(train.X) > 0.5][:200]
    applicant = train.X[(model(train.X) <= 0.5) & (train.X[:, age] < 30)][:1]
    record = Reasons(reference, FEATURES, train.category_map).explain(model, applicant)[0]
    assert record["flags"][0]["feature"] == "relationship", record
    assert [r["feature"] for r in record["reasons"]] == ["age"] and record["reasons"][0]["gain"] < 0, record
    assert record["reasons"][0]["ranked_by"] == "largest rise"


def test_approved_applicants_get_no_reasons(reasons, forest):
    record = reasons.explain(forest, reasons.reference[:5])
    assert all(r["decision"] == "approved" and r["reasons"] == r["flags"] == [] for r in record)


def test_another_model_is_explained_by_the_same_code(train, rejected):
    """Model-agnostic: a logistic regression that never sees the prohibited inputs is never flagged for them."""
    keep = [j for j, name in enumerate(FEATURES) if name not in PROHIBITED]
    direct = np.zeros(len(FEATURES), bool)
    direct[keep] = True
    X = train.X.copy()
    X[:, ~direct] = 0  # the columns are there, the model cannot read them
    model = Pipeline([("preprocessor", build_preprocessor(train.category_map)),
                      ("classifier", LogisticRegression(max_iter=1_000))]).fit(X, train.y)

    def without_prohibited(rows):
        rows = np.array(rows, dtype=float)
        rows[:, ~direct] = 0
        return model.predict_proba(rows)[:, 1]

    other = Reasons(reference_set(without_prohibited, train.X), FEATURES, train.category_map)
    mine = rejected[without_prohibited(rejected) <= 0.5]
    records = other.explain(without_prohibited, mine)
    assert records and all(1 <= len(r["reasons"]) <= MAX_REASONS and r["flags"] == [] for r in records)
    shares = fidelity(without_prohibited, other, mine, other.gains(without_prohibited, mine)[2])
    assert min(shares.values()) >= 0.9, shares


def test_the_notice_regenerates_byte_identical_from_the_audit_record(reasons, forest, rejected, explained):
    record = notice.audit_record("req-1", "2026-11-30T02:00:00.000+00:00", "loanclassifier-explainer",
                                 "ab" * 32, rejected[0], explained[0])
    text = notice.render(record)
    stored = json.loads(json.dumps(record))  # a line of the audit log, read back 25 months later
    assert notice.render(stored).encode() == text.encode()
    for reason in explained[0]["reasons"]:
        assert reason["sentence"] in " ".join(text.split())  # wrapped lines joined
    assert "Equal Credit Opportunity Act" in text and "2026-11-30" in text
    assert not any(f["feature"] in text for f in explained[0]["flags"])  # flags stay in the record
    assert notice.render(dict(stored, reasons=stored["reasons"][:1])) != text


def test_no_notice_for_an_approval(reasons, forest):
    approved = reasons.explain(forest, reasons.reference[:1])[0]
    record = notice.audit_record("req-2", "2026-11-30T02:00:00.000+00:00", "x", "ab" * 32,
                                 reasons.reference[0], approved)
    with pytest.raises(ValueError):
        notice.render(record)


def test_the_reference_set_is_exported_with_its_sha256(tmp_path):
    model, explainer, category_map = artefacts.build_serving_artefacts(n_rows=2_000, n_estimators=10)
    dirs = artefacts.export_artefacts(model, explainer, category_map, root=tmp_path)
    directory = dirs[artefacts.EXPLAINER_STEP]
    manifest = json.loads((directory / "manifest.json").read_text())["sha256"]
    assert manifest["reference.json"] == artefacts.sha256(directory / "reference.json")
    loaded = Reasons.from_json((directory / "reference.json").read_text())
    p = model.predict_proba(loaded.reference)[:, 1]
    assert len(loaded.reference) > 10 and np.all((p > BAND[0]) & (p <= BAND[1]))
    assert loaded.to_json() == (directory / "reference.json").read_text()
