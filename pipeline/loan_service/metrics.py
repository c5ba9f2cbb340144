"""The services' Prometheus metrics, in ``prometheus_client``'s multiprocess mode.

Exact under any number of threads and workers, and kept when a worker exits (each worker's counter file
stays in the directory); the adapter's metrics endpoint sums them (``exposition``). ``use_directory``
must run in the main process before any worker counts: each adapter's entry point calls it.
"""

import os
import tempfile

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values

REGISTRY = CollectorRegistry()  # ours only: the metrics endpoint adds the multiprocess totals
DECISIONS = Counter(
    "loan_decisions",
    "Loan decisions served, one per row",
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
REASON_FLAGS = Counter(
    "loan_reason_flags",
    "Rejections in which a prohibited basis ranks among the principal reasons (flagged, never cited), by feature",
    ["feature"],
    registry=REGISTRY,
)


def use_directory(directory=None):
    """Count into ``directory`` (or the one the environment names, or a fresh one), for this process and
    every process it starts. prometheus_client 0.8 (seldon-core 1.17.1's pin) reads
    ``prometheus_multiproc_dir``, later releases ``PROMETHEUS_MULTIPROC_DIR``: both are set."""
    directory = (directory or os.environ.get("prometheus_multiproc_dir") or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
                 or tempfile.mkdtemp(prefix="loan-metrics-"))  # fmt: skip
    os.makedirs(directory, exist_ok=True)
    os.environ["prometheus_multiproc_dir"] = os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    values.ValueClass = values.get_value_class()  # the library's own choice, made again now it is set
    return directory


def observe(service, code, seconds):
    """One answered request of ``service`` (health probes are not requests)."""
    REQUESTS.labels(service, str(code)).inc()
    DURATION.labels(service).observe(seconds)


def start_series(service, genders=(), callers=(), flags=()):
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
    for feature in flags:
        REASON_FLAGS.labels(feature)


def exposition():
    """The Prometheus text of every worker's counts (this process's own outside multiprocess mode), and its
    content type."""
    from prometheus_client import exposition as text

    collected = REGISTRY
    if os.environ.get("prometheus_multiproc_dir") or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
    return text.generate_latest(collected).decode("utf-8"), text.CONTENT_TYPE_LATEST
