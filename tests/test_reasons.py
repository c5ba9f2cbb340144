"""Principal reasons (pipeline/loan_reasons): the cutoff method's adaptation, holds, age, the notice, lineage."""

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from pipeline.loan_reasons import notice
from pipeline.loan_reasons.fidelity import fidelity
from pipeline.loan_reasons.reason_codes import ELDERLY_AGE, INPUTS, PROHIBITED, SCORED
from pipeline.loan_reasons.reasons import BAND, FLOOR, MAX_REASONS, Reasons, reference_set
from pipeline.loan_reasons.scoring import elderly_floor
from tutorial import artefacts
from tutorial.data import FEATURES, load_adult
from tutorial.models import build_preprocessor, build_rf_pipeline

AGE = FEATURES.index("age")
DIGESTS = {"explainer": "cd" * 32, "model": "ab" * 32, "references": "ef" * 32}


@pytest.fixture(scope="module")
def train():
    return load_adult("train", n_rows=8_000, seed=0)


@pytest.fixture(scope="module")
def held_out():
    return load_adult("test", n_rows=6_000, seed=1).X


@pytest.fixture(scope="module")
def served_forest(train):
    """The served model: a forest of the scored inputs, 62+ scored at their most favoured age."""
    model = build_rf_pipeline(train.category_map, seed=0, inputs=SCORED).fit(train.X, train.y)
    return model, lambda X: elderly_floor(model.predict_proba, X, AGE)[:, 1]


@pytest.fixture(scope="module")
def forest(served_forest):
    return served_forest[1]


@pytest.fixture(scope="module")
def first_forest(train):
    """The model that may not decide: every input, the prohibited bases too."""
    model = build_rf_pipeline(train.category_map, seed=0).fit(train.X, train.y)
    return lambda X: model.predict_proba(X)[:, 1]


@pytest.fixture(scope="module")
def reasons(train, forest, held_out):
    return Reasons(reference_set(forest, held_out), FEATURES, train.category_map)


@pytest.fixture(scope="module")
def rejected(forest):
    X = load_adult("test", n_rows=3_000, seed=2).X
    return X[forest(X) <= 0.5][:400]


@pytest.fixture(scope="module")
def explained(reasons, forest, rejected):
    return reasons.explain(forest, rejected)


def test_references_are_held_out_applicants_approved_just_above_the_threshold(forest, reasons, held_out):
    p = forest(reasons.reference)
    assert len(reasons.reference) == 200 and np.all((p > BAND[0]) & (p <= BAND[1]))
    assert {tuple(r) for r in reasons.reference} <= {tuple(r) for r in held_out}
    assert np.array_equal(reference_set(forest, held_out), reasons.reference)  # a fixed seed
    assert not np.array_equal(reference_set(forest, held_out, seed=1), reasons.reference)


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


def cutoff_method(points, reference, applicant):
    """Comment 9(b)(2)-5 for a points system: factors ranked by how far the applicant's points fall below
    the average points of that factor among applicants at or slightly above the passing score."""
    shortfall = np.array([points[j](reference[:, j]).mean() - points[j](applicant[j:j + 1])[0]
                          for j in range(len(points))])
    return shortfall, [j for j in np.argsort(-shortfall, kind="stable") if shortfall[j] >= FLOOR][:MAX_REASONS]


def test_on_an_additive_score_it_is_the_cutoff_method(train, rejected):
    """A logistic regression's logit is a points system: one table of points per input. There the gains
    are exactly the cutoff method's shortfalls, and the reasons are its ranking."""
    model = Pipeline([("preprocessor", build_preprocessor(train.category_map, SCORED)),
                      ("classifier", LogisticRegression(max_iter=2_000))]).fit(train.X, train.y)
    score = lambda X: model.decision_function(np.asarray(X, dtype=float)) / 8 + 0.5  # noqa: E731
    base = np.median(train.X, axis=0)

    def points_of(j):  # the points of input j: the score's change from a fixed base row, j alone moved
        def points(values):
            rows = np.repeat(base[None, :], len(values), axis=0)
            rows[:, j] = values
            return score(rows) - score(base[None, :])[0]
        return points

    points = [points_of(j) for j in range(len(FEATURES))]
    references = reference_set(score, train.X)
    method = Reasons(references, FEATURES, train.category_map)
    mine = rejected[score(rejected) <= 0.5][:50]
    _, _, gains = method.gains(score, mine)
    assert len(mine) == 50
    for row, gain, record in zip(mine, gains, method.explain(score, mine)):
        shortfall, ranking = cutoff_method(points, references, row)
        np.testing.assert_allclose(gain, shortfall, atol=1e-9)
        assert [r["feature"] for r in record["reasons"]] == [FEATURES[j] for j in ranking]


def test_the_served_model_scores_no_prohibited_basis(served_forest, rejected, train):
    model, forest = served_forest
    changed = rejected.copy()
    for name in (n for n, (role, _) in INPUTS.items() if role != "scored"):
        j = FEATURES.index(name)
        changed[:, j] = (changed[:, j] + 1) % len(train.category_map[j]) if j in train.category_map else 0
    assert np.array_equal(forest(changed), forest(rejected))
    assert not set(PROHIBITED) & set(SCORED)


def test_no_applicant_aged_62_or_more_is_scored_below_the_most_favoured_age_under_62(served_forest):
    """Every applicant aged 62+ of adult.test: any age of 18..61 raises P(approved) by at most 0.005."""
    model, forest = served_forest
    elderly = load_adult("test").X
    elderly = elderly[elderly[:, AGE] >= ELDERLY_AGE]
    assert len(elderly) > 800

    def largest_rise(p):
        own = p(elderly)
        ages = np.repeat(elderly, 44, axis=0)
        ages[:, AGE] = np.tile(np.arange(18, 62), len(elderly))
        return float(np.max(p(ages).reshape(len(elderly), 44) - own[:, None]))

    assert largest_rise(forest) <= 0.005
    assert largest_rise(lambda X: model.predict_proba(X)[:, 1]) > 0.05  # the forest alone scores them down


def test_every_principal_reason_is_given(explained, reasons, forest, rejected):
    """The four largest gains at or above the floor, all cited, none a prohibited basis; or held."""
    _, _, gains = reasons.gains(forest, rejected)
    for record, gain in zip(explained, gains):
        principal = [FEATURES[j] for j in np.argsort(-gain, kind="stable")[:MAX_REASONS] if gain[j] >= FLOOR]
        assert record["decision"] == "rejected"
        if record["held"]:
            assert record["cause"] == "no_material_reason" and not principal, record
            continue
        assert [r["feature"] for r in record["reasons"]] == principal, record
        assert 1 <= len(principal) <= MAX_REASONS and not set(principal) - set(SCORED)
    assert sum(not r["held"] for r in explained) > 0.9 * len(explained)


def test_the_first_forest_s_rejections_are_held_when_a_prohibited_basis_is_principal(train, first_forest,
                                                                                       held_out, rejected):
    reasons = Reasons(reference_set(first_forest, held_out), FEATURES, train.category_map)
    mine = rejected[first_forest(rejected) <= 0.5]
    records = reasons.explain(first_forest, mine)
    held = [r for r in records if r["held"]]
    assert len(held) > 0.3 * len(records)
    for record in records:
        assert bool(record["flags"]) == record["held"] or record["cause"] == "no_material_reason", record
        if record["flags"]:
            assert record["cause"] in ("prohibited_basis", "elderly_age")
            assert all(f["rank"] <= MAX_REASONS and f["gain"] >= FLOOR for f in record["flags"])
            with pytest.raises(ValueError):
                notice.render(notice.audit_record("r", "2026-12-07T00:00:00", "x", DIGESTS, mine[0], record))
    assert {"marital-status", "relationship"} <= {f["feature"] for r in held for f in r["flags"]}


def test_age_counting_against_an_elderly_applicant_holds_the_rejection(reasons, served_forest, rejected):
    model, _ = served_forest
    unfloored = lambda X: model.predict_proba(X)[:, 1]  # noqa: E731
    elderly = rejected.copy()
    elderly[:, AGE] = 75
    records = reasons.explain(unfloored, elderly[unfloored(elderly) <= 0.5])
    held = [r for r in records if r["cause"] == "elderly_age"]
    assert held and all(r["flags"][0]["feature"] == "age" for r in held)
    assert not any(r["feature"] == "age" for record in records for r in record["reasons"])


def test_no_material_reason_holds_the_rejection(reasons, rejected):
    flat = lambda X: np.full(len(X), 0.3)  # noqa: E731  (no input moves it)
    records = reasons.explain(flat, rejected[:5])
    assert all(r["held"] and r["cause"] == "no_material_reason" and not r["reasons"] for r in records)


def test_fidelity_of_the_reasons_as_cited(reasons, forest, rejected, explained):
    shares = fidelity(forest, reasons, rejected[:150], explained[:150], SCORED)
    assert shares["top cited reason raises P(approved)"] >= 0.95, shares
    assert shares["cited reasons beat as many random citable inputs"] >= 0.7, shares


def test_fidelity_fails_a_reversed_ranking(reasons, forest, rejected, explained):
    reversed_ = [dict(r, reasons=r["reasons"][::-1]) for r in explained[:150]]
    cut = [dict(r, reasons=r["reasons"][-1:]) for r in explained[:150] if len(r["reasons"]) > 1]
    rows = [row for row, r in zip(rejected[:150], explained[:150]) if len(r["reasons"]) > 1]
    shares = fidelity(forest, reasons, rows, cut, SCORED)  # the least of the reasons, cited alone
    assert shares["cited reasons beat as many random citable inputs"] < 0.5, shares
    assert fidelity(forest, reasons, rejected[:150], reversed_, SCORED)["notices"] == 150 - sum(
        r["held"] for r in explained[:150])


def test_the_notice_regenerates_byte_identical_and_finds_its_decision(rejected, explained):
    record = notice.audit_record("req1", "2026-11-30T02:00:00.000+00:00", "loanclassifier-explainer",
                                 DIGESTS, rejected[0], explained[0])
    text = notice.render(record)
    stored = json.loads(json.dumps(record))  # a line of the audit log, read back 25 months later
    assert notice.render(stored).encode() == text.encode()
    joined = " ".join(text.split())
    for reason in explained[0]["reasons"]:
        assert f'{reason["code"]} {reason["sentence"]}' in joined and reason["reference"] in joined
    assert "req1" in text and DIGESTS["model"][:12] in text and DIGESTS["explainer"][:12] not in text
    assert "Equal Credit Opportunity Act" in text and "2026-11-30" in text
    assert record["notice"] == notice.TEMPLATE and record["references"] == DIGESTS["references"]
    assert notice.render(dict(stored, reasons=stored["reasons"][:1])) != text


def test_no_notice_for_an_approval(reasons, forest):
    approved = reasons.explain(forest, reasons.reference[:1])[0]
    record = notice.audit_record("req2", "2026-11-30T02:00:00.000+00:00", "x", DIGESTS, reasons.reference[0], approved)
    with pytest.raises(ValueError):
        notice.render(record)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("artefacts")
    built = artefacts.build_serving_artefacts(n_rows=2_000, n_estimators=10)
    lineage = artefacts.training_lineage(built[0], n_rows=2_000, n_estimators=10)
    return built, artefacts.export_artefacts(*built, root=root, lineage=lineage)


def test_the_reference_set_is_exported_with_the_model_it_was_built_for(exported):
    (model, _, _), dirs = exported
    directory = dirs[artefacts.EXPLAINER_STEP]
    manifest = json.loads((directory / "manifest.json").read_text())["sha256"]
    assert manifest["reference.json"] == artefacts.sha256(directory / "reference.json")
    loaded = Reasons.from_json((directory / "reference.json").read_text())
    assert loaded.model_artefacts == artefacts.artefacts_digest(dirs[artefacts.MODEL_STEP])
    p = artefacts.served_p_approved(model)(loaded.reference)
    assert len(loaded.reference) > 10 and np.all((p > BAND[0]) & (p <= BAND[1]))
    assert loaded.to_json() == (directory / "reference.json").read_text()
    metadata = json.loads((dirs[artefacts.MODEL_STEP] / "metadata.json").read_text())
    assert metadata["scored"] == SCORED and metadata["monitoring"] == ["gender"] and metadata["elderly_floor"]


def test_the_manifest_records_the_lineage_and_a_rebuild_gets_the_same_digest(exported, tmp_path):
    _, dirs = exported
    manifest = json.loads((dirs[artefacts.MODEL_STEP] / "manifest.json").read_text())
    lineage = manifest["lineage"]
    assert set(lineage["data"]) == {"adult.data", "adult.test"} and len(lineage["code"]["commit"]) == 40
    assert lineage["libraries"]["scikit-learn"] == "1.3.2" and lineage["build"]["seed"] == 0
    assert 0.7 < lineage["test_metrics"]["accuracy"] < 1
    again = artefacts.rebuild(manifest, tmp_path)
    for step, directory in dirs.items():
        assert artefacts.artefacts_digest(again[step]) == artefacts.artefacts_digest(directory), step
