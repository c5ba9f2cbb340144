"""Time the notebook runs and check that two full runs print the same numbers.

Usage: .venv/bin/python scripts/bench_run.py [--runs 2] [--skip-full] [--skip-fast]

Prints, for the full run (as `make run` executes it) and the fast mode (as the test executes it),
the wall time of each run and each section's share, and whether the text outputs of the runs
(metrics, anchors, tables) are identical. Runs write into a temporary directory, never over the
committed notebook or images.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from talk.runs import execute, first_difference  # noqa: E402


def run(fast: bool, workdir: Path):
    out = workdir / f"run-{'fast' if fast else 'full'}-{time.monotonic_ns()}.ipynb"
    start = time.perf_counter()
    nb = execute(out, fast, images_dir=workdir / "images")
    return time.perf_counter() - start, nb


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
            differences = [first_difference(results[0][1], nb) for _, nb in results[1:]]
            print(f"\n{mode} notebook run: {walls} (wall, kernel start included)")
            print(f"  text outputs identical across {args.runs} runs: {not any(differences)}")
            for difference in filter(None, differences):
                print(f"  first difference:\n    {difference[0][:300]!r}\n    {difference[1][:300]!r}")
            for section, seconds in section_times(results[0][1]).items():
                print(f"  {seconds:7.1f} s  {section}")


if __name__ == "__main__":
    main()
