"""The sweep comparison report, built from what MLflow holds (never from memory); it reads
runs and never changes one.

Collecting is here: a sweep's runs, its parent run and job records (:func:`collect`), each
run's curves (:func:`load_records`); :func:`for_sweep` then writes the files through
:mod:`.report_files` (plots, CSV, Markdown, ``report.html``). Runs are grouped by every swept
key but ``seed``; each group gets means with 95% t intervals and is compared with the
baseline group seed by seed (:mod:`.stats`). A sweep builds its report when it ends
(:func:`augsweep.tracking.sweep.finish_sweep`); rebuild one at any time::

    augsweep report --sweep-id 20261125-101500-a1b2c3
    augsweep report --experiment augsweep     # its latest sweep
    augsweep report --experiment augsweep --baseline flip

(``python -m augsweep.tracking.report`` takes the same options.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from augsweep import metrics
from augsweep.outcomes import Outcome
from augsweep.tracking import stats, store
from augsweep.tracking.report_files import (  # noqa: F401  (the report's names, for callers)
    FOREST_FILE,
    REPORT_FILES,
    RunRecord,
    analyze,
    answer_lines,
    build_report,
    verdict_markdown,
)
from augsweep.tracking.tags import Tag, job_records
from augsweep.tracking.uri import DEFAULT_EXPERIMENT


@dataclass
class SweepRuns:
    """A sweep as MLflow holds it: what its report is built from (:func:`collect`).

    Attributes:
        sweep_id: The sweep's ``sweep_id`` tag.
        tagged: Every run tagged with that id, its parent excluded, oldest first.
        runs: The runs to report: one per job that has one, in job order
            (:func:`with_job_runs`).
        jobs: Every job with what became of it (:func:`job_table`); empty without a parent.
        parent_tags: The tags of the sweep's parent run (empty without one).
    """

    sweep_id: str
    tagged: list[Run]
    runs: list[Run]
    jobs: list[dict] = field(default_factory=list)
    parent_tags: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"sweep {self.sweep_id}"


@dataclass
class SweepReport:
    """A sweep's report, written (:func:`for_sweep`).

    Attributes:
        sweep: What it was built from.
        out_dir: The folder of its files.
        paths: Its files (:data:`REPORT_FILES`, then :data:`FOREST_FILE` when drawn).
        analysis: Its statistics (groups, comparisons, verdicts).
    """

    sweep: SweepRuns
    out_dir: Path
    paths: list[Path]
    analysis: stats.Analysis


def collect(
    client: MlflowClient,
    sweep_id: str,
    experiment_ids: Sequence[str],
    *,
    job_names: Sequence[str] = (),
    parent_run_id: str | None = None,
) -> SweepRuns:
    """Find a sweep's runs, its parent run and its job table.

    Args:
        client: Client of the tracking store.
        sweep_id: The sweep.
        experiment_ids: Where to look.
        job_names: Every job's run name, by job number, when the sweep knows them (the
            jobs that never started are then listed too).
        parent_run_id: The parent run, when known (else searched by ``sweep_id``).
    """
    tagged = sweep_runs(client, sweep_id, experiment_ids)
    if parent_run_id is not None:
        parent = client.get_run(parent_run_id)
    else:
        parent = sweep_parent(client, sweep_id, experiment_ids)
    parent_tags = dict(parent.data.tags) if parent else {}
    jobs = job_table(parent_tags, job_names) if parent else []
    return SweepRuns(sweep_id, tagged, with_job_runs(client, tagged, jobs), jobs, parent_tags)


def for_sweep(
    client: MlflowClient, sweep: SweepRuns, out_dir: Path, *, baseline: str | None = None
) -> SweepReport:
    """Write a sweep's report: each run's curves from MLflow, then the files
    (:func:`augsweep.tracking.report_files.build_report`).

    Args:
        client: Client of the tracking store.
        sweep: The sweep (:func:`collect`).
        out_dir: Where to write.
        baseline: The baseline group (default: the sweep's ``report.baseline``, else
            ``none``).
    """
    records = load_records(client, sweep.runs, sweep.jobs)
    if Tag.SEARCH_STUDY in sweep.parent_tags:  # a search: the confirmation runs are compared
        from augsweep.tracking import search_report

        records = search_report.confirmation_records(records, sweep.jobs)
    paths = build_report(records, out_dir, sweep.title, sweep.jobs, sweep.parent_tags, baseline)
    if Tag.SEARCH_STUDY in sweep.parent_tags:  # its page: the search, then the proof
        paths = search_report.write_page(client, sweep, records, out_dir, paths)
    return SweepReport(sweep, out_dir, paths, analyze(records, sweep.parent_tags, baseline))


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
        One dict per job: ``job`` (0-based), ``name``, ``overrides`` (one string),
        ``override_list``, ``outcome``, ``run_id``, ``detail``, ``error``, ``seconds``.
    """
    records = job_records(parent_tags)
    table = []
    for num in range(max(len(names), max(records, default=-1) + 1)):
        record = records.get(num, {"outcome": Outcome.NOT_STARTED})
        if record.get("outcome") == Outcome.STARTED:
            record = {**record, "outcome": Outcome.KILLED, "error": "its process ended mid-job"}
        table.append(
            {
                "job": num,
                "name": record.get("name") or (names[num] if num < len(names) else ""),
                "overrides": " ".join(record.get("overrides", ())),
                "override_list": list(record.get("overrides", ())),
                "outcome": record.get("outcome"),
                "run_id": record.get("run_id"),
                "detail": record.get("detail", ""),
                "error": record.get("error", ""),
                "seconds": record.get("seconds"),
            }
        )
    return table


def load_records(
    client: MlflowClient, runs: Sequence[Run], jobs: Sequence[dict] = ()
) -> list[RunRecord]:
    """Fetch the per-epoch curves of each run and its swept values (:func:`run_settings`)."""
    settings = run_settings(runs, jobs)
    records = []
    for run in runs:
        history = {}
        for key in metrics.CURVES:
            # One value per step: MLflow logs a logged model's metrics again at its step
            # (the last epoch), with the model's id.
            points = {m.step: m.value for m in client.get_metric_history(run.info.run_id, key)}
            history[key] = [points[step] for step in sorted(points)]
        records.append(RunRecord(run, history, settings.get(run.info.run_id, {})))
    return records


def run_settings(runs: Sequence[Run], jobs: Sequence[dict] = ()) -> dict[str, dict[str, str]]:
    """Each run's values of the swept keys (``seed`` excluded): what groups it.

    The job records of the sweep's parent run hold every job's overrides (a preset's
    ``hydra.sweeper.params`` included); the keys whose values differ between runs are the
    swept ones. Runs without a job record fall back on their ``augment`` tag and params.

    Args:
        runs: The runs to group.
        jobs: :func:`job_table` rows with their ``run_id``.

    Returns:
        Run id -> {swept key: value}.
    """
    overrides = {job["run_id"]: job.get("override_list") for job in jobs if job.get("run_id")}
    if not all(overrides.get(run.info.run_id) for run in runs):
        overrides = {run.info.run_id: _param_overrides(run) for run in runs}
    return stats.swept_settings({run.info.run_id: overrides[run.info.run_id] for run in runs})


def _param_overrides(run: Run) -> list[str]:
    """A run's config as overrides, from its tags and params (``augment`` by its tag: the
    policy's params are many, its name is one)."""
    params = run.data.params
    return [f"augment={run.data.tags.get(Tag.AUGMENT, '')}"] + [
        f"{key}={value}" for key, value in params.items() if not key.startswith("augment")
    ]


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


def run_parsed(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``augsweep report``: rebuild a sweep's report from MLflow alone and list its files.

    Args:
        args: The options (:func:`augsweep.command_args.report_arguments`).
        parser: Their parser, for a usage error (exit 2).
    """
    client = store.connect(store.resolve_uri(args.tracking_uri, Path.cwd()))
    if args.sweep_id:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
        sweep_id = args.sweep_id
    else:
        name = args.experiment or DEFAULT_EXPERIMENT
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            names = [e.name for e in client.search_experiments()]
            parser.error(f"no experiment named {name!r}; existing: {names}")
        experiment_ids = [experiment.experiment_id]
        sweep_id = latest_sweep_id(client, experiment.experiment_id)
    # Its runs: the job records' (runs reused from earlier sweeps too), else those tagged.
    sweep = collect(client, sweep_id, experiment_ids)
    if not sweep.runs:
        parser.error(f"sweep {sweep_id!r} has no runs in {args.tracking_uri}")
    out = args.out or Path("reports") / sweep_id
    result = for_sweep(client, sweep, out, baseline=args.baseline)
    print("\n".join(str(p) for p in result.paths))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m augsweep.tracking.report``: ``augsweep report`` (:func:`run_parsed`)."""
    from augsweep import command_args

    return command_args.run_module("report", run_parsed, argv)


if __name__ == "__main__":
    sys.exit(main())
