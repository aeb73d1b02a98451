"""The sweep comparison report, built from what MLflow holds (never from memory); it reads
runs and never changes one.

Writes ``comparison_accuracy.png``, ``comparison_loss.png``, ``summary.csv`` and
``summary.md``. Rebuild a report at any time::

    python -m augsweep.tracking.report --sweep-id 20261125-101500-a1b2c3
    python -m augsweep.tracking.report --experiment augsweep     # its latest sweep
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from augsweep import plots
from augsweep.tracking import store
from augsweep.tracking.tags import Tag

CURVE_KEYS = ("clean_accuracy", "val_accuracy", "clean_loss", "val_loss")
COLUMNS = (
    "run_name", "augment", "seed", "status", "best_val_accuracy", "best_epoch",
    "final_clean_accuracy", "final_val_accuracy", "final_gap", "epochs", "duration_s",
    "error", "run_id",
)  # fmt: skip
SUMMARY_METRICS = ("best_val_accuracy", "final_clean_accuracy", "final_val_accuracy", "final_gap")
REPORT_FILES = ("comparison_accuracy.png", "comparison_loss.png", "summary.csv", "summary.md")


@dataclass
class RunRecord:
    """One job's run, as the report sees it."""

    run: Run
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def row(self) -> dict:
        info, data = self.run.info, self.run.data
        duration = (info.end_time - info.start_time) / 1000 if info.end_time else None
        best_epoch = data.metrics.get("best_epoch")
        return {
            "run_name": info.run_name,
            "augment": data.tags.get(Tag.AUGMENT, ""),
            "seed": data.params.get("seed", ""),
            "status": info.status,
            **{key: data.metrics.get(key) for key in COLUMNS[4:9]},
            "best_epoch": int(best_epoch) if best_epoch is not None else None,
            "epochs": len(self.history.get("val_accuracy", [])),
            "duration_s": round(duration, 1) if duration is not None else None,
            "error": data.tags.get(Tag.ERROR, ""),
            "run_id": info.run_id,
        }


def sweep_runs(client: MlflowClient, sweep_id: str, experiment_ids: Sequence[str]) -> list[Run]:
    """The job runs of a sweep (not its parent), oldest first."""
    runs = client.search_runs(
        list(experiment_ids),
        filter_string=f"tags.{Tag.SWEEP_ID} = '{sweep_id}'",
        order_by=["attributes.start_time ASC"],
        max_results=5000,
    )
    return [run for run in runs if run.data.tags.get(Tag.ROLE) != "sweep"]


def job_table(parent_tags: dict[str, str], names: Sequence[str] = ()) -> list[dict]:
    """Every job of a sweep with what became of it, by job number, from its parent's tags.

    A job that recorded its start but not its end died with its process (``killed``); a job
    of ``names`` (the sweep's list, when known) that recorded nothing never started.

    Args:
        parent_tags: The tags of the sweep's parent run (``augsweep.job.<num>`` records).
        names: Every job's run name, by job number, when the sweep knows them.

    Returns:
        One dict per job: ``job`` (0-based), ``name``, ``overrides``, ``outcome``,
        ``run_id``, ``detail``, ``error``, ``seconds``.
    """
    records = {
        int(name.removeprefix(Tag.JOB_RECORD)): json.loads(value)
        for name, value in parent_tags.items()
        if name.startswith(Tag.JOB_RECORD) and name.removeprefix(Tag.JOB_RECORD).isdigit()
    }
    table = []
    for num in range(max(len(names), max(records, default=-1) + 1)):
        record = records.get(num, {"outcome": "not started"})
        if record.get("outcome") == "started":
            record = {**record, "outcome": "killed", "error": "its process ended mid-job"}
        table.append(
            {
                "job": num,
                "name": record.get("name") or (names[num] if num < len(names) else ""),
                "overrides": " ".join(record.get("overrides", ())),
                "outcome": record.get("outcome"),
                "run_id": record.get("run_id"),
                "detail": record.get("detail", ""),
                "error": record.get("error", ""),
                "seconds": record.get("seconds"),
            }
        )
    return table


def load_records(client: MlflowClient, runs: Sequence[Run]) -> list[RunRecord]:
    """Fetch the per-epoch curves of each run."""
    records = []
    for run in runs:
        history = {}
        for key in CURVE_KEYS:
            # One value per step: MLflow logs a logged model's metrics again at its step
            # (the last epoch), with the model's id.
            points = {m.step: m.value for m in client.get_metric_history(run.info.run_id, key)}
            history[key] = [points[step] for step in sorted(points)]
        records.append(RunRecord(run, history))
    return records


def build_report(
    records: Sequence[RunRecord], out_dir: Path, title: str, jobs: Sequence[dict] = ()
) -> list[Path]:
    """Write the four report files into ``out_dir`` and return their paths.

    Args:
        records: The runs to compare.
        out_dir: Where to write.
        title: The report's title.
        jobs: Every job of the sweep with what became of it
            (:func:`augsweep.tracking.sweep.job_table`), listed in ``summary.md`` with the
            jobs that never got a run.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    curves = [
        {"label": r.run.info.run_name, "group": r.row["augment"], "history": r.history}
        for r in records
    ]
    paths = [
        plots.comparison(
            curves,
            "accuracy",
            out_dir / REPORT_FILES[0],
            f"{title}: accuracy, clean train (dashed) vs validation (solid)",
        ),
        plots.comparison(
            curves,
            "loss",
            out_dir / REPORT_FILES[1],
            f"{title}: loss, clean train (dashed) vs validation (solid)",
        ),
    ]
    rows = [r.row for r in records]
    paths.append(_write_csv(rows, out_dir / REPORT_FILES[2]))
    paths.append(_write_markdown(rows, records, out_dir / REPORT_FILES[3], title, jobs))
    return paths


def _write_csv(rows: Sequence[dict], path: Path) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def policy_means(rows: Sequence[dict]) -> list[dict]:
    """Mean and standard deviation of the final metrics per policy, over finished runs."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row["status"] == "FINISHED":
            groups.setdefault(row["augment"], []).append(row)
    table = []
    for policy, members in groups.items():
        entry = {"augment": policy, "runs": len(members)}
        for key in SUMMARY_METRICS:
            values = np.array([m[key] for m in members], dtype=float)
            entry[key] = (values.mean(), values.std(ddof=1) if len(values) > 1 else 0.0)
        table.append(entry)
    return table


def _write_markdown(rows, records, path: Path, title: str, jobs: Sequence[dict] = ()) -> Path:
    shown = COLUMNS[:-2]
    lines = [
        f"# {title}",
        "",
        "`gap` = clean-train accuracy (training images without augmentation) minus "
        "validation accuracy, at the last epoch: large means overfitting.",
        "",
        *_data_lines(records),
        "## Per policy (finished runs; mean ± standard deviation over runs)",
        "",
        "| augment | runs | " + " | ".join(SUMMARY_METRICS) + " |",
        "|" + "---|" * (2 + len(SUMMARY_METRICS)),
    ]
    for entry in policy_means(rows):
        cells = [
            f"{mean:.4f} ± {std:.4f}" if entry["runs"] > 1 else f"{mean:.4f}"
            for mean, std in (entry[k] for k in SUMMARY_METRICS)
        ]
        lines.append(f"| {entry['augment']} | {entry['runs']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Runs",
        "",
        "| " + " | ".join(shown) + " |",
        "|" + "---|" * len(shown),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[key]) for key in shown) + " |")
    lines += _left_out_lines(rows) + _job_lines(jobs)
    fingerprints = {r.run.data.tags.get(Tag.DATA_FINGERPRINT) for r in records} - {None}
    if len(fingerprints) > 1:
        lines += [
            "",
            f"**Warning:** these runs used different data "
            f"(data_fingerprint: {', '.join(sorted(fingerprints))}); "
            "their curves are not comparable.",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _left_out_lines(rows: Sequence[dict]) -> list[str]:
    """The runs kept out of the means (not FINISHED), with why."""
    out = [row for row in rows if row["status"] != "FINISHED"]
    if not out:
        return []
    lines = ["", "Not in the means (not FINISHED):", ""]
    for row in out:
        why = f": {row['error']}" if row["error"] else ""
        lines.append(f"- {row['run_name']} ({row['status']}{why})")
    return lines


def _job_lines(jobs: Sequence[dict]) -> list[str]:
    """Every job of the sweep: what became of it, its run, why it failed."""
    if not jobs:
        return []
    lines = [
        "",
        "## Jobs",
        "",
        "| job | run | outcome | run_id | detail |",
        "|---|---|---|---|---|",
    ]
    for job in jobs:
        detail = job["error"] or job["detail"]
        cells = [str(job["job"] + 1), job["name"], job["outcome"], job["run_id"] or "", detail]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _data_lines(records) -> list[str]:
    """``Data: tf_flowers, 5 classes: daisy, ...`` per distinct dataset of the runs."""
    seen = {}
    for record in records:
        tags = record.run.data.tags
        classes = [name for name in tags.get(Tag.CLASSES, "").split(",") if name]
        if classes:
            seen.setdefault((tags.get(Tag.DATASET, ""), tuple(classes)), None)
    return [f"Data: {dataset}, {plots.class_list(classes)}." for dataset, classes in seen] + (
        [""] if seen else []
    )


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "/")


def sweep_parent(client: MlflowClient, sweep_id: str, experiment_ids: Sequence[str]) -> Run | None:
    """The parent run of a sweep (None for a sweep without one)."""
    parents = client.search_runs(
        list(experiment_ids),
        filter_string=f"tags.{Tag.SWEEP_ID} = '{sweep_id}' and tags.`{Tag.ROLE}` = 'sweep'",
        max_results=1,
    )
    return parents[0] if parents else None


def with_job_runs(client: MlflowClient, runs: Sequence[Run], jobs: Sequence[dict]) -> list[Run]:
    """The runs of a sweep's jobs, one per job that has one, in job order.

    A job without a recorded run id (it failed or was killed inside its run) gets the
    newest of ``runs`` tagged with its job number; a job that skipped to a run trained
    earlier (in another sweep) gets that run. Without job records: ``runs`` as they are.

    Args:
        client: Client of the tracking store.
        runs: The runs tagged with the sweep's id, oldest first.
        jobs: :func:`job_table` rows; their ``run_id`` is filled in where found.

    Returns:
        The runs to report.
    """
    if not jobs:
        return list(runs)
    by_job = {run.data.tags.get(Tag.JOB): run for run in runs}  # oldest first: newest wins
    by_id = {run.info.run_id: run for run in runs}
    chosen: dict[str, Run] = {}
    for job in jobs:
        if not job["run_id"] and str(job["job"]) in by_job:
            job["run_id"] = by_job[str(job["job"])].info.run_id
        if job["run_id"] and job["run_id"] not in chosen:
            run_id = job["run_id"]
            chosen[run_id] = by_id[run_id] if run_id in by_id else client.get_run(run_id)
    return list(chosen.values())


def latest_sweep_id(client: MlflowClient, experiment_id: str) -> str:
    """The ``sweep_id`` of the newest sweep parent run in an experiment."""
    parents = client.search_runs(
        [experiment_id], filter_string=f"tags.`{Tag.ROLE}` = 'sweep'",
        order_by=["attributes.start_time DESC"], max_results=1,
    )  # fmt: skip
    if not parents:
        raise SystemExit(f"experiment {experiment_id} has no sweep runs")
    return parents[0].data.tags[Tag.SWEEP_ID]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m augsweep.tracking.report``: rebuild a sweep's report from MLflow alone."""
    parser = argparse.ArgumentParser(
        prog="python -m augsweep.tracking.report", description=main.__doc__
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--sweep-id", help="the sweep_id tag of the sweep")
    which.add_argument("--experiment", help="experiment name: report its latest sweep")
    parser.add_argument(
        "--tracking-uri",
        default="sqlite:///mlruns/mlflow.db",
        help="MLflow tracking URI (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: reports/SWEEP_ID)")
    args = parser.parse_args(argv)

    client = store.connect(store.resolve_uri(args.tracking_uri, Path.cwd()))
    if args.experiment:
        experiment = client.get_experiment_by_name(args.experiment)
        if experiment is None:
            names = [e.name for e in client.search_experiments()]
            parser.error(f"no experiment named {args.experiment!r}; existing: {names}")
        experiment_ids = [experiment.experiment_id]
        sweep_id = latest_sweep_id(client, experiment.experiment_id)
    else:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
        sweep_id = args.sweep_id
    runs = sweep_runs(client, sweep_id, experiment_ids)
    if not runs:
        parser.error(f"no runs tagged sweep_id={sweep_id!r} in {args.tracking_uri}")
    parent = sweep_parent(client, sweep_id, experiment_ids)
    jobs = job_table(parent.data.tags) if parent else []
    runs = with_job_runs(client, runs, jobs)
    out = args.out or Path("reports") / sweep_id
    paths = build_report(load_records(client, runs), out, f"sweep {sweep_id}", jobs)
    print("\n".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
