"""Relaunching safely: what to do with a job whose config may have run before, and reaping
runs whose process died.

A job looks up its run key (:func:`augsweep.config.run_key.run_key`) in the experiment
(:func:`plan_run`):

- a FINISHED run on the same data: skip it and report its result;
- a RUNNING run whose owner is alive: skip it, saying where it runs (never train the same
  key twice at once);
- a KILLED or FAILED run, or a RUNNING one whose owner died: resume it, in the same run;
- a run that diverged: do not train it again (it would diverge again), unless
  ``rerun=true``; the job still counts as failed (:class:`DivergedBefore`), so that a
  relaunch's exit code and parent run say what the sweep holds;
- only runs on other data (another fingerprint): train a new run;
- none: train a new run.

MLflow leaves the run of a killed process RUNNING forever (mlflow issue 10510): an owner is
dead when, on the same host and boot, its pid is gone, or, on another host, its heartbeat is
older than ``tracking.stale_after_s``. :func:`reap` closes such runs as KILLED, and
:func:`reap_jobs` marks the job records such a sweep's parent run holds as ``started`` as
``killed``, saying why.

MLflow has no compare-and-set: two processes that look a key up at the same moment would
both find nothing and both train it. On one host a job holds the key's lock
(:func:`key_lock`, a ``flock``) from before its plan until its run ends, which makes "never
twice at once" exact there; across hosts the owner tag and heartbeat are all there is.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from augsweep.errors import DIVERGED_PREFIX, DiskFull, InputError, no_space
from augsweep.outcomes import Outcome
from augsweep.tracking.store import attempt, boot_id
from augsweep.tracking.tags import Tag, job_records


class DivergedBefore(InputError):
    """The job's run diverged in an earlier launch and is not trained again: the job fails
    with the run's error (a relaunch must not hide it), until ``rerun=true`` trains it.

    Args:
        reason: The plan's reason: the run's ``error`` tag, its id, what to do.
        run_id: The diverged run, recorded with the job.
    """

    def __init__(self, reason: str, run_id: str):
        super().__init__(reason)
        self.tag = reason
        self.run_id = run_id


@dataclass(frozen=True)
class Plan:
    """What a job does about its run key.

    Attributes:
        action: The job's outcome if the plan is carried out: ``TRAINED`` (a new run),
            ``SKIPPED`` (a finished run stands), ``RESUMED`` (reopen ``run`` and
            continue), ``ELSEWHERE`` (``run`` is being trained by a live process) or
            ``FAILED`` (``run`` diverged: not trained again, the job fails with
            :class:`DivergedBefore`).
        run: The run concerned (None for a new run without history).
        reason: One line for the console, e.g. ``finished run 3f9a...``.
        previous_run_id: For a new run: the run of the same config on other data, if any.
    """

    action: Outcome
    run: Run | None = None
    reason: str = ""
    previous_run_id: str | None = None


def plan_run(
    client: MlflowClient,
    experiment_id: str,
    key: str,
    fingerprint: str,
    *,
    rerun: bool = False,
    stale_after_s: float = 900,
) -> Plan:
    """Decide what a job does, from the runs of its key already in the experiment.

    A RUNNING run whose owner died is reaped (closed as KILLED) here and then resumed.

    Args:
        client: Client of the tracking store.
        experiment_id: The experiment to look in.
        key: The job's run key.
        fingerprint: The job's data fingerprint.
        rerun: Train a new run even if one finished (still never beside a live one).
        stale_after_s: Heartbeat age after which another host's run counts as dead.

    Returns:
        The :class:`Plan`.
    """
    runs = runs_of_key(client, experiment_id, key)
    same_data = [r for r in runs if r.data.tags.get(Tag.DATA_FINGERPRINT) == fingerprint]
    for run in same_data:
        if run.info.status == "RUNNING" and owner_alive(run, stale_after_s):
            return Plan(
                Outcome.ELSEWHERE, run, f"running as run {run.info.run_id} ({owner_text(run)})"
            )
    if rerun:
        return Plan(Outcome.TRAINED, reason="rerun=true")
    if same_data:
        return _plan_existing(client, same_data[0], stale_after_s)
    if runs:
        old = runs[0]
        return Plan(
            Outcome.TRAINED,
            reason=f"the data changed since run {old.info.run_id} (data_fingerprint "
            f"{old.data.tags.get(Tag.DATA_FINGERPRINT)} -> {fingerprint}): a new run",
            previous_run_id=old.info.run_id,
        )
    return Plan(Outcome.TRAINED)


def _plan_existing(client: MlflowClient, run: Run, stale_after_s: float) -> Plan:
    """The plan for the newest run of the key on the same data (its owner is not alive)."""
    status, run_id = run.info.status, run.info.run_id
    if status == "FINISHED" and Tag.PRUNED_AT in run.data.tags:  # never resumed nor retrained
        epoch = run.data.tags[Tag.PRUNED_AT]
        return Plan(Outcome.PRUNED, run, f"run {run_id} pruned after epoch {epoch}")
    if status == "FINISHED":
        return Plan(Outcome.SKIPPED, run, f"finished run {run_id}")
    error = run.data.tags.get(Tag.ERROR, "")
    if status == "FAILED" and error.startswith(DIVERGED_PREFIX):
        again = "not trained again (it would diverge again; rerun=true trains it again)"
        reason = f"{error} in run {run_id}: {again}"
        return Plan(Outcome.FAILED, run, reason)
    if status == "RUNNING":
        reap_run(client, run, "its owner died")
    return Plan(Outcome.RESUMED, run, f"{status.lower()} run {run_id}")


@contextmanager
def key_lock(path: Path) -> Iterator[str | None]:
    """Hold the lock of a run key on this host while the block runs, if no one else does.

    An exclusive ``flock`` on ``path`` (``checkpoints/<key>.lock``, beside the key's
    checkpoint folder), taken without waiting; the holder writes its host and pid into the
    file for the others to name. The kernel releases it when its holder ends, even by
    SIGKILL, so a dead job never leaves a stale lock (MLflow, which has no compare-and-set,
    cannot give this: two jobs looking a key up at once both find no run).

    Args:
        path: The lock file, created with its folder if needed and removed by its holder
            when the block ends (so that finished keys leave nothing behind). A process that
            locked the file just as its holder removed it sees that the path no longer names
            its file, and tries the new one: only the file at ``path`` counts.

    Yields:
        None when this process holds the lock; else who holds it (``host vm, pid 4242``).

    Raises:
        augsweep.errors.DiskFull: The lock file cannot be created on a full disk.
    """
    handle, holder = _lock_file(path)
    if handle is None:
        yield holder
        return
    with handle:
        try:
            try:
                handle.truncate(0)
                handle.write(f"host {socket.gethostname()}, pid {os.getpid()}")
                handle.flush()
            except OSError:  # a full disk: the lock holds all the same, only unnamed
                pass
            yield None
        finally:
            path.unlink(missing_ok=True)  # while still held: see _lock_file
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_file(path: Path):
    """``(open file, None)`` once this process holds the lock of the file at ``path``, or
    ``(None, holder)`` when another process does."""
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+")  # noqa: SIM115 - the caller closes it
        except OSError as error:
            if no_space(error):
                raise DiskFull(path) from error
            raise
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            return None, holder
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(handle.fileno()).st_ino:
            return handle, None
        handle.close()  # its holder removed it as it let go: lock the file now at the path


def runs_of_key(client: MlflowClient, experiment_id: str, key: str) -> list[Run]:
    """The runs tagged with run key ``key``, newest first."""
    return client.search_runs(
        [experiment_id],
        filter_string=f"tags.{Tag.RUN_KEY} = '{key}'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )


def owner_alive(run: Run, stale_after_s: float, now: float | None = None) -> bool:
    """Whether the process that owns a RUNNING run still lives.

    Another attempt of this process's own SLURM job (requeued after a time limit or a
    preemption, maybe onto another node) or Ray task (rerun after its node died) is over:
    the scheduler runs one attempt of a job at a time.
    Otherwise, same host and boot: its pid exists; other hosts: its heartbeat (or, without
    one, its start) is younger than ``stale_after_s``.
    """
    tags = run.data.tags
    if earlier_attempt(tags.get(Tag.ATTEMPT, ""), attempt()):
        return False
    boot, _, pid = tags.get(Tag.OWNER, "").rpartition(":")
    if tags.get(Tag.HOST) == socket.gethostname() and pid.isdigit():
        return boot == boot_id() and pid_alive(int(pid))
    beat = float(tags.get(Tag.HEARTBEAT) or run.info.start_time / 1000)
    return (now or time.time()) - beat < stale_after_s


def earlier_attempt(owner: str, mine: str) -> bool:
    """Whether ``owner`` is another attempt of this process's own scheduler job (then over).

    Args:
        owner: The run owner's attempt (tag ``augsweep.attempt``, ``JOB/ATTEMPT``), maybe
            empty.
        mine: This process's attempt (:func:`~augsweep.tracking.store.attempt`).
    """
    job, _, tried = owner.rpartition("/")
    my_job, _, my_try = mine.rpartition("/")
    return bool(job) and job == my_job and tried != my_try


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def owner_text(run: Run) -> str:
    """``host gpu1, pid 4242, alive 12 s ago``, for messages."""
    tags = run.data.tags
    pid = tags.get(Tag.OWNER, "").rpartition(":")[2] or "?"
    beat = tags.get(Tag.HEARTBEAT)
    ago = f", alive {time.time() - float(beat):.0f} s ago" if beat else ""
    return f"host {tags.get(Tag.HOST, '?')}, pid {pid}{ago}"


def reap_run(client: MlflowClient, run: Run, why: str) -> None:
    """Close a RUNNING run whose owner died as KILLED, tagged with when and why."""
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    run_id = run.info.run_id
    client.set_tag(run_id, Tag.REAPED, f"{stamp}: {why} ({owner_text(run)})")
    client.set_tag(run_id, Tag.ERROR, f"reaped: {why}")
    client.set_terminated(run_id, "KILLED")


def reap(
    client: MlflowClient, experiment_ids: Sequence[str], stale_after_s: float = 900
) -> list[Run]:
    """Close every RUNNING run of the experiments whose owner died, as KILLED.

    Args:
        client: Client of the tracking store.
        experiment_ids: Where to look.
        stale_after_s: Heartbeat age after which another host's run counts as dead.

    Returns:
        The runs reaped.
    """
    running = client.search_runs(
        list(experiment_ids), filter_string="attributes.status = 'RUNNING'", max_results=5000
    )
    dead = [run for run in running if not owner_alive(run, stale_after_s)]
    for run in dead:
        reap_run(client, run, "its process died")
    return dead


@dataclass(frozen=True)
class ReapedJob:
    """A job record that a dead sweep left ``started``, now ``killed``.

    Attributes:
        parent: The sweep's parent run (as it was before the correction).
        num: The job's number (0-based).
        record: The corrected record.
    """

    parent: Run
    num: int
    record: dict

    def __str__(self) -> str:
        sweep = self.parent.data.tags.get(Tag.SWEEP_ID, self.parent.info.run_id)
        return (f"job {self.num + 1} {self.record.get('name', '')} of sweep {sweep}: left "
                f"started by a dead process ({owner_text(self.parent)}), now killed")  # fmt: skip


def reap_jobs(
    client: MlflowClient, experiment_ids: Sequence[str], stale_after_s: float = 900
) -> list[ReapedJob]:
    """Mark as ``killed`` the job records left ``started`` on sweep parent runs whose owner
    died (a sweep SIGKILLed mid-job never records its job's end); a live sweep's are left.

    Args:
        client: Client of the tracking store.
        experiment_ids: Where to look.
        stale_after_s: Heartbeat age after which another host's run counts as dead.

    Returns:
        The records corrected.
    """
    parents = client.search_runs(
        list(experiment_ids), filter_string=f"tags.`{Tag.ROLE}` = 'sweep'", max_results=5000
    )
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    corrected = []
    for parent in parents:
        if parent.info.status == "RUNNING" and owner_alive(parent, stale_after_s):
            continue
        for num, record in _started_records(parent):
            record = {**record, "outcome": Outcome.KILLED,
                      "error": f"its process died mid-job (reaped {stamp})"}  # fmt: skip
            client.set_tag(parent.info.run_id, f"{Tag.JOB_RECORD}{num}", json.dumps(record))
            corrected.append(ReapedJob(parent, num, record))
    return corrected


def _started_records(parent: Run) -> list[tuple[int, dict]]:
    """The job records of a sweep's parent run that say ``started``, by job number."""
    records = job_records(parent.data.tags)
    return [(num, records[num]) for num in sorted(records)
            if records[num].get("outcome") == Outcome.STARTED]  # fmt: skip
