"""A real Prometheus server on 127.0.0.1 scraping the loan services, and its HTTP API as pandas.

The notebook's production section, `make serve` / `make stop` and the tests use this module:

- ``start_prometheus`` / ``start_for`` / ``Prometheus.stop``: the Debian ``prometheus`` binary on a
  loopback port (9090 if free), run by ``pipeline.local.processes``, with the alert rules of
  ``pipeline.local.rules`` (``RuleSettings``, ``CLUSTER``: re-exported here), its data in a temporary
  directory removed at stop;
- ``Prometheus.query`` (instant), ``query_range`` (a DataFrame, one column per series), ``alerts``
  (``/api/v1/alerts``), ``rules`` and ``targets``.

The notebook's demo helpers (traffic, the alert's watch, the plot) are in ``tutorial.monitoring``.
Command line (the Makefile's `serve` and `stop`): ``python -m pipeline.local.prometheus start|stop|status``;
``render-manifest`` rewrites ``pipeline/monitoring/prometheusrule.yaml`` from the rules file.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import os
import shutil
import string
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from pipeline.local import processes, serving
from pipeline.local.rules import (  # noqa: F401 (the notebook and the tests take them from here)
    CLUSTER,
    MONITORING,
    PROMETHEUS_RULE,
    RULES,
    RuleSettings,
    render_rules,
    write_prometheus_rule,
)

CONFIG_TEMPLATE = MONITORING / "prometheus.yml"
NAME = "prometheus"  # .run/prometheus.json: the server `make serve` started
LOOPBACK = processes.LOOPBACK
PREFERRED_PORT = 9090  # Prometheus's usual port; the services use 9000/9001 and 6000/6001
INSTALL_HINT = "install Prometheus 2.x: `apt-get install prometheus` on Debian/Ubuntu (README.md)"


def binary(name: str = "prometheus") -> str:
    """The path of ``prometheus`` or ``promtool`` (PROMETHEUS_BIN / PROMTOOL_BIN override PATH)."""
    found = os.environ.get(f"{name.upper()}_BIN") or shutil.which(name)
    if not found:
        raise RuntimeError(f"`{name}` is not on PATH: {INSTALL_HINT}")
    return found


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
            processes.stop_group(self.pid, timeout)
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.started_here = False


class _Fields(string.Template):
    """Only ``${name}`` is a field of the configuration template, and an unknown one is an error."""

    pattern = r"\$(?:(?P<escaped>\$)|\{(?P<braced>[_a-z][_a-z0-9]*)\}|(?P<named>(?!))|(?P<invalid>(?!)))"


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
    port = port or processes.free_port(PREFERRED_PORT)
    log = data_dir / "prometheus.log"
    command = [
        binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir / 'tsdb'}",
        f"--web.listen-address={LOOPBACK}:{port}",  # loopback only
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    process = processes.start(command, log)
    server = Prometheus(process.pid, port, str(data_dir), str(log))
    try:
        processes.wait_until(server.ready, wait, process, f"Prometheus on {LOOPBACK}:{port}", log)
    except RuntimeError:
        server.stop()
        raise
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


# --- command line ----------------------------------------------------------------------------------


def recorded(started_here: bool = False) -> Prometheus | None:
    state = processes.recorded(serving.RUN_DIR, NAME)
    return None if state is None else Prometheus(**{**state, "started_here": started_here})


def running() -> Prometheus | None:
    """The Prometheus `make serve` started, if it is alive and ready."""
    server = recorded()
    return server if server is not None and processes.alive(server.pid) and server.ready() else None


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
    review = processes.recorded(serving.RUN_DIR, "loan-review")  # make serve's review service: /metrics on its port
    if review and processes.alive(review["pid"]):
        targets["loan-review"] = f"{LOOPBACK}:{review['port']}"
    # Minutes, not the cluster's hour: on a laptop you see the alerts move while you send requests.
    settings = dataclasses.replace(CLUSTER, window="5m", gap_for="1m", min_applications=100, ops_for="1m")
    server = start_prometheus(targets, settings, scrape_interval="2s", evaluation_interval="2s")
    atexit.unregister(server.stop)  # it outlives this command; `stop` ends it
    state = {k: v for k, v in dataclasses.asdict(server).items() if k != "started_here"}
    processes.record(serving.RUN_DIR, NAME, server.pid, state)
    targets = server.wait_for_targets(len(services))  # the first scrapes come ~5 s after start
    print(f"prometheus: {server.url}  pid {server.pid}  data {server.data_dir}  scraping", end=" ")
    print(", ".join(f"{t['scrapeUrl']} ({t['health']})" for t in targets))


def _stop(args) -> None:
    server = recorded(started_here=True)
    if server is not None:
        if processes.alive(server.pid):
            print(f"stopped prometheus (pid {server.pid})")
        server.stop()
    processes.forget(serving.RUN_DIR, NAME)


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
