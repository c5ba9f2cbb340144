"""The audit trail: one JSON line per decision or explanation."""

import datetime
import logging
import os
import sys
import tempfile
from pathlib import Path


def audit_logger(service):
    """To a size-bounded file shared by the service's workers (LOAN_AUDIT_LOG; rotation safe across
    processes with concurrent-log-handler) and, with LOAN_AUDIT_STDOUT=1 (the cluster), to stdout, where
    the cluster's log collector (Fluentd, Fluent Bit) ships it to long-term storage."""
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    logger = logging.getLogger(f"loan.audit.{service}")
    if logger.handlers:
        return logger
    logger.propagate = False
    if os.environ.get("LOAN_AUDIT", "1") == "0":  # only to measure its cost (scripts/bench_serving.py)
        logger.setLevel(logging.CRITICAL + 1)
        logger.addHandler(logging.NullHandler())
        return logger
    logger.setLevel(logging.INFO)
    path = Path(os.environ.get("LOAN_AUDIT_LOG") or Path(tempfile.gettempdir()) / f"{service}-audit.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    max_bytes = int(os.environ.get("LOAN_AUDIT_MAX_BYTES", str(20 * 1024 * 1024)))
    handlers = [ConcurrentRotatingFileHandler(str(path), maxBytes=max_bytes, backupCount=3)]
    if os.environ.get("LOAN_AUDIT_STDOUT", "0") == "1":
        handlers.append(logging.StreamHandler(sys.stdout))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
