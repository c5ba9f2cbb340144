"""What the in-process tests of the core and the Seldon adapter share: the packages imported as the services
import them (pipeline/ on sys.path), and a small forest and its Anchors explainer, trained in seconds."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "pipeline"), str(REPO)]

FEATURES = ["age", "workclass", "education", "marital-status", "occupation", "relationship", "ethnicity",
            "gender", "capital-gain", "capital-loss", "hours-per-week", "native-country"]  # fmt: skip
CATEGORIES = {1: 7, 2: 16, 3: 7, 4: 14, 5: 6, 6: 5, 7: 2, 11: 41}  # column -> number of categories
RANGES = {"age": [17, 90], "capital-gain": [0, 99999], "capital-loss": [0, 4356], "hours-per-week": [1, 99]}
ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]


def applicants(n, seed=0):
    rng = np.random.default_rng(seed)
    X = np.zeros((n, len(FEATURES)))
    for col, k in CATEGORIES.items():
        X[:, col] = rng.integers(0, k, n)
    for name, (low, high) in RANGES.items():
        X[:, FEATURES.index(name)] = rng.integers(low, min(high, 200) + 1, n)
    return X


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory):
    """<root>/loanclassifier and <root>/loanclassifier-explainer, laid out as tutorial.artefacts exports them."""
    import dill
    from alibi.explainers import AnchorTabular
    from loan_reasons.reasons import Reasons, reference_set
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from tutorial.artefacts import save_fitted_explainer, write_manifest

    X = applicants(600)
    y = ((X[:, 0] > 40) & (X[:, 10] > 40)) | (X[:, 8] > 150)
    model = Pipeline([("classifier", RandomForestClassifier(n_estimators=10, random_state=0))]).fit(X, y)
    category_map = {col: [f"c{i}" for i in range(k)] for col, k in CATEGORIES.items()}
    category_map[7] = ["Female", "Male"]
    metadata = {"features": FEATURES, "class_names": ["rejected", "approved"], "ranges": RANGES,
                "category_map": {str(c): names for c, names in category_map.items()}}  # fmt: skip
    root = tmp_path_factory.mktemp("fast-artefacts")
    model_dir, explainer_dir = root / "loanclassifier", root / "loanclassifier-explainer"
    for directory in (model_dir, explainer_dir):
        directory.mkdir()
        (directory / "metadata.json").write_text(json.dumps(metadata))
    with open(model_dir / "model.dill", "wb") as f:
        dill.dump(model, f)
    explainer = AnchorTabular(model.predict, FEATURES, categorical_names=category_map, seed=0)
    explainer.fit(X, disc_perc=(25, 50, 75))
    save_fitted_explainer(explainer, explainer_dir / "explainer")
    reference = reference_set(lambda rows: model.predict_proba(rows)[:, 1], X, band=(0.5, 1.0), size=50)
    (explainer_dir / "reference.json").write_text(Reasons(reference, FEATURES, category_map).to_json())
    for directory in (model_dir, explainer_dir):
        write_manifest(directory)
    return root
