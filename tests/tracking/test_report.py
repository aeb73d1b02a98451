"""The comparison report from runs as MLflow returns them (built here, no store), and the
status a sweep's parent run ends with."""

from __future__ import annotations

import csv
import json

import pytest
from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag

from augsweep.tracking.report import (
    FOREST_FILE,
    REPORT_FILES,
    RunRecord,
    build_report,
    job_table,
    run_settings,
)
from augsweep.tracking.sweep import sweep_status
from augsweep.tracking.tags import Tag


def run(name, augment, status="FINISHED", seed=0, final=None, tags=None) -> Run:
    """A job's run: ``final`` = (clean accuracy, val accuracy) at its last epoch."""
    metrics = []
    if final is not None:
        clean, val = final
        values = {
            "best_val_accuracy": val,
            "best_epoch": 1,
            "final_clean_accuracy": clean,
            "final_val_accuracy": val,
            "final_gap": clean - val,
        }
        metrics = [Metric(key, value, 0, 0) for key, value in values.items()]
    all_tags = {Tag.AUGMENT: augment, Tag.DATASET: "digits", Tag.CLASSES: "0,1", **(tags or {})}
    info = RunInfo(f"id-{name}", "1", "me", status, 1000, 3500, "active", run_name=name)
    data = RunData(metrics, [Param("seed", str(seed))], [RunTag(k, v) for k, v in all_tags.items()])
    return Run(info, data)


def record(*args, **kwargs) -> RunRecord:
    history = {"val_accuracy": [0.5, 0.6], "clean_accuracy": [0.7, 0.9]}
    history |= {"val_loss": [1.0, 0.8], "clean_loss": [0.9, 0.5]}
    the_run = run(*args, **kwargs)
    return RunRecord(the_run, history, {"augment": the_run.data.tags[Tag.AUGMENT]})


def test_report_lists_every_run_with_its_status_and_error_and_means_per_policy(tmp_path):
    records = [
        record("augment=none,seed=0", "none", seed=0, final=(1.0, 0.75)),
        record("augment=none,seed=1", "none", seed=1, final=(0.9, 0.85)),
        record("augment=flip,seed=0", "flip", seed=0, final=(0.8, 0.8)),
        record("augment=flip,seed=1", "flip", "FAILED", seed=1, tags={Tag.ERROR: "E: <a>|b"}),
    ]
    paths = build_report(records, tmp_path / "out", "sweep X")
    assert [p.name for p in paths] == list(REPORT_FILES)  # one pair: no interval to draw
    rows = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert [(r["run_name"], r["status"], r["error"]) for r in rows][-1] == (
        "augment=flip,seed=1",
        "FAILED",
        "E: <a>|b",
    )
    assert rows[0]["final_gap"] == "0.25" and rows[0]["epochs"] == "2"
    assert rows[0]["duration_s"] == "2.5" and rows[0]["group"] == "augment=none"
    table = (tmp_path / "out" / "summary.md").read_text()
    assert table.startswith("# sweep X\n")
    assert "Data: digits, 2 classes: 0, 1." in table
    # best val accuracy over the 2 seeds: 0.8 +- t(0.975, 1) * 0.0707 / sqrt(2) = +- 0.6353
    assert "| augment=none | 2 | 0.8000 [0.1647, 1.4353] |" in table
    assert "| augment=flip | 1 | 0.8000 | 0.8000 | 0.8000 | 0.0000 | - |" in table  # no test
    assert "| augment=flip,seed=1 | flip | 1 | FAILED |" in table
    assert "seeds left out of the pairing" in table and "1 (augment=none only)" in table
    assert "different data" not in table
    page = (tmp_path / "out" / "report.html").read_text()
    assert "E: &lt;a&gt;|b" in page and "<a>" not in page  # escaped


def test_report_warns_when_runs_used_different_data(tmp_path):
    records = [
        record("a", "none", final=(1.0, 0.5), tags={Tag.DATA_FINGERPRINT: "aaaa"}),
        record("b", "flip", final=(1.0, 0.5), tags={Tag.DATA_FINGERPRINT: "bbbb"}),
    ]
    build_report(records, tmp_path, "sweep Y")
    assert "different data (data_fingerprint: aaaa, bbbb)" in (tmp_path / "summary.md").read_text()


def test_two_learning_rates_of_one_policy_are_two_groups_compared_with_their_own_baseline(
    tmp_path,
):
    # `-m augment=none,flip trainer.learning_rate=1e6,0.001 seed=0,1`: grouped by augment
    # AND learning rate (the report once averaged the two learning rates into one row).
    runs, jobs = [], []
    for num, (policy, lr, seed) in enumerate(
        (p, lr, s) for p in ("none", "flip") for lr in ("1e6", "0.001") for s in (0, 1)
    ):
        clean, val = (1.0, 0.1) if lr == "1e6" else (0.9, 0.8 + 0.05 * (policy == "flip"))
        runs.append(run(f"job{num}", policy, seed=seed, final=(clean, val + 0.01 * seed)))
        overrides = [f"augment={policy}", f"trainer.learning_rate={lr}", f"seed={seed}"]
        jobs.append({"run_id": runs[-1].info.run_id, "override_list": ["trainer.epochs=2",
                                                                        *overrides]})  # fmt: skip
    settings = run_settings(runs, jobs)
    assert settings[runs[0].info.run_id] == {"augment": "none", "trainer.learning_rate": "1e6"}
    records = [RunRecord(r, {}, settings[r.info.run_id]) for r in runs]
    paths = build_report(records, tmp_path, "sweep Z")
    table = (tmp_path / "summary.md").read_text()
    for lr in ("1e6", "0.001"):
        for policy in ("none", "flip"):
            assert f"| augment={policy},trainer.learning_rate={lr} | 2 |" in table
    # flip at 0.001 is compared with none at 0.001: +0.05 for both seeds (no spread).
    row = "| augment=flip,trainer.learning_rate=0.001 | augment=none,trainer.learning_rate=0.001 "
    assert row + "| 2 | +0.0500 [+0.0500, +0.0500] | 0 | better |" in table
    assert FOREST_FILE in [p.name for p in paths]


def test_the_analysis_notes_and_verdicts_reach_the_summary(tmp_path):
    # What the notes say (one seed, a missing baseline) is tests/tracking/test_stats.py's;
    # here, that summary.md shows them, and that another baseline can be asked for.
    one_seed = [record("a", "none", final=(1.0, 0.5)), record("b", "flip", final=(0.9, 0.6))]
    build_report(one_seed, tmp_path, "sweep S")
    table = (tmp_path / "summary.md").read_text()
    assert "no confidence interval or paired test can be given" in table
    assert "| no interval with n=1 |" in table
    records = [record(f"{p}{s}", p, seed=s, final=(1.0, 0.5)) for p in ("flip", "zoom")
               for s in (0, 1)]  # fmt: skip
    paths = build_report(records, tmp_path, "sweep B")
    table = (tmp_path / "summary.md").read_text()
    assert "The baseline augment=none is not in this sweep" in table
    assert "| group | baseline | pairs |" not in table
    assert FOREST_FILE not in [p.name for p in paths]
    build_report(records, tmp_path, "sweep B", baseline="flip")
    assert "| augment=zoom | augment=flip | 2 |" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize(
    "outcomes,expected",
    [
        (["trained", "skipped", "resumed", "elsewhere"], "FINISHED"),
        (["trained", "failed"], "FAILED"),
        (["failed", "killed", "trained"], "KILLED"),
        (["trained", "not started"], "KILLED"),  # interrupted before it
        ([], "FAILED"),  # a sweep without a single job did not work
    ],
)
def test_the_sweep_parent_run_ends_as_its_worst_job(outcomes, expected):
    assert sweep_status([{"outcome": outcome} for outcome in outcomes]) == expected


def test_the_job_table_reads_every_job_record_and_names_the_missing_ones():
    records = {
        "augsweep.job.0": json.dumps({"name": "augment=none", "outcome": "trained", "run_id": "a"}),
        "augsweep.job.2": json.dumps({"name": "augment=flip", "outcome": "started"}),
        "augsweep.role": "sweep",
    }
    table = job_table(records, ["augment=none", "augment=rotation", "augment=flip", "seed=3"])
    assert [(j["job"], j["name"], j["outcome"]) for j in table] == [
        (0, "augment=none", "trained"),
        (1, "augment=rotation", "not started"),
        (2, "augment=flip", "killed"),  # started, never ended: its process died
        (3, "seed=3", "not started"),
    ]
    assert table[0]["run_id"] == "a" and table[2]["error"] == "its process ended mid-job"
