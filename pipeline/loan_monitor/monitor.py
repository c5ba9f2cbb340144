"""The monitor: follows the model service's audit trail (JSON lines, one per decision), cuts the applicants'
decisions into windows, tests each window for drift, and exports to Prometheus the decisions per gender x
ethnicity and each input's drift, on its own metrics port. Outside the request path: the service only
writes its audit lines, as before.

Its state (the position in the audit file, the counts, the window being filled) is written atomically
after each read and before the counters move, so a SIGKILL loses nothing and counts nothing twice: the
next start reads on from the saved position and exports the saved counts.
"""

import argparse
import json
import math
import os
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from .drift import Reference, compare

GROUPS = ("gender", "ethnicity")
READ_AT_MOST = 8 * 1024 * 1024  # bytes a poll reads, so a long backlog is taken in steps


class Monitor:
    def __init__(self, audit_log, reference: Reference, state_file, window=500, alpha=0.01, registry=None):
        self.audit_log, self.reference, self.state_file = Path(audit_log), reference, Path(state_file)
        self.window, self.alpha = window, alpha
        fresh = {"inode": None, "offset": 0, "pending": [], "windows": 0, "drifted_windows": 0, "decisions": {},
                 "unknown": {}, "skipped": 0, "last": {}}  # fmt: skip
        self.state = json.loads(self.state_file.read_text()) if self.state_file.exists() else fresh
        self.registry = registry or CollectorRegistry()
        self._metrics()
        self._export({"decisions": {}, "unknown": {}, "skipped": 0, "windows": 0, "drifted_windows": 0})

    def _metrics(self):
        r, ref = self.registry, self.reference
        self.decisions = Counter("loan_monitor_decisions", "Applicants' decisions read from the audit trail",
                                 [*GROUPS, "decision"], registry=r)  # fmt: skip
        self.unknown = Counter("loan_monitor_unknown_values", "Values never seen in training", ["feature"], registry=r)
        self.skipped = Counter("loan_monitor_skipped_lines", "Audit lines that are not a readable decision", registry=r)
        self.windows = Counter("loan_monitor_windows", "Windows of decisions tested", registry=r)
        self.drifted_windows = Counter("loan_monitor_drifted_windows", "Windows with any input drifted", registry=r)
        self.p_value = Gauge("loan_monitor_drift_p_value", "Holm-adjusted p, last window", ["feature"], registry=r)
        self.drifted = Gauge("loan_monitor_drifted", "1: drifted in the last window", ["feature"], registry=r)
        self.pending = Gauge("loan_monitor_pending_decisions", "Decisions in the window being filled", registry=r)
        names = [ref.category_map[ref.features.index(g)] for g in GROUPS]
        for gender in names[0]:  # every group from zero: a group with no applicants is there, with 0
            for ethnicity in names[1]:
                for decision in ("approved", "rejected"):
                    self.decisions.labels(gender, ethnicity, decision)
        for feature in ref.features:
            self.unknown.labels(feature)
            self.p_value.labels(feature).set(float("nan"))  # not tested yet
            self.drifted.labels(feature).set(0)

    def poll(self) -> int:
        """Read the new complete lines, update and save the state, then export. Returns lines read."""
        before = json.loads(json.dumps({k: self.state[k] for k in ("decisions", "unknown", "skipped", "windows",
                                                                   "drifted_windows")}))  # fmt: skip
        lines = self._read()
        for line in lines:
            self._take(line)
        if lines:
            self._save()
            self._export(before)
        return len(lines)

    def _read(self) -> list[bytes]:
        try:
            inode = self.audit_log.stat().st_ino
        except FileNotFoundError:
            return []
        data, offset = b"", self.state["offset"]
        if self.state["inode"] not in (None, inode):  # rotated: finish the old file under its backup name
            backup = self.audit_log.with_name(self.audit_log.name + ".1")
            if backup.exists() and backup.stat().st_ino == self.state["inode"]:
                with open(backup, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            offset = 0
        elif self.audit_log.stat().st_size < offset:  # truncated
            offset = 0
        with open(self.audit_log, "rb") as f:
            f.seek(offset)
            chunk = f.read(READ_AT_MOST)
        complete = chunk.rfind(b"\n") + 1  # a line still being written waits for the next poll
        self.state.update(inode=inode, offset=offset + complete)
        return (data + chunk[:complete]).splitlines()

    def _take(self, line: bytes) -> None:
        try:
            record = json.loads(line)
            if record.get("caller") != "applicant" or "anchor" in record:
                return  # the explainer's perturbed samples, or an explanation: not an applicant's decision
            row = [float(v) if v is not None else math.nan for v in record["row"]]
            decision = record["decision"]
        except (ValueError, KeyError, TypeError, AttributeError):
            self.state["skipped"] += 1
            return
        if len(row) != len(self.reference.features) or decision not in ("approved", "rejected"):
            self.state["skipped"] += 1
            return
        groups = [self._category(row, g) for g in GROUPS]
        if None not in groups:
            key = "|".join([*groups, decision])
            self.state["decisions"][key] = self.state["decisions"].get(key, 0) + 1
        self.state["pending"].append(row)
        if len(self.state["pending"]) >= self.window:
            self._test(self.state["pending"][: self.window])
            self.state["pending"] = self.state["pending"][self.window :]

    def _category(self, row, feature):
        """The category's name, or None for a value never seen in training (plain Python: once a line)."""
        i = self.reference.features.index(feature)
        code, counts = row[i], self.reference.categorical[feature]
        if not (math.isfinite(code) and code.is_integer() and 0 <= code < len(counts) and counts[int(code)] > 0):
            return None
        return self.reference.category_map[i][int(code)]

    def _test(self, rows) -> None:
        result = compare(self.reference, rows, self.alpha)
        for feature, r in result.items():
            self.state["unknown"][feature] = self.state["unknown"].get(feature, 0) + r["unknown"]
        self.state["last"] = {f: [r["p"], r["drifted"]] for f, r in result.items()}
        self.state["windows"] += 1
        self.state["drifted_windows"] += any(r["drifted"] for r in result.values())

    def _save(self) -> None:
        temporary = self.state_file.with_name(self.state_file.name + ".tmp")
        with open(temporary, "w") as f:
            json.dump(self.state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.state_file)

    def _export(self, before: dict) -> None:
        """Counters move by what the saved state added since ``before``; gauges show the last window."""
        for key, n in self.state["decisions"].items():
            self.decisions.labels(*key.split("|")).inc(n - before["decisions"].get(key, 0))
        for feature, n in self.state["unknown"].items():
            self.unknown.labels(feature).inc(n - before["unknown"].get(feature, 0))
        for name in ("skipped", "windows", "drifted_windows"):
            getattr(self, name).inc(self.state[name] - before[name])
        for feature, (p, drifted) in self.state["last"].items():
            self.p_value.labels(feature).set(p)
            self.drifted.labels(feature).set(int(drifted))
        self.pending.set(len(self.state["pending"]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.loan_monitor", description=__doc__.split("\n")[0])
    parser.add_argument("--audit-log", required=True, help="the model service's audit trail (JSON lines)")
    parser.add_argument("--reference", required=True, help="the training data's distributions (Reference JSON)")
    parser.add_argument("--state", required=True, help="where the monitor keeps its position and counts")
    parser.add_argument("--port", type=int, required=True, help="metrics port")
    parser.add_argument("--host", default="127.0.0.1", help="metrics address (0.0.0.0 in a pod)")
    parser.add_argument("--window", type=int, default=500, help="decisions a window")
    parser.add_argument("--alpha", type=float, default=0.01, help="family-wise error per window")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between reads of the audit trail")
    args = parser.parse_args(argv)
    reference = Reference.from_json(Path(args.reference).read_text())
    monitor = Monitor(args.audit_log, reference, args.state, args.window, args.alpha)
    start_http_server(args.port, addr=args.host, registry=monitor.registry)
    while True:
        if not monitor.poll():
            time.sleep(args.interval)
