"""tests/fast/: in-process tests, no notebook and no process started. This folder runs in .venv-serve;
kserve/ in .venv-kserve (`make test-fast` runs both)."""

collect_ignore = ["kserve"]
