"""Test support: a PostgreSQL server of Debian's package (`postgresql`) on a free loopback port, its data in
a temporary directory, run as the `postgres` user when the tests run as root (PostgreSQL refuses root)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pipeline.local import processes
from pipeline.local.processes import LOOPBACK, free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """``url`` of a fresh server (database ``postgres``, user ``review``, trust on loopback only)."""

    def __init__(self):
        if not (BIN / "postgres").exists():
            raise RuntimeError(f"{BIN}/postgres is missing: apt-get install postgresql")
        self.dir = Path(tempfile.mkdtemp(prefix="review-pg-"))
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        subprocess.run(_as_postgres([str(BIN / "initdb"), "-D", str(data), "-U", "review", "-A", "trust",
                                     "--no-sync"]), check=True, capture_output=True, timeout=120)  # fmt: skip
        command = _as_postgres([str(BIN / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.dir),
                                "-c", f"listen_addresses={LOOPBACK}"])  # fmt: skip
        self.process = processes.start(command, Path(tempfile.gettempdir()) / f"review-pg-{self.port}.log")
        self.url = f"postgresql://review@{LOOPBACK}:{self.port}/postgres"
        processes.wait_until(self.ready, 60, self.process, "postgres")

    def ready(self) -> bool:
        return subprocess.run([str(BIN / "pg_isready"), "-h", LOOPBACK, "-p", str(self.port)],
                              capture_output=True).returncode == 0  # fmt: skip

    def sql(self, query: str) -> list[list[str]]:
        done = subprocess.run([str(BIN / "psql"), self.url, "-At", "-F", "\t", "-c", query], capture_output=True,
                              text=True, check=True, timeout=60)  # fmt: skip
        return [line.split("\t") for line in done.stdout.splitlines()]

    def rows(self, query: str) -> list[tuple]:
        """The rows of ``query`` as tuples of Python values (through JSON: numbers, strings, None)."""
        lines = self.sql(f"SELECT row_to_json(t) FROM ({query}) t")
        return [tuple(json.loads(line[0]).values()) for line in lines]

    def stop(self) -> None:
        processes.stop_group(self.process.pid, 20)
        shutil.rmtree(self.dir, ignore_errors=True)
