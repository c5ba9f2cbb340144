"""The loan alert rules: ``pipeline/monitoring/loan-alerts.rules.yml`` as committed (the cluster's settings,
loaded by Prometheus as it is) and the copies derived from it with other windows and bands.

- ``RuleSettings``: the windows, ``for`` durations, band and guard of the rules; ``CLUSTER`` is read
  back from the committed file, ``RuleSettings.demo`` holds the seconds of the notebook's live demo;
- ``render_rules(settings)``: the committed rules with those values replaced (parsed YAML, not text
  templates), written by ``start_prometheus`` into the server's temporary directory;
- ``write_prometheus_rule``: ``prometheusrule.yaml``, the same groups in a PrometheusRule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

MONITORING = Path(__file__).resolve().parents[2] / "pipeline" / "monitoring"
RULES = MONITORING / "loan-alerts.rules.yml"
PROMETHEUS_RULE = MONITORING / "prometheusrule.yaml"
GAP_ALERT = "LoanApprovalGapWidened"
FAIRNESS, SERVICES = "loan-fairness", "loan-services"  # the two groups: the gap's window, the operations'
# The gap alert's condition: the band (audited gap + margin) and the guard (applications per gender).
GAP_CONDITION = re.compile(
    r"> (?P<baseline_gap>[0-9.]+) \+ (?P<margin>[0-9.]+)\s+and on \(\) min\(gender:loan_applications:window\)"
    r" >= (?P<min_applications>[0-9]+)"
)
RANGE = re.compile(r"\[(\w+)\]")  # a range selector's duration, [1h]


@dataclass(frozen=True)
class RuleSettings:
    """The values of the rules that change between the cluster and a demo.

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
        """Seconds instead of hours, so a live demo sees the alert go pending, then firing; the margin and
        floor of the committed rules (sized for both, tutorial/alert_sizing.py)."""
        sized = read_settings()
        values = dict(window="10s", gap_for="1s", margin=sized.margin, min_applications=sized.min_applications,
                      ops_window="10s", ops_for="4s")  # fmt: skip
        return cls(baseline_gap=round(float(baseline_gap), 3), **{**values, **overrides})

    @property
    def max_gap(self) -> float:
        return round(self.baseline_gap + self.margin, 3)


def _groups(rules: dict) -> dict[str, list[dict]]:
    return {group["name"]: group["rules"] for group in rules["groups"]}


def read_settings(path: Path = RULES) -> RuleSettings:
    """The settings a rules file carries (the committed one: the cluster's)."""
    groups = _groups(yaml.safe_load(Path(path).read_text()))
    (gap,) = [r for r in groups[FAIRNESS] if r.get("alert") == GAP_ALERT]
    condition = GAP_CONDITION.search(gap["expr"])
    if condition is None:
        raise ValueError(f"{path}: the {GAP_ALERT} expression has no band and guard like {GAP_CONDITION.pattern}")
    (ops_for,) = {r["for"] for r in groups[SERVICES]}
    return RuleSettings(
        baseline_gap=float(condition["baseline_gap"]),
        margin=float(condition["margin"]),
        window=RANGE.search(groups[FAIRNESS][0]["expr"])[1],
        gap_for=gap["for"],
        min_applications=int(condition["min_applications"]),
        ops_window=RANGE.search(groups[SERVICES][0]["expr"])[1],
        ops_for=ops_for,
    )


CLUSTER = read_settings()


def _replace_words(text: str, values: dict[str, str]) -> str:
    """Each whole word or number of ``values`` (not part of a longer one) by its replacement."""
    words = "|".join(re.escape(old) for old in sorted(values, key=len, reverse=True))
    return re.sub(rf"(?<![\w.])(?:{words})(?![\w.])", lambda m: values[m[0]], text)


def rules_with(settings: RuleSettings, path: Path = RULES) -> dict:
    """The rules of ``path`` (parsed) with ``settings`` in place of the values the file carries."""
    rules, carried = yaml.safe_load(Path(path).read_text()), read_settings(path)
    groups = _groups(rules)
    for name, window, for_ in ((FAIRNESS, "window", "gap_for"), (SERVICES, "ops_window", "ops_for")):
        old, new = f"[{getattr(carried, window)}]", f"[{getattr(settings, window)}]"
        for rule in groups[name]:
            rule["expr"] = rule["expr"].replace(old, new)
            if "for" in rule:
                rule["for"] = getattr(settings, for_)
    (gap,) = [r for r in groups[FAIRNESS] if r.get("alert") == GAP_ALERT]
    gap["expr"] = GAP_CONDITION.sub(
        lambda _: f"> {settings.baseline_gap} + {settings.margin}\nand on () min(gender:loan_applications:window)"
        f" >= {settings.min_applications}",
        gap["expr"],
    )
    said = {carried.window: settings.window, str(carried.baseline_gap): str(settings.baseline_gap),
            str(carried.margin): str(settings.margin)}  # fmt: skip
    gap["annotations"] = {k: _replace_words(v, said) for k, v in gap["annotations"].items()}
    return rules


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks, as written in the rules file."""


def _text(dumper, value):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def render_rules(settings: RuleSettings) -> str:
    """The rules file with ``settings`` (YAML text, for a Prometheus's rule_files)."""
    return yaml.dump(rules_with(settings), Dumper=_Dumper, sort_keys=False, width=120)


def prometheus_rule_manifest(settings: RuleSettings = CLUSTER) -> dict:
    """The PrometheusRule for the prometheus-operator: the same groups, with ``settings``."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "loan-services",
            "namespace": "seldon",
            # kube-prometheus-stack's Prometheus selects rules by its release label.
            "labels": {"app": "loanclassifier", "release": "prometheus"},
        },
        "spec": rules_with(settings),
    }


def write_prometheus_rule(path: Path = PROMETHEUS_RULE) -> Path:
    header = (
        "# Generated from pipeline/monitoring/loan-alerts.rules.yml (the cluster's settings, as committed):\n"
        "# python -m pipeline.local.prometheus render-manifest\n"
    )
    path.write_text(header + yaml.dump(prometheus_rule_manifest(), Dumper=_Dumper, sort_keys=False, width=120))
    return path

