"""The fairness alerts' error rates: margins and minimum counts sized from the served model's approval
rates on adult.test, and checked by simulating the rules as Prometheus evaluates them.

Two alerts, both over the same window and ``for``:

- the gender gap (``LoanApprovalGapWidened``), **one-sided**: it fires when men's and women's approval
  rates differ by more than the audited gap plus ``margin``; a narrowing gap does not alert;
- each gender x ethnicity group (``LoanGroupApprovalMoved``), **two-sided**: it fires when a group's
  approval rate leaves its band [low, high] around its audited rate, with a Bonferroni correction over
  the ``k`` groups (each side of each band at ``BAND_ALPHA / (2 k)``, exact binomial quantiles).

Both are sized at the floor, the smallest window the rule admits (``n`` applicants in each group; more
data only narrows the noise): at most ``alpha`` false alarms per evaluation, and at least ``power`` to be
firing one window after a 10-point change starts. The simulation follows the rules: a stream of
applicants per group drawn (with replacement) from the forest's decisions on adult.test, a window of the
last ``n`` of each group, an evaluation every ``window / evaluations``, consecutive windows sharing most
of their applicants, and ``for`` as consecutive true evaluations (Prometheus fires once the condition has
held for ``for``). A 10-point widening is simulated as men's rate up 10 points (of the ways to widen the
gap by 10, the one with the largest variance); a group's change as its rate up 10 points (for the groups
approved under 10% the only possible one, and the larger variance for every group below 0.45).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ALPHA, POWER, EFFECT = 0.05, 0.80, 0.10
# The groups' bands at 4% family-wise: Bonferroni is nearly exact for 10 independent groups, and the
# simulation that checks the 5% needs room for its own noise.
BAND_ALPHA = ALPHA - 0.01
GROUPS = ["gender", "ethnicity"]


@dataclass(frozen=True)
class Schedule:
    """How Prometheus evaluates a rule: evaluations per window, and ``for`` in evaluations."""

    name: str
    evaluations: int  # window / evaluation interval
    for_evaluations: int  # `for` / evaluation interval: firing after this many more true evaluations


# The cluster: a 1 h window evaluated every 30 s (the Prometheus's evaluationInterval: 30s), for 5m.
# The demo: a 10 s window evaluated every second (pipeline.local.prometheus), for 1s.
CLUSTER = Schedule("cluster (1h window, for 5m, every 30s)", 120, 10)
DEMO = Schedule("demo (10s window, for 1s, every 1s)", 10, 1)


def served_decisions(seed: int = 0) -> pd.DataFrame:
    """The served forest, fitted as the notebook fits it, and its decisions on adult.test: one row per
    applicant with ``approved``, ``gender`` and ``ethnicity``."""
    from tutorial.data import load_adult
    from tutorial.models import build_rf_pipeline

    train, test = load_adult("train", seed=seed), load_adult("test", seed=seed)
    rf = build_rf_pipeline(train.category_map, seed=seed).fit(train.X, train.y)
    return decisions_frame(rf.predict(test.X), test.display)


def decisions_frame(decisions, display: pd.DataFrame) -> pd.DataFrame:
    frame = display[GROUPS].astype(str).reset_index(drop=True)
    return frame.assign(approved=np.asarray(decisions).astype(bool))


# --- the windows, as the rules see them ------------------------------------------------------------


def _draw(rng, approved: np.ndarray, size, lift: float = 0.0) -> np.ndarray:
    """Decisions drawn from ``approved`` (one group's decisions), tilted so the rate rises by ``lift``."""
    p = approved.mean()
    weights = np.where(approved, (p + lift) / p if p else 0.0, (1 - p - lift) / (1 - p))
    return rng.choice(approved, size=size, p=weights / weights.sum()) if lift else rng.choice(approved, size=size)


def window_rates(rng, approved: np.ndarray, n: int, schedule: Schedule, reps: int, lift: float = 0.0):
    """Approval rates of the last ``for_evaluations + 1`` windows of ``n`` applicants, shape (reps, F+1).

    Window j starts ``j n / evaluations`` applicants after window 0. With ``lift`` the applicants of the
    last window (and only they) come at the changed rate: windows before it hold the old rate in part.
    """
    starts = np.round(np.arange(schedule.for_evaluations + 1) * n / schedule.evaluations).astype(int)
    before = _draw(rng, approved, (reps, starts[-1]))
    after = _draw(rng, approved, (reps, n), lift)
    sums = np.concatenate([np.zeros((reps, 1)), np.cumsum(np.hstack([before, after]), axis=1)], axis=1)
    return (sums[:, starts + n] - sums[:, starts]) / n


def firing(condition: np.ndarray) -> np.ndarray:
    """The alert firing at the last evaluation: the condition held at every evaluation of ``for``."""
    return condition.all(axis=1)


# --- the gender gap --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GapSizing:
    baseline_gap: float
    margin: float
    min_applications: int


def size_gap(decisions: pd.DataFrame, schedules=(CLUSTER, DEMO), alpha=ALPHA, power=POWER, effect=EFFECT):
    """The smallest floor (in steps of 25) whose margin keeps the false alarms per evaluation under
    ``alpha`` and detects men's rate up ``effect`` with ``power`` under every schedule. The margin is the
    simulated quantile of the gap of one window at the floor; both are sized on their own draws, with
    room (``alpha - 0.01``, ``power + 0.02``) for the test's fresh draws."""
    p = decisions.groupby("gender")["approved"].mean()
    gap = round(float(p.max() - p.min()), 3)
    one_window = Schedule("one window", 1, 0)
    for n in range(100, 5001, 25):
        null = simulate_gap(decisions, GapSizing(gap, 0.0, n), one_window, reps=20000, effect=0.0, seed=n)
        margin = math.ceil((np.quantile(null["gaps"], 1 - (alpha - 0.01)) - gap) * 1000) / 1000
        sizing = GapSizing(gap, margin, n)
        if all(simulate_gap(decisions, sizing, s, reps=2000, seed=n)["power"] >= power + 0.02 for s in schedules):
            return sizing
    raise ValueError("no floor up to 5,000 applicants")


def simulate_gap(decisions, sizing: GapSizing, schedule: Schedule, reps: int = 4000, effect: float = EFFECT, seed=0):
    """False alarms per evaluation (the condition; the alert firing) and power, at the floor."""
    rng = np.random.default_rng(seed)
    pools = {g: d["approved"].to_numpy() for g, d in decisions.groupby("gender")}
    top = max(pools, key=lambda g: pools[g].mean())
    threshold, n = sizing.baseline_gap + sizing.margin, sizing.min_applications

    def gaps(lift):
        rates = [window_rates(rng, pool, n, schedule, reps, lift if g == top else 0.0) for g, pool in pools.items()]
        return np.abs(rates[0] - rates[1])  # max - min of two rates

    null, shifted = gaps(0.0) > threshold, gaps(effect) > threshold
    rates = {"condition": null[:, -1].mean(), "false_alarm": firing(null).mean(), "power": firing(shifted).mean()}
    return rates if effect else {**rates, "gaps": gaps(0.0)[:, -1]}


def gap_episodes_per_day(decisions, sizing: GapSizing, schedule: Schedule, hours: int = 2000, seed=0) -> float:
    """False firing episodes a day at the floor: one long stream of unchanged traffic (``hours`` windows),
    the gap alert evaluated as Prometheus does; an episode is a run of firing evaluations."""
    rng, n = np.random.default_rng(seed), sizing.min_applications
    starts = np.round(np.arange(hours * schedule.evaluations) * n / schedule.evaluations).astype(int)
    rates = []
    for _, group in decisions.groupby("gender"):
        sums = np.concatenate([[0], np.cumsum(rng.choice(group["approved"].to_numpy(), size=hours * n + n))])
        rates.append((sums[starts + n] - sums[starts]) / n)
    condition = np.abs(rates[0] - rates[1]) > sizing.baseline_gap + sizing.margin
    span = schedule.for_evaluations + 1
    fires = np.convolve(condition, np.ones(span, int), "valid") == span
    return float((fires[0] + np.sum(fires[1:] & ~fires[:-1])) / hours * 24)


# --- gender x ethnicity ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSizing:
    min_applications: int
    bands: pd.DataFrame  # index (gender, ethnicity): audited, low, high


def group_bands(decisions: pd.DataFrame, n: int, alpha: float = BAND_ALPHA) -> pd.DataFrame:
    """Each group's band at the floor ``n``: exact binomial quantiles at ``alpha / (2 k)`` a side
    (Bonferroni), so that at most ``alpha`` of the windows at the floor put any group outside its band.
    The alert fires below ``low`` or above ``high`` (strictly)."""
    audited = decisions.groupby(GROUPS, observed=True)["approved"].mean()
    side = alpha / (2 * len(audited))
    low = stats.binom.ppf(side, n, audited) / n  # P(rate < low) <= side
    high = stats.binom.isf(side, n, audited) / n  # P(rate > high) <= side
    # Four decimals in the rules file, rounded outwards so that the rounding adds no false alarm.
    low, high = np.floor(low * 1e4) / 1e4, np.ceil(high * 1e4) / 1e4
    return pd.DataFrame({"audited": audited.round(4), "low": low, "high": high})


def exact_family_false_alarm(sizing: GroupSizing) -> float:
    """The chance that one window at the floor puts any group outside its band (binomial, exact)."""
    n, b = sizing.min_applications, sizing.bands
    below = stats.binom.cdf(np.ceil(b["low"] * n - 1e-9) - 1, n, b["audited"])  # rate < low
    above = stats.binom.sf(np.floor(b["high"] * n + 1e-9), n, b["audited"])  # rate > high
    return float(1 - np.prod(1 - below - above))


def size_groups(decisions: pd.DataFrame, schedules=(CLUSTER, DEMO), power=POWER, effect=EFFECT):
    """The smallest floor (steps of 25) at which every group's rate up ``effect`` is detected with
    ``power`` (+0.04 of room for the test's fresh draws) under every schedule; bands at ``BAND_ALPHA``."""
    for n in range(100, 5001, 25):
        sizing = GroupSizing(n, group_bands(decisions, n))
        if all(simulate_groups(decisions, sizing, s, reps=2000, seed=n)[0]["power"] >= power + 0.04 for s in schedules):
            return sizing
    raise ValueError("no floor up to 5,000 applicants")


def simulate_groups(decisions, sizing: GroupSizing, schedule: Schedule, reps=2000, effect=EFFECT, seed=0):
    """Family-wise false alarms per evaluation over all groups at the floor (the condition; firing), and
    each group's power when its own rate rises ``effect``: a Series per group, and the family's rates."""
    rng = np.random.default_rng(seed)
    n, bands = sizing.min_applications, sizing.bands
    pools = {g: d["approved"].to_numpy() for g, d in decisions.groupby(GROUPS, observed=True)}

    def outside(g, lift):
        rates = window_rates(rng, pools[g], n, schedule, reps, lift)
        return (rates < bands.loc[g, "low"]) | (rates > bands.loc[g, "high"])

    null = {g: outside(g, 0.0) for g in pools}
    any_condition = np.any([c[:, -1] for c in null.values()], axis=0).mean()
    any_firing = np.any([firing(c) for c in null.values()], axis=0).mean()
    power = pd.Series({g: firing(outside(g, effect)).mean() for g in pools}, name="power")
    return {"condition": any_condition, "false_alarm": any_firing, "power": power.min()}, power


# --- the bands in the rules file -------------------------------------------------------------------

RULES = Path(__file__).resolve().parents[1] / "pipeline" / "monitoring" / "loan-alerts.rules.yml"
MARKER = "  # --- generated by `python -m tutorial.alert_sizing` from the served forest's decisions: do not edit ---\n"
FLOOR = re.compile(r"group:loan_applications:window (?:< bool|>=) (\d+)")


def bands_group(sizing: GroupSizing) -> str:
    """The rules group holding each group's audited rate and band, as recording rules of constants."""
    lines = ["  - name: loan-fairness-bands", "    rules:"]
    for (gender, ethnicity), row in sizing.bands.iterrows():
        for name in ("audited", "low", "high"):
            record = "group:loan_approval_rate:audited" if name == "audited" else f"group:loan_approval_band:{name}"
            lines += [f"      - record: {record}", f"        expr: vector({row[name]:g})",
                      f"        labels: {{gender: {gender}, ethnicity: {ethnicity}}}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def committed_groups(path: Path = RULES) -> GroupSizing:
    """The floor and bands the rules file carries."""
    import yaml

    text = Path(path).read_text()
    (floor,) = {int(n) for n in FLOOR.findall(text)}
    (group,) = [g for g in yaml.safe_load(text)["groups"] if g["name"] == "loan-fairness-bands"]
    rows = {}
    for rule in group["rules"]:
        name = "audited" if rule["record"].endswith("audited") else rule["record"].rsplit(":", 1)[1]
        value = float(rule["expr"].removeprefix("vector(").removesuffix(")"))
        rows.setdefault((rule["labels"]["gender"], rule["labels"]["ethnicity"]), {})[name] = value
    bands = pd.DataFrame.from_dict(rows, orient="index")[["audited", "low", "high"]]
    bands.index = pd.MultiIndex.from_tuples(bands.index, names=GROUPS)
    return GroupSizing(floor, bands)


def write_bands(decisions: pd.DataFrame | None = None, path: Path = RULES) -> GroupSizing:
    """Size the groups' alert and write its floor and bands into the rules file."""
    sizing = size_groups(served_decisions() if decisions is None else decisions)
    text = Path(path).read_text()
    text = FLOOR.sub(lambda m: m[0].replace(m[1], str(sizing.min_applications)), text)
    head = text.split(MARKER)[0].rstrip("\n") + "\n\n"
    Path(path).write_text(head + MARKER + bands_group(sizing))
    return sizing


if __name__ == "__main__":
    print(write_bands().bands)
