"""``augsweep status``: what the sweeps of a store are doing now, read from MLflow alone, so
that it answers for a sweep under cron, on SLURM or on another host through a server.

Per sweep: its jobs finished, running, failed, killed and not started (the parent run's job
records, and the count of jobs it planned, recorded when it started), each running job's
epoch and last heartbeat (its run's per-epoch metrics and ``augsweep.heartbeat`` tag; a dead
owner, told as :func:`augsweep.tracking.relaunch.owner_alive` tells it, is flagged probably
dead), and an ETA. It never writes to the store: the SQLite file is opened only if it
exists, and only read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from augsweep.console import duration
from augsweep.outcomes import Outcome
from augsweep.tracking import uri as uris
from augsweep.tracking.tags import Tag, job_records

FINISHED = (Outcome.TRAINED, Outcome.RESUMED, Outcome.SKIPPED, Outcome.ELSEWHERE)
MEASURED = (Outcome.TRAINED, Outcome.RESUMED)  # jobs whose time says what a job costs


@dataclass
class JobCounts:
    """A sweep's jobs by what became of them, from its parent's job records.

    Attributes:
        planned: The jobs the sweep planned (0: unknown, a sweeper that chooses as it goes).
        finished: Trained, resumed or skipped (done before, or elsewhere).
        running: Started, not ended.
        failed: Failed.
        killed: Interrupted or their process died.
        job_seconds: The wall time of each job trained or resumed (for the ETA).
        by_outcome: Every ended outcome's count.
    """

    planned: int = 0
    finished: int = 0
    running: int = 0
    failed: int = 0
    killed: int = 0
    job_seconds: list[float] = field(default_factory=list)
    by_outcome: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Mapping[int, dict], planned: int = 0) -> JobCounts:
        counts = cls(planned=max(planned, len(records)))
        for record in records.values():
            outcome = record.get("outcome")
            if outcome == Outcome.STARTED:
                counts.running += 1
                continue
            counts.by_outcome[outcome] = counts.by_outcome.get(outcome, 0) + 1
            if outcome in FINISHED:
                counts.finished += 1
            elif outcome == Outcome.FAILED:
                counts.failed += 1
            elif outcome == Outcome.KILLED:
                counts.killed += 1
            if outcome in MEASURED and record.get("seconds"):
                counts.job_seconds.append(float(record["seconds"]))
        return counts

    @property
    def not_started(self) -> int:
        return max(0, self.planned - self.finished - self.running - self.failed - self.killed)

    @property
    def left(self) -> int:
        """Jobs not ended: running or not started."""
        return self.running + self.not_started

    def eta_s(
        self, running_left_s: Sequence[float] = (), per_job_guess: float | None = None
    ) -> float | None:
        """Seconds until the sweep ends: what its running jobs have left (``running_left_s``,
        else a whole job each), then a mean trained job's time (before any: ``per_job_guess``,
        a running job's epochs times its epoch's time) per job not started, spread over as
        many jobs at once as run now. None when nothing was timed yet."""
        per_job = statistics.fmean(self.job_seconds) if self.job_seconds else per_job_guess
        if per_job is None:
            return None
        running = list(running_left_s) or [per_job] * self.running
        at_once = max(1, self.running)
        return (sum(running) + per_job * self.not_started) / at_once

    def text(self) -> str:
        """``5 finished (4 trained, 1 skipped), 1 running, 0 failed, 9 not started``."""
        kinds = [f"{self.by_outcome[o]} {o}" for o in FINISHED if self.by_outcome.get(o)]
        detail = f" ({', '.join(kinds)})" if len(kinds) > 1 else ""
        shown = [f"{self.finished} finished{detail}", f"{self.running} running",
                 f"{self.failed} failed"]  # fmt: skip
        if self.killed:
            shown.append(f"{self.killed} killed")
        shown.append(f"{self.not_started} not started" if self.planned else "more may come")
        return ", ".join(shown)


def planned_jobs(tags: Mapping[str, str]) -> int:
    """The number of jobs a sweep's parent run says it planned (0: not known)."""
    value = tags.get(Tag.JOBS_PLANNED, "")
    return int(value) if value.isdigit() else 0


@dataclass(frozen=True)
class RunningJob:
    """Where a running job's run is.

    Attributes:
        num: The job's number (0-based).
        name: Its name.
        epochs_done: Epochs logged (None: its run does not exist yet).
        epochs: Its epochs in all (None: not known).
        seconds_per_epoch: Recent epochs' time (None: fewer than two).
        heartbeat_age_s: Seconds since its run last showed life (None: never).
        alive: Whether its process lives (:func:`augsweep.tracking.relaunch.owner_alive`).
        owner: Its host and pid, for the line.
    """

    num: int
    name: str
    epochs_done: int | None = None
    epochs: int | None = None
    seconds_per_epoch: float | None = None
    heartbeat_age_s: float | None = None
    alive: bool = True
    owner: str = ""

    def left_s(self) -> float | None:
        if self.epochs is None or self.epochs_done is None or self.seconds_per_epoch is None:
            return None
        return max(0, self.epochs - self.epochs_done) * self.seconds_per_epoch

    def total_s(self) -> float | None:
        """The whole job's training time, as its epochs so far say."""
        if self.epochs is None or self.seconds_per_epoch is None:
            return None
        return self.epochs * self.seconds_per_epoch

    def text(self) -> str:
        """``job 6 flip,seed=0: epoch 7/30, 0.9 s/epoch, last heartbeat 3 s ago, ETA
        21 s`` (or ``..., probably dead: ...``)."""
        if self.epochs_done is None:
            where = "starting (no run yet: loading its data or waiting for a GPU)"
        else:
            where = f"epoch {self.epochs_done}/{self.epochs or '?'}"
            if self.seconds_per_epoch is not None:
                where += f", {self.seconds_per_epoch:.1f} s/epoch"
            if self.heartbeat_age_s is not None:
                where += f", last heartbeat {duration(self.heartbeat_age_s)} ago"
        if not self.alive:
            where += f": probably dead ({self.owner}; `augsweep reap` closes its run)"
        elif self.left_s() is not None:
            where += f", ETA {duration(self.left_s())}"
        return f"  job {self.num + 1} {self.name}: {where}"


def running_job(client, num: int, record: dict, runs: Sequence, stale_after_s: float):
    """A started job's :class:`RunningJob`, from its run among the sweep's ``runs``."""
    from augsweep.tracking import relaunch

    name = record.get("name", f"#{num}")
    mine = [r for r in runs if r.data.tags.get(Tag.JOB) == str(num) and r.info.status == "RUNNING"]
    if not mine:
        return RunningJob(num, name)
    run = mine[-1]
    history = sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)
    times = [m.timestamp / 1000 for m in history]
    recent = [later - earlier for earlier, later in zip(times, times[1:], strict=False)][-5:]
    epochs = run.data.params.get("trainer.epochs", "")
    beat = run.data.tags.get(Tag.HEARTBEAT)
    return RunningJob(
        num,
        name,
        epochs_done=(history[-1].step + 1) if history else 0,
        epochs=int(epochs) if epochs.isdigit() else None,
        seconds_per_epoch=statistics.median(recent) if recent else None,
        heartbeat_age_s=time.time() - float(beat) if beat else None,
        alive=relaunch.owner_alive(run, stale_after_s),
        owner=relaunch.owner_text(run),
    )


def sweep_text(client, parent, stale_after_s: float) -> str:
    """What one sweep is doing, a few lines.

    Args:
        client: Client of the store (only read).
        parent: The sweep's parent run.
        stale_after_s: Heartbeat age after which another host's process counts as dead.
    """
    from augsweep.tracking import relaunch, report

    tags = parent.data.tags
    sweep_id = tags.get(Tag.SWEEP_ID, parent.info.run_id)
    records = job_records(tags)
    counts = JobCounts.of(records, planned_jobs(tags))
    status = parent.info.status
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(parent.info.start_time / 1000))
    sweep_alive = status == "RUNNING" and relaunch.owner_alive(parent, stale_after_s)
    head = f"sweep {sweep_id}: {status}, started {started}"
    if status == "RUNNING":
        head += f" ({relaunch.owner_text(parent)})"
        if not sweep_alive:
            head += ": probably dead (`augsweep reap` closes it; a relaunch resumes it)"
    lines = [head]
    jobs = []
    if counts.running:
        runs = report.sweep_runs(client, sweep_id, [parent.info.experiment_id])
        for num in sorted(records):
            if records[num].get("outcome") == Outcome.STARTED:
                job = running_job(client, num, records[num], runs, stale_after_s)
                if not sweep_alive and job.epochs_done is None:
                    job = RunningJob(num, job.name, alive=False, owner="its sweep is gone")
                jobs.append(job)
    planned = f"{counts.planned} jobs" if counts.planned else "jobs"
    summary = f"  {planned}: {counts.text()}"
    live = [job for job in jobs if job.alive]
    guesses = [job.total_s() for job in live if job.total_s() is not None]
    guess = statistics.fmean(guesses) if guesses else None
    eta = counts.eta_s([job.left_s() or 0.0 for job in live], guess) if sweep_alive else None
    if eta is not None and counts.left:
        summary += f"; ETA {duration(eta)}"
    lines.append(summary)
    lines += [job.text() for job in jobs]
    return "\n".join(lines)


def parents_to_show(client, args: argparse.Namespace) -> list:
    """The sweeps to show: ``--sweep-id``'s; else the experiment's running sweeps, or its
    latest one if none runs."""
    experiments = client.search_experiments()
    if args.sweep_id:
        where = f"tags.`{Tag.ROLE}` = 'sweep' and tags.{Tag.SWEEP_ID} = '{args.sweep_id}'"
    else:
        if args.experiment != "all":
            experiments = [e for e in experiments if e.name == args.experiment]
        where = f"tags.`{Tag.ROLE}` = 'sweep'"
    if not experiments:
        return []
    ids = [e.experiment_id for e in experiments]
    order = ["attributes.start_time DESC"]
    parents = client.search_runs(ids, filter_string=where, order_by=order, max_results=1000)
    running = [p for p in parents if p.info.status == "RUNNING"]
    return running or parents[:1]


def read_only_client(tracking_uri: str, parser: argparse.ArgumentParser):
    """A client of an existing store: a SQLite file that is not there is an error (opening
    it would create it), and nothing is locked or created beside it."""
    from mlflow import MlflowClient

    if uris.is_sqlite(tracking_uri):
        path = uris.sqlite_file(tracking_uri)
        path = path if path.is_absolute() else Path.cwd() / path
        if not path.is_file():
            parser.error(f"--tracking-uri={tracking_uri}: no store at {path}")
        tracking_uri = uris.sqlite_uri(path.resolve())
    return MlflowClient(tracking_uri=tracking_uri)


def show(client, args: argparse.Namespace) -> str:
    """Every sweep to show, or why there is none."""
    parents = parents_to_show(client, args)
    if not parents:
        which = f"sweep {args.sweep_id!r}" if args.sweep_id else f"experiment {args.experiment!r}"
        return f"no sweep in {which} ({args.tracking_uri})"
    return "\n".join(sweep_text(client, parent, args.stale_after_s) for parent in parents)


def run_parsed(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``augsweep status``: the sweeps' progress, once, or every ``--watch`` seconds until
    Ctrl-C.

    Args:
        args: The options (:func:`augsweep.command_args.status_arguments`).
        parser: Their parser, for a usage error (exit 2).
    """
    client = read_only_client(args.tracking_uri, parser)
    if args.watch is None:
        print(show(client, args))
        return 0
    try:
        while True:  # plain lines, a time stamp per refresh: as readable in a log as here
            print(f"--- {time.strftime('%H:%M:%S')}\n{show(client, args)}", flush=True)
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m augsweep.tracking.status``: ``augsweep status`` (:func:`run_parsed`)."""
    from augsweep import command_args

    return command_args.run_module("status", run_parsed, argv)


if __name__ == "__main__":
    sys.exit(main())
