"""A real Prometheus server on 127.0.0.1 scraping the loan services, and its HTTP API as pandas.

The notebook's production section, `make serve` / `make stop` and the tests use this module:

- ``RuleSettings``: the windows, ``for`` durations and fairness band that fill the one alert-rules
  template, ``pipeline/monitoring/loan-alerts.rules.yml``; ``CLUSTER`` holds the realistic values the
  ``PrometheusRule`` manifest is rendered with, ``RuleSettings.demo`` the short ones of a live demo;
- ``start_prometheus`` / ``Prometheus.stop``: the Debian ``prometheus`` binary on a loopback port
  (9090 if free), its data in a temporary directory removed at stop;
- ``Prometheus.query`` (instant), ``query_range`` (a DataFrame, one column per series), ``alerts``
  (``/api/v1/alerts``), ``rules`` and ``targets``;
- ``send_applications``: bounded traffic to a model service, for the demo and the tests.

Command line (the Makefile's `serve` and `stop`): ``python -m pipeline.local.prometheus start|stop|status``;
``render-manifest`` rewrites ``pipeline/monitoring/prometheusrule.yaml`` from the template.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import json
import os
import shutil
import signal
import string
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from pipeline.local import serving

REPO = serving.REPO
MONITORING = REPO / "pipeline" / "monitoring"
RULES_TEMPLATE = MONITORING / "loan-alerts.rules.yml"
CONFIG_TEMPLATE = MONITORING / "prometheus.yml"
PROMETHEUS_RULE = MONITORING / "prometheusrule.yaml"
STATE = serving.RUN_DIR / "prometheus.json"  # the server `make serve` started
LOOPBACK = serving.LOOPBACK
PREFERRED_PORT = 9090  # Prometheus's usual port; the services use 9000/9001 and 6000/6001
INSTALL_HINT = "install Prometheus 2.x: `apt-get install prometheus` on Debian/Ubuntu (README.md)"


def binary(name: str = "prometheus") -> str:
    """The path of ``prometheus`` or ``promtool`` (PROMETHEUS_BIN / PROMTOOL_BIN override PATH)."""
    found = os.environ.get(f"{name.upper()}_BIN") or shutil.which(name)
    if not found:
        raise RuntimeError(f"`{name}` is not on PATH: {INSTALL_HINT}")
    return found


# --- rules -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSettings:
    """What fills the ``${...}`` fields of the rules template.

    The fairness alert fires when, over ``window``, the approval rates of the genders differ by more
    than ``baseline_gap`` (the gap measured before deployment) plus ``margin`` (room for the sampling
    noise of one window), for ``gap_for``, once each gender has at least ``min_applications`` in it.
    """

    baseline_gap: float
    margin: float = 0.05
    window: str = "1h"
    gap_for: str = "15m"
    min_applications: int = 200
    ops_window: str = "5m"  # error rate and latency
    ops_for: str = "5m"

    @classmethod
    def demo(cls, baseline_gap: float, **overrides) -> RuleSettings:
        """Seconds instead of hours, so a live demo sees the alert go pending, then firing."""
        values = dict(window="10s", gap_for="4s", min_applications=150, ops_window="10s", ops_for="4s")
        return cls(baseline_gap=round(float(baseline_gap), 3), **{**values, **overrides})

    @property
    def max_gap(self) -> float:
        return round(self.baseline_gap + self.margin, 3)

    def fields(self) -> dict[str, str]:
        return {k: str(v) for k, v in dataclasses.asdict(self).items()}


# The cluster's band: the RandomForest's demographic parity difference on adult.test, the fairness
# audit of section 3 (a full notebook run checks this number), plus 5 points.
CLUSTER = RuleSettings(baseline_gap=0.179)


class _Fields(string.Template):
    """Only ``${name}`` is a field: Prometheus's own ``{{ $value }}`` and ``{{ $labels.x }}`` in the
    annotations stay as they are, and an unknown ``${name}`` is an error, not left in place."""

    pattern = r"\$(?:(?P<escaped>\$)|\{(?P<braced>[_a-z][_a-z0-9]*)\}|(?P<named>(?!))|(?P<invalid>(?!)))"


def render_rules(settings: RuleSettings) -> str:
    """The rules file with ``settings`` filled in."""
    return _Fields(RULES_TEMPLATE.read_text()).substitute(settings.fields())


def prometheus_rule_manifest(settings: RuleSettings = CLUSTER) -> dict:
    """The PrometheusRule for the prometheus-operator: the same groups, with ``settings``."""
    import yaml

    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "loan-services",
            "namespace": "seldon",
            # kube-prometheus-stack's Prometheus selects rules by its release label.
            "labels": {"app": "loanclassifier", "release": "prometheus"},
        },
        "spec": yaml.safe_load(render_rules(settings)),
    }


def write_prometheus_rule(path: Path = PROMETHEUS_RULE) -> Path:
    import yaml

    header = (
        "# Generated from pipeline/monitoring/loan-alerts.rules.yml with the cluster's settings\n"
        "# (pipeline.local.prometheus.CLUSTER): python -m pipeline.local.prometheus render-manifest\n"
    )

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value):  # multi-line expressions as literal blocks, as written in the template
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    body = yaml.dump(prometheus_rule_manifest(), Dumper=Dumper, sort_keys=False, width=120)
    path.write_text(header + body)
    return path


# --- the server ------------------------------------------------------------------------------------


@dataclass
class Prometheus:
    pid: int
    port: int
    data_dir: str  # configuration, rules and TSDB; removed at stop
    log: str
    started_here: bool = True

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def api(self, path: str, timeout: float = 10.0, **params):
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=timeout)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if not response.ok or body.get("status") != "success":
            raise RuntimeError(f"Prometheus {path} {params}: HTTP {response.status_code} {body or response.text}")
        return body["data"]

    def query(self, expr: str, at: float | None = None):
        """An instant query as a DataFrame: one row per series, its labels as columns, and ``value``."""
        import pandas as pd

        params = {"query": expr} if at is None else {"query": expr, "time": at}
        data = self.api("query", **params)
        if data["resultType"] == "scalar":
            return pd.DataFrame([{"value": float(data["result"][1])}])
        rows = [{**r["metric"], "value": float(r["value"][1])} for r in data["result"]]
        return pd.DataFrame(rows, columns=sorted({k for r in rows for k in r} - {"value"}) + ["value"])

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0, label: str | None = None):
        """A range query as a DataFrame: UTC timestamps as index, one column per series, named by
        ``label`` (default: the series' labels as ``k=v`` text)."""
        import pandas as pd

        data = self.api("query_range", query=expr, start=start, end=end, step=step)
        columns = {}
        for r in data["result"]:
            name = r["metric"].get(label) if label else ",".join(f"{k}={v}" for k, v in sorted(r["metric"].items()))
            columns[name or "value"] = pd.Series(
                [float(v) for _, v in r["values"]],
                index=pd.to_datetime([float(t) for t, _ in r["values"]], unit="s", utc=True),
            )
        frame = pd.DataFrame(columns)
        frame.index.name = "time"
        return frame.sort_index(axis=1)

    def alerts(self):
        """Active alerts (pending or firing) from /api/v1/alerts: name, state, since, value, labels."""
        import pandas as pd

        rows = [
            {
                "alertname": a["labels"]["alertname"],
                "state": a["state"],
                "activeAt": pd.Timestamp(a["activeAt"]),
                "value": float(a["value"]),
                "labels": {k: v for k, v in a["labels"].items() if k != "alertname"},
            }
            for a in self.api("alerts")["alerts"]
        ]
        return pd.DataFrame(rows, columns=["alertname", "state", "activeAt", "value", "labels"])

    def alert_state(self, name: str) -> str:
        """``inactive``, ``pending`` or ``firing`` (the most advanced of the alert's instances)."""
        states = set(self.alerts().query("alertname == @name")["state"])
        return "firing" if "firing" in states else "pending" if "pending" in states else "inactive"

    def rules(self) -> list[dict]:
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    def targets(self) -> list[dict]:
        return self.api("targets")["activeTargets"]

    def ready(self, timeout: float = 2.0) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=timeout).ok
        except requests.RequestException:
            return False

    def wait_for_targets(self, n: int, timeout: float = 60.0) -> list[dict]:
        """Wait until ``n`` targets have been scraped successfully (health ``up``)."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            if sum(t["health"] == "up" for t in targets) >= n:
                return targets
            if time.monotonic() > deadline:
                raise RuntimeError(f"Prometheus: fewer than {n} targets up after {timeout:.0f} s: {targets}")
            time.sleep(0.25)

    def wait_for(self, expr: str, timeout: float = 60.0, interval: float = 0.25):
        """Poll an instant query until it returns a series (PromQL comparisons filter), and return it."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if len(result):
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"no result for {expr!r} within {timeout:.0f} s")
            time.sleep(interval)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (Prometheus shuts down cleanly), SIGKILL if it lingers; then remove its data."""
        if self.started_here:
            _terminate(self.pid, timeout)
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.started_here = False


def _terminate(pid: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not serving._alive(pid):
                return
            time.sleep(0.1)


def render_config(
    targets: dict[str, str], rules_file: Path | str, scrape_interval: str = "1s", evaluation_interval: str = "1s"
) -> str:
    """prometheus.yml for ``targets`` ({service name: host:port of its metrics endpoint})."""
    static = "\n".join(
        f"      - targets: ['{address}']\n        labels: {{step: {name}}}" for name, address in targets.items()
    )
    return _Fields(CONFIG_TEMPLATE.read_text()).substitute(
        scrape_interval=scrape_interval,
        evaluation_interval=evaluation_interval,
        rules_file=str(rules_file),
        static_configs=static,
    )


def start_prometheus(
    targets: dict[str, str],
    settings: RuleSettings = CLUSTER,
    port: int | None = None,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    wait: float = 60.0,
) -> Prometheus:
    """Start Prometheus on 127.0.0.1 (port 9090 if free) scraping ``targets`` with the loan rules.

    Its configuration, rules and data live in a new temporary directory. It runs in its own session
    (a Ctrl-C in the notebook does not reach it) and is stopped by ``Prometheus.stop``, or at exit.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="loan-prometheus-"))
    rules_file = data_dir / "loan-alerts.rules.yml"
    rules_file.write_text(render_rules(settings))
    config = data_dir / "prometheus.yml"
    config.write_text(render_config(targets, rules_file, scrape_interval, evaluation_interval))
    port = port or serving.free_port(PREFERRED_PORT)
    log = data_dir / "prometheus.log"
    command = [
        binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir / 'tsdb'}",
        f"--web.listen-address={LOOPBACK}:{port}",  # loopback only
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    server = Prometheus(process.pid, port, str(data_dir), str(log))
    deadline = time.monotonic() + wait
    while not server.ready():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = Path(log).read_text(errors="replace")[-3000:]
            server.stop()
            raise RuntimeError(f"Prometheus did not become ready on {LOOPBACK}:{port}:\n{tail}")
        time.sleep(0.2)
    atexit.register(server.stop)
    return server


def start_for(services, settings: RuleSettings = CLUSTER, **kwargs) -> Prometheus:
    """Prometheus scraping the metrics ports of ``services`` (a ``serving.Services``), once both are up."""
    targets = {s.name: f"{LOOPBACK}:{s.metrics_port}" for s in (services.model, services.explainer)}
    server = start_prometheus(targets, settings, **kwargs)
    try:
        server.wait_for_targets(len(targets))
    except Exception:
        server.stop()
        raise
    return server


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


APPLICANTS = 'loan_decisions_total{caller="applicant"}'


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
    states = server.query_range('ALERTS{alertname="LoanApprovalGapWidened"}', start, end, step=0.5, label="alertstate")
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
    ax.set_title("LoanApprovalGapWidened: approval rates per gender from Prometheus (query_range)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")  # outside: the lines stay visible
    return fig


# --- command line ----------------------------------------------------------------------------------


def running() -> Prometheus | None:
    """The Prometheus `make serve` started, if it is alive and ready."""
    if not STATE.exists():
        return None
    server = Prometheus(**{**json.loads(STATE.read_text()), "started_here": False})
    return server if serving._alive(server.pid) and server.ready() else None


def _start(args) -> None:
    try:
        binary("prometheus")
    except RuntimeError as missing:  # the services serve without it; say how to get it
        print(f"prometheus: not started: {missing}")
        return
    if running():
        print(f"Prometheus already running: {running().url}")
        return
    _stop(args)
    services = [serving.running_service(step) for step in (serving.MODEL, serving.EXPLAINER)]
    if not all(services):
        raise SystemExit("start the services first (python -m pipeline.local.serving start)")
    targets = {s.name: f"{LOOPBACK}:{s.metrics_port}" for s in services}
    # Minutes, not the cluster's hour: on a laptop you see the alerts move while you send requests.
    settings = dataclasses.replace(CLUSTER, window="5m", gap_for="1m", min_applications=100, ops_for="1m")
    server = start_prometheus(targets, settings, scrape_interval="2s", evaluation_interval="2s")
    atexit.unregister(server.stop)  # it outlives this command; `stop` ends it
    serving.RUN_DIR.mkdir(exist_ok=True)
    STATE.write_text(json.dumps(dataclasses.asdict(server), indent=2) + "\n")
    targets = server.wait_for_targets(len(services))  # the first scrapes come ~5 s after start
    print(f"prometheus: {server.url}  pid {server.pid}  data {server.data_dir}  scraping", end=" ")
    print(", ".join(f"{t['scrapeUrl']} ({t['health']})" for t in targets))


def _stop(args) -> None:
    if STATE.exists():
        server = Prometheus(**{**json.loads(STATE.read_text()), "started_here": True})
        if serving._alive(server.pid):
            print(f"stopped prometheus (pid {server.pid})")
        server.stop()
        STATE.unlink()


def _status(args) -> None:
    server = running()
    print(f"prometheus: running, {server.url}, pid {server.pid}" if server else "prometheus: not running")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.local.prometheus", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True)
    commands.add_parser("start", help="Prometheus for the services `make serve` started").set_defaults(run=_start)
    commands.add_parser("stop", help="stop it, and remove its data").set_defaults(run=_stop)
    commands.add_parser("status", help="show whether it runs").set_defaults(run=_status)
    commands.add_parser("render-manifest", help="rewrite pipeline/monitoring/prometheusrule.yaml").set_defaults(
        run=lambda args: print(write_prometheus_rule())
    )
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
