"""The review service's core: a person decides what the model must not decide alone. Plain Python.

Cases enter the queue from the services' audit lines (``intake``): a decision held for review
(``"held": true``, the stop switch or a prohibited basis among the principal reasons) and a decision
whose P(approved) falls in the borderline band (``LOAN_REVIEW_BAND``); and from an applicant who asks
for a review (``contest``: the application reference is the decision's request id). A reviewer confirms
or overrides with a written reason (``decide``); a rejection a person upholds or makes cites reason codes
of ``loan_reasons.reason_codes``. Each change is one transaction with its audit line (``store``).
"""

import json
import os
import threading
import time

from loan_reasons.reason_codes import CODES
from loan_service.audit import audit_logger, now
from loan_service.errors import Refused

from .notice import render
from .store import Store, add_action

SERVICE = "loan-review"
DECISIONS = ("approved", "rejected")
MAX_TEXT = 4000  # characters of a view or a reason
QUEUE_PAGE = 100  # open cases listed at once, oldest first

# What a reviewer may cite: a code per input ("R01"), with a direction ("R01:low") where its sentence has one.
CITABLE = {}
for _feature, (_code, _sentence) in CODES.items():
    for _way in ("low", "high") if "{}" in _sentence else (None,):
        CITABLE[f"{_code}:{_way}" if _way else _code] = (_feature, _sentence.format(_way) if _way else _sentence)


def end_torn_line(path):
    """A process killed while appending may leave half a line: end it, so the next line starts afresh."""
    if path and os.path.exists(path) and os.path.getsize(path):
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")


def band_of(text):
    low, high = (float(v) for v in text.split(","))
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"LOAN_REVIEW_BAND must be low,high within 0..1, got {text}")
    return low, high


def _text(payload, key, what):
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"{key} is missing: {what}", 400, "LOAN_REVIEW_MISSING")
    if len(value) > MAX_TEXT:
        raise Refused(f"{key} is longer than {MAX_TEXT} characters", 400, "LOAN_REVIEW_TOO_LONG")
    return value.strip()


def _object(payload):
    if not isinstance(payload, dict):
        raise Refused("the body must be a JSON object", 400, "LOAN_BAD_INPUT")
    return payload


class ReviewCore:
    service = SERVICE

    def __init__(self, settings, url, metadata=None):
        self.settings, self.url, self.metadata = settings, url, metadata
        self.band = band_of(settings.review_band)
        self.store = self.audit = None
        self.exporting = threading.Lock()  # one thread appends the pending lines at a time

    def load(self):
        self.store = Store(self.url)
        self.audit = audit_logger(self.service, self.settings)
        for handler in self.audit.handlers:
            end_torn_line(getattr(handler, "baseFilename", None))
        self.export()  # lines a killed process committed but did not write yet

    # --- intake --------------------------------------------------------------------------------

    def intake(self, lines, db=None):
        """The services' audit lines (dicts): every applicant decision kept, the ones for review queued.
        Returns how many decisions and cases; other lines (perturbed samples, explanations...) are skipped."""
        if db is None:
            with self.store.transaction() as db:
                counts = self.intake(lines, db)
            self.export()
            return counts
        decisions = cases = 0
        for line in lines:
            taken = self._take(db, line)
            decisions, cases = decisions + (taken is not None), cases + bool(taken)
        return {"decisions": decisions, "cases": cases}

    def _take(self, db, line):
        if not (isinstance(line, dict) and line.get("caller") == "applicant" and "row" in line):
            return None
        request_id, row, decision, p = (line.get(k) for k in ("request_id", "row", "decision", "probability"))
        if not (isinstance(request_id, str) and request_id and isinstance(row, list) and decision in DECISIONS
                and isinstance(p, (int, float)) and 0.0 <= p <= 1.0
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row)):  # fmt: skip
            raise Refused(f"not a decision's audit line: {json.dumps(line)[:200]}", 400, "LOAN_BAD_INPUT")
        key = json.dumps([float(v) for v in row])
        seq = db.execute("SELECT COUNT(*) FROM decisions WHERE request_id = ?", (request_id,)).fetchone()[0]
        extra = {k: json.dumps(line[k]) if k in line else None for k in ("reasons", "flags", "anchor")}
        db.execute(
            "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (request_id, row_key) DO UPDATE SET reasons = COALESCE(excluded.reasons, decisions.reasons), "
            "flags = COALESCE(excluded.flags, decisions.flags), "
            "anchor = COALESCE(excluded.anchor, decisions.anchor)",
            (request_id, key, seq, str(line.get("service", "")), str(line.get("time") or now()),
             str(line.get("artefacts", "")), key, decision, float(p),
             extra["reasons"], extra["flags"], extra["anchor"]),
        )  # fmt: skip
        causes = []
        if line.get("held"):
            cause = line.get("cause") or "held"
            causes.append("held: " + (cause if isinstance(cause, str) else json.dumps(cause)))
        if self.band[0] <= p <= self.band[1]:
            causes.append("borderline")
        if causes:
            self._open(db, request_id, key, causes)
        return bool(causes)

    def _open(self, db, request_id, key, causes, view=None):
        case = db.execute("SELECT * FROM cases WHERE request_id = ? AND row_key = ?", (request_id, key)).fetchone()
        if case is not None and case["state"] == "closed":
            if view is not None:
                raise Refused(f"application {request_id} was reviewed already (case {case['id']}, "
                              f"final decision {case['final']})", 409, "LOAN_REVIEW_CLOSED")  # fmt: skip
            return case["id"]
        if case is not None:
            known = json.loads(case["causes"])
            merged = known + [c for c in causes if c not in known]
            db.execute("UPDATE cases SET causes = ?, view = COALESCE(?, view) WHERE id = ?",
                       (json.dumps(merged), view, case["id"]))  # fmt: skip
            case_id = case["id"]
        else:
            case_id = self.store.insert(db, "INSERT INTO cases (request_id, row_key, causes, view, opened) "
                                        "VALUES (?, ?, ?, ?, ?)",
                                        (request_id, key, json.dumps(causes), view, time.time()))  # fmt: skip
        add_action(self.store, db, "opened", {"request_id": request_id, "time": now(), "service": self.service,
                                  "case": case_id, "causes": causes, "view": view}, case_id)  # fmt: skip
        return case_id

    def contest(self, payload):
        """An applicant asks for a person's review: {"reference": request id [#n], "view": text}."""
        payload = _object(payload)
        reference = _text(payload, "reference", "the application reference on your decision")
        view = _text(payload, "view", "say in a few words why the decision should be reviewed")
        request_id, _, n = reference.partition("#")
        with self.store.transaction() as db:
            rows = db.execute("SELECT row_key FROM decisions WHERE request_id = ? ORDER BY seq",
                              (request_id,)).fetchall()  # fmt: skip
            if not rows:
                raise Refused(f"unknown application reference {reference[:80]}", 404, "LOAN_REVIEW_UNKNOWN")
            if not n and len(rows) > 1:
                raise Refused(f"the request {request_id} decided {len(rows)} applications: give the reference "
                              f"as {request_id}#1 .. #{len(rows)}", 400, "LOAN_BAD_INPUT")  # fmt: skip
            index = int(n) - 1 if n.isdigit() else (0 if not n else -1)
            if not 0 <= index < len(rows):
                raise Refused(f"unknown application reference {reference[:80]}", 404, "LOAN_REVIEW_UNKNOWN")
            case_id = self._open(db, request_id, rows[index]["row_key"], ["contest"], view)
        self.export()
        return {"case": case_id, "state": "open", "reference": reference}

    # --- reviewers -----------------------------------------------------------------------------

    def queue(self, limit=QUEUE_PAGE):
        """The ``limit`` oldest open cases, oldest first."""
        rows = self.store.query("SELECT c.*, d.decision, d.probability, d.row FROM cases c JOIN decisions d "
                                "USING (request_id, row_key) WHERE c.state = 'open' "
                                "ORDER BY c.opened, c.id LIMIT ?", int(limit))  # fmt: skip
        return [self._case(r, brief=True) for r in rows]

    def depth(self):
        return self.store.one("SELECT COUNT(*) FROM cases WHERE state = 'open'")[0]

    def case(self, case_id):
        row = self.store.one("SELECT c.*, d.decision, d.probability, d.row, d.reasons, d.flags, d.anchor, "
                             "d.artefacts, d.time, d.service FROM cases c JOIN decisions d USING (request_id, row_key) "
                             "WHERE c.id = ?", case_id)  # fmt: skip
        if row is None:
            raise Refused(f"no case {case_id}", 404, "LOAN_REVIEW_UNKNOWN")
        return self._case(row)

    def _case(self, r, brief=False):
        values = json.loads(r["row"])
        case = {"id": r["id"], "request_id": r["request_id"], "state": r["state"], "causes": json.loads(r["causes"]),
                "opened": r["opened"], "decision": r["decision"], "probability": r["probability"],
                "gender": self.gender(values), "view": r["view"]}  # fmt: skip
        if brief:
            return case
        features = self.metadata["features"] if self.metadata else [f"x{i}" for i in range(len(values))]
        case.update(
            applicant=[{"feature": f, "value": v, "shown": self.show(i, v)}
                       for i, (f, v) in enumerate(zip(features, values))],
            reasons=json.loads(r["reasons"] or "null"), flags=json.loads(r["flags"] or "null"),
            anchor=json.loads(r["anchor"] or "null"), artefacts=r["artefacts"], decided_at=r["time"],
            closed=r["closed"], reviewer=r["reviewer"], action=r["action"], final=r["final"], reason=r["reason"],
            codes=json.loads(r["codes"] or "[]"),
        )  # fmt: skip
        return case

    def show(self, i, value):
        names = (self.metadata or {}).get("category_map", {}).get(str(i))
        return names[int(value)] if names and float(value).is_integer() and 0 <= value < len(names) else f"{value:g}"

    def genders(self):
        """The gender names of the model's metadata and any a decision recorded: the series of overrides."""
        names = []
        if self.metadata:
            names = self.metadata["category_map"][str(self.metadata["features"].index("gender"))]
        seen = self.store.query(f"SELECT DISTINCT {self.store.json_field('line', 'gender')} AS g FROM actions "
                                "WHERE kind = 'decided'")  # fmt: skip
        return sorted(set(names) | {r["g"] for r in seen if r["g"]})

    def gender(self, values):
        if not self.metadata:
            return "unknown"
        return self.show(self.metadata["features"].index("gender"), values[self.metadata["features"].index("gender")])

    def decide(self, case_id, reviewer, payload):
        """{"action": "confirm" | "override", "reason": text, "codes": [...] for a final rejection}: the case
        closed with the person's decision; 409 when it is closed already (by another reviewer too)."""
        payload = _object(payload)
        action = payload.get("action")
        if action not in ("confirm", "override"):
            raise Refused('action must be "confirm" or "override"', 400, "LOAN_BAD_INPUT")
        reason = _text(payload, "reason", "a person's decision needs a written reason")
        codes = payload.get("codes") or []
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise Refused("codes must be a list of reason codes", 400, "LOAN_BAD_INPUT")
        unknown = [c for c in codes if c not in CITABLE]
        if unknown:
            raise Refused(f"unknown reason codes {unknown[:5]}; citable: {', '.join(CITABLE)}", 400, "LOAN_BAD_INPUT")
        case = self.case(case_id)  # 404 before any write
        final = case["decision"] if action == "confirm" else DECISIONS[1 - DECISIONS.index(case["decision"])]
        if final == "rejected" and not codes:
            raise Refused("a rejection a person upholds or makes cites at least one reason code", 400,
                          "LOAN_REVIEW_MISSING")  # fmt: skip
        if final == "approved" and codes:
            raise Refused("reason codes are cited for a rejection only", 400, "LOAN_BAD_INPUT")
        with self.store.transaction() as db:
            closed = time.time()
            cursor = db.execute(
                "UPDATE cases SET state = 'closed', closed = ?, reviewer = ?, action = ?, final = ?, reason = ?, "
                "codes = ? WHERE id = ? AND state = 'open'",
                (closed, reviewer, action, final, reason, json.dumps(codes), case_id))  # fmt: skip
            if cursor.rowcount != 1:
                raise Refused(f"case {case_id} is closed already", 409, "LOAN_REVIEW_CLOSED")
            line = add_action(self.store, db, "decided", {
                "request_id": case["request_id"], "time": now(), "service": self.service, "case": case_id,
                "reviewer": reviewer, "action": action, "model_decision": case["decision"], "decision": final,
                "probability": case["probability"], "row": [a["value"] for a in case["applicant"]],
                "gender": case["gender"], "artefacts": case["artefacts"], "reason": reason,
                "reasons": [{"code": c, "feature": CITABLE[c][0], "sentence": CITABLE[c][1]} for c in codes],
                "seconds": round(closed - case["opened"], 3)}, case_id)  # fmt: skip
        self.export()
        return {"case": case_id, "state": "closed", "decision": final, "action_id": line["action_id"]}

    def notice(self, case_id):
        """What the applicant is told, rendered again from the audit record of the person's decision."""
        row = self.store.one("SELECT line FROM actions WHERE case_id = ? AND kind = 'decided'", case_id)
        if row is None:
            raise Refused(f"case {case_id} has no decision yet", 404, "LOAN_REVIEW_UNKNOWN")
        return render(json.loads(row["line"]))

    # --- the stop switch -----------------------------------------------------------------------

    def stop_switch(self):
        row = self.store.one("SELECT * FROM stop_switch WHERE id = 1")
        return {"on": bool(row and row["is_on"]), "since": row and row["since"], "by": row and row["by_whom"],
                "reason": row and row["reason"]}  # fmt: skip

    def set_stop_switch(self, reviewer, payload):
        payload = _object(payload)
        if not isinstance(payload.get("on"), bool):
            raise Refused("on must be true or false", 400, "LOAN_BAD_INPUT")
        reason = _text(payload, "reason", "say why the model stops or resumes deciding alone")
        with self.store.transaction() as db:
            db.execute("INSERT INTO stop_switch VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                       "is_on = excluded.is_on, since = excluded.since, by_whom = excluded.by_whom, "
                       "reason = excluded.reason", (int(payload["on"]), now(), reviewer, reason))  # fmt: skip
            add_action(self.store, db, "stop switch", {"time": now(), "service": self.service, "reviewer": reviewer,
                                           "on": payload["on"], "reason": reason})  # fmt: skip
        self.export()
        return self.stop_switch()

    # --- the audit outbox ----------------------------------------------------------------------

    def export(self):
        """Append the committed actions' lines not yet in the audit file, then mark them written."""
        with self.exporting:
            pending = self.store.query("SELECT id, line FROM actions WHERE exported = 0 ORDER BY id")
            if pending:
                self.audit.info("\n".join(r["line"] for r in pending))
                # A mark lost to a power cut only writes its line again (same action_id): no fsync for it.
                with self.store.unsynced(), self.store.transaction() as db:
                    db.executemany("UPDATE actions SET exported = 1 WHERE id = ?", [(r["id"],) for r in pending])
