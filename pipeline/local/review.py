"""The review service run locally (``python -m loan_review`` in ``.venv-serve``), for `make serve`, the
notebook and the tests: its database, audit log and reviewers' file under one directory (``.run/`` for
`make serve`), on a loopback port, in its own process group.

The reviewers' file is the local stand-in for the cluster's Secret: "name token" lines, owner-only.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.local import processes
from pipeline.local.processes import LOOPBACK, REPO, RUN_DIR, free_port

SERVE_PYTHON = REPO / ".venv-serve" / "bin" / "python"
REVIEW_PYTHON = REPO / ".venv-review" / "bin" / "python"  # with psycopg, for a PostgreSQL database (make review-env)
PORT = 9010  # documented local port (pipeline/README.md)


def reviewers_file(path: Path | str, names=("reviewer",)) -> dict[str, str]:
    """Tokens of ``names`` in ``path`` (made owner-only, whole, if missing); returns name -> token."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        fd, tmp = tempfile.mkstemp(dir=path.parent)  # mode 0600, linked into place whole
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{name} {secrets.token_urlsafe(24)}\n" for name in names)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return dict(line.split() for line in path.read_text().splitlines() if line.strip())


@dataclass
class ReviewService:
    pid: int
    port: int
    directory: str
    db_url: str
    audit_log: str
    log: str
    tokens: dict = field(default_factory=dict, repr=False)
    env: dict = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def headers(self, name: str | None = None) -> dict:
        """The Authorization header of reviewer ``name`` (the first one by default)."""
        return {"Authorization": "Bearer " + self.tokens[name or next(iter(self.tokens))]}

    def healthy(self, timeout: float = 4.0) -> bool:
        import requests

        try:
            return requests.get(self.url + "/health", timeout=timeout).ok
        except requests.RequestException:
            return False


def start_review(directory: Path | str = RUN_DIR, port: int | None = None, follow=(), artefacts=None,
                 reviewers=("reviewer",), env: dict | None = None, wait: float = 60.0) -> ReviewService:
    """Start the review service; its database ``<directory>/review.db`` (unless LOAN_REVIEW_DB is given in
    ``env``), its audit log ``<directory>/loan-review-audit.jsonl``, reading ``follow``'s audit files."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port(PORT)
    tokens = reviewers_file(directory / "reviewers", reviewers)
    db_url = (env or {}).get("LOAN_REVIEW_DB") or f"sqlite:///{directory / 'review.db'}"
    audit_log, log = directory / "loan-review-audit.jsonl", directory / "loan-review.log"
    environment = {
        **os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "pipeline"), str(REPO)]),
        "LOAN_REVIEW_DB": db_url, "LOAN_REVIEWERS_FILE": str(directory / "reviewers"),
        "LOAN_AUDIT_LOG": str(audit_log), "LOAN_AUDIT_STDOUT": "0", "LOAN_LOOPBACK": "1",
        "LOAN_REVIEW_FOLLOW": ",".join(str(p) for p in follow), "PYTHONUNBUFFERED": "1",
        **({"LOAN_ARTEFACTS": str(artefacts)} if artefacts else {}), **(env or {}),
    }  # fmt: skip
    python = REVIEW_PYTHON if db_url.startswith("postgres") else SERVE_PYTHON
    if not python.exists():
        raise RuntimeError(f"{python} is missing: make {'review-env' if python == REVIEW_PYTHON else 'serve-env'}")
    command = [str(python), "-m", "loan_review", "--port", str(port)]
    process = processes.start(command, log, cwd=directory, env=environment)
    service = ReviewService(process.pid, port, str(directory), db_url, str(audit_log), str(log), tokens,
                            dict(env or {}))  # fmt: skip
    if wait:
        try:
            processes.wait_until(service.healthy, wait, process, f"loan-review on port {port}", log)
        except Exception:
            processes.stop_group(process.pid, 10)
            raise
    return service


def stop_review(service: ReviewService, timeout: float = 10.0) -> None:
    processes.stop_group(service.pid, timeout)


# --- command line (the Makefile's `serve`, `stop`) --------------------------------------------------

NAME = "loan-review"
DB_URL = f"sqlite:///{RUN_DIR / 'review.db'}"  # `make serve` gives the model services the same URL


def _start(args) -> None:
    state = processes.recorded(RUN_DIR, NAME)
    if state and processes.alive(state["pid"]):
        print(f"{NAME}: already running, http://{LOOPBACK}:{state['port']}  pid {state['pid']}")
        return
    follow = [RUN_DIR / f"{step}-audit.jsonl" for step in ("loanclassifier", "loanclassifier-explainer")]
    artefacts = REPO / "pipeline" / "pipeline_steps" / "loanclassifier" / "artefacts"
    service = start_review(RUN_DIR, follow=follow, artefacts=artefacts if artefacts.is_dir() else None,
                           env={"LOAN_REVIEW_DB": os.environ.get("LOAN_REVIEW_DB") or DB_URL})  # fmt: skip
    processes.record(RUN_DIR, NAME, service.pid, {"pid": service.pid, "port": service.port, "db": service.db_url})
    print(f"{NAME}: {service.url}  pid {service.pid}  db {service.db_url}  reviewers' tokens: {RUN_DIR / 'reviewers'}")


def _stop(args) -> None:
    pid = processes.recorded_pid(RUN_DIR, NAME)
    if pid and processes.alive(pid):
        processes.stop_group(pid)
        print(f"stopped {NAME} (pid {pid})")
    processes.forget(RUN_DIR, NAME)


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipeline.local.review", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True)
    commands.add_parser("start", help="start the review service on 127.0.0.1 (state in .run/)").set_defaults(run=_start)
    commands.add_parser("stop", help="stop it").set_defaults(run=_stop)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
