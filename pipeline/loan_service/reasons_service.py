"""The explainer's reasons option (``meta.tags.explain = "reasons"``): principal reasons for a batch of
applicants from one batched call to the model, an audit line per rejection and the notice it renders.

Not behind the Anchors admission lock: reasons keep no per-request state, so requests run side by side,
bounded by their own semaphore (503 at once beyond it, so threads stay free for health probes).
"""

import json
import threading
import uuid

from flask import g, has_request_context
from prometheus_client import Counter

from .audit import now
from .errors import bad_request
from .metrics import REGISTRY
from .notice import audit_record, render
from .reason_codes import PROHIBITED
from .reasons import Reasons

REASON_FLAGS = Counter(
    "loan_reason_flags",
    "Rejections in which a prohibited basis ranks among the principal reasons (flagged, never cited), by feature",
    ["feature"],
    registry=REGISTRY,
)

MAX_ROWS = 100  # applicants per reasons request: x ~130 model rows each, one call well under the body limit


def asks_reasons(meta):
    """True for a request whose ``meta.tags.explain`` is "reasons"."""
    tags = meta.get("tags") if isinstance(meta, dict) else None
    return isinstance(tags, dict) and tags.get("explain") == "reasons"


class ReasonsOption:
    def __init__(self, limit):
        self.slots, self.reasons = threading.BoundedSemaphore(limit), None

    def load(self, path):
        self.reasons = Reasons.from_json(path.read_text())
        for feature in list(PROHIBITED) + ["age"]:
            REASON_FLAGS.labels(feature)  # every series at 0 from the start

    def answer(self, guard, rows, probabilities):
        """{"reasons": one record per row, a rejection's with its notice}; audited once the response is 200."""
        if len(rows) > MAX_ROWS:
            raise bad_request("at most {} applicants per reasons request, got {}".format(MAX_ROWS, len(rows)))
        if not self.slots.acquire(blocking=False):
            raise bad_request("busy giving reasons: try again shortly", status=503, reason="LOAN_BUSY")
        try:
            explained = self.reasons.explain(lambda X: probabilities(X)[:, 1], rows)  # one model call
        finally:
            self.slots.release()
        request_id = g.get("loan_request_id") if has_request_context() else uuid.uuid4().hex
        stamp = now()
        records = [audit_record(request_id, stamp, guard.service, guard.digest, row, e)
                   for row, e in zip(rows, explained) if e["decision"] == "rejected"]
        notices = iter([render(record) for record in records])
        answers = [dict(e, notice=next(notices) if e["decision"] == "rejected" else None) for e in explained]

        def record(_):  # the lines carry the id the notices print: the same as the response's
            for line in records:
                for flag in line["flags"]:
                    REASON_FLAGS.labels(flag["feature"]).inc()
            if records:
                guard.audit.info("\n".join(json.dumps(line) for line in records))

        guard.on_success(record)
        return {"reasons": answers}
