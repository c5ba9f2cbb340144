"""Version checks at the top of the notebook: the environment is the one requirements.txt pins."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)")


def pinned_versions(requirements: Path | str = REQUIREMENTS) -> dict[str, str]:
    """{distribution: version} of every exact pin in a requirements file."""
    pins = {}
    for line in Path(requirements).read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def version_mismatches(requirements: Path | str = REQUIREMENTS) -> dict[str, tuple[str, str | None]]:
    """{distribution: (pinned, installed or None)} for every pin the running Python does not match."""
    wrong = {}
    for name, pinned in pinned_versions(requirements).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != pinned:
            wrong[name] = (pinned, installed)
    return wrong


def check_environment(requirements: Path | str = REQUIREMENTS) -> None:
    """Fail early, with the fix, when the notebook runs outside the environment `make install` builds."""
    if sys.version_info[:2] != (3, 11):
        found = sys.version.split()[0]
        raise RuntimeError(f"This notebook is pinned for Python 3.11, not {found}: run `make install`.")
    wrong = version_mismatches(requirements)
    if wrong:
        listed = ", ".join(f"{n} {p} (found {i})" for n, (p, i) in sorted(wrong.items()))
        raise RuntimeError(f"Packages differ from requirements.txt: {listed}. Run `make install`.")
