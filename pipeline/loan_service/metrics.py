"""Prometheus metrics in ``prometheus_client``'s multiprocess mode, served on Seldon's metrics port.

Exact under any number of threads and workers, and kept when a worker exits (each worker's counter file
stays in the directory); Seldon's metrics server sums them next to Seldon's own metrics.
"""

import os
import tempfile

# prometheus_client 0.8 (seldon-core 1.17.1's pin) reads prometheus_multiproc_dir; later releases read
# PROMETHEUS_MULTIPROC_DIR. The directory must be set before any process of the service counts: the
# manifests and `serving.py` set it; a wrapper started without it gets a fresh one here, in the main
# process, before Seldon forks its REST workers and its metrics server.
_MULTIPROC = os.environ.get("prometheus_multiproc_dir") or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if not _MULTIPROC:
    _MULTIPROC = tempfile.mkdtemp(prefix="loan-metrics-")
os.environ["prometheus_multiproc_dir"] = os.environ["PROMETHEUS_MULTIPROC_DIR"] = _MULTIPROC
os.makedirs(_MULTIPROC, exist_ok=True)

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values  # noqa: E402
from seldon_core.metrics import SeldonMetrics  # noqa: E402

values.ValueClass = values.get_value_class()  # the library's choice, made again now the directory is set

REGISTRY = CollectorRegistry()  # ours only: Seldon's metrics server adds the multiprocess totals below
DECISIONS = Counter(
    "loan_decisions",
    "Loan decisions served, one per row, counted once the response is 200",
    ["gender", "decision", "caller"],
    registry=REGISTRY,
)
REQUESTS = Counter(
    "loan_requests", "HTTP requests answered (not health probes)", ["service", "code"], registry=REGISTRY
)
DURATION = Histogram(
    "loan_request_duration_seconds",
    "Time to answer a request (not health probes)",
    ["service"],
    # milliseconds for the model, seconds for the explainer
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
CLAIMS_REJECTED = Counter(
    "loan_caller_claims_rejected",
    "Requests that claimed a caller label (X-Loan-Caller) without its token: counted as applicants",
    ["service", "claimed"],
    registry=REGISTRY,
)


def start_series(service, genders=(), callers=()):
    """The series exist from the start at 0, so Prometheus sees the first request as an increase."""
    DURATION.labels(service)
    REQUESTS.labels(service, "200")
    for caller in callers:
        if caller != "applicant":
            CLAIMS_REJECTED.labels(service, caller)
    for gender in genders:
        for decision in ("approved", "rejected"):
            for caller in callers:
                DECISIONS.labels(gender, decision, caller)


def _seldon_metrics_with_ours(self):
    """Seldon's metrics server (one process, port 6000) answers /metrics with its own families and ours,
    summed over every worker that ever wrote them."""
    from prometheus_client import exposition

    registry = CollectorRegistry()
    registry.register(self)
    multiprocess.MultiProcessCollector(registry)
    return exposition.generate_latest(registry).decode("utf-8"), exposition.CONTENT_TYPE_LATEST


# seldon-core 1.17.1 builds the /metrics answer in SeldonMetrics.generate_metrics and offers no hook to add
# a collector; tests/test_serving.py reads our families from the metrics port, so an upgrade that
# changes this fails there.
SeldonMetrics.generate_metrics = _seldon_metrics_with_ours
