"""Local intake: the review service reads the services' audit files as they grow (in the cluster, where
the audit lines go to stdout, a log shipper posts them to ``/api/intake`` instead).

Only whole lines are read; the file's offset is saved in the same transaction as the cases the lines
opened, so a killed service neither loses nor repeats a line. A rotated file (renamed to ``<path>.1``
by the audit handler) is read to its end before the new one.
"""

import json
import logging
import os
import threading

from loan_service.errors import Refused

log = logging.getLogger(__name__)
CHUNK = 4 * 1024 * 1024


class Follower:
    def __init__(self, core, paths, interval=0.5):
        self.core, self.paths, self.interval = core, [p for p in paths if p], float(interval)
        self.stopped = threading.Event()
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.run, name="audit-follower", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()

    def run(self):
        while not self.stopped.wait(self.interval):
            for path in self.paths:
                try:
                    while self.step(path):
                        pass
                except Exception:  # a bad file must not stop the intake of the others
                    log.exception("reading %s", path)

    def step(self, path):
        """Read one chunk of new whole lines of ``path``; True when there may be more."""
        store = self.core.store
        saved = store.one("SELECT inode, done FROM follow WHERE path = ?", path)
        try:
            inode = os.stat(path).st_ino
        except FileNotFoundError:
            return False
        source, offset = path, 0
        if saved is not None:
            if saved["inode"] == inode:
                offset = saved["done"]
            elif os.path.exists(path + ".1") and os.stat(path + ".1").st_ino == saved["inode"]:
                source, offset = path + ".1", saved["done"]  # finish the rotated file first
        with open(source, "rb") as f:
            f.seek(offset)
            chunk = f.read(CHUNK)
        whole = chunk[: chunk.rfind(b"\n") + 1]
        if source != path and not whole:  # the rotated file is done: start the new one
            with store.transaction() as db:
                self._save(db, path, inode, 0)
            return True
        if not whole:
            return False
        lines = [self._parse(text) for text in whole.split(b"\n") if b'"caller": "applicant"' in text]
        with store.transaction() as db:
            for line in lines:
                try:
                    self.core.intake([line], db)
                except Refused as error:
                    log.warning("skipped: %s", error.message)
            self._save(db, path, os.stat(source).st_ino, offset + len(whole))
        self.core.export()
        return len(chunk) == CHUNK

    @staticmethod
    def _parse(text):
        try:
            return json.loads(text)
        except ValueError:
            return None

    @staticmethod
    def _save(db, path, inode, offset):
        db.execute("INSERT INTO follow VALUES (?, ?, ?) ON CONFLICT (path) DO UPDATE SET inode = excluded.inode, "
                   "done = excluded.done", (path, inode, offset))  # fmt: skip
