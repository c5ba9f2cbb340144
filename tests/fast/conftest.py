"""tests/fast/: in-process tests, no notebook and no process started. This folder runs in .venv-serve;
kserve/ in .venv-kserve (`make test-fast` runs both)."""

from fast_setup import artefacts  # noqa: F401 (the fixture)

collect_ignore = ["kserve"]
