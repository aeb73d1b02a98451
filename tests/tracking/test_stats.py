"""The statistics of the report on hand-made numbers: t intervals, paired t-tests, verdicts,
the grouping by swept keys, and what is said when seeds or the baseline are missing."""

from __future__ import annotations

import math
import re

import pytest

from augsweep.tracking.stats import (
    Interval,
    analyze,
    answer,
    curve_band,
    holm,
    paired,
    swept_settings,
    t_interval,
    verdict,
)


def test_the_t_interval_of_known_values():
    # 1, 2, 3, 4, 5: mean 3, s = sqrt(2.5), t(0.975, df=4) = 2.776445 (a t table's value)
    interval = t_interval([1, 2, 3, 4, 5])
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)
    assert interval.n == 5 and interval.mean == 3
    assert interval.low == pytest.approx(3 - half, abs=1e-5)
    assert interval.high == pytest.approx(3 + half, abs=1e-5)


def test_one_value_has_no_interval_and_none_has_no_mean():
    assert t_interval([0.7]) == Interval(1, 0.7)
    assert t_interval([]).n == 0 and math.isnan(t_interval([]).mean)
    assert t_interval([0.5, None, 0.7]).n == 2  # a run without the metric is left out


def test_the_paired_test_matches_a_t_statistic_computed_by_hand():
    group, baseline = [0.80, 0.85, 0.83, 0.90], [0.78, 0.80, 0.82, 0.84]
    diffs = [g - b for g, b in zip(group, baseline, strict=True)]  # 0.02 0.05 0.01 0.06
    mean = sum(diffs) / 4
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 3)
    t = mean / (sd / 2)  # 2.9406: between t(0.95, 3) = 2.3534 and t(0.975, 3) = 3.1824
    assert t == pytest.approx(2.9406, abs=1e-4)
    # Student's t with 3 degrees of freedom in closed form: two-sided p = 1 - (2/pi) *
    # (theta + sin(theta) cos(theta)), theta = atan(t / sqrt(3)).
    theta = math.atan(t / math.sqrt(3))
    expected_p = 1 - 2 / math.pi * (theta + math.sin(theta) * math.cos(theta))
    result = paired("final_val_accuracy", group, baseline, sign=1)
    assert 0.05 < result.p < 0.10
    assert result.p == pytest.approx(expected_p, rel=1e-6)
    assert result.diff.mean == pytest.approx(mean)
    assert result.verdict == "no clear difference with n=4"


@pytest.mark.parametrize(
    "low,high,sign,expected",
    [
        (0.01, 0.03, 1, "better"),
        (-0.03, -0.01, 1, "worse"),
        (-0.03, -0.01, -1, "better"),  # the gap: smaller is better
        (-0.01, 0.03, 1, "no clear difference with n=5"),
    ],
)
def test_the_verdict_follows_the_interval_and_the_direction(low, high, sign, expected):
    assert verdict(Interval(5, (low + high) / 2, low, high), sign) == expected


def test_swept_keys_are_those_that_differ_between_runs_and_never_the_seed():
    settings = swept_settings(
        {
            "a": ["augment=none", "trainer.learning_rate=1e6", "seed=0", "trainer.epochs=2"],
            "b": ["augment=none", "trainer.learning_rate=0.001", "seed=0", "trainer.epochs=2"],
            "c": ["augment=flip", "trainer.learning_rate=1e6", "seed=1", "trainer.epochs=2"],
        }
    )
    assert settings["b"] == {"augment": "none", "trainer.learning_rate": "0.001"}


def rows(policy, lr, values, seeds=range(5), status="FINISHED"):
    return [
        {
            "seed": str(s),
            "status": status,
            "final_val_accuracy": v,
            "final_gap": 0.1,
            "settings": {"augment": policy, "trainer.learning_rate": lr},
        }  # fmt: skip
        for s, v in zip(seeds, values, strict=True)
    ]


def test_two_learning_rates_are_two_groups_each_compared_with_its_own_baseline():
    analysis = analyze(
        rows("none", "1e6", [0.1] * 5)
        + rows("none", "0.001", [0.80, 0.82, 0.84, 0.86, 0.88])
        + rows("flip", "1e6", [0.1] * 5)
        + rows("flip", "0.001", [0.85, 0.88, 0.89, 0.91, 0.94])
    )
    assert [g.label for g in analysis.groups] == [
        "augment=none,trainer.learning_rate=1e6",
        "augment=none,trainer.learning_rate=0.001",
        "augment=flip,trainer.learning_rate=1e6",
        "augment=flip,trainer.learning_rate=0.001",
    ]
    assert analysis.groups[1].stats["final_val_accuracy"].mean == pytest.approx(0.84)
    pairs = {c.group.label: c.baseline.label for c in analysis.comparisons}
    assert pairs["augment=flip,trainer.learning_rate=0.001"].endswith("learning_rate=0.001")
    last = analysis.comparisons[-1].paired[0]
    assert last.diff.mean == pytest.approx(0.054) and last.verdict == "better"


def test_a_single_seed_says_no_interval_can_be_given_and_how_to_get_one():
    analysis = analyze(rows("none", "1", [0.8], [0]) + rows("flip", "1", [0.9], [0]))
    assert any("`seed=range(5)`" in note for note in analysis.notes)
    assert analysis.comparisons[0].paired[0].verdict == "no interval with n=1"


def test_a_missing_baseline_is_named_with_the_values_swept():
    analysis = analyze(
        rows("flip", "1", [0.8, 0.9], [0, 1]) + rows("zoom", "1", [0.7, 0.6], [0, 1])
    )
    assert analysis.comparisons == []
    assert (
        "The baseline augment=none is not in this sweep (values swept: flip, zoom)"
        in (analysis.notes[0])
    )


def test_seeds_in_only_one_group_are_left_out_of_the_pairing_and_named():
    analysis = analyze(
        rows("none", "1", [0.8, 0.9, 0.7], [0, 1, 2])
        + rows("flip", "1", [0.8, 0.9], [0, 1])
        + rows("flip", "1", [0.5], [3], status="FAILED")
    )
    (comparison,) = analysis.comparisons
    assert comparison.seeds == ["0", "1"] and comparison.unpaired == [
        "2 (augment=none,trainer.learning_rate=1 only)"
    ]
    assert any("seeds left out of the pairing" in note for note in analysis.notes)


def test_the_curve_band_is_the_t_interval_of_each_epoch():
    mean, low, high = curve_band([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 9], [1, 2, 3, 4, 5]])
    assert len(mean) == 5  # cut to the shortest curve
    interval = t_interval([3, 3, 3])
    assert (mean[2], low[2], high[2]) == (interval.mean, interval.low, interval.high)


def rows_for(policy: str, test_diffs, gap_diffs) -> list[dict]:
    """Runs of ``none`` and ``policy`` seed by seed: the policy's test accuracy and final
    gap differ from none's by the given amounts."""
    rows = []
    for seed, (dt, dg) in enumerate(zip(test_diffs, gap_diffs, strict=True)):
        base = {"test_accuracy": 0.8, "final_gap": 0.1, "final_val_accuracy": 0.8}
        mine = {"test_accuracy": 0.8 + dt, "final_gap": 0.1 + dg, "final_val_accuracy": 0.8 + dt}
        for name, values in (("none", base), (policy, mine)):
            settings = {"augment": name}
            rows.append({"status": "FINISHED", "seed": seed, "settings": settings, **values})
    return rows


UP, DOWN, FLAT = [0.05, 0.06, 0.04, 0.05], [-0.05, -0.06, -0.04, -0.05], [0.02, -0.02, 0.01, -0.01]


T, G = r"\(test [-+]0\.0\d\d \[.*\]\)", r"\(gap [-+]0\.0\d\d \[.*\]\)"  # a difference [CI]
ANSWERS = {
    "helps": (UP, DOWN, f"gains accuracy {T} and overfits less {G}: helps"),
    "helps-gap-flat": (UP, FLAT, f"gains accuracy {T}, gap unchanged {G}: helps"),
    "hurts": (DOWN, UP, f"loses accuracy {T} and overfits more {G}: hurts"),
    "hurts-gap-flat": (DOWN, FLAT, f"loses accuracy {T}, gap unchanged {G}: hurts"),
    "overfits-less-loses-accuracy": (
        DOWN,
        DOWN,
        f"overfits less {G} but loses accuracy {T}: does not help here",
    ),  # fmt: skip
    "no-clear-difference": (
        FLAT,
        FLAT,
        f"no clear difference in accuracy {T} nor in the gap {G} with n=4",
    ),  # fmt: skip
    "no-clear-accuracy-overfits-less": (
        FLAT,
        DOWN,
        f"no clear difference in accuracy {T}; overfits less {G} with n=4",
    ),  # fmt: skip
}


@pytest.mark.parametrize("test, gap, expected", ANSWERS.values(), ids=ANSWERS.keys())
def test_the_answer_per_policy_follows_the_test_verdict_qualified_by_the_gap(test, gap, expected):
    (comparison,) = analyze(rows_for("flip", test, gap)).comparisons
    verdicts = {p.metric: p.verdict for p in comparison.paired}
    line = answer(comparison)
    assert re.fullmatch(f"flip: {expected}", line), line
    # The words follow the table's verdicts, never the means alone.
    if verdicts["test_accuracy"] == "better":
        assert line.endswith(": helps")
    if verdicts["test_accuracy"].startswith("no clear"):
        assert "helps" not in line and "hurts" not in line


def test_one_pair_is_too_few_to_answer():
    (comparison,) = analyze(rows_for("flip", [0.05], [-0.05])).comparisons
    assert answer(comparison) == "flip: too few pairs to tell (n=1)"


def test_holm_adjusts_the_p_values_of_a_family_step_down():
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04, made
    # non-decreasing in that order: 0.02, 0.03, 0.06, 0.06 (worked by hand from Holm 1979).
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.3]) == [0.3]
    assert holm([0.6, 0.7]) == [1.0, 1.0]  # capped at 1


def policy_rows(policy: str, diffs, seeds=range(5)) -> list[dict]:
    """Runs of ``policy`` whose test accuracy differs from ``none``'s (0.8) by ``diffs``."""
    return [
        {"status": "FINISHED", "seed": s, "settings": {"augment": policy}, "test_accuracy": 0.8 + d}
        for s, d in zip(seeds, diffs, strict=True)
    ]


def test_several_groups_against_one_baseline_are_decided_by_holms_adjusted_p():
    none = policy_rows("none", [0.0] * 5)
    lucky = [0.02, 0.01, 0.03, 0.0, 0.015]  # alone: interval above 0, p = 0.040
    flat = [[0.01, -0.01, 0.02, -0.02, 0.0], [0.03, -0.02, 0.01, -0.03, 0.01]]
    alone = analyze(none + policy_rows("lucky", lucky))
    (single,) = [p for p in alone.comparisons[0].paired if p.metric == "test_accuracy"]
    assert single.verdict == "better" and single.p < 0.05 and single.p_adjusted == single.p
    assert not alone.corrected
    family = analyze(
        none
        + policy_rows("lucky", lucky)
        + policy_rows("flat", flat[0])
        + policy_rows("flatter", flat[1])
    )
    assert family.corrected
    (result,) = [p for p in family.comparisons[0].paired if p.metric == "test_accuracy"]
    assert result.family == 3 and result.p == single.p  # the same test, its p adjusted
    assert result.p_adjusted == pytest.approx(3 * single.p)
    assert result.diff == single.diff  # the interval is shown as it is (unadjusted)
    assert result.verdict == "no clear difference with n=5"


def test_the_verdict_table_labels_intervals_unadjusted_and_shows_holms_p_when_corrected():
    from augsweep.tracking.report_files import verdict_cells, verdict_table

    none = policy_rows("none", [0.0] * 5)
    one = analyze(none + policy_rows("a", [0.02, 0.01, 0.03, 0.0, 0.015]))
    assert "p (Holm)" not in verdict_table(one)[0]
    two = analyze(
        none + policy_rows("a", [0.02, 0.01, 0.03, 0.0, 0.015]) + policy_rows("b", [0.0] * 5)
    )
    header, rows = verdict_table(two)
    assert "Δ test acc. [95% CI, unadjusted]" in header and "p (Holm)" in header
    test_cell = verdict_cells(two)[1][0][3][0]  # group, n, val., test
    assert ", Holm 0.0799: no clear difference with n=5" in test_cell, test_cell
