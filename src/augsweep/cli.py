"""The command line's job: check the config, name the run, hand over to :func:`augsweep.run.train`,
say what became of it.

A bad config is refused here, before TensorFlow is imported and before any MLflow run
exists: one message naming each bad value and what is allowed, no traceback.

Exit codes, the same for a single run and a sweep (a sweep exits with its worst job's):

- 0: every run finished, or was skipped because it had finished before;
- 1: a run failed (a diverged loss, also one that diverged in an earlier launch, which a
  relaunch does not train again; a full disk, an error in training), its tracking store
  cannot be used (a server that does not answer, a SQLite path that cannot be written or
  holds no SQLite database, an artifacts folder that cannot be written: checked first,
  nothing created), or Hydra refused the command line (an unknown key or option);
- 2: input the user can fix, refused before any run exists: a value refused by augsweep's
  checks, a ``tracking.uri`` of another kind, a folder dataset that cannot be used, a layer
  spec that cannot be built (single run; in a sweep that job fails: 1);
- 130: interrupted (Ctrl-C, SIGTERM): the run ends KILLED, the jobs not yet started are
  listed as such, and a relaunch resumes them. No traceback.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from augsweep import console, interrupts, metrics
from augsweep.backend import select as select_backend
from augsweep.config.checks import is_option, validate
from augsweep.config.run_key import EXCLUDED
from augsweep.config.schema import FolderConfig
from augsweep.data.preflight import check_layout
from augsweep.errors import first_line, is_input_error, unwrap
from augsweep.outcomes import Outcome
from augsweep.overrides import is_under, run_label
from augsweep.paths import resolve_path
from augsweep.resources import gpu_slot
from augsweep.tracking.sweep import SweepInfo, record_job, sweep_progress
from augsweep.tracking.sync import prepare_store
from augsweep.tracking.uri import is_http
from augsweep.worker import frozen_imports, start_clean

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def run_job(cfg: DictConfig) -> float:
    """Check the config, then train (or skip, or resume) the job's run.

    In a sweep, the run is nested under the sweep's parent run and named after the job's
    values of the swept keys (``augment=flip``); otherwise after the command line's
    overrides, or ``defaults``. One line says when the job starts and one what became of
    it (``job 3/9 flip,seed=1: trained in 41 s``).

    Returns:
        The run's best validation accuracy (for sweepers that optimise); NaN when a live
        process trains it elsewhere.

    Raises:
        SystemExit: A single run's failure, with the exit codes above; any job's
            interruption (130). A failed job of a sweep raises nothing: it is recorded
            and the sweep goes on, then exits 1 (:class:`~augsweep.tracking.sweep.SweepTracker`).
    """
    if interrupts.stopping():  # a signal came during the last job: this one does not start
        raise SystemExit(EXIT_INTERRUPTED)
    start_clean()  # this process may have run another job (basic launcher, loky workers)
    console.quiet_library_lines()  # MLflow's "Creating initial MLflow database tables"
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    if not multirun:  # SIGTERM from here on (TensorFlow still importing too): exit 130
        interrupts.install()  # (a sweep's launching process installs it at its start)
    sweep = SweepInfo.read(Path(hydra_cfg.sweep.dir).absolute()) if multirun else None
    overrides = list(hydra_cfg.overrides.task)
    job = Job(
        sweep, hydra_cfg.job.num if sweep else None, overrides, run_name(overrides, sweep, cfg)
    )
    try:
        validate(cfg)
        # Keras's backend, before Keras loads (a process that loaded another one: refused)
        select_backend(cfg.trainer.keras_backend, cfg.resources.jobs_per_gpu)
        check_folder_layout(cfg.dataset)  # before TensorFlow: a folder without 2 classes
        # An unusable store: one message, exit 1 (or 2); in a sweep, its server is waited for.
        prepare_store(cfg.tracking.uri, **_store_wait(cfg, sweep, job))
        job.start()
        result = _train_in_slot(cfg, sweep, job)
    except KeyboardInterrupt as stop:
        job.end(Outcome.KILLED, error=interrupts.reason(stop))
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception as error:
        if not multirun and is_input_error(error):
            _refuse(error)  # one line, its exit code: the job line would repeat it
        job.failed(error)
        if not multirun:
            raise  # Hydra's report, with the traceback
        # The sweep goes on; it exits 1 at its end (SweepTracker). A traceback is logged
        # only for what is not an error of the input.
        log.error("%s", error, exc_info=None if is_input_error(error) else error)
        return math.nan
    job.end(result.outcome, run_id=result.run_id, detail=result.detail,
            seconds=result.seconds, summary=result.summary)  # fmt: skip
    if sweep is None and result.run_id:
        print(_where_to_look(cfg, result.run_id))
    return result.summary.get(metrics.BEST_VAL_ACCURACY, math.nan)


def check_folder_layout(dataset: DictConfig) -> None:
    """A folder dataset's layout (:func:`augsweep.data.preflight.check_layout`: empty, one
    class, no image files), told without TensorFlow; the images are decoded in the run."""
    if is_option(dataset, FolderConfig):
        check_layout(resolve_path(dataset.path), skip_bad=dataset.on_bad_file == "skip")


def _store_wait(cfg: DictConfig, sweep: SweepInfo | None, job: Job) -> dict:
    """How a job's start waits for a tracking server that does not answer: in a sweep whose
    start reached that server, as a running job does (``tracking.reconnect_wait_s``), saying
    so; otherwise not at all (a server never reached: a mistyped URI fails at once)."""
    uri = cfg.tracking.uri
    if sweep is None or not is_http(uri) or uri.rstrip("/") != sweep.tracking_uri.rstrip("/"):
        return {}

    def waiting(text: str) -> None:
        print(f"{job.label}: {text}", flush=True)

    return {"wait_s": cfg.tracking.reconnect_wait_s, "on_wait": waiting}


def _where_to_look(cfg: DictConfig, run_id: str) -> str:
    """How to open the UI on the store the run went to, and the run's page."""
    from augsweep.tracking import store  # MLflow is loaded by now
    from augsweep.tracking.ui import where_to_look

    uri = store.resolve_uri(cfg.tracking.uri)
    experiment_id = store.connect(uri).get_run(run_id).info.experiment_id
    return where_to_look(uri, experiment_id, run_id)


def _train_in_slot(cfg: DictConfig, sweep: SweepInfo | None, job: Job):
    """Train in a GPU slot of this machine's pool, if it has one (:mod:`augsweep.resources`).

    The slot is claimed, and ``CUDA_VISIBLE_DEVICES`` set to its GPU, before
    :mod:`augsweep.run` imports TensorFlow; it is released when the job ends, also when the
    process goes on to run another job (a reused loky worker).
    """

    def waiting(message: str) -> None:
        print(f"{job.label}: {message}", flush=True)

    with gpu_slot(cfg.resources, on_wait=waiting) as slot:
        console.quiet_native_logs()  # TensorFlow's start-up chatter, at import and after
        with frozen_imports():  # TensorFlow: only once the config is good
            from augsweep.run import train_checked

        # validated above (run_job), before TensorFlow was imported
        return train_checked(cfg, sweep=sweep, run_name=job.name, job=job.num,
                             extra_tags=slot.tags, label=job.label)  # fmt: skip


def _refuse(error: Exception) -> None:
    """A single run's error of the input: its message on one line (no traceback) and its
    exit code."""
    error = unwrap(error)
    print(f"augsweep: {error}", file=sys.stderr)
    raise SystemExit(error.exit_code) from None


class Job:
    """One job's progress lines, and its record on the sweep's parent run.

    Args:
        sweep: The sweep, or None for a single run.
        num: The job's number in the sweep (0-based).
        overrides: The job's overrides.
    """

    def __init__(self, sweep: SweepInfo | None, num: int | None, overrides: list[str], name: str):
        self.sweep = sweep
        self.num = num
        self.overrides = overrides
        self.name = name
        self.started = time.monotonic()

    @property
    def label(self) -> str:
        if self.sweep is None:
            return f"run {self.name}"
        total = len(self.sweep.jobs) or "?"
        return f"job {self.num + 1}/{total} {self.name}"

    def start(self) -> None:
        self.started = time.monotonic()
        print(f"{self.label}: started", flush=True)
        self._record(outcome=Outcome.STARTED)

    def failed(self, error: BaseException) -> None:
        run_id = getattr(unwrap(error), "run_id", None)  # a run that failed before this job
        self.end(Outcome.FAILED, error=first_line(error), **({"run_id": run_id} if run_id else {}))

    def end(self, outcome: Outcome, **fields) -> None:
        """Say and record what became of the job.

        Args:
            outcome: What became of it.
            **fields: ``run_id``, ``detail``, ``error``, ``seconds``, ``summary``.
        """
        summary = fields.pop("summary", None) or {}
        fields.setdefault("seconds", time.monotonic() - self.started)
        line = f"{self.label}: {describe(outcome, fields, summary)}"
        # Recorded first: a sweep whose output is gone (its scheduled launcher was killed)
        # fails to print, and its record must not stay `started`.
        self._record(outcome=outcome, **fields)
        print(line, flush=True)
        if self.sweep is not None and outcome is not Outcome.KILLED:
            progress = sweep_progress(self.sweep)  # read back: jobs of other processes too
            if progress:
                print(progress, flush=True)

    def _record(self, **fields) -> None:
        if self.sweep is not None:
            seconds = fields.get("seconds")
            if seconds is not None:
                fields["seconds"] = round(seconds, 1)
            record = {"name": self.name, "overrides": self.overrides, **fields}
            record_job(self.sweep, self.num, record)


def describe(outcome: Outcome, fields: dict, summary: dict) -> str:
    """``trained in 41 s (best val accuracy 0.8911, test accuracy 0.8750, final gap
    0.0833)``, ``skipped (finished run ...)``, ..."""
    seconds = f"{fields['seconds']:.0f} s"
    result = ""
    if "best_val_accuracy" in summary:
        result = f" (best val accuracy {summary['best_val_accuracy']:.4f}, "
        if "test_accuracy" in summary:  # runs logged before the test split have none
            result += f"test accuracy {summary['test_accuracy']:.4f}, "
        result += f"final gap {summary.get('final_gap', math.nan):.4f})"
    detail = fields.get("detail", "")
    done = {
        Outcome.TRAINED: f"trained in {seconds}{result}",
        Outcome.RESUMED: f"resumed {detail}, done in {seconds}{result}",
        Outcome.SKIPPED: f"skipped ({detail}){result}",
        Outcome.ELSEWHERE: f"skipped: {detail}",
        Outcome.PRUNED: f"pruned {detail} in {seconds}",
    }
    return done.get(outcome) or f"{outcome} after {seconds}: {fields.get('error', '')}"


def run_name(overrides: list[str], sweep: SweepInfo | None, cfg: DictConfig) -> str:
    """A run's name: its policy, then the job's swept overrides in a sweep, else its overrides
    of the experiment (not where it is logged or run: :data:`~augsweep.config.run_key.EXCLUDED`);
    a search's job: its policy (``flip+rotation(0.12)``), and its seed in the confirmation.
    """
    if sweep and cfg.search.role:
        seed = f",seed={cfg.seed}" if cfg.search.role == "confirm" else ""
        return f"{cfg.augment.name}{seed}"
    if sweep:
        shown = sweep.swept_overrides(overrides)
    else:
        shown = [o for o in overrides if not any(is_under(o, key) for key in EXCLUDED)]
    return run_label(overrides, shown, policy=cfg.augment.name)
