"""The MLflow store: its URI, experiments, and the run lifecycle.

Runs always end FINISHED, FAILED or KILLED (see :func:`tracked_run`), never RUNNING. What a
run logs while it lives is :mod:`augsweep.tracking.artifacts`.
"""

from __future__ import annotations

import fcntl
import functools
import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from augsweep import interrupts
from augsweep.errors import EXIT_CONFIG_ERROR, InputError, first_line
from augsweep.paths import launch_dir
from augsweep.tracking import spool
from augsweep.tracking import uri as uris
from augsweep.tracking.tags import Tag

# The experiment kind whose page is the runs list ("Training runs"); without the tag the UI
# (3.17) opens an experiment on its GenAI overview. The values are the UI's own (its bundle's
# experiment kinds): MLflow's Python package has no constant for them.
TRAINING_RUNS = "custom_model_development"


def resolve_uri(uri: str, base_dir: Path | None = None) -> str:
    """Make a ``sqlite:///`` URI absolute (against ``base_dir``) and create its folder.

    Other URIs (``http://...``) are returned unchanged. File stores are refused, since
    MLflow 3 no longer supports them.

    Args:
        uri: An MLflow tracking URI.
        base_dir: What relative SQLite paths are relative to; default :func:`launch_dir`.

    Returns:
        The absolute URI.

    Raises:
        ValueError: For a file-store URI or a plain path.
    """
    if uris.is_sqlite(uri):
        path = uris.sqlite_file(uri)
        if not path.is_absolute():
            path = (base_dir or launch_dir()) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return uris.sqlite_uri(path.resolve())
    if uris.is_http(uri) or uri.startswith("databricks"):
        return uri
    raise ValueError(
        f"tracking.uri={uri!r} is not supported: use sqlite:///PATH/mlflow.db "
        "(relative to the launch directory or absolute) or http(s)://HOST:PORT of an "
        "`mlflow server`"
    )


def artifact_root(uri: str) -> str | None:
    """Artifact location for new experiments: ``artifacts/`` beside a SQLite database."""
    if uris.is_sqlite(uri):
        return uris.sqlite_file(uri).parent.joinpath("artifacts").as_uri()
    return None


def connect(uri: str) -> MlflowClient:
    """Point MLflow at ``uri`` (already resolved) and return a client for it.

    The client opens the store at once; a new SQLite store is created and migrated then,
    under :func:`store_lock`, so that any number of processes may open it at the same time.
    """
    mlflow.set_tracking_uri(uri)
    with store_lock(uri):
        return MlflowClient(tracking_uri=uri)


class ArtifactsOutOfReach(InputError):
    """The experiment keeps its artifacts where this store cannot write them."""

    exit_code = EXIT_CONFIG_ERROR


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """Return the id of experiment ``name``, creating (or restoring) it if needed.

    Under :func:`store_lock`: two processes that both find no experiment would otherwise
    both create it.

    Raises:
        ArtifactsOutOfReach: The experiment was created through a tracking server, which
            serves its artifacts (``mlflow-artifacts:/``), and ``client`` is not one: a run
            would train, then fail to log its files.
    """
    with store_lock(client.tracking_uri):
        return _ensure_experiment(client, name)


def _check_artifacts_reachable(client: MlflowClient, experiment) -> None:
    """An existing experiment's artifacts can be written through ``client``."""
    location = experiment.artifact_location or ""
    if location.startswith("mlflow-artifacts:") and not uris.is_http(client.tracking_uri):
        raise ArtifactsOutOfReach(
            f"experiment {experiment.name!r} was created through a tracking server, which keeps "
            f"its artifacts ({location}): log to it with tracking=server (`make server`), or "
            "choose another tracking.experiment for local runs"
        )


def _ensure_experiment(client: MlflowClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(
                name,
                artifact_location=artifact_root(client.tracking_uri),
                tags={Tag.EXPERIMENT_KIND: TRAINING_RUNS},
            )
        except MlflowException:  # another process created it first
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    _check_artifacts_reachable(client, experiment)  # a new one's: beside the store (ours)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    if Tag.EXPERIMENT_KIND not in experiment.tags:  # made before augsweep set it
        client.set_experiment_tag(experiment.experiment_id, Tag.EXPERIMENT_KIND, TRAINING_RUNS)
    return experiment.experiment_id


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<db>.lock`` beside a SQLite store (nothing for others).

    MLflow 3.17's tracking store creates and migrates a new database in the first process
    that opens it, with no lock (``SqlAlchemyStore.__init__``; only its jobs and workspace
    stores take one): processes starting together on a new database race in the migration
    (``table _alembic_tmp_latest_metrics already exists``) and in creating the default
    experiment, and may leave the database half-migrated for good. The kernel releases a
    ``flock`` when its holder dies, even by SIGKILL, so a killed process leaves no stale lock.

    Once a store exists, concurrent writes need no lock of ours: every MLflow session on
    SQLite sets ``PRAGMA busy_timeout = 20000`` (``mlflow.store.db.utils``; 3.17 has no
    setting for it, and ``MLFLOW_SQLALCHEMYSTORE_*`` only size the connection pool), so a
    writer waits up to 20 s for the database instead of failing with "database is locked";
    augsweep's writes are short (one ``log_batch`` per epoch), far below that.

    Args:
        uri: A resolved tracking URI.
    """
    if not uris.is_sqlite(uri):
        yield
        return
    path = Path(f"{uris.sqlite_file(uri)}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def tracked_run(
    client: MlflowClient,
    experiment_id: str,
    run_name: str,
    tags: Mapping[str, str],
    parent_run_id: str | None = None,
    run_id: str | None = None,
    reconnect_wait_s: float = 0.0,
) -> Iterator[tuple[mlflow.ActiveRun, spool.Outbox]]:
    """Start a run (or reopen ``run_id``) and end it with the status it earned.

    The run ends FINISHED if the block completes, KILLED on Ctrl-C or SIGTERM (a second
    one while it ends is ignored: :mod:`augsweep.interrupts`), and FAILED
    on any other exception, with the error's first line in tag ``error``. The exception is
    re-raised. The run is tagged with its owner (host, process) and a heartbeat, so that a
    relaunch can tell a live run from one whose process died.

    What the run logs per epoch, and its end, go through its outbox
    (:class:`~augsweep.tracking.spool.Outbox`), which keeps them on disk while a tracking
    server is away.

    Args:
        client: Client of the tracking store.
        experiment_id: Experiment to log into.
        run_name: Display name of a new run.
        tags: Tags set when the run is created or reopened.
        parent_run_id: Nests a new run under this one (a sweep's parent run).
        run_id: Reopen this run (a resumed one) instead of creating one; its ``error``
            tag is removed.
        reconnect_wait_s: How long the run's end waits for a server that went away
            (``tracking.reconnect_wait_s``).

    Yields:
        The active run and its outbox.
    """
    all_tags = {**tags, **owner_tags()}
    if run_id is None:
        all_tags = {**source_tags(), **all_tags}
        if parent_run_id:
            all_tags[Tag.PARENT] = parent_run_id
        run_id = client.create_run(experiment_id, run_name=run_name, tags=all_tags).info.run_id
    else:
        if Tag.ERROR in client.get_run(run_id).data.tags:
            client.delete_tag(run_id, Tag.ERROR)
        for key, value in all_tags.items():
            client.set_tag(run_id, key, value)
    # An explicit run_id keeps a stray MLFLOW_RUN_ID in the environment from taking over.
    run = mlflow.start_run(run_id=run_id)
    outbox = spool.Outbox(client, run_id, reconnect_wait_s)
    # The handlers cover the run's end too: a second Ctrl-C must not cut it short.
    with interrupts.handled():
        try:
            yield run, outbox
        except KeyboardInterrupt:
            _end_run(outbox, RunStatus.KILLED, "KeyboardInterrupt: run interrupted")
            raise
        except BaseException as error:
            _end_run(outbox, RunStatus.FAILED, first_line(error))
            raise
        else:
            _end_run(outbox, RunStatus.FINISHED)


@functools.cache
def source_tags() -> dict[str, str]:
    """The tags MLflow's fluent ``start_run`` gives a new run, for runs created with
    ``MlflowClient.create_run`` (which sets none): ``mlflow.user``, ``mlflow.source.name``
    (the script), ``mlflow.source.type``, and the ``mlflow.source.git.*`` of its repository.

    They come from MLflow's own run-context registry (``resolve_tags``, what ``start_run``
    calls; also the documented plug-in point of ``mlflow.run_context_provider``), so they
    read as the UI expects (its "Source" and "Created by" columns). Once per process: the
    git lookup costs tens of milliseconds.
    """
    from mlflow.tracking.context.registry import resolve_tags

    return {key: str(value) for key, value in resolve_tags().items()}


def owner_tags() -> dict[str, str]:
    """Tags naming this process as a run's owner, with a fresh heartbeat; under SLURM or Ray,
    its job and attempt too (:func:`attempt`)."""
    tags = {
        Tag.HOST: socket.gethostname(),
        Tag.OWNER: f"{boot_id()}:{os.getpid()}",
        Tag.HEARTBEAT: str(int(time.time())),
    }
    mine = attempt()
    if mine:
        tags[Tag.ATTEMPT] = mine
    return tags


RAY_TASK_ENV = "AUGSWEEP_RAY_TASK"  # set by hydra/launcher=ray in its task: the Ray task id


def attempt() -> str:
    """``JOB/ATTEMPT`` where a scheduler may run this job again (empty elsewhere).

    Inside a SLURM job ``slurm:812_3/0``: task 3 of job array 812 (as ``scancel`` and
    ``squeue`` name it), first attempt (a requeued job keeps its id and counts
    ``SLURM_RESTART_COUNT`` up). In a Ray task (``hydra/launcher=ray``)
    ``ray:<task id>/<host>:<pid>``: Ray reruns a task whose node died under the same id.
    """
    env = os.environ
    job = env.get("SLURM_JOB_ID", "")
    if job:
        if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
            job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
        return f"slurm:{job}/{env.get('SLURM_RESTART_COUNT') or 0}"
    if env.get(RAY_TASK_ENV):
        return f"ray:{env[RAY_TASK_ENV]}/{socket.gethostname()}:{os.getpid()}"
    return ""


def boot_id() -> str:
    """This machine's boot id (Linux), so that a pid from before a reboot is not mistaken
    for a live process; empty where the system has none."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _end_run(outbox: spool.Outbox, status: int, error: str | None = None) -> None:
    """End the active run with ``status``, tagging the error if there is one, through the
    run's outbox (kept in the spool while its server is away)."""
    spool.end_active_run(outbox, RunStatus.to_string(status), error)
