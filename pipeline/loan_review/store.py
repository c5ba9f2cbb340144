"""The review cases in one database (``LOAN_REVIEW_DB``), with the standard library's sqlite3.

Every change is one transaction (``BEGIN IMMEDIATE``: one writer at a time, readers go on in WAL mode),
and the audit line of a change is a row of ``actions`` written in the same transaction: a SIGKILL leaves
either the whole change with its line or neither. ``actions`` is the outbox of the audit file: a line
is appended to the file after the commit and marked exported; lines not yet exported when the service
died are appended at the next start (each carries its ``action_id``, so a line written twice is one).
"""

import json
import os
import sqlite3
import threading
from contextlib import contextmanager

from loan_service.stop_switch import TABLE as STOP_SWITCH_TABLE
from loan_service.stop_switch import sqlite_path

SCHEMA = [
    # every applicant decision the services reported (their audit lines), for contests and cases
    """CREATE TABLE IF NOT EXISTS decisions (
        request_id TEXT NOT NULL, row_key TEXT NOT NULL, seq INTEGER NOT NULL, service TEXT NOT NULL,
        time TEXT NOT NULL, artefacts TEXT, row TEXT NOT NULL, decision TEXT NOT NULL,
        probability REAL NOT NULL, reasons TEXT, flags TEXT, anchor TEXT,
        PRIMARY KEY (request_id, row_key))""",
    """CREATE TABLE IF NOT EXISTS cases (
        id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, row_key TEXT NOT NULL,
        causes TEXT NOT NULL, view TEXT, opened REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
        closed REAL, reviewer TEXT, action TEXT, final TEXT, reason TEXT, codes TEXT,
        CHECK ((state = 'open') = (closed IS NULL AND final IS NULL AND reviewer IS NULL)),
        UNIQUE (request_id, row_key))""",
    "CREATE INDEX IF NOT EXISTS cases_open ON cases (state, opened)",
    """CREATE TABLE IF NOT EXISTS actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, case_id INTEGER, request_id TEXT, kind TEXT NOT NULL,
        line TEXT NOT NULL, exported INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS actions_pending ON actions (exported)",
    "CREATE TABLE IF NOT EXISTS follow (path TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL)",
    STOP_SWITCH_TABLE,
]


def connect_url(url):
    """A sqlite3 connection to ``url``, in autocommit mode (transactions are explicit), WAL journal."""
    path = sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # applicants' data: owner-only (SQLite gives its -wal and -shm files the same mode)
        os.close(os.open(str(path), os.O_CREAT | os.O_WRONLY, 0o600))
    connection = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")  # a committed action survives a power cut, not only a kill
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


class Store:
    """One connection per thread; ``transaction()`` for every change."""

    def __init__(self, url):
        self.url = url
        self.local = threading.local()
        with self.transaction() as db:
            for statement in SCHEMA:
                db.execute(statement)

    @property
    def db(self):
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = connect_url(self.url)
        return connection

    @contextmanager
    def transaction(self):
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def query(self, sql, *args):
        return self.db.execute(sql, args).fetchall()

    def one(self, sql, *args):
        return self.db.execute(sql, args).fetchone()


def add_action(db, kind, line, case_id=None):
    """The audit line of a change, in the change's transaction; returns the line with its ``action_id``."""
    cursor = db.execute("INSERT INTO actions (case_id, request_id, kind, line) VALUES (?, ?, ?, '')",
                        (case_id, line.get("request_id"), kind))  # fmt: skip
    line = dict(line, action_id=cursor.lastrowid, kind=kind)
    db.execute("UPDATE actions SET line = ? WHERE id = ?", (json.dumps(line), cursor.lastrowid))
    return line
