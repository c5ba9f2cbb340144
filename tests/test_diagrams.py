"""Our diagrams are drawn by code at a fixed size, and the committed PNGs are what the code draws."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402

from tutorial import diagrams  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def test_diagrams_are_drawn_at_their_size(tmp_path):
    paths = diagrams.save_diagrams(tmp_path)
    assert [p.name for p in paths] == ["workflow.png", "explainer-deployment.png"]
    for path, (_draw, (width, height)) in zip(paths, diagrams.DIAGRAMS.values()):
        pixels = mpimg.imread(path)
        assert pixels.shape[:2] == (round(height * diagrams.DPI), round(width * diagrams.DPI))
        # Something is drawn: dark text and lines on a light background, in more than one colour.
        grey = pixels[..., :3].mean(axis=2)
        assert (grey < 0.3).mean() > 0.005
        assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 50


def test_committed_diagrams_match_the_code(tmp_path):
    for path in diagrams.save_diagrams(tmp_path):
        committed = REPO / "images" / path.name
        assert committed.is_file() and committed.read_bytes() == path.read_bytes(), (
            f"images/{path.name} is stale: run `make diagrams`"
        )
