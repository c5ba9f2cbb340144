"""Time the notebook runs and check that two full runs print the same numbers.

Usage: .venv/bin/python scripts/bench_run.py [--runs 2] [--skip-full] [--skip-fast]

Prints, for the full run (as `make run` executes it) and the fast mode (as the test executes it),
the wall time of each run and each section's share, and whether the text outputs of the runs
(metrics, anchors, tables) are identical. Runs write into a temporary directory, never over the
committed notebook or images.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import nbformat
import papermill

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "explainability-and-bias.ipynb"
# Numbers that legitimately change between runs: durations, ports, process ids, memory addresses.
VOLATILE = re.compile(r"(127\.0\.0\.1:\d+|\d+(\.\d+)?\s*(s|ms|seconds)\b|port \d+|pid \d+|0x[0-9a-f]+|\d+:\d\d:\d\d)")


def run(fast: bool, workdir: Path) -> tuple[float, nbformat.NotebookNode]:
    os.environ["TUTORIAL_IMAGES_DIR"] = str(workdir / "images")
    out = workdir / f"run-{'fast' if fast else 'full'}-{time.monotonic_ns()}.ipynb"
    start = time.perf_counter()
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"FAST": fast}, cwd=str(ROOT),
                               progress_bar=False, execution_timeout=1200)
    return time.perf_counter() - start, nbformat.read(out, as_version=4)


def text_outputs(nb) -> list[str]:
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            if "worker_id=" in text:  # raw Prometheus lines: which gunicorn worker served what varies
                text = "<volatile>"
            if text:
                texts.append(VOLATILE.sub("<volatile>", text))
    return texts


def section_times(nb) -> dict[str, float]:
    """Seconds per top-level section (a markdown cell starting with '## N.')."""
    times, section = {}, "setup"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.match(r"^##\s+(\d+\..*)$", cell.source.strip().splitlines()[0] if cell.source.strip() else "")
            if match:
                section = match.group(1)[:50]
        duration = cell.metadata.get("papermill", {}).get("duration") or 0
        times[section] = times.get(section, 0) + duration
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--skip-fast", action="store_true")
    args = parser.parse_args()
    modes = [m for m, skip in (("full", args.skip_full), ("fast", args.skip_fast)) if not skip]
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            results = [run(mode == "fast", Path(tmp)) for _ in range(args.runs)]
            walls = ", ".join(f"{wall:.1f} s" for wall, _ in results)
            same = all(text_outputs(nb) == text_outputs(results[0][1]) for _, nb in results)
            print(f"\n{mode} notebook run: {walls} (wall, kernel start included)")
            print(f"  text outputs identical across {args.runs} runs: {same}")
            for _, nb in results[1:]:
                for a, b in zip(text_outputs(results[0][1]), text_outputs(nb)):
                    if a != b:
                        print(f"  first difference:\n    {a[:300]!r}\n    {b[:300]!r}")
                        break
            for section, seconds in section_times(results[0][1]).items():
                print(f"  {seconds:7.1f} s  {section}")


if __name__ == "__main__":
    main()
