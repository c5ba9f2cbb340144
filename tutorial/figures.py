"""Saving every figure of the notebook under images/ with one helper."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

IMAGES_DIR = Path(__file__).resolve().parent.parent / "images"


def save_fig(name: str, fig=None, images_dir: Path | str = IMAGES_DIR, dpi: int = 100) -> Path:
    """Save ``fig`` (default: the current figure) as images/<name>.png and return the path."""
    fig = fig if fig is not None else plt.gcf()
    path = Path(images_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
