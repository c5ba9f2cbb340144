"""The stop switch as the decision path reads it: one indexed SELECT on the review database per request.

The review service writes the switch (``loan_review``) into its database, so its state survives a
restart of every service; the model core reads it on each request, so it takes effect from the next
request on. Only SQLite URLs are read here (the local runs and one-replica clusters). A database that
exists but cannot be read holds every decision (fails towards a person); no database file means the
switch was never turned on.
"""

import sqlite3
import threading
from pathlib import Path

TABLE = ("CREATE TABLE IF NOT EXISTS stop_switch (id INTEGER PRIMARY KEY CHECK (id = 1), is_on INTEGER NOT NULL, "
         "since TEXT, by_whom TEXT, reason TEXT)")  # fmt: skip
UNREADABLE = "stop switch unreadable"


def sqlite_path(url):
    """The file of a ``sqlite:///path`` URL (``sqlite:////abs`` or ``sqlite:///rel``), else ValueError."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"LOAN_REVIEW_DB must be a sqlite:///path URL here, got {url.split(':')[0]}://...")
    return Path(url[len(prefix):])


class StopSwitch:
    """``cause()``: None while the switch is off, else why every decision goes to a person."""

    def __init__(self, url):
        self.path = sqlite_path(url)
        self.local = threading.local()  # sqlite3 connections stay in their thread

    def cause(self):
        connection = getattr(self.local, "connection", None)
        try:
            if connection is None:
                if not self.path.exists():
                    return None
                connection = self.local.connection = sqlite3.connect(str(self.path), timeout=1.0,
                                                                     check_same_thread=True)  # fmt: skip
            row = connection.execute("SELECT is_on FROM stop_switch WHERE id = 1").fetchone()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):  # the review service has not created it: never turned on
                return None
            self.local.connection = None
            return UNREADABLE
        except sqlite3.Error:
            self.local.connection = None
            return UNREADABLE
        return "stop switch" if row and row[0] else None
