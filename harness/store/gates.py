"""Regression gates: ``--fail-on`` expressions parsed into checks and applied against a baseline.

An expression is ``METRIC:THRESHOLD``:

- ``METRIC``: ``pass_rate``, ``pass_hat_k`` (suite figures: mean over scenarios),
  ``latency.p50|p90|p95|p99`` (voice-to-voice; also ``first_audio.pNN``, ``endpointing.pNN``,
  ``dead_air.pNN``), ``kind.KIND.pass_rate`` (one expectation kind), and
  ``scenario.NAME.pass_rate`` / ``scenario.NAME.latency.pNN`` (one scenario).
- ``THRESHOLD``: how far the metric may move in its bad direction: ``-5%`` (relative) or
  ``-0.02`` (absolute: a rate as a fraction, a latency in ms). The sign may be left out; given,
  it must point the bad way (down for rates, up for latencies).

A metric **regressed** when its change against the baseline goes beyond the threshold in the bad
direction *and* a one-sided test of that same figure rejects "no change" at α after a Holm
correction over the gates. The test permutes the run and baseline labels within each (scenario,
trial index) pair — exact while few pairs differ, Monte Carlo beyond — and recomputes the figure
the gate prints: the mean over scenarios of the pass rate (exact McNemar), the mean of pass^k,
or the pooled percentile of the turns. A gate whose test cannot reach α at this size (too few
pairs that differ) cannot fire; it says so and stays out of the Holm family. Baselines: the
previous run with the same label, the median of the last N (per gate, the run whose figure is
the median), or a pinned run id; ``consecutive`` asks for the regression in that many runs in a
row, each against its own baseline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from harness import stats
from harness.errors import InputError
from harness.store._history import HistoryStore
from harness.store._runs import RunInfo, StoredRun

LATENCY_NAMES = {"latency": "voice_to_voice_ms", "voice_to_voice": "voice_to_voice_ms",
                 "first_audio": "first_audio_ms", "endpointing": "endpointing_ms",
                 "dead_air": "dead_air_ms"}
PERCENTILES = (50, 90, 95, 99)
_LATENCY = r"(?P<lat>" + "|".join(LATENCY_NAMES) + r")\.p(?P<q>\d+)"
_RATE = r"(?P<rate>pass_rate|pass_hat_k)"
_FORMS = [
    ("suite", re.compile(rf"^(?:{_RATE}|{_LATENCY})$")),
    ("kind", re.compile(r"^kind\.(?P<subject>[A-Za-z_][A-Za-z0-9_]*)\.pass_rate$")),
    ("scenario", re.compile(rf"^scenario\.(?P<subject>.+?)\.(?:{_RATE}|{_LATENCY})$")),
]
_THRESHOLD = re.compile(r"^(?P<sign>[+-]?)(?P<number>\d+(?:\.\d*)?|\.\d+)(?P<pct>%?)$")

Baseline = str
"""``previous``, ``median:N`` or a run id."""


class GateError(InputError):
    """A ``--fail-on`` expression (or baseline) that cannot be understood."""


@dataclass(frozen=True)
class Gate:
    """One parsed ``--fail-on`` expression."""

    expression: str
    scope: Literal["suite", "kind", "scenario"]
    subject: str | None
    """The expectation kind or scenario name of a kind or scenario gate."""
    rate: str | None
    """``pass_rate`` or ``pass_hat_k`` for a rate gate."""
    turn_metric: str | None
    """``voice_to_voice_ms`` … for a latency gate."""
    q: int | None
    threshold: float
    """Magnitude of the allowed change (a fraction when ``relative``)."""
    relative: bool

    @property
    def higher_is_better(self) -> bool:
        return self.rate is not None

    @property
    def metric(self) -> str:
        return self.expression.rsplit(":", 1)[0]

    @property
    def unit(self) -> str:
        return "" if self.rate else " ms"

    # ------------------------------------------------------------------ figures of one run

    def value(self, run: StoredRun, k: int | None = None) -> float | None:
        """The run's figure for this gate (None when its n cannot support it)."""
        if self.rate == "pass_rate":
            outcomes = self._outcomes(run)
            return stats.cluster_mean([sum(v) / len(v) for v in outcomes.values() if v]).value
        if self.rate == "pass_hat_k":
            per = self._pass_hat_k(run, k or _k(run))
            return stats.cluster_mean(list(per.values())).value if per else None
        assert self.q is not None
        pooled = [x for values in self._turn_values(run).values() for x in values]
        return stats.percentile(pooled, self.q).value

    def _outcomes(self, run: StoredRun) -> dict[str, list[bool]]:
        if self.scope == "kind":
            return run.kind_outcomes(self.subject or "")
        outcomes = run.pass_outcomes()
        if self.scope == "scenario":
            return {self.subject or "": outcomes.get(self.subject or "", [])}
        return outcomes

    def _pass_hat_k(self, run: StoredRun, k: int) -> dict[str, float]:
        return {s: stats.pass_hat_k(len(v), sum(v), k)
                for s, v in self._outcomes(run).items() if len(v) >= k}

    def _trial_outcomes(self, run: StoredRun) -> dict[str, dict[int, bool]]:
        found = run.trial_outcomes(self.subject if self.scope == "kind" else None)
        if self.scope == "scenario":
            return {self.subject or "": found.get(self.subject or "", {})}
        return found

    def _trial_turns(self, run: StoredRun) -> dict[str, dict[int, list[float]]]:
        assert self.turn_metric is not None
        found = run.trial_turns(self.turn_metric)
        if self.scope == "scenario":
            return {self.subject or "": found.get(self.subject or "", {})}
        return found

    def _turn_values(self, run: StoredRun) -> dict[str, list[float]]:
        return {s: [v for k in sorted(trials) for v in trials[k]]
                for s, trials in self._trial_turns(run).items()}

    def compare(self, baseline: StoredRun, run: StoredRun) -> GateTest:
        """The one-sided test of the gate's own figure, ``run`` (B) against ``baseline`` (A),
        in the bad direction, permuting labels within (scenario, trial index) pairs."""
        bad: stats.Alternative = "less" if self.higher_is_better else "greater"
        if self.rate == "pass_rate":
            a, b = _by_index(self._trial_outcomes(baseline), self._trial_outcomes(run))
            c = stats.compare_binary(a, b, metric=self.metric, alternative=bad)
            return GateTest(c.p_value, c.n_scenarios, c.n_pairs, c.n_movable,
                            c.min_attainable_p, c.test, c.interval)
        if self.rate == "pass_hat_k":
            k = min(_k(baseline), _k(run))
            items_a, items_b, fixed_a, fixed_b = _paired_items(
                self._trial_outcomes(baseline), self._trial_outcomes(run))

            def pass_hat(side: list[tuple[str, bool]]) -> float | None:
                per: dict[str, list[bool]] = {}
                for scenario, passed in side:
                    per.setdefault(scenario, []).append(passed)
                values = [stats.pass_hat_k(len(v), sum(v), k) for v in per.values()
                          if len(v) >= k]
                return sum(values) / len(values) if values else None

            return _permutation(items_a, items_b, fixed_a, fixed_b, pass_hat, bad)
        q = self.q or 50
        items_a, items_b, fixed_a, fixed_b = _paired_items(
            _arrays(self._trial_turns(baseline)), _arrays(self._trial_turns(run)))

        need = stats.min_n_for_percentile(q)

        def pooled(side: list[tuple[str, np.ndarray]]) -> float | None:
            values = np.concatenate([turns for _s, turns in side]) if side else np.empty(0)
            return float(np.percentile(values, q)) if values.size >= need else None

        return _permutation(items_a, items_b, fixed_a, fixed_b, pooled, bad)

    def change(self, before: float, after: float) -> float | None:
        """after − before, relative to before for a relative threshold (None when before is 0)."""
        if self.relative:
            return None if before == 0 else (after - before) / abs(before)
        return after - before

    def exceeded(self, change: float | None) -> bool:
        """The change goes beyond the threshold in the bad direction."""
        if change is None:
            return False
        return -change > self.threshold if self.higher_is_better else change > self.threshold

    def threshold_text(self) -> str:
        sign = "-" if self.higher_is_better else "+"
        if self.relative:
            return f"{sign}{100 * self.threshold:g}%"
        return f"{sign}{self.threshold:g}{self.unit}"


@dataclass(frozen=True)
class GateTest:
    """The test behind one gate: its p-value, how many scenarios and pairs it rests on, how
    many pairs differ (the ones a relabelling moves) and the smallest p it could give."""

    p_value: float
    n_scenarios: int
    n_pairs: int
    n_movable: int
    min_attainable_p: float
    test: str
    interval: stats.Interval | None = None
    """95 % interval of the change, where one is calibrated (pass rates)."""


def _by_index(a: dict[str, dict[int, Any]], b: dict[str, dict[int, Any]]
              ) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Per scenario, both runs' values of the trial indexes both graded, in index order."""
    xs: dict[str, list[Any]] = {}
    ys: dict[str, list[Any]] = {}
    for scenario in sorted(a.keys() & b.keys()):
        shared = sorted(a[scenario].keys() & b[scenario].keys())
        if shared:
            xs[scenario] = [a[scenario][k] for k in shared]
            ys[scenario] = [b[scenario][k] for k in shared]
    return xs, ys


def _arrays(turns: dict[str, dict[int, list[float]]]) -> dict[str, dict[int, np.ndarray]]:
    return {s: {k: np.asarray(v, dtype=float) for k, v in trials.items()}
            for s, trials in turns.items()}


def _paired_items(a: dict[str, dict[int, Any]], b: dict[str, dict[int, Any]]
                  ) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """(scenario, value) items of the pairs both runs graded, and each run's unpaired ones."""
    items_a, items_b, fixed_a, fixed_b = [], [], [], []
    for scenario in sorted(a.keys() | b.keys()):
        left, right = a.get(scenario, {}), b.get(scenario, {})
        for k in sorted(left.keys() | right.keys()):
            if k in left and k in right:
                items_a.append((scenario, left[k]))
                items_b.append((scenario, right[k]))
            elif k in left:
                fixed_a.append((scenario, left[k]))
            else:
                fixed_b.append((scenario, right[k]))
    return items_a, items_b, fixed_a, fixed_b


def _permutation(items_a: list[Any], items_b: list[Any], fixed_a: list[Any],
                 fixed_b: list[Any], statistic: Any, alternative: stats.Alternative
                 ) -> GateTest:
    p_value, movable = stats.paired_permutation_test(
        items_a, items_b, statistic, alternative, fixed_a=fixed_a, fixed_b=fixed_b)
    exact = movable <= 16
    return GateTest(p_value, len({s for s, _v in items_a}), len(items_a), movable,
                    stats.min_attainable_p(movable, alternative),
                    "label permutation, " + ("exact" if exact else "Monte Carlo"))


def _k(run: StoredRun) -> int:
    return int((run.statistics().get("suite") or {}).get("k") or 1)


def parse_gate(expression: str) -> Gate:
    """A ``--fail-on`` expression as a :class:`Gate`; a :class:`GateError` names the bad part."""
    text = expression.strip()
    metric, sep, threshold = text.rpartition(":")
    if not sep or not metric:
        raise GateError(f"{text!r} is not METRIC:THRESHOLD (e.g. pass_rate:-5% or "
                        "latency.p95:+10%)", field="--fail-on")
    matched = next(((scope, m) for scope, form in _FORMS if (m := form.match(metric))), None)
    if matched is None:
        raise GateError(
            f"unknown metric {metric!r} in {text!r}; use pass_rate, pass_hat_k, "
            "latency.pNN (or first_audio/endpointing/dead_air.pNN), kind.KIND.pass_rate, "
            "scenario.NAME.pass_rate or scenario.NAME.latency.pNN", field="--fail-on")
    scope, found = matched
    parts = found.groupdict()
    q = int(parts["q"]) if parts.get("q") else None
    if q is not None and q not in PERCENTILES:
        raise GateError(f"percentile p{q} in {text!r} is not one of "
                        f"{', '.join(f'p{p}' for p in PERCENTILES)}", field="--fail-on")
    limit = _THRESHOLD.match(threshold.strip())
    if not limit:
        raise GateError(f"threshold {threshold!r} in {text!r} is not a number or a percentage "
                        "(e.g. -5%, +10%, -0.02, +150)", field="--fail-on")
    rate = parts.get("rate") or ("pass_rate" if scope == "kind" else None)
    bad_sign = "-" if rate else "+"
    if limit["sign"] and limit["sign"] != bad_sign:
        direction = "down" if rate else "up"
        raise GateError(f"threshold {threshold!r} in {text!r} points the wrong way: "
                        f"{metric} regresses {direction}, so write {bad_sign}"
                        f"{limit['number']}{limit['pct']}", field="--fail-on")
    value = float(limit["number"]) / (100.0 if limit["pct"] else 1.0)
    if rate and not limit["pct"] and value > 1:
        raise GateError(f"threshold {threshold!r} in {text!r}: an absolute pass-rate change is "
                        "a fraction (e.g. -0.05); write a percentage as -5%", field="--fail-on")
    return Gate(expression=text, scope=scope, subject=parts.get("subject"),  # type: ignore[arg-type]
                rate=rate, turn_metric=LATENCY_NAMES[parts["lat"]] if parts.get("lat") else None,
                q=q, threshold=value, relative=bool(limit["pct"]))


def parse_gates(expressions: list[str] | None) -> list[Gate]:
    """Every expression parsed (the first bad one raises)."""
    return [parse_gate(e) for e in expressions or []]


def parse_baseline(spec: str) -> tuple[Literal["previous", "median", "run"], int | str]:
    """``previous`` | ``median:N`` | a run id."""
    if spec == "previous":
        return "previous", 1
    if spec.startswith("median:"):
        n = spec.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise GateError(f"baseline {spec!r}: N in median:N must be a whole number ≥ 1",
                            field="--baseline")
        return "median", int(n)
    if not spec:
        raise GateError("empty baseline; use previous, median:N or a run id", field="--baseline")
    return "run", spec


# ---------------------------------------------------------------------- evaluation


@dataclass
class GateResult:
    """One gate applied to one run: figures, change, test, and whether it regressed."""

    gate: Gate
    run_id: str
    baseline_id: str | None
    baseline_value: float | None = None
    value: float | None = None
    change: float | None = None
    comparison: GateTest | None = None
    p_adjusted: float | None = None
    exceeded: bool = False
    supported: bool = False
    can_fire: bool = True
    """Whether the gate's test can reach α at all with the pairs that differ."""
    note: str = ""

    @property
    def regressed(self) -> bool:
        return self.exceeded and self.supported

    def to_json(self) -> dict[str, Any]:
        c = self.comparison
        return {"gate": self.gate.expression, "run": self.run_id, "baseline": self.baseline_id,
                "baseline_value": self.baseline_value, "value": self.value,
                "change": self.change, "relative": self.gate.relative,
                "exceeded": self.exceeded, "p_value": c.p_value if c else None,
                "p_adjusted": self.p_adjusted, "regressed": self.regressed,
                "interval": ([c.interval.low, c.interval.high] if c and c.interval else None),
                "n_scenarios": c.n_scenarios if c else None, "n_pairs": c.n_pairs if c else None,
                "n_movable": c.n_movable if c else None,
                "min_attainable_p": c.min_attainable_p if c else None,
                "test": c.test if c else None, "can_fire": self.can_fire, "note": self.note}


@dataclass
class GateReport:
    """Every gate over the runs it was applied to; ``regressions`` are the gates that held in
    all ``consecutive`` runs."""

    run_id: str
    baseline: str
    consecutive: int
    alpha: float
    results: list[GateResult]
    """The current run's results (one per gate)."""
    earlier: list[list[GateResult]] = field(default_factory=list)
    """For ``consecutive`` > 1: the results of the runs before, newest first."""

    @property
    def regressions(self) -> list[GateResult]:
        if len(self.earlier) < self.consecutive - 1:
            return []  # not enough runs yet to see the regression that many times in a row
        return [r for i, r in enumerate(self.results)
                if r.regressed and all(run[i].regressed for run in self.earlier)]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0


def _history(store: HistoryStore, run: RunInfo, label: str | None) -> list[RunInfo]:
    """Runs with the same label that started before ``run``, oldest first."""
    return [r for r in store.runs(label=label)
            if r.started_at < run.started_at and r.run_id != run.run_id]


def _evaluate(store: HistoryStore, gates: list[Gate], run: StoredRun, baseline: str,
              label: str | None, alpha: float, cache: dict[str, StoredRun]) -> list[GateResult]:
    kind, arg = parse_baseline(baseline)
    if kind == "run":
        candidates = [store.find_run(str(arg))]
    else:
        candidates = _history(store, run, label)[-int(arg):]
    if not candidates:
        return [GateResult(g, run.run_id, None, note="no baseline yet") for g in gates]
    missing = [c.run_id for c in candidates if c.run_id not in cache]
    for loaded in store.load_runs(missing) if missing else []:
        cache[loaded.run_id] = loaded
    runs = [cache[c.run_id] for c in candidates]
    results = []
    for gate in gates:
        chosen = runs[-1]
        if kind == "median" and len(runs) > 1:
            valued = sorted((v, i) for i, r in enumerate(runs) if (v := gate.value(r)) is not None)
            if valued:
                chosen = runs[valued[(len(valued) - 1) // 2][1]]
        result = GateResult(gate, run.run_id, chosen.run_id,
                            baseline_value=gate.value(chosen), value=gate.value(run))
        if result.baseline_value is None or result.value is None:
            result.note = "n too small for this figure in " + (
                "the baseline" if result.baseline_value is None else "this run")
        else:
            result.change = gate.change(result.baseline_value, result.value)
            result.exceeded = gate.exceeded(result.change)
        result.comparison = test = gate.compare(chosen, run)
        if test.n_scenarios == 0:
            result.note = result.note or "nothing to pair with the baseline"
        result.can_fire = test.min_attainable_p <= alpha
        if not result.can_fire and test.n_scenarios:
            differ = "no pair differs" if not test.n_movable else (
                f"{test.n_movable} of {test.n_pairs} pairs differ")
            result.note = (f"cannot fire at this size: {differ} (scenarios × trials "
                           f"{test.n_scenarios} × {test.n_pairs // max(1, test.n_scenarios)}); "
                           f"the smallest p the test can give is {test.min_attainable_p:.3g}")
        results.append(result)
    family = [r for r in results if r.can_fire and r.comparison is not None]
    adjusted = stats.holm([r.comparison.p_value for r in family if r.comparison])
    for result, p in zip(family, adjusted, strict=True):
        result.p_adjusted = p
        result.supported = p <= alpha
    return results


def evaluate_gates(store: HistoryStore, gates: list[Gate], run_ref: str, *,
                   baseline: str = "previous", consecutive: int = 1,
                   alpha: float = stats.ALPHA) -> GateReport:
    """Apply ``gates`` to the stored run ``run_ref`` (id or label) against ``baseline``; with
    ``consecutive`` = C the C − 1 runs before it (same label) are judged the same way."""
    parse_baseline(baseline)
    if consecutive < 1:
        raise GateError(f"--consecutive must be at least 1, got {consecutive}",
                        field="--consecutive")
    info = store.find_run(run_ref)
    earlier_infos = _history(store, info, info.label)[::-1][:consecutive - 1]
    cache = {r.run_id: r for r in store.load_runs([info.run_id] + [e.run_id
                                                                    for e in earlier_infos])}
    results = _evaluate(store, gates, cache[info.run_id], baseline, info.label, alpha, cache)
    earlier = [_evaluate(store, gates, cache[e.run_id], baseline, info.label, alpha, cache)
               for e in earlier_infos]
    return GateReport(info.run_id, baseline, consecutive, alpha, results, earlier)
