"""Monitoring: the alert rules under promtool, the cluster manifests against the prometheus-operator's
CRDs, and a real Prometheus (pipeline/local/prometheus.py) scraping loan metrics on 127.0.0.1: the gap
alert quiet on normal traffic, pending then firing after a shift, and every dashboard query answered.

The live tests scrape ``StandInLoanExporter``: test support, a prometheus_client HTTP server on
127.0.0.1 exporting the metric names the wrappers export (the metric contract in
pipeline/monitoring/README.md) at rates the test sets, so the rules are tested without a model.
The notebook runs the same server against the real services.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from pipeline.local import prometheus, rules, serving
from tests.crd_schema import crd_schema, errors
from tests.loopback import listening_addresses
from tutorial import monitoring

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "pipeline" / "monitoring"
CRDS = ROOT / "tests" / "crds" / "prometheus-operator-0.93.0"
DASHBOARD = MONITORING / "grafana-dashboard.json"
# 7 of the gender gap and the operations, 1 of review, 1 of holds, 5 of the groups, 1 of drift,
# 30 of the groups' audited rates and bands
N_RULES = 45


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([prometheus.binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


# --- rules under promtool --------------------------------------------------------------------------


def test_the_committed_rules_file_passes_promtool_check_as_it_is():
    result = promtool("check", "rules", str(rules.RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {N_RULES} rules found" in result.stdout


def test_the_committed_rules_carry_the_cluster_settings():
    assert (
        rules.read_settings()
        == prometheus.CLUSTER
        == rules.RuleSettings(
            baseline_gap=0.179,
            margin=0.054,
            window="1h",
            gap_for="5m",
            min_applications=275,
            ops_window="5m",
            ops_for="5m",
        )
    )
    # Deriving with the file's own settings gives the file back: nothing is lost or rewritten.
    assert rules.rules_with(prometheus.CLUSTER) == yaml.safe_load(rules.RULES.read_text())


def test_the_demo_copy_replaces_every_cluster_value(tmp_path):
    demo = prometheus.RuleSettings.demo(0.2)
    text = prometheus.render_rules(demo)
    for cluster_value in ("[1h]", "[5m]", "5m", "0.179", "over 1h"):
        assert cluster_value not in text, cluster_value
    assert "+ 0.054" in text and ">= 275" in text  # the margin and floor are sized for both (test_alert_sizing)
    (rules_file := tmp_path / "demo.rules.yml").write_text(text)
    assert rules.read_settings(rules_file) == demo  # read back: the values are where the cluster's were
    result = promtool("check", "rules", str(rules_file))
    assert result.returncode == 0 and f"SUCCESS: {N_RULES} rules found" in result.stdout, result.stdout + result.stderr
    gap = next(r for g in yaml.safe_load(text)["groups"] for r in g["rules"] if r.get("alert") == rules.GAP_ALERT)
    assert "over 10s" in gap["annotations"]["summary"] and "the gap was 0.2," in gap["annotations"]["description"]


def test_a_rules_file_without_the_band_is_a_clear_error(tmp_path):
    broken = tmp_path / "rules.yml"
    broken.write_text(rules.RULES.read_text().replace("> 0.179 + 0.054", "> 0.233"))
    with pytest.raises(ValueError, match="no band and guard"):
        rules.read_settings(broken)


def run_promtool_unit_tests(tmp_path: Path, settings: prometheus.RuleSettings) -> subprocess.CompletedProcess:
    """`promtool test rules` on pipeline/monitoring/tests/*.test.yml, with the rules derived with ``settings``
    where the test files expect the committed ones (../loan-alerts.rules.yml)."""
    (tmp_path / "tests").mkdir()
    for test_file in (MONITORING / "tests").glob("*.test.yml"):
        shutil.copy(test_file, tmp_path / "tests")
    (tmp_path / "loan-alerts.rules.yml").write_text(prometheus.render_rules(settings))
    tests = sorted(p.name for p in (tmp_path / "tests").glob("*.test.yml"))
    return promtool("test", "rules", *tests, cwd=tmp_path / "tests")


def test_promtool_unit_tests_show_each_alert_firing_and_quiet():
    """On the committed files as they are: `promtool test rules pipeline/monitoring/tests/*.test.yml`."""
    result = promtool("test", "rules", *map(str, sorted((MONITORING / "tests").glob("*.test.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted((MONITORING / "tests").glob("*.test.yml"))
    tested = [t for f in files for t in yaml.safe_load(f.read_text())["tests"]]
    alerts = [r["alert"] for g in yaml.safe_load(rules.RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) == 8, alerts
    for alert in alerts:
        checks = [c for t in tested for c in t.get("alert_rule_test", []) if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in checks) and any(not c["exp_alerts"] for c in checks), alert


def test_promtool_unit_tests_pass_on_the_derived_copy_with_the_cluster_settings(tmp_path):
    result = run_promtool_unit_tests(tmp_path, prometheus.CLUSTER)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "change",
    [{"margin": 0.5}, {"min_applications": 5000}, {"gap_for": "45m"}, {"window": "10m"}],
    ids=lambda c: next(iter(c)),
)
def test_promtool_unit_tests_catch_other_settings(tmp_path, change):
    """The unit tests pin the cluster's behaviour: a wider band, a larger guard, a longer `for` or a
    shorter window each make them fail."""
    result = run_promtool_unit_tests(tmp_path, dataclasses.replace(prometheus.CLUSTER, **change))
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "old, new",
    [
        ("and group:loan_applications:window >= 450", "and group:loan_applications:window >= 0"),
        (
            "> on (gender, ethnicity) group:loan_approval_band:high",
            "> on (gender, ethnicity) group:loan_approval_band:high + 0.5",
        ),
        ('range $i, $s := query "loan_monitor_drifted == 1"', 'range $i, $s := query "loan_monitor_drifted == 0"'),
    ],
    ids=["group without its floor", "bands too wide", "drift annotation on the wrong inputs"],
)
def test_promtool_unit_tests_catch_a_broken_group_or_drift_rule(tmp_path, old, new):
    text = rules.RULES.read_text()
    assert text.count(old) == 1
    (tmp_path / "tests").mkdir()
    shutil.copy(MONITORING / "tests" / "loan-alerts.test.yml", tmp_path / "tests")
    (tmp_path / "loan-alerts.rules.yml").write_text(text.replace(old, new))
    result = promtool("test", "rules", "loan-alerts.test.yml", cwd=tmp_path / "tests")
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


def test_local_configuration_passes_promtool_check(tmp_path):
    rules = tmp_path / "loan-alerts.rules.yml"
    rules.write_text(prometheus.render_rules(prometheus.RuleSettings.demo(0.2)))
    config = tmp_path / "prometheus.yml"
    config.write_text(prometheus.render_config({"a": "127.0.0.1:6000", "b": "127.0.0.1:6001"}, rules))
    result = promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


# --- the cluster's manifests -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def validators():
    return {
        kind: jsonschema.Draft7Validator(crd_schema(CRDS / f"monitoring.coreos.com_{kind.lower()}s.yaml"))
        for kind in ("PodMonitor", "PrometheusRule", "ServiceMonitor")
    }


MANIFESTS = ["podmonitor.yaml", "prometheusrule.yaml"]


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_is_valid_against_the_operator_crd(validators, name):
    manifest = yaml.safe_load((MONITORING / name).read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert errors(validators[manifest["kind"]], manifest) == []


@pytest.mark.parametrize(
    "name, mistake",
    [
        ("podmonitor.yaml", lambda m: m["spec"]["podMetricsEndpoints"][0].update(prot="metrics")),
        ("podmonitor.yaml", lambda m: m["spec"]["podMetricsEndpoints"][0].update(interval="15 seconds")),
        ("podmonitor.yaml", lambda m: m["spec"].pop("selector")),
        ("prometheusrule.yaml", lambda m: m["spec"]["groups"][0]["rules"][3].update(for_=1)),
        ("prometheusrule.yaml", lambda m: m["spec"]["groups"][0].pop("name")),
    ],
    ids=["unknown field", "bad duration", "no selector", "unknown rule field", "group without name"],
)
def test_the_validator_catches_mistakes(validators, name, mistake):
    manifest = yaml.safe_load((MONITORING / name).read_text())
    broken = copy.deepcopy(manifest)
    mistake(broken)
    validator = validators[manifest["kind"]]
    assert errors(validator, manifest) == [] and errors(validator, broken) != []


def test_prometheus_rule_is_up_to_date_with_the_rules_file(tmp_path):
    """One source of truth: the committed PrometheusRule holds the groups of loan-alerts.rules.yml as
    committed (`python -m pipeline.local.prometheus render-manifest` rewrites it)."""
    committed = yaml.safe_load(prometheus.PROMETHEUS_RULE.read_text())
    assert committed["spec"] == yaml.safe_load(rules.RULES.read_text())
    assert committed == rules.prometheus_rule_manifest(prometheus.CLUSTER)
    assert rules.write_prometheus_rule(tmp_path / "rule.yaml").read_text() == prometheus.PROMETHEUS_RULE.read_text()
    (gap,) = [r for r in committed["spec"]["groups"][0]["rules"] if r.get("alert") == "LoanApprovalGapWidened"]
    assert gap["for"] == "5m" and "[1h]" in committed["spec"]["groups"][0]["rules"][0]["expr"]


def test_pod_monitor_selects_both_deployments_on_their_metrics_port():
    monitor = yaml.safe_load((MONITORING / "podmonitor.yaml").read_text())
    (selector,) = monitor["spec"]["selector"]["matchExpressions"]
    assert sorted(selector["values"]) == sorted(s.name for s in (serving.MODEL, serving.EXPLAINER))
    deployments = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "pipeline" / "deploy").glob("*.yaml"))]
    assert {d["metadata"]["namespace"] for d in deployments} == set(monitor["spec"]["namespaceSelector"]["matchNames"])
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"  # the port name Seldon's operator gives the wrapper's metrics port
    job = [r for r in endpoint["relabelings"] if r.get("targetLabel") == "job"]
    assert job and job[0]["replacement"] in rules.RULES.read_text()


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_shows_what_the_issue_asks_for():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = "\n".join(dashboard_exprs())
    assert "sum by (gender)" in exprs and 'caller="applicant"' in exprs  # approval rate per gender
    assert "gender:loan_approval_rate:window" in exprs  # the alert's expression
    assert "sum by (feature) (rate(loan_reason_flags_total" in exprs  # flags by feature
    for metric in ("loan_review_queue_depth", "loan_review_oldest_case_age_seconds", "loan_review_overrides_total"):
        assert metric in exprs  # the review queue and the overrides by gender and direction
    for metric in ("loan_requests_total", 'code=~"5.."', "loan_request_duration_seconds_bucket"):
        assert metric in exprs
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    # The gap panel draws the cluster's band as its threshold line.
    # Per-group rates with their intervals, "not enough data", the drifted inputs.
    shown = ["gender:loan_approval_rate:window - 1.96 * sqrt(", "group:loan_approval_rate:window + 1.96 * sqrt("]
    shown += ["group:loan_not_enough_data:window", "loan_monitor_drifted", "loan_monitor_drift_p_value"]
    for expr in shown:
        assert expr in exprs, expr
    (gap_panel,) = [p for p in dashboard["panels"] if "LoanApprovalGapWidened" in p["title"]]
    steps = gap_panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == prometheus.CLUSTER.max_gap


# --- a real Prometheus -----------------------------------------------------------------------------


class StandInLoanExporter:
    """Test support: loan metrics under the wrappers' names, served by prometheus_client on 127.0.0.1.

    ``rates`` sets decisions per second: {(gender, decision): n}; a thread adds them every 0.1 s, and
    counts one request per tick for each service (a 200, with a duration of ``seconds``).
    """

    def __init__(self):
        self.registry = {name: CollectorRegistry() for name in ("loanclassifier", "loanclassifier-explainer")}
        model = self.registry["loanclassifier"]
        self.decisions = Counter("loan_decisions", "decisions", ["gender", "decision", "caller"], registry=model)
        self.requests = {
            s: Counter("loan_requests", "requests", ["service", "code"], registry=r) for s, r in self.registry.items()
        }  # the model's and the explainer's
        self.durations = {
            s: Histogram(
                "loan_request_duration_seconds",
                "duration",
                ["service"],
                registry=r,
                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            )
            for s, r in self.registry.items()
        }
        explainer = self.registry["loanclassifier-explainer"]
        self.flags = Counter("loan_reason_flags", "flags", ["feature"], registry=explainer)
        # The drift monitor's metrics (pipeline/loan_monitor): decisions per gender x ethnicity, drift per input.
        self.registry["loan-monitor"] = monitor = CollectorRegistry()
        labels = ["gender", "ethnicity", "decision"]
        self.groups = Counter("loan_monitor_decisions", "decisions", labels, registry=monitor)
        for name, value in (("drifted", 0), ("drift_p_value", 0.5)):
            gauge = Gauge(f"loan_monitor_{name}", name, ["feature"], registry=monitor)
            for feature in ("age", "marital-status"):
                gauge.labels(feature).set(value)
        # the review service's series (served beside the model's here: one target fewer to wait for)
        Gauge("loan_review_queue_depth", "cases", registry=model).set(3)
        Gauge("loan_review_oldest_case_age_seconds", "age", registry=model).set(600)
        overrides = Counter("loan_review_overrides", "overrides", ["gender", "direction"], registry=model)
        for gender in ("Female", "Male"):
            for direction in ("rejected_to_approved", "approved_to_rejected"):
                overrides.labels(gender, direction)
        for gender in ("Female", "Male"):  # every series from zero, as the wrappers start them
            for decision in ("approved", "rejected"):
                for caller in ("applicant", "explainer"):
                    self.decisions.labels(gender, decision, caller)
        self.rates: dict[tuple[str, str], float] = {}
        self.ports = {s: serving.free_port() for s in self.registry}
        self.servers = [
            start_http_server(self.ports[s], addr=serving.LOOPBACK, registry=r)[0] for s, r in self.registry.items()
        ]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.wait(0.1):
            for (gender, decision), per_second in list(self.rates.items()):
                self.decisions.labels(gender, decision, "applicant").inc(per_second / 10)
            # The explainer's perturbed samples: many, all women rejected; they must not count.
            self.decisions.labels("Female", "rejected", "explainer").inc(50)
            self.flags.labels("marital-status").inc()  # the explainer's reasons: a flagged rejection a tick
            # Two groups above the floor (450 in the demo's 10 s window), one far below it.
            groups = ((("Male", "White"), 60, 0.26), (("Female", "White"), 50, 0.08), (("Female", "Other"), 1, 1.0))
            for (gender, ethnicity), per_second, rate in groups:
                self.groups.labels(gender, ethnicity, "approved").inc(per_second * rate / 10)
                self.groups.labels(gender, ethnicity, "rejected").inc(per_second * (1 - rate) / 10)
            for service in self.requests:
                self.requests[service].labels(service, "200").inc()
                self.durations[service].labels(service).observe(0.03 if service == "loanclassifier" else 2.0)

    @property
    def targets(self) -> dict[str, str]:
        return {s: f"{serving.LOOPBACK}:{port}" for s, port in self.ports.items()}

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        for server in self.servers:
            server.shutdown()
            server.server_close()


NORMAL = {
    ("Female", "approved"): 4.8,
    ("Female", "rejected"): 55.2,
    ("Male", "approved"): 31.2,
    ("Male", "rejected"): 88.8,
}  # 60 women/s approved at 8%, 120 men/s at 26%: a gap of 0.18
SHIFTED = {
    ("Female", "approved"): 0.6,
    ("Female", "rejected"): 59.4,
    ("Male", "approved"): 48.0,
    ("Male", "rejected"): 72.0,
}  # women at 1%, men at 40%: a gap of 0.39


@pytest.fixture(scope="module")
def live():
    exporter = StandInLoanExporter()
    server = None
    try:
        server = prometheus.start_prometheus(exporter.targets, prometheus.RuleSettings.demo(0.18))
        server.wait_for_targets(3)
        yield exporter, server
    finally:
        if server is not None:
            server.stop()
        exporter.stop()


def test_prometheus_listens_on_loopback_only(live):
    _, server = live
    assert listening_addresses(server.port) == {"127.0.0.1"}
    assert Path(server.data_dir).is_dir() and str(Path(server.data_dir)).startswith("/tmp")


def test_rules_are_loaded_and_healthy(live):
    _, server = live
    rules = server.rules()
    assert len(rules) == N_RULES and all(r["health"] == "ok" for r in rules), rules
    (gap,) = [r for r in rules if r.get("name") == "LoanApprovalGapWidened"]
    assert "[10s]" in " ".join(r["query"] for r in rules) and gap["duration"] == 1


def test_gap_alert_is_quiet_on_normal_traffic_then_pending_then_firing_after_a_shift(live):
    exporter, server = live
    exporter.rates = dict(NORMAL)
    # A full window of normal traffic, with the guard met: the alert stays inactive.
    server.wait_for("min(gender:loan_applications:window) >= 275", timeout=60)
    quiet_until = time.monotonic() + 12  # more than the 10 s window
    while time.monotonic() < quiet_until:
        assert server.alert_state("LoanApprovalGapWidened") == "inactive", server.alerts()
        time.sleep(0.5)
    rates = server.query("round(gender:loan_approval_rate:window, 0.01)").set_index("gender")["value"]
    assert rates.to_dict() == pytest.approx({"Female": 0.08, "Male": 0.26}, abs=0.02)

    shifted_at = time.time()
    exporter.rates = dict(SHIFTED)
    seen, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline and "firing" not in seen:
        state = server.alert_state("LoanApprovalGapWidened")
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(0.2)
    assert seen[-2:] == ["pending", "firing"], seen
    (firing,) = server.alerts().query("alertname == 'LoanApprovalGapWidened'").itertuples()
    assert firing.value > 0.234 and firing.activeAt.timestamp() >= shifted_at - 1

    # The same story in ALERTS, Prometheus's own series of alert states: pending before firing.
    # (The range's last step may fall just before the firing evaluation: query again until it is in.)
    deadline = time.monotonic() + 15
    while True:
        history = server.query_range(
            'ALERTS{alertname="LoanApprovalGapWidened"}', shifted_at - 5, time.time(), step=0.5, label="alertstate"
        )
        if "firing" in history or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert history["pending"].first_valid_index() < history["firing"].first_valid_index(), history


def test_query_range_gives_a_time_series_per_gender(live):
    exporter, server = live
    exporter.rates = exporter.rates or dict(NORMAL)
    started, deadline = time.time(), time.monotonic() + 60
    while True:  # five seconds of recorded rates (one evaluation a second)
        end = time.time()
        frame = server.query_range("gender:loan_approval_rate:window", end - 10, end, step=1, label="gender")
        if len(frame.dropna()) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert list(frame.columns) == ["Female", "Male"] and len(frame.dropna()) >= 5, (frame, time.time() - started)
    assert frame.index.tz is not None and frame.index.is_monotonic_increasing
    assert ((frame >= 0) & (frame <= 1)).all().all()


def test_every_dashboard_query_answers(live):
    """Each PromQL expression of grafana-dashboard.json, against the running Prometheus: valid, and
    with data once the exporter has served traffic and the gap alert has been active."""
    exporter, server = live
    exporter.rates = exporter.rates or dict(SHIFTED)
    server.wait_for('ALERTS{alertname="LoanApprovalGapWidened"}', timeout=60)
    for expr in dashboard_exprs():
        assert len(server.query(expr)), expr


def test_a_bad_query_is_a_clear_error(live):
    _, server = live
    with pytest.raises(RuntimeError, match="parse error"):
        server.query("sum by (gender (loan_decisions_total)")


def test_stop_ends_prometheus_and_removes_its_data(tmp_path):
    server = prometheus.start_prometheus({"nothing": f"{serving.LOOPBACK}:{serving.free_port()}"})
    assert server.ready() and serving._alive(server.pid)
    server.stop()
    assert not serving._alive(server.pid) and not Path(server.data_dir).exists() and not server.ready()


def test_decisions_by_gender_counts_applicants_only(live):
    exporter, server = live
    exporter.rates = exporter.rates or dict(NORMAL)
    table = monitoring.decisions_by_gender(server, at_least=1)
    assert list(table.index) == ["Female", "Male"]
    assert list(table.columns) == ["applications", "approvals", "approval_rate"]
    # The stand-in's explainer samples (50 rejected women a tick) would push women's count far past men's.
    assert (table["approvals"] <= table["applications"]).all()
    assert table.loc["Female", "applications"] < table.loc["Male", "applications"]


def test_a_group_under_the_floor_says_not_enough_data_and_has_no_rate(live):
    """The stand-in monitor's groups over the demo's 10 s window: white men and women above the floor of
    450, "Other" women at 10 (all approved) below it: "not enough data", no rate, no alert."""
    _, server = live
    server.wait_for('group:loan_not_enough_data:window{ethnicity="White"} == 0', timeout=60)
    state = server.query("group:loan_not_enough_data:window").set_index(["gender", "ethnicity"])["value"]
    assert state.to_dict() == {("Female", "Other"): 1, ("Female", "White"): 0, ("Male", "White"): 0}
    rates = server.query("group:loan_approval_rate:window")
    assert sorted(zip(rates["gender"], rates["ethnicity"])) == [("Female", "White"), ("Male", "White")]
    assert not len(server.query('ALERTS{alertname="LoanGroupApprovalMoved", ethnicity="Other"}'))
