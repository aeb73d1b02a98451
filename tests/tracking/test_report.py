"""The comparison report from runs as MLflow returns them (built here, no store), and the
status a sweep's parent run ends with."""

from __future__ import annotations

import csv
import json

import pytest
from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag

from augsweep.tracking.report import (
    REPORT_FILES,
    RunRecord,
    build_report,
    job_table,
    policy_means,
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
    return RunRecord(run(*args, **kwargs), history)


def test_report_lists_every_run_with_its_status_and_error_and_means_per_policy(tmp_path):
    records = [
        record("augment=none,seed=0", "none", seed=0, final=(1.0, 0.75)),
        record("augment=none,seed=1", "none", seed=1, final=(0.9, 0.85)),
        record("augment=flip,seed=0", "flip", seed=0, final=(0.8, 0.8)),
        record("augment=flip,seed=1", "flip", "FAILED", seed=1, tags={Tag.ERROR: "E: a|b"}),
    ]
    paths = build_report(records, tmp_path / "out", "sweep X")
    assert [p.name for p in paths] == list(REPORT_FILES)
    rows = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert [(r["run_name"], r["status"], r["error"]) for r in rows][-1] == (
        "augment=flip,seed=1",
        "FAILED",
        "E: a|b",
    )
    assert rows[0]["final_gap"] == "0.25" and rows[0]["epochs"] == "2"
    assert rows[0]["duration_s"] == "2.5"
    table = (tmp_path / "out" / "summary.md").read_text()
    assert table.startswith("# sweep X\n")
    assert "Data: digits, 2 classes: 0, 1." in table
    assert "| none | 2 | 0.8000 ± 0.0707 |" in table  # best val accuracy over the 2 seeds
    assert "| flip | 1 | 0.8000 |" in table  # the failed run is not in the means
    assert "| augment=flip,seed=1 | flip | 1 | FAILED |" in table
    assert "different data" not in table


def test_report_warns_when_runs_used_different_data(tmp_path):
    records = [
        record("a", "none", final=(1.0, 0.5), tags={Tag.DATA_FINGERPRINT: "aaaa"}),
        record("b", "flip", final=(1.0, 0.5), tags={Tag.DATA_FINGERPRINT: "bbbb"}),
    ]
    build_report(records, tmp_path, "sweep Y")
    assert "different data (data_fingerprint: aaaa, bbbb)" in (tmp_path / "summary.md").read_text()


def test_policy_means_use_finished_runs_only():
    rows = [r.row for r in (record("a", "none", final=(1.0, 0.5)), record("b", "none", "KILLED"))]
    (entry,) = policy_means(rows)
    assert entry["augment"] == "none" and entry["runs"] == 1
    assert entry["final_gap"] == pytest.approx((0.5, 0.0))


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
