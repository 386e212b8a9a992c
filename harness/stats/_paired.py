"""Paired comparison of two variants (or a run and its baseline) over the same scenarios.

The question on a fixed suite is "on these scenarios, does B behave differently from A?", so
every figure conditions on the scenarios that ran. Trials pair up within a scenario (the i-th
trial of A with the i-th of B: same caller audio) and every difference is B − A. A scenario
weighs the same whatever its number of trials: the difference is the mean over scenarios of
each scenario's mean pair difference.

- The test is a permutation of the variant labels within each pair
  (:func:`~harness.stats._permutation.sign_flip_test`: exact McNemar for pass/fail).
- The interval of a continuous metric is a t interval with scenario effects (pooled
  within-scenario spread of the pair differences, Σ(k_s − 1) degrees of freedom); of a pass
  rate, the Bonett–Price interval for paired proportions. Both were chosen because they cover
  ≥ 93 % for a nominal 95 % from 3 scenarios × 2 trials up (``bench/stats_calibration.py``).
- :func:`decide` puts the primary metrics (default: trial pass rate and voice-to-voice
  latency) in one Holm family and the others in a Benjamini–Hochberg family (exploratory); a
  metric whose test cannot reach α at its number of pairs is in neither and says so.
- The smallest detectable difference is found by simulating the actual test at the level its
  family tests it at (α over the family's size, the first step of Holm and of
  Benjamini–Hochberg) until it rejects in 80 % of simulated comparisons.
- An "across scenarios" figure (scenarios as a sample of all calls) is shown beside, labelled,
  only from :data:`ACROSS_MIN_SCENARIOS` scenarios on.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from harness.stats._estimates import DEFAULT_LEVEL, Interval
from harness.stats._permutation import (
    EXACT_UP_TO,
    MONTE_CARLO_RESAMPLES,
    Alternative,
    min_attainable_p,
    sign_flip_test,
)
from harness.stats._power import (
    POWER,
    BinaryPower,
    ContinuousPower,
    binary_mdd,
    continuous_mdd,
)

Verdict = Literal["better", "worse", "no detectable difference", "cannot be detected",
                  "not read"]
Family = Literal["primary", "secondary", "excluded"]

ALPHA = 0.05
PRIMARY_METRICS = ("passed", "voice_to_voice_ms")
"""The metrics a comparison decides on by default: trial pass rate and voice-to-voice latency."""
ACROSS_MIN_SCENARIOS = 8
"""Scenarios from which the "across scenarios" figure is shown: below, its interval covers less
than 93 % for a nominal 95 % when scenarios differ (``bench/stats_calibration.py``)."""
SPREAD_CONFIDENCE = 0.8


def mcnemar_exact(a_only: int, b_only: int, alternative: Alternative = "two-sided") -> float:
    """Exact McNemar p-value from the discordant pairs: ``a_only`` pairs where only A passed,
    ``b_only`` where only B passed. ``"greater"`` tests whether B passes more often."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    return float(sps.binomtest(b_only, n, 0.5, alternative=alternative).pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (step-up, monotone, capped at 1)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i], reverse=True)
    adjusted = [1.0] * m
    running = 1.0
    for rank, i in enumerate(order):
        running = min(running, pvalues[i] * m / (m - rank))
        adjusted[i] = min(1.0, running)
    return adjusted


# ---------------------------------------------------------------------- intervals


def scenario_t_interval(groups: Sequence[Sequence[float]], level: float = DEFAULT_LEVEL
                        ) -> tuple[Interval | None, float | None, str]:
    """Interval of the mean over scenarios of the mean pair difference, conditioning on the
    scenarios: a t interval whose spread is the pooled within-scenario spread of the pair
    differences (scenario effects removed), its degrees of freedom halfway between the pooled
    count and Satterthwaite's for scenarios that spread differently. Returns the interval, that
    spread (the noise a detectable difference must beat) and the method's name. With one trial
    per scenario there is no within-scenario spread, and the spread across scenarios stands in
    for it."""
    interval, sd, _df, method = _scenario_t(groups, level)
    return interval, sd, method


def _scenario_t(groups: Sequence[Sequence[float]], level: float = DEFAULT_LEVEL
                ) -> tuple[Interval | None, float | None, float, str]:
    """The interval, the spread, its degrees of freedom and the method's name."""
    arrays = [np.asarray(g, dtype=float) for g in groups if len(g)]
    s = len(arrays)
    if s == 0:
        return None, None, 0, "none"
    estimate = float(np.mean([g.mean() for g in arrays]))
    df: float = sum(g.size - 1 for g in arrays)
    if df > 0:
        squares = [float(np.sum((g - g.mean()) ** 2)) for g in arrays]
        ss = sum(squares)
        sd = math.sqrt(ss / df)
        se = sd * math.sqrt(sum(1.0 / g.size for g in arrays)) / s
        if ss > 0:
            # Scenarios spread differently (a tool call's latency varies more than a greeting's):
            # the pooled spread then rests on fewer degrees of freedom than it counts
            # (Satterthwaite). Halfway between the two covers ≥ 93 % from 3 × 2 on; the pooled
            # count alone covered 92-93 % at k = 2, Satterthwaite's 97-98 % at twice the width.
            effective = ss**2 / sum(q**2 / (g.size - 1) for q, g in zip(squares, arrays,
                                                                         strict=True)
                                    if g.size > 1)
            df = (df + effective) / 2
        method = "t with scenario effects"
    elif s >= 2:
        means = np.array([g.mean() for g in arrays])
        sd = float(np.std(means, ddof=1))
        se = sd / math.sqrt(s)
        df = s - 1
        method = "t across scenarios (one trial each)"
    else:
        return None, None, 0, "none"
    half = float(sps.t.ppf(0.5 + level / 2, df)) * se
    return Interval(estimate - half, estimate + half, level), sd, df, method


def paired_rate_interval(a: Sequence[bool] | npt.NDArray[np.bool_],
                         b: Sequence[bool] | npt.NDArray[np.bool_],
                         weights: Sequence[float] | npt.NDArray[np.float64] | None = None,
                         level: float = DEFAULT_LEVEL) -> Interval | None:
    """Bonett–Price interval of the difference of paired pass rates (B − A): the Wald interval
    of the discordant proportions after adding one to each (sound with no discordant pair).
    ``weights`` (summing to the number of pairs) let each scenario weigh the same."""
    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    n = x.size
    if n == 0:
        return None
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    a_only = float(np.sum(w * (x & ~y)))
    b_only = float(np.sum(w * (y & ~x)))
    p12 = (a_only + 1) / (n + 2)
    p21 = (b_only + 1) / (n + 2)
    centre = p21 - p12
    se = math.sqrt(max(0.0, (p12 + p21 - centre**2) / (n + 2)))
    z = float(sps.norm.ppf(0.5 + level / 2))
    return Interval(max(-1.0, centre - z * se), min(1.0, centre + z * se), level)


# ---------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class Comparison:
    """One metric compared between A and B, paired by (scenario, trial)."""

    metric: str
    kind: Literal["binary", "continuous"]
    n_scenarios: int
    n_pairs: int
    trials: tuple[int, ...]
    """Pairs per scenario, in scenario order."""
    n_movable: int
    """Pairs whose outcomes differ: the ones a relabelling can move."""
    mean_a: float | None
    mean_b: float | None
    difference: float | None
    """Mean over scenarios of the scenario's mean pair difference B − A."""
    interval: Interval | None
    interval_method: str
    p_value: float
    min_attainable_p: float
    wins: int
    """Scenarios where B is better."""
    ties: int
    losses: int
    """Scenarios where B is worse."""
    higher_is_better: bool
    test: str
    noise_sd: float | None = None
    """Spread of the pair differences within scenarios (continuous metrics)."""
    noise_df: float = 0.0
    """Degrees of freedom behind ``noise_sd``."""
    base_rate: float | None = None
    """Pass rate both variants show together (pass/fail metrics)."""
    across_difference: float | None = None
    across_interval: Interval | None = None
    """The difference "across scenarios" (scenarios as a sample of all calls), when enough
    scenarios ran to support it."""
    alternative: Alternative = "two-sided"
    family: Family = "excluded"
    family_size: int = 0
    p_adjusted: float | None = None
    verdict: Verdict = "cannot be detected"
    min_detectable: float | None = None
    note: str = ""

    @property
    def size_text(self) -> str:
        counts = set(self.trials)
        each = f" × {counts.pop()}" if len(counts) == 1 else f" ({self.n_pairs} pairs)"
        return f"{self.n_scenarios}{each}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["trials"] = list(self.trials)
        for key in ("interval", "across_interval"):
            value = getattr(self, key)
            out[key] = asdict(value) if value else None
        return out


def _aligned(a: Mapping[str, Sequence[Any]], b: Mapping[str, Sequence[Any]]
             ) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Scenarios both sides measured, and their values paired by position (trial order)."""
    names, xs, ys = [], [], []
    for s in sorted(a.keys() & b.keys()):
        k = min(len(a[s]), len(b[s]))
        if k:
            names.append(s)
            xs.append(np.asarray(list(a[s])[:k], dtype=float))
            ys.append(np.asarray(list(b[s])[:k], dtype=float))
    return names, xs, ys


def _weights(counts: Sequence[int]) -> np.ndarray:
    """Per pair, 1/(S·k_s): each scenario weighs the same in the mean difference."""
    s = len(counts)
    return np.concatenate([np.full(k, 1.0 / (s * k)) for k in counts]) if s else np.empty(0)


def _tally(diffs: np.ndarray, higher_is_better: bool) -> tuple[int, int, int]:
    better = diffs > 0 if higher_is_better else diffs < 0
    worse = diffs < 0 if higher_is_better else diffs > 0
    return int(better.sum()), int((diffs == 0).sum()), int(worse.sum())


def _test_name(kind: str, movable: int, equal_steps: bool) -> str:
    if kind == "binary" and equal_steps:
        return "McNemar exact (label permutation)"
    if movable <= EXACT_UP_TO:
        return "label permutation, exact"
    return f"label permutation, Monte Carlo ({MONTE_CARLO_RESAMPLES:,} relabellings)"


def _across(scenario_diffs: np.ndarray, level: float = DEFAULT_LEVEL) -> Interval | None:
    s = scenario_diffs.size
    if s < ACROSS_MIN_SCENARIOS:
        return None
    se = float(np.std(scenario_diffs, ddof=1)) / math.sqrt(s)
    half = float(sps.t.ppf(0.5 + level / 2, s - 1)) * se
    mean = float(scenario_diffs.mean())
    return Interval(mean - half, mean + half, level)


def _compare(metric: str, kind: Literal["binary", "continuous"], xs: list[np.ndarray],
             ys: list[np.ndarray], *, higher_is_better: bool,
             alternative: Alternative) -> Comparison:
    counts = tuple(int(x.size) for x in xs)
    diffs = [y - x for x, y in zip(xs, ys, strict=True)]
    flat = np.concatenate(diffs) if diffs else np.empty(0)
    weights = _weights(counts) * max(1, flat.size)  # mean of weights 1: pair units
    movable = int(np.count_nonzero(flat))
    scenario_diffs = np.array([d.mean() for d in diffs])
    s = len(counts)
    wins, ties, losses = _tally(scenario_diffs, higher_is_better)
    p_value = sign_flip_test(flat, weights, alternative)
    equal_steps = bool(movable) and np.allclose(np.abs((weights * flat)[flat != 0]),
                                                abs((weights * flat)[flat != 0][0]))
    noise_sd = base_rate = None
    noise_df = 0.0
    if kind == "binary":
        xa = np.concatenate(xs).astype(bool) if xs else np.empty(0, bool)
        yb = np.concatenate(ys).astype(bool) if ys else np.empty(0, bool)
        interval = paired_rate_interval(xa, yb, weights)
        method = "Bonett–Price (paired proportions)"
        base_rate = float((np.mean([x.mean() for x in xs]) + np.mean([y.mean() for y in ys])) / 2) \
            if s else None
    else:
        interval, noise_sd, noise_df, method = _scenario_t(diffs)
    return Comparison(
        metric=metric, kind=kind, n_scenarios=s, n_pairs=int(flat.size), trials=counts,
        n_movable=movable,
        mean_a=float(np.mean([x.mean() for x in xs])) if s else None,
        mean_b=float(np.mean([y.mean() for y in ys])) if s else None,
        difference=float(scenario_diffs.mean()) if s else None,
        interval=interval, interval_method=method, p_value=p_value,
        min_attainable_p=min_attainable_p(movable, alternative),
        wins=wins, ties=ties, losses=losses, higher_is_better=higher_is_better,
        test=_test_name(kind, movable, equal_steps), noise_sd=noise_sd, noise_df=noise_df,
        base_rate=base_rate,
        across_difference=float(scenario_diffs.mean()) if s >= ACROSS_MIN_SCENARIOS else None,
        across_interval=_across(scenario_diffs), alternative=alternative)


def compare_binary(a: Mapping[str, Sequence[bool]], b: Mapping[str, Sequence[bool]], *,
                   metric: str, alternative: Alternative = "two-sided") -> Comparison:
    """Compare pass rates. Keys are scenario names, values the pass/fail of each trial in trial
    order; the i-th trials of a scenario form a pair."""
    _, xs, ys = _aligned(a, b)
    return _compare(metric, "binary", xs, ys, higher_is_better=True, alternative=alternative)


def compare_continuous(a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]], *,
                       metric: str, higher_is_better: bool = False,
                       alternative: Alternative = "two-sided") -> Comparison:
    """Compare a continuous metric (latency, dead air, WER …), one value per trial in trial
    order; the i-th trials of a scenario form a pair."""
    _, xs, ys = _aligned(a, b)
    return _compare(metric, "continuous", xs, ys, higher_is_better=higher_is_better,
                    alternative=alternative)


def planning_sd(c: Comparison) -> float:
    """The spread a detectable difference is planned with: the measured one raised to its upper
    :data:`SPREAD_CONFIDENCE` confidence bound, so that a spread that came out small by chance
    (a few degrees of freedom: 3 at 3 scenarios × 2 trials) does not promise a power the test
    does not have."""
    if not c.noise_sd or c.noise_df <= 0:
        return c.noise_sd or 0.0
    return c.noise_sd * math.sqrt(c.noise_df / float(sps.chi2.ppf(1 - SPREAD_CONFIDENCE,
                                                                   c.noise_df)))


def min_detectable_difference(c: Comparison, level: float) -> float | None:
    """The smallest difference the comparison's own test, at ``level``, finds in 80 % of
    simulated comparisons of the same scenarios and trials (None: none it can find)."""
    if c.n_pairs == 0:
        return None
    if c.kind == "binary":
        return binary_mdd(c.n_pairs, c.base_rate if c.base_rate is not None else 1.0, level)
    return continuous_mdd(c.trials, planning_sd(c), level)


def trials_needed(c: Comparison, difference: float, *, level: float | None = None,
                  max_trials: int = 50) -> int | None:
    """Trials per scenario (on the comparison's scenarios) at which its test finds
    ``difference`` with 80 % power at ``level`` (default: the level its family tests it at);
    None when even ``max_trials`` do not."""
    level = level if level is not None else ALPHA / max(1, c.family_size)
    size = abs(difference)
    for k in range(1, max_trials + 1):
        counts = [k] * c.n_scenarios
        if c.kind == "binary":
            base = c.base_rate if c.base_rate is not None else 1.0
            if size > base or min_attainable_p(sum(counts)) > level:
                continue
            if BinaryPower(sum(counts), base, level).power(size) >= POWER:
                return k
        else:
            sd = planning_sd(c)
            if c.noise_sd is None or min_attainable_p(sum(counts)) > level:
                continue
            if sd <= 0 or ContinuousPower(counts, sd, level).power(size) >= POWER:
                return k
    return None


def _note(c: Comparison, alpha: float) -> str:
    if c.family == "excluded":
        differ = "no pair differs" if c.n_movable == 0 else (
            f"only {c.n_movable} pair{'s' if c.n_movable > 1 else ''} of {c.n_pairs} differ")
        return (f"not tested: {differ}, and no test on them can reach p ≤ {alpha:g} "
                f"(smallest possible p {c.min_attainable_p:.3g})")
    covers_zero = c.interval is not None and not c.interval.excludes_zero()
    pairs = f"{c.n_pairs} pairs"
    if c.verdict in ("better", "worse") and covers_zero:
        return (f"the label-permutation test finds a difference while the 95 % interval still "
                f"reaches 0: at {pairs} the test is exact and the interval approximate; the "
                "verdict follows the test")
    if c.verdict in ("better", "worse") or c.interval is None or covers_zero:
        return ""
    if c.p_value <= alpha:
        return (f"the 95 % interval excludes 0, but after correcting for the {c.family_size} "
                f"metrics of its family the difference is not significant")
    return (f"the 95 % interval excludes 0 but the exact test does not reject (p = "
            f"{c.p_value:.3g}): at {pairs} the interval is approximate; the verdict follows "
            "the test")


def decide(comparisons: Sequence[Comparison], *, primary: Collection[str] = PRIMARY_METRICS,
           alpha: float = ALPHA, detectable: bool = True) -> list[Comparison]:
    """Name each metric's verdict: Holm over the primary metrics, Benjamini–Hochberg over the
    others (exploratory), read only when a primary metric differs (a gatekeeper: when A and B
    are the same, the chance that *any* metric is declared different stays within ``alpha``).
    A metric whose pairs that differ are too few for its test ever to reach ``alpha`` joins
    neither family (so it does not dilute the others) and says why. ``detectable`` off skips
    the simulated smallest detectable difference (calibration runs)."""
    named: list[Family] = ["primary" if c.metric in primary else "secondary"
                           for c in comparisons]
    family: list[Family] = ["excluded" if c.min_attainable_p > alpha else f
                            for c, f in zip(comparisons, named, strict=True)]
    sizes = {f: family.count(f) for f in ("primary", "secondary")}
    adjusted: dict[int, float] = {}
    for name, correct in (("primary", holm), ("secondary", benjamini_hochberg)):
        members = [i for i, f in enumerate(family) if f == name]
        for i, p in zip(members, correct([comparisons[i].p_value for i in members]),
                        strict=True):
            adjusted[i] = p
    gate_open = any(adjusted[i] <= alpha for i, f in enumerate(family) if f == "primary")
    out = []
    for i, c in enumerate(comparisons):
        f = family[i]
        # the level its family tests it at (an excluded metric: the family it would be in)
        size = sizes[named[i]] + (f == "excluded")
        p_adj = adjusted.get(i)
        decided = replace(c, family=f, family_size=size, p_adjusted=p_adj)
        mdd = min_detectable_difference(decided, alpha / size) if detectable else None
        verdict: Verdict
        tested = f == "primary" or (f == "secondary" and gate_open)
        if tested and p_adj is not None and p_adj <= alpha and c.difference:
            verdict = "better" if (c.difference > 0) == c.higher_is_better else "worse"
        elif not tested and f == "secondary" and p_adj is not None and p_adj <= alpha:
            # its own test rejects, but the gatekeeper does not let it be read: saying "no
            # detectable difference" here would deny what the test found
            verdict = "not read"
        elif mdd is None:
            verdict = "cannot be detected"
        else:
            verdict = "no detectable difference"
        decided = replace(decided, verdict=verdict, min_detectable=mdd)
        note = _note(decided, alpha)
        if f == "secondary" and not gate_open and p_adj is not None and p_adj <= alpha:
            note = ("exploratory: read only when a primary metric differs, and none does here "
                    f"(its own adjusted p {p_adj:.3g})")
        out.append(replace(decided, note=note))
    return out
