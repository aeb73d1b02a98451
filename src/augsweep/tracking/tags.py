"""The names of the MLflow tags augsweep sets and reads, spelled here only, and the job
records a sweep's parent run holds under them (:func:`job_records`).

No MLflow import: the command line and Hydra's callbacks read these before anything heavy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping


class Tag:
    """The names of the MLflow tags augsweep sets and reads, spelled here only."""

    AUGMENT = "augment"  # the policy's name
    PLACEMENT = "augment_placement"
    BACKEND = "augment_backend"
    DATASET = "dataset"
    MODEL = "model"
    DATA_FINGERPRINT = "data_fingerprint"
    CLASSES = "classes"  # the class names, comma-separated
    ERROR = "error"  # first line of the error of a FAILED or KILLED run
    SWEEP_ID = "sweep_id"  # on a sweep's parent run and on each of its jobs' runs
    # On a job's run: every sweep it belongs to, comma-separated: the sweep that trained it
    # and each one that reused it (a relaunch or another sweep whose job it was, skipped as
    # done). A run has one MLflow parent; the UI finds a sweep's runs with
    # tags.`augsweep.sweeps` LIKE '%<sweep_id>%'.
    SWEEPS = "augsweep.sweeps"
    NOTE = "mlflow.note.content"  # MLflow's own: a run's description (Markdown, its overview)
    ROLE = "augsweep.role"  # "sweep" on a sweep's parent run
    SWEEP_DIR = "sweep_dir"
    SWEEP_OVERRIDES = "sweep_overrides"
    REPORT_BASELINE = "augsweep.report_baseline"  # on a sweep's parent: report.baseline
    PARENT = "mlflow.parentRunId"  # MLflow's own: nests a run under another
    # MLflow's own, on an experiment: which page the UI opens it on (store.TRAINING_RUNS)
    EXPERIMENT_KIND = "mlflow.experimentKind"
    # Run identity and relaunching (augsweep.tracking.relaunch):
    RUN_KEY = "run_key"  # hash of the config that decides the result (config/run_key.py)
    SWEEP_KEY = "sweep_key"  # on a sweep's parent run: hash of the sweep's command
    JOB = "augsweep.job"  # a job's run: its number in the sweep
    JOB_RECORD = "augsweep.job."  # prefix, on the parent: one JSON record per job number
    JOBS_PLANNED = "augsweep.jobs_planned"  # on the parent: how many jobs the sweep planned
    HOST = "augsweep.host"  # who owns a RUNNING run: host name,
    OWNER = "augsweep.owner"  # boot id and pid of the process,
    HEARTBEAT = "augsweep.heartbeat"  # and the Unix time it last showed life (every epoch)
    # Under a scheduler that reruns jobs, the owner's job and attempt: "slurm:812_3/0" (job
    # array 812, task 3, first attempt), "ray:<task id>/<host>:<pid>" (a Ray task's attempt).
    ATTEMPT = "augsweep.attempt"
    REAPED = "augsweep.reaped"  # set when a dead owner's run was closed as KILLED
    RESUMED = "augsweep.resumed"  # epochs done when the run was last resumed
    PREVIOUS_RUN = "augsweep.previous_run"  # a run of the same config on other data
    # A search (hydra/sweeper=search): on a trial's or a confirmation's run
    PRUNED_AT = "augsweep.pruned_at_epoch"  # a pruned trial: the epoch it stopped after
    SEARCH_TRIAL = "augsweep.search.trial"  # a trial's number in its study
    SEARCH_STUDY = "augsweep.search.study"  # the study (also on the search's parent run)
    SEARCH_ROLE = "augsweep.search.role"  # "trial" or "confirm"
    SEARCH_STORAGE = "augsweep.search.storage"  # on the search's parent: the study's storage
    # How the run computed (augsweep.compute):
    JIT_COMPILE = "augsweep.jit_compile"  # "on: ..." or "off: ..." and why
    COMPUTE_DTYPE = "augsweep.compute_dtype"  # the body's compute dtype: float32 or float16
    KERAS_BACKEND = "augsweep.keras_backend"  # trainer.keras_backend: tensorflow or jax
    FEATURE_CACHE = "augsweep.feature_cache"  # "on: N splits computed, M read" or "off: why"


def job_records(tags: Mapping[str, str]) -> dict[int, dict]:
    """The job records of a sweep's parent run (its ``augsweep.job.<num>`` tags, JSON), by
    job number."""
    records = {}
    for name, value in tags.items():
        num = name.removeprefix(Tag.JOB_RECORD)
        if name.startswith(Tag.JOB_RECORD) and num.isdigit():
            records[int(num)] = json.loads(value)
    return records
