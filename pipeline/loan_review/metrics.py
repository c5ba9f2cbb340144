"""The review service's Prometheus metrics, read from the database at each scrape: exact across restarts
(and the same from every replica of one database: aggregate them with max, not sum)."""

import json
import time

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

# seconds from a case's opening to a person's decision: minutes to days
BUCKETS = (60, 300, 900, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600)


class ReviewCollector:
    def __init__(self, core):
        self.core = core

    def collect(self):
        store, now = self.core.store, time.time()
        queue = store.one("SELECT COUNT(*) AS n, MIN(opened) AS oldest FROM cases WHERE state = 'open'")
        yield GaugeMetricFamily("loan_review_queue_depth", "Cases waiting for a reviewer", value=queue["n"])
        yield GaugeMetricFamily("loan_review_oldest_case_age_seconds", "Age of the oldest open case (0 when none)",
                                value=now - queue["oldest"] if queue["oldest"] else 0.0)  # fmt: skip
        causes = GaugeMetricFamily("loan_review_open_cases", "Open cases by cause (a case may have several)",
                                   labels=["cause"])  # fmt: skip
        counted = {}
        for row in store.query("SELECT causes FROM cases WHERE state = 'open'"):
            for cause in json.loads(row["causes"]):
                counted[cause] = counted.get(cause, 0) + 1
        for cause, n in sorted(counted.items()):
            causes.add_metric([cause], n)
        yield causes
        switch = self.core.stop_switch()
        yield GaugeMetricFamily("loan_review_stop_switch", "1 while every decision goes to a person",
                                value=int(switch["on"]))  # fmt: skip
        sums = ", ".join(f"SUM(CASE WHEN closed - opened <= {b} THEN 1 ELSE 0 END)" for b in BUCKETS)
        row = store.one(f"SELECT COUNT(*), COALESCE(SUM(closed - opened), 0), {sums} FROM cases WHERE state = 'closed'")
        count, total, below = row[0], row[1], [v or 0 for v in row[2:]]
        yield HistogramMetricFamily(
            "loan_review_decision_seconds", "Time from a case's opening to a person's decision",
            buckets=[(str(b), n) for b, n in zip(BUCKETS, below)] + [("+Inf", count)], sum_value=total,
        )  # fmt: skip
        decided = CounterMetricFamily("loan_review_decisions", "Cases a person decided, by action and gender",
                                      labels=["action", "gender"])  # fmt: skip
        overrides = CounterMetricFamily("loan_review_overrides", "Model decisions a person reversed, by gender and "
                                        "direction", labels=["gender", "direction"])  # fmt: skip
        counts = {}
        for line in store.query("SELECT line FROM actions WHERE kind = 'decided'"):
            d = json.loads(line["line"])
            key = (d["action"], d.get("gender", "unknown"), d["model_decision"], d["decision"])
            counts[key] = counts.get(key, 0) + 1
        for gender in self.core.genders():
            for action in ("confirm", "override"):
                decided.add_metric([action, gender], sum(n for k, n in counts.items() if k[:2] == (action, gender)))
            for model, final in (("rejected", "approved"), ("approved", "rejected")):
                n = counts.get(("override", gender, model, final), 0)
                overrides.add_metric([gender, f"{model}_to_{final}"], n)
        yield decided
        yield overrides


def registry_of(core):
    registry = CollectorRegistry()
    registry.register(ReviewCollector(core))
    return registry
