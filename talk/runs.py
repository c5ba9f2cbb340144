"""Running the notebook headless (papermill) and comparing what two runs printed."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import papermill

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "explainability-and-bias.ipynb"
# What legitimately changes between runs: durations, loopback ports, process ids, memory addresses.
VOLATILE = re.compile(r"(127\.0\.0\.1:\d+|\d+(\.\d+)?\s*(s|ms|seconds)\b|port \d+|pid \d+|0x[0-9a-f]+|\d+:\d\d:\d\d)")


def execute(out: Path, fast: bool, images_dir: Path | None = None, timeout: int = 1200) -> nbformat.NotebookNode:
    """Execute the notebook into ``out``; figures go to ``images_dir`` so the committed ones stay."""
    saved = os.environ.get("TUTORIAL_IMAGES_DIR")
    if images_dir is not None:
        os.environ["TUTORIAL_IMAGES_DIR"] = str(images_dir)  # the kernel inherits it
    try:
        papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"FAST": fast}, cwd=str(ROOT),
                                   kernel_name="python3", progress_bar=False, execution_timeout=timeout)
    finally:
        if saved is None:
            os.environ.pop("TUTORIAL_IMAGES_DIR", None)
        else:
            os.environ["TUTORIAL_IMAGES_DIR"] = saved
    return nbformat.read(out, as_version=4)


def text_outputs(nb) -> list[str]:
    """Every printed text and plain-text result of a run, with the volatile parts masked."""
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                continue  # library warnings, with timestamps
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            if "worker_id=" in text:  # raw Prometheus lines: which gunicorn worker served what varies
                text = "<volatile>"
            if text:
                texts.append(VOLATILE.sub("<volatile>", text))
    return texts


def first_difference(a, b) -> tuple[str, str] | None:
    """The first pair of differing text outputs of two runs, or None if they printed the same."""
    ta, tb = text_outputs(a), text_outputs(b)
    for x, y in zip(ta, tb):
        if x != y:
            return x, y
    return None if len(ta) == len(tb) else ("<%d outputs>" % len(ta), "<%d outputs>" % len(tb))
