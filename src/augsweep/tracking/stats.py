"""The statistics of a sweep: runs grouped by their swept values, Student t intervals, and
paired comparisons with a baseline group, seed by seed.

Pure Python, numpy and scipy; no MLflow: :mod:`augsweep.tracking.report` reads the runs and
:mod:`augsweep.tracking.report_files` hands this module plain rows (dicts), then renders what
it returns.

Why paired: two runs with the same seed share the data split and the initial weights, so
the difference between them is the policy's effect plus less noise than two unrelated runs.
The test is scipy's paired t-test (``scipy.stats.ttest_rel``, two-sided); the interval of
the mean difference uses the same t distribution, so "the interval excludes 0" and
"p < 0.05" always agree, and the verdict follows them.

Several groups against one baseline are several tests: the chance that one of them says
"better" by luck grows with their number. So the p-values of one metric over every group
compared with the same baseline group (a family) are adjusted by Holm's step-down method
(:func:`holm`), and the verdict is decided by the adjusted p; the intervals stay as they are
(unadjusted, and labelled so). With one group compared, nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats as scipy_stats

from augsweep import metrics
from augsweep.overrides import split_override

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
SEED_KEY = "seed"
TEST_NAME = "paired t-test (scipy.stats.ttest_rel, two-sided)"
DEFAULT_KEY = "augment"  # what a baseline names when it is a bare value: `none`


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% Student t confidence interval (no interval below two values).

    Attributes:
        n: How many values.
        mean: Their mean (nan when there are none).
        low: Lower end of the interval, or None.
        high: Upper end of the interval, or None.
    """

    n: int
    mean: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Paired:
    """A paired comparison of one metric: group minus baseline, seed by seed.

    Attributes:
        metric: The metric compared.
        diff: The mean paired difference and its interval.
        p: p-value of the paired t-test (None below two pairs).
        verdict: ``better``, ``worse``, ``no clear difference with n=N``; with one pair
            ``no interval with n=1``, with none ``-``. In a family of several comparisons,
            decided by ``p_adjusted``.
        p_adjusted: Holm's adjusted p over the family (``p`` itself in a family of one).
        family: How many comparisons of this metric share the baseline (Holm's m).
    """

    metric: str
    diff: Interval
    p: float | None
    verdict: str
    p_adjusted: float | None = None
    family: int = 1


@dataclass
class Group:
    """The finished runs that share every swept value but the seed.

    Attributes:
        settings: Swept key -> value (``seed`` excluded), in the sweep's order.
        runs: The runs' rows, one per seed (the last one when a seed ran twice).
        stats: Metric -> :class:`Interval` over the runs that have it.
    """

    settings: dict[str, str]
    runs: list[dict] = field(default_factory=list)
    stats: dict[str, Interval] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``augment=flip,trainer.learning_rate=0.001`` (``all runs`` when nothing varies)."""
        return ",".join(f"{k}={v}" for k, v in self.settings.items()) or "all runs"

    @property
    def seeds(self) -> list[str]:
        return [str(run.get(SEED_KEY)) for run in self.runs]


@dataclass
class Comparison:
    """One group against the baseline group with the same other swept values.

    Attributes:
        group: The group compared.
        baseline: Its baseline group.
        seeds: The seeds both have (the pairs).
        unpaired: The seeds only one of the two has, left out of the pairing.
        paired: One :class:`Paired` per metric of :data:`metrics.PAIRED`.
    """

    group: Group
    baseline: Group
    seeds: list[str]
    unpaired: list[str]
    paired: list[Paired]


@dataclass
class Analysis:
    """What the report shows: groups, comparisons, and notes in plain words.

    Attributes:
        keys: The swept keys runs are grouped by (``seed`` excluded).
        baseline: The baseline as ``key=value`` (``augment=none``).
        groups: Every group, in the order their first run appears.
        comparisons: One per group that has a baseline group (empty without a baseline).
        notes: Sentences for the reader: a single seed, a missing baseline, seeds left out.
    """

    keys: list[str]
    baseline: str
    groups: list[Group]
    comparisons: list[Comparison]
    notes: list[str]

    @property
    def corrected(self) -> bool:
        """Whether any verdict was decided by a Holm-adjusted p (a family of two or more)."""
        return any(p.family > 1 for c in self.comparisons for p in c.paired)


def t_interval(values: Sequence[float]) -> Interval:
    """The mean of ``values`` and its 95% Student t confidence interval.

    Args:
        values: The values (nan ones are left out).

    Returns:
        The :class:`Interval`; ``low``/``high`` are None below two values.
    """
    data = np.asarray([v for v in values if v is not None], dtype=float)
    data = data[~np.isnan(data)]
    if len(data) == 0:
        return Interval(0, math.nan)
    mean = float(data.mean())
    if len(data) < 2:
        return Interval(1, mean)
    sem = float(scipy_stats.sem(data))
    if sem == 0:  # every value equal: scipy's t.interval needs a positive scale
        return Interval(len(data), mean, mean, mean)
    low, high = scipy_stats.t.interval(CONFIDENCE, len(data) - 1, loc=mean, scale=sem)
    return Interval(len(data), mean, float(low), float(high))


def paired(metric: str, group: Sequence[float], baseline: Sequence[float], sign: int) -> Paired:
    """Compare ``group`` with ``baseline``, value by value (same seed, same position).

    Args:
        metric: The metric's name.
        group: The group's values.
        baseline: The baseline's values, paired with ``group``'s.
        sign: +1 when higher is better, -1 when lower is better (the gap).

    Returns:
        The :class:`Paired` comparison.
    """
    a, b = np.asarray(group, dtype=float), np.asarray(baseline, dtype=float)
    diff = t_interval(a - b)
    if diff.n < 2:
        return Paired(metric, diff, None, f"no interval with n={diff.n}" if diff.n else "-")
    if diff.low == diff.high:  # every difference equal: scipy's t statistic is 0/0 or x/0
        p = 1.0 if diff.mean == 0 else 0.0
    else:
        p = float(scipy_stats.ttest_rel(a, b).pvalue)
    return Paired(metric, diff, p, verdict(diff, sign))


def verdict(diff: Interval, sign: int) -> str:
    """``better``/``worse`` when the interval of the difference excludes 0, else ``no clear
    difference with n=N``."""
    if diff.low is not None and diff.low > 0:
        return "better" if sign > 0 else "worse"
    if diff.high is not None and diff.high < 0:
        return "worse" if sign > 0 else "better"
    return f"no clear difference with n={diff.n}"


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    Written here because scipy (1.16) has no multiple-comparison adjustment of p-values
    (``scipy.stats.false_discovery_control`` is Benjamini-Hochberg, which controls the false
    discovery rate, not the chance of any false "better"), and statsmodels is a large
    dependency for these few lines. The i-th smallest p (from 0) is multiplied by (m - i),
    then made non-decreasing in that order and capped at 1.

    Args:
        pvalues: The family's p-values.

    Returns:
        The adjusted p-values, each >= its p.
    """
    m = len(pvalues)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def corrected(result: Paired, p_adjusted: float, family: int, sign: int) -> Paired:
    """``result`` with its Holm-adjusted p, and its verdict decided by it.

    Args:
        result: The unadjusted comparison.
        p_adjusted: Its adjusted p-value.
        family: The family's size.
        sign: +1 when higher is better, -1 when lower is better.
    """
    if family < 2:  # one comparison: the interval and p already agree
        return replace(result, p_adjusted=result.p, family=family)
    if p_adjusted < ALPHA:
        better = (result.diff.mean > 0) == (sign > 0)
        decided = "better" if better else "worse"
    else:
        decided = f"no clear difference with n={result.diff.n}"
    return replace(result, verdict=decided, p_adjusted=p_adjusted, family=family)


def correct_families(comparisons: list[Comparison]) -> None:
    """Adjust each metric's p-values over every comparison with the same baseline group
    (Holm), in place; comparisons without a p (fewer than two pairs) are not in the family."""
    signs = dict(metrics.PAIRED)
    families: dict[int, list[Comparison]] = {}
    for comparison in comparisons:
        families.setdefault(id(comparison.baseline), []).append(comparison)
    for family in families.values():
        for index, (metric, _) in enumerate(metrics.PAIRED):
            members = [c for c in family if c.paired[index].p is not None]
            adjusted = holm([c.paired[index].p for c in members])
            for comparison, p_adjusted in zip(members, adjusted, strict=True):
                comparison.paired[index] = corrected(
                    comparison.paired[index], p_adjusted, len(members), signs[metric]
                )


def swept_settings(overrides: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
    """Each run's values of the keys that differ between runs, ``seed`` excluded.

    A key set the same way for every run (``trainer.epochs=2`` on the command line) does not
    tell runs apart and is left out; a key that only some runs set counts, with ``-`` for the
    others.

    Args:
        overrides: Run id -> its job's overrides (``["augment=flip", "seed=3"]``).

    Returns:
        Run id -> {swept key: value}, keys in the order the overrides name them.
    """
    parsed = {run_id: dict(map(split_override, items)) for run_id, items in overrides.items()}
    keys = dict.fromkeys(key for values in parsed.values() for key in values)
    swept = [
        key
        for key in keys
        if key != SEED_KEY and len({values.get(key) for values in parsed.values()}) > 1
    ]
    return {
        run_id: {key: values.get(key, "-") for key in swept} for run_id, values in parsed.items()
    }


def group_runs(rows: Sequence[dict]) -> list[Group]:
    """The FINISHED runs grouped by their ``settings``, one run per seed in each group.

    Args:
        rows: One dict per run with ``status``, ``seed``, ``settings`` (swept key -> value)
            and the metrics of :data:`metrics.COMPARED` (missing or None where not logged).

    Returns:
        The groups, in the order their first run appears, with their :class:`Interval` s.
    """
    groups: dict[tuple, Group] = {}
    for row in rows:
        settings = dict(row.get("settings") or {})
        group = groups.setdefault(tuple(settings.items()), Group(settings))
        if row.get("status") == "FINISHED":
            if row.get(SEED_KEY) not in (None, ""):  # a seed run twice (rerun=true): the later
                group.runs = [r for r in group.runs if r.get(SEED_KEY) != row.get(SEED_KEY)]
            group.runs.append(row)
    for group in groups.values():
        group.stats = {
            key: t_interval([r.get(key) for r in group.runs]) for key in metrics.COMPARED
        }
    return list(groups.values())


def parse_baseline(baseline: str) -> tuple[str, str]:
    """``"none"`` -> ``("augment", "none")``; ``"model=mobilenet_v2"`` -> itself, split."""
    key, sep, value = baseline.partition("=")
    return (key.strip(), value.strip()) if sep else (DEFAULT_KEY, baseline.strip())


def compare(group: Group, base: Group) -> Comparison:
    """``group`` against ``base``, seed by seed, for every metric of :data:`metrics.PAIRED`."""
    mine = {str(r[SEED_KEY]): r for r in group.runs if r.get(SEED_KEY) not in (None, "")}
    theirs = {str(r[SEED_KEY]): r for r in base.runs if r.get(SEED_KEY) not in (None, "")}
    seeds = [seed for seed in mine if seed in theirs]
    unpaired = [f"{s} ({group.label} only)" for s in mine if s not in theirs] + [
        f"{s} ({base.label} only)" for s in theirs if s not in mine
    ]
    results = []
    for metric, sign in metrics.PAIRED:
        pairs = [
            (mine[s][metric], theirs[s][metric])
            for s in seeds
            if mine[s].get(metric) is not None and theirs[s].get(metric) is not None
        ]
        a, b = zip(*pairs, strict=True) if pairs else ((), ())
        results.append(paired(metric, a, b, sign))
    return Comparison(group, base, seeds, unpaired, results)


def analyze(rows: Sequence[dict], baseline: str = "none") -> Analysis:
    """Group the runs, compare each group with its baseline group, and say what is missing.

    Args:
        rows: One dict per run (see :func:`group_runs`).
        baseline: The baseline: a value of ``augment`` (``none``) or ``key=value``.

    Returns:
        The :class:`Analysis`.
    """
    groups = group_runs(rows)
    keys = list(dict.fromkeys(k for g in groups for k in g.settings))
    notes = []
    if groups and max(len(g.runs) for g in groups) == 1:
        notes.append(
            "One seed per group: no confidence interval or paired test can be given. "
            "Sweep seeds to get them, e.g. add `seed=range(5)` to the command "
            "(5 runs per group)."
        )
    comparisons, missing = _comparisons(groups, baseline)
    correct_families(comparisons)
    notes += missing
    for comparison in comparisons:
        if comparison.unpaired:
            notes.append(
                f"{comparison.group.label} vs {comparison.baseline.label}: seeds left out of "
                f"the pairing (only one of the two has a finished run): "
                f"{', '.join(comparison.unpaired)}."
            )
    return Analysis(keys, "=".join(parse_baseline(baseline)), groups, comparisons, notes)


def _comparisons(groups: list[Group], baseline: str) -> tuple[list[Comparison], list[str]]:
    """Every group paired with its baseline group, and notes on a baseline not found."""
    key, value = parse_baseline(baseline)
    bases = [g for g in groups if g.settings.get(key) == value]
    if not bases:
        swept = sorted({g.settings[key] for g in groups if key in g.settings})
        where = f"values swept: {', '.join(swept)}" if swept else f"{key} is not swept"
        return [], [
            f"The baseline {key}={value} is not in this sweep ({where}): no paired comparison. "
            f"Add it to the sweep or choose another with `report.baseline=VALUE` "
            f"(or `--baseline` when rebuilding the report)."
        ]
    comparisons = []
    for group in groups:
        if group.settings.get(key) in (value, None):
            continue
        others = {k: v for k, v in group.settings.items() if k != key}
        match = [b for b in bases if {k: v for k, v in b.settings.items() if k != key} == others]
        if match:
            comparisons.append(compare(group, match[0]))
    return comparisons, []


def curve_band(curves: Sequence[Sequence[float]]) -> tuple[np.ndarray, ...]:
    """The mean of per-epoch curves and its 95% t band, epoch by epoch.

    Curves of different lengths (a run that failed early) are cut to the shortest.

    Args:
        curves: One sequence of values per run.

    Returns:
        ``(mean, low, high)`` arrays; ``low``/``high`` equal ``mean`` for a single curve.
    """
    curves = [c for c in curves if len(c)]
    if not curves:
        return np.array([]), np.array([]), np.array([])
    length = min(len(c) for c in curves)
    data = np.asarray([c[:length] for c in curves], dtype=float)
    mean = data.mean(axis=0)
    if len(data) < 2:
        return mean, mean, mean
    half = scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, len(data) - 1) * scipy_stats.sem(data, axis=0)
    return mean, mean - half, mean + half


# The one-line answer per policy (:func:`answer`), its rules in words for the report.
ANSWER_RULES = (
    "The answer per group: the test-accuracy verdict decides: better is 'helps', worse is "
    "'hurts', else 'no clear difference'; the gap's verdict qualifies it ('overfits less' or "
    "'more'). A group whose test accuracy is worse while its gap is better 'overfits less but "
    "loses accuracy: does not help here' (a gap also shrinks when the model stops learning). "
    "Each verdict is the table's (p of the paired test, Holm-adjusted when several groups are "
    "compared with one baseline)."
)


NO_HELP = "does not help here"


def answer(comparison: Comparison) -> str:
    """Does the group help the model, and is it still overfitting? One line, e.g.
    ``flip_rot_zoom: overfits less (gap -0.019 [-0.037, -0.001]) but loses accuracy (test
    -0.118 [-0.172, -0.064]): does not help here``.

    The rules (:data:`ANSWER_RULES`): the test-accuracy verdict decides "helps" / "hurts";
    the gap's verdict qualifies it.

    Args:
        comparison: The group against its baseline.
    """
    found = {p.metric: p for p in comparison.paired}
    test, gap = found[metrics.TEST_ACCURACY], found[metrics.FINAL_GAP]
    name = short_label(comparison.group)
    if test.diff.n < 2:
        return f"{name}: too few pairs to tell (n={test.diff.n})"
    accuracy = f"(test {_signed(test.diff)})"
    overfit = f"(gap {_signed(gap.diff)})"
    gap_words = {"better": "overfits less", "worse": "overfits more"}.get(gap.verdict)
    if test.verdict == "better":
        tail = f" and {gap_words} {overfit}" if gap_words else f", gap unchanged {overfit}"
        return f"{name}: gains accuracy {accuracy}{tail}: helps"
    if test.verdict == "worse":
        if gap.verdict == "better":
            return f"{name}: overfits less {overfit} but loses accuracy {accuracy}: " + NO_HELP
        tail = f" and {gap_words} {overfit}" if gap_words else f", gap unchanged {overfit}"
        return f"{name}: loses accuracy {accuracy}{tail}: hurts"
    tail = f"; {gap_words} {overfit}" if gap_words else f" nor in the gap {overfit}"
    return f"{name}: no clear difference in accuracy {accuracy}{tail} with n={test.diff.n}"


def short_label(group: Group) -> str:
    """A group by its values: ``flip_rot_zoom``, ``flip,trainer.learning_rate=0.01``."""
    parts = [v if k == DEFAULT_KEY else f"{k}={v}" for k, v in group.settings.items()]
    return ",".join(parts) or "all runs"


def _signed(interval: Interval) -> str:
    """``-0.019 [-0.037, -0.001]``."""
    if interval.low is None:
        return f"{interval.mean:+.3f}"
    return f"{interval.mean:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]"
