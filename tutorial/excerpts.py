"""Short excerpts of committed source files for the slides, read from the file so they cannot drift.

``code_excerpt(path, start, stop)`` is the lines from the first one that begins with ``start`` up to (not
including) the next one that begins with ``stop``, as a fenced Markdown block; ``skip`` replaces one run of
lines inside by ``...``. A slide shows at most ``max_lines`` lines of code (issue 13), so a longer
excerpt is an error rather than a slide that scrolls.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 15


def _find(lines: list[str], marker: str, after: int, path) -> int:
    for i in range(after, len(lines)):
        if lines[i].startswith(marker):
            return i
    raise ValueError(f"no line starting with {marker!r} in {path} after line {after + 1}")


def excerpt_lines(path, start: str, stop: str | None = None, skip: tuple[str, str] | None = None) -> list[str]:
    """The lines of ``path`` (relative to the repository) from ``start`` to before ``stop`` (None: the end)."""
    path = ROOT / path
    lines = path.read_text(encoding="utf-8").splitlines()
    first = _find(lines, start, 0, path)
    last = _find(lines, stop, first + 1, path) if stop is not None else len(lines)
    kept = lines[first:last]
    if skip is not None:
        begin = _find(kept, skip[0], 0, path)
        end = _find(kept, skip[1], begin + 1, path)
        indent = kept[begin][: len(kept[begin]) - len(kept[begin].lstrip())]
        kept = kept[:begin] + [indent + "..."] + kept[end:]
    while kept and not kept[-1].strip():
        kept.pop()
    return textwrap.dedent("\n".join(kept)).split("\n")


def code_excerpt(path, start: str, stop: str | None = None, skip: tuple[str, str] | None = None,
                 language: str = "python", max_lines: int = MAX_LINES) -> str:
    """Markdown: a ```language block with the excerpt of ``path`` (see ``excerpt_lines``)."""
    lines = excerpt_lines(path, start, stop, skip)
    if len(lines) > max_lines:
        raise ValueError(f"the excerpt of {path} has {len(lines)} lines, more than {max_lines} for a slide")
    body = "\n".join(lines)
    return f"```{language}\n{body}\n```"
