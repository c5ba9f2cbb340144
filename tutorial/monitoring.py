"""The notebook's monitoring demo (section 4): traffic to the model service, the gap alert watched as it
moves, decisions per gender as Prometheus counted them, and the figure of the alert.

The server itself (start, queries, rules) is ``pipeline.local.prometheus``; these helpers only use it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from pipeline.local.prometheus import Prometheus
    from pipeline.local.rules import RuleSettings

APPLICANTS = 'loan_decisions_total{caller="applicant"}'
GAP_ALERT = "LoanApprovalGapWidened"


class AlertWatch:
    """Polls one alert's state in a thread and keeps its changes: [(unix time, state), ...]."""

    def __init__(self, server: Prometheus, name: str, interval: float = 0.2):
        self.server, self.name, self.interval = server, name, interval
        self.changes: list[tuple[float, str]] = [(time.time(), server.alert_state(name))]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def state(self) -> str:
        return self.changes[-1][1]

    def since(self, state: str) -> float | None:
        """When the alert first entered ``state`` (unix time), or None."""
        return next((t for t, s in self.changes if s == state), None)

    def seconds_to(self, state: str, since: float) -> float:
        """Seconds from ``since`` (unix time) until the alert entered ``state``; NaN if it did not."""
        entered = self.since(state)
        return float("nan") if entered is None else entered - since

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                state = self.server.alert_state(self.name)
            except (requests.RequestException, RuntimeError):
                continue  # one failed poll is not a state change
            if state != self.state:
                self.changes.append((time.time(), state))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def decisions_by_gender(server: Prometheus, at_least: int = 0, timeout: float = 30.0):
    """Applications, approvals and approval rate per gender of the applicants (not the explainer's
    samples), summed over workers and services, as Prometheus last scraped them; first waits until
    it has scraped ``at_least`` applications in all (the last requests' counts)."""
    if at_least:
        server.wait_for(f"sum({APPLICANTS}) >= {int(at_least)}", timeout=timeout)
    counts = server.query(f"sum by (gender, decision) ({APPLICANTS})")
    if counts.empty:
        counts = counts.assign(gender=[], decision=[])
    table = counts.pivot_table(index="gender", columns="decision", values="value", aggfunc="sum", fill_value=0)
    table = table.reindex(columns=["approved", "rejected"], fill_value=0)
    table = table.assign(applications=table["approved"] + table["rejected"]).rename(columns={"approved": "approvals"})
    table = table[["applications", "approvals"]].astype(int)
    table.columns.name = None
    return table.assign(approval_rate=table["approvals"] / table["applications"])


# --- a metrics endpoint's text ---------------------------------------------------------------------


def loan_metric_lines(metrics_text: str) -> list[str]:
    """Our families from the Prometheus text (Seldon's own are left out), one sample a line."""
    from prometheus_client.parser import text_string_to_metric_families

    lines = []
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name in ("loan_decisions_total", "loan_requests_total"):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                lines.append(f"{s.name}{{{labels}}} {s.value:g}")
    return lines


def decision_counts(metrics_text: str, caller: str = "applicant"):
    """``loan_decisions_total`` of one caller as a table: rows gender, columns approved and rejected."""
    import pandas as pd
    from prometheus_client.parser import text_string_to_metric_families

    counts = {
        (s.labels["gender"], s.labels["decision"]): s.value
        for family in text_string_to_metric_families(metrics_text)
        for s in family.samples
        if s.name == "loan_decisions_total" and s.labels.get("caller") == caller
    }
    table = pd.Series(counts, dtype=float).unstack(fill_value=0.0) if counts else pd.DataFrame()
    table = table.reindex(columns=["approved", "rejected"], fill_value=0.0).fillna(0.0).astype(int)
    table.index.name = "gender"
    return table


# --- traffic ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    requests: int
    rows: int
    requests_until: int | None = None  # sent when ``until()`` turned true (None: it did not)
    rows_until: int | None = None


def send_applications(
    url: str,
    rows,
    per_request: int = 20,
    seconds: float | None = None,
    until=None,
    pause: float = 0.0,
    timeout: float = 30.0,
    linger: float = 0.0,
) -> Traffic:
    """POST ``rows`` (an array of model features) to a model service, ``per_request`` rows a request,
    cycling through them, for at most ``seconds`` (default: one pass over the rows) or until
    ``until()`` is true, and then ``linger`` seconds more (so time series show what followed).
    Returns a ``Traffic``: requests and rows sent (the rows sent are
    ``numpy.resize(rows, (traffic.rows, rows.shape[1]))``: the passes over ``rows``, in order)."""
    import numpy as np

    rows = np.asarray(rows)
    batches = [rows[i : i + per_request] for i in range(0, len(rows), per_request)]
    deadline = None if seconds is None else time.monotonic() + seconds
    sent = n_rows = 0
    requests_until = rows_until = None
    with requests.Session() as session:
        while True:
            batch = batches[sent % len(batches)]
            session.post(url, json={"data": {"ndarray": batch.tolist()}}, timeout=timeout).raise_for_status()
            sent, n_rows = sent + 1, n_rows + len(batch)
            if until is not None and requests_until is None and until():
                requests_until, rows_until, deadline = sent, n_rows, time.monotonic() + linger
            if (deadline is None and sent == len(batches)) or (deadline is not None and time.monotonic() >= deadline):
                return Traffic(sent, n_rows, requests_until, rows_until)
            time.sleep(pause)


def plot_gap_alert(server: Prometheus, start: float, end: float, settings: RuleSettings, shift_at: float | None = None):
    """The approval rate of each gender and their gap over the alert's window, the alert's band, and
    the alert's pending and firing periods (Prometheus's ALERTS series), from ``query_range``."""
    import matplotlib.pyplot as plt

    rates = server.query_range("gender:loan_approval_rate:window", start, end, step=0.5, label="gender")
    gap = rates.max(axis=1) - rates.min(axis=1)
    states = server.query_range(f'ALERTS{{alertname="{GAP_ALERT}"}}', start, end, step=0.5, label="alertstate")
    seconds = lambda index: (index - rates.index[0]).total_seconds()  # noqa: E731
    fig, ax = plt.subplots(figsize=(9, 4))
    for gender in rates.columns:
        ax.plot(seconds(rates.index), rates[gender], label=f"approval rate, {gender}")
    ax.plot(seconds(gap.index), gap, color="black", label="gap")
    ax.axhline(
        settings.max_gap, color="red", linestyle="--", label=f"band: {settings.baseline_gap} + {settings.margin}"
    )
    for state, color in (("pending", "orange"), ("firing", "red")):
        if state in states:
            active = states[state].dropna().index
            ax.axvspan(seconds(active[0]), seconds(active[-1]), color=color, alpha=0.2, label=f"alert {state}")
    if shift_at is not None:
        ax.axvline(shift_at - rates.index[0].timestamp(), color="grey", linestyle=":", label="new channel")
    ax.set(xlabel="seconds since the first scrape shown", ylabel=f"over the last {settings.window}", ylim=(0, None))
    ax.set_title(f"{GAP_ALERT}: approval rates per gender from Prometheus (query_range)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")  # outside: the lines stay visible
    return fig
