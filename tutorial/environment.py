"""Version checks at the top of the notebook: warn when what it imports differs from requirements.txt.

The notebook still runs in a reader's own environment (JupyterLab desktop, a hosted notebook service):
a different version is reported, not refused, because it may print other numbers than the README's.
"""

from __future__ import annotations

import re
import sys
import warnings
from importlib import metadata
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)")
# The distributions the notebook imports (the tools, tests and slides builders are not checked here).
NOTEBOOK_IMPORTS = (
    "tensorflow", "numpy", "pandas", "scikit-learn", "matplotlib", "alibi", "innvestigate", "xai",
    "livelossplot", "fairlearn", "dill", "requests",
)


class EnvironmentWarning(UserWarning):
    """The running Python or a package the notebook imports differs from what requirements.txt pins."""


def pinned_versions(requirements: Path | str = REQUIREMENTS) -> dict[str, str]:
    """{distribution: version} of every exact pin in a requirements file."""
    pins = {}
    for line in Path(requirements).read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def version_mismatches(requirements: Path | str = REQUIREMENTS, only=None) -> dict[str, tuple[str, str | None]]:
    """{distribution: (pinned, installed or None)} for the pins (or the ``only`` ones) the running Python misses."""
    wrong = {}
    for name, pinned in pinned_versions(requirements).items():
        if only is not None and name not in only:
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != pinned:
            wrong[name] = (pinned, installed)
    return wrong


def check_environment(requirements: Path | str = REQUIREMENTS) -> list[str]:
    """Warn, with the fix, about each difference from the pinned environment; returns the warnings."""
    problems = []
    if sys.version_info[:2] != (3, 11):
        problems.append(f"Python {sys.version.split()[0]} (the notebook is pinned for 3.11)")
    wrong = version_mismatches(requirements, only=NOTEBOOK_IMPORTS)
    problems += [f"{n} {i or 'not installed'} (pinned {p})" for n, (p, i) in sorted(wrong.items())]
    for problem in problems:
        warnings.warn(f"{problem}: the notebook may print other numbers; `make install` builds the pinned "
                      "environment.", EnvironmentWarning, stacklevel=2)
    return problems
