"""Running the notebook headless (papermill) and comparing what two runs printed.

``compare_runs`` is what `make test` trusts: it matches the cells of the committed notebook and of a fresh
full run by id and compares their text outputs (printed text, plain-text results and rendered Markdown),
volatile parts masked, every number within a tolerance. Cells tagged ``varies-by-machine`` hold results
downstream of TensorFlow's floats, which differ between CPUs (AVX-512 or AVX2 kernels), or of the machine's
speed (traffic sent to the services for a fixed time): their words may differ (another anchor, another
counterfactual) and their numbers get a wider tolerance; the story's claims there are checked by the
notebook's own assert cells. Cells tagged ``varies-by-load`` print what the machine's speed decides (how many
requests the monitoring demo sent in its seconds, which applicant was the last one sent): only that they
printed something is compared; their assert cells check the rest. The counterfactual batch is not: alibi's
update step, whose op order TensorFlow left to the machine's load, is ordered (``ordered_fista_step``), so
the batch prints the same on a loaded machine as on an idle one. Its cells are tagged ``varies-with-network``:
what a search on the Keras network finds (how many counterfactuals, which changes) follows that network, which
another CPU trains a little differently (measured with ONEDNN_MAX_CPU_ISA=AVX2: other counts, other
changes). When the run's network is the committed one (every other ``varies-by-machine`` cell printed the
committed text), they are compared as strictly as stable cells; otherwise only for printing something.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import papermill

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "explainability-and-bias.ipynb"
VARIES_TAG = "varies-by-machine"
LOAD_TAG = "varies-by-load"
NETWORK_TAG = "varies-with-network"
# What legitimately changes between runs: durations, loopback ports, process ids, memory addresses.
VOLATILE = re.compile(
    r"(127\.0\.0\.1:\d+|\d+(\.\d+)?\s*(s|ms|seconds)\b|port \d+|pid \d+|0x[0-9a-f]+|\d+:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\dT[\d:.]+Z?|[0-9a-f]{12,})"
)
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?")
# |committed - run| allowed: max(relative x |committed|, absolute). Stable cells: scikit-learn, pandas and
# the data give the same numbers on every machine, up to float round-off in the last printed digit.
TOLERANCE = (0.02, 0.011)
TOLERANCE_VARIES = (0.10, 0.05)


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


def cell_texts(cell) -> list[str]:
    """The text outputs of one cell, volatile parts masked (stderr is skipped: library warnings).

    Consecutive stdout chunks are joined: how a stream is cut into outputs varies from run to run."""
    texts, streaming = [], False
    for output in cell.get("outputs", []):
        if output.get("name") == "stderr":
            continue
        data = output.get("data", {})
        text = output.get("text") or data.get("text/markdown") or data.get("text/plain", "")
        if output.get("name") == "stdout" and streaming:
            texts[-1] += VOLATILE.sub("<volatile>", text)
            continue
        if "worker_id=" in text:  # raw Prometheus lines: which gunicorn worker served what varies
            text = "<volatile>"
        streaming = False
        if text:
            texts.append(VOLATILE.sub("<volatile>", text))
            streaming = output.get("name") == "stdout"
    return texts


def text_outputs(nb) -> list[str]:
    """Every printed text, plain-text result and rendered Markdown of a run, volatile parts masked."""
    return [text for cell in nb.cells for text in cell_texts(cell)]


def first_difference(a, b) -> tuple[str, str] | None:
    """The first pair of differing text outputs of two runs, or None if they printed the same."""
    ta, tb = text_outputs(a), text_outputs(b)
    for x, y in zip(ta, tb):
        if x != y:
            return x, y
    return None if len(ta) == len(tb) else ("<%d outputs>" % len(ta), "<%d outputs>" % len(tb))


def _numbers(text: str) -> tuple[str, list[float]]:
    return NUMBER.sub("<n>", text), [float(n.replace(",", "")) for n in NUMBER.findall(text)]


def _ids(nb) -> list[str]:
    """Cell ids, without the cell papermill injects for the parameters of a run."""
    return [c.id for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]


def _same_network(committed, ran: dict) -> bool:
    """Whether the run trained the committed network: every ``varies-by-machine`` cell that is neither a
    search result nor timed printed the committed text."""
    def fingerprint(cell) -> bool:
        tags = cell.metadata.get("tags", [])
        return VARIES_TAG in tags and NETWORK_TAG not in tags and LOAD_TAG not in tags
    return all(cell_texts(cell) == cell_texts(ran[cell.id]) for cell in committed.cells
               if cell.cell_type == "code" and cell.id in ran and fingerprint(cell))


def compare_runs(committed, run) -> list[str]:
    """What differs between the committed notebook and a run, beyond the tolerances; [] if nothing."""
    problems = []
    ran = {cell.id: cell for cell in run.cells}
    if _ids(committed) != _ids(run):
        problems.append("the cells differ: the committed notebook is not the executed notebook")
    same_network = _same_network(committed, ran)
    for cell in committed.cells:
        if cell.cell_type != "code" or cell.id not in ran:
            continue
        tags = cell.metadata.get("tags", [])
        varies = VARIES_TAG in tags and not (NETWORK_TAG in tags and same_network)
        rel, absolute = TOLERANCE_VARIES if varies else TOLERANCE
        old, new = cell_texts(cell), cell_texts(ran[cell.id])
        if LOAD_TAG in tags or (NETWORK_TAG in tags and not same_network):
            if bool(old) != bool(new):
                problems.append(f"{cell.id}: {len(old)} text outputs committed, {len(new)} in the run")
            continue
        if len(old) != len(new) and not varies:
            problems.append(f"{cell.id}: {len(old)} text outputs committed, {len(new)} in the run")
            continue
        for a, b in zip(old, new):
            (shape_a, xs), (shape_b, ys) = _numbers(a), _numbers(b)
            if shape_a != shape_b:
                if not varies:
                    problems.append(f"{cell.id}: the text differs:\n  committed: {a[:300]!r}\n  run:       {b[:300]!r}")
                continue
            for x, y in zip(xs, ys):
                if abs(x - y) > max(rel * abs(x), absolute):
                    problems.append(f"{cell.id}: {x:g} committed, {y:g} in the run (tolerance {rel:.0%} or "
                                    f"{absolute:g}) in {b[:200]!r}")
                    break
    return problems
