"""The served artefacts: the fitted pipeline and the Anchors explainer, written where the wrappers load them.

Command line (`make serve` before any notebook run): ``python -m tutorial.artefacts [--rows N] [--if-missing]``.

Each step's ``artefacts/`` gets ``metadata.json`` (features, class names, category codes and the
plausible range of every numeric feature, from the training data's domain; the wrappers validate
requests against it and list it in /metadata) and a ``manifest.json`` of sha256 hashes the wrappers
check before loading. The explainer is saved with alibi's own saving, without its predictor and
without the state of its last explanation, so the pickle holds no code and stays small.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STEPS = REPO / "pipeline" / "pipeline_steps"
MODEL_STEP, EXPLAINER_STEP = "loanclassifier", "loanclassifier-explainer"
CLASS_NAMES = ["rejected", "approved"]


def sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_manifest(directory: Path | str) -> dict:
    """Record the sha256 of every file under ``directory`` in its manifest.json."""
    directory = Path(directory)
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {"sha256": {p.relative_to(directory).as_posix(): sha256(p) for p in files}}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def artefacts_digest(directory: Path | str) -> str:
    """One hash for a set of artefacts: the hash of its manifest (the wrappers report it in health)."""
    return sha256(Path(directory) / "manifest.json")


def feature_ranges() -> dict[str, list[float]]:
    """[min, max] of every numeric feature over the whole training file: what the model has seen
    (age 17..90, capital gain 0..99999, capital loss 0..4356, hours 1..99 on Adult)."""
    from tutorial.data import NUMERIC, RENAMED, read_raw

    raw = read_raw("train").rename(columns=RENAMED)
    return {name: [float(raw[name].min()), float(raw[name].max())] for name in NUMERIC}


def export_artefacts(model, explainer, category_map: dict, root: Path | str | None = None) -> dict[str, Path]:
    """Write the fitted pipeline and the Anchors explainer where the wrappers load them from.

    ``model`` is the fitted preprocessor + classifier pipeline (it takes rows of model features),
    ``explainer`` a fitted alibi ``AnchorTabular`` (left as it is). ``root`` None writes into the
    steps' ``artefacts/`` directories; another directory gets ``<root>/<step name>/``.
    Returns the artefact directory of each step.
    """
    import dill

    from tutorial.data import FEATURES

    metadata = {
        "features": list(FEATURES),
        "class_names": CLASS_NAMES,
        "category_map": {str(i): list(names) for i, names in category_map.items()},
        "ranges": feature_ranges(),
    }
    dirs = {name: (STEPS / name / "artefacts" if root is None else Path(root) / name) for name in STEPS_NAMES}
    for step_name, target in dirs.items():
        # Write next to the target and swap, so a half-written set never sits under the final name.
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{step_name}-", dir=target.parent))
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the artefacts from the image's non-root user
        (staging / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
        if step_name == MODEL_STEP:
            with open(staging / "model.dill", "wb") as f:
                dill.dump(model, f)
        else:
            save_fitted_explainer(explainer, staging / "explainer")
            (staging / "reference.json").write_text(reference_json(model, explainer, category_map))
        write_manifest(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return dirs


STEPS_NAMES = (MODEL_STEP, EXPLAINER_STEP)


def reference_json(model, explainer, category_map: dict, size: int = 200, seed: int = 0) -> str:
    """The principal reasons' reference set, frozen with the artefacts: ``size`` training applicants (a
    fixed-seed sample) that the served model approves with P(approved) in (0.5, 0.6]."""
    from pipeline.loan_reasons.reasons import Reasons, reference_set
    from tutorial.data import FEATURES

    train = explainer.samplers[0].train_data  # the rows AnchorTabular was fitted on: the training data
    rows = reference_set(lambda X: model.predict_proba(X)[:, 1], train, size=size, seed=seed)
    return Reasons(rows, FEATURES, category_map).to_json()


def save_fitted_explainer(explainer, path: Path) -> None:
    """alibi's ``save_explainer`` of what a fitted AnchorTabular needs, on a copy of it.

    alibi 0.9.4 pickles ``samplers[0].predictor`` (the whole model, as Python 3.11 bytecode a Python 3.8
    image cannot run) and ``mab``, the beam search of the last ``explain()`` (140 MB with its lambdas).
    The copy has neither; ``load_explainer(path, predictor)`` sets the sampler's predictor again, and
    ``explain()`` builds a new beam search.
    """
    from alibi.saving import save_explainer

    fitted = copy.copy(explainer)  # shallow: the training data is shared, not copied
    fitted.__dict__.pop("mab", None)
    fitted.samplers = [copy.copy(sampler) for sampler in explainer.samplers]
    for sampler in fitted.samplers:
        sampler.predictor = None
    save_explainer(fitted, path)


def build_serving_artefacts(n_rows: int | None = None, n_estimators: int = 50, seed: int = 0):
    """Train what the notebook serves, without the notebook: the RandomForest pipeline and its Anchors.

    For `make serve` before any notebook run, and for the tests (``n_rows`` a small sample: seconds).
    Returns (model, explainer, category_map) for ``export_artefacts``.
    """
    from alibi.explainers import AnchorTabular

    from tutorial.data import FEATURES, load_adult
    from tutorial.models import build_rf_pipeline

    train = load_adult("train", n_rows=n_rows, seed=seed)
    model = build_rf_pipeline(train.category_map, n_estimators=n_estimators, seed=seed).fit(train.X, train.y)
    explainer = AnchorTabular(model.predict, FEATURES, categorical_names=train.category_map, seed=seed)
    explainer.fit(train.X, disc_perc=(25, 50, 75))
    return model, explainer, train.category_map


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tutorial.artefacts", description="train and export what is served")
    parser.add_argument("--rows", type=int, default=None, help="train on a sample of this many rows")
    parser.add_argument("--root", default=None, help="write <root>/<step>/ instead of the steps' artefacts/")
    parser.add_argument("--if-missing", action="store_true", help="only when a step has no manifest yet")
    args = parser.parse_args(argv)
    dirs = [STEPS / n / "artefacts" if args.root is None else Path(args.root) / n for n in STEPS_NAMES]
    if args.if_missing and all((d / "manifest.json").exists() for d in dirs):
        return
    print("Training the served model and its explainer (no notebook run exported them yet)...", flush=True)
    for name, path in export_artefacts(*build_serving_artefacts(n_rows=args.rows), root=args.root).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
