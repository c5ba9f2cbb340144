"""The audit trail: one JSON line per decision or explanation."""

import datetime
import logging
import sys
import tempfile
from pathlib import Path


def audit_logger(service, settings):
    """To a size-bounded file shared by the service's workers (``audit_log``; rotation safe across
    processes with concurrent-log-handler) and, with ``audit_stdout`` (the cluster), to stdout, where
    the cluster's log collector (Fluentd, Fluent Bit) ships it to long-term storage."""
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    path = Path(settings.audit_log or Path(tempfile.gettempdir()) / f"{service}-audit.jsonl")
    logger = logging.getLogger(f"loan.audit.{service}.{path if settings.audit else 'off'}")
    if logger.handlers:
        return logger
    logger.propagate = False
    if not settings.audit:  # only to measure its cost (scripts/bench_serving.py)
        logger.setLevel(logging.CRITICAL + 1)
        logger.addHandler(logging.NullHandler())
        return logger
    logger.setLevel(logging.INFO)
    path.parent.mkdir(parents=True, exist_ok=True)
    handlers = [ConcurrentRotatingFileHandler(str(path), maxBytes=settings.audit_max_bytes, backupCount=3)]
    if settings.audit_stdout:
        handlers.append(logging.StreamHandler(sys.stdout))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
