"""A job's clean start in a process that may have run another job before it.

Hydra's basic launcher runs every job of a sweep in one process, and joblib's launcher runs
them in loky worker processes that it reuses from job to job: what a job leaves behind in
its process meets the next one. Keras's state is reset by :func:`augsweep.run.train`
(``clear_session`` and the seeds), the GPU slot by :mod:`augsweep.resources`; what is left
is reset here, before anything else of the job. Light: no TensorFlow, no MLflow import.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

PARENT_POLL_S = 0.5  # how often a launcher's worker looks for its parent
PARENT_GONE_GRACE_S = 20.0  # then how long its job has to end its run KILLED before it exits


def start_clean() -> None:
    """Forget what an earlier job of this process may have left.

    - ``MLFLOW_RUN_ID`` in the environment would make MLflow reopen that run instead of
      starting the job's (mlflow issue 15713);
    - an MLflow run still active (a job that died between starting and ending its run)
      would make the job's ``start_run`` fail; it is ended KILLED, so that a relaunch
      resumes it, rather than FINISHED as MLflow's default would say.

    SIGTERM needs nothing: :func:`augsweep.tracking.store.tracked_run` turns it into
    KeyboardInterrupt only while a run is open, and restores the process's handler after.
    """
    os.environ.pop("MLFLOW_RUN_ID", None)
    mlflow = sys.modules.get("mlflow")  # not imported yet: no run can be active
    if mlflow is None:
        return
    stale = mlflow.active_run()
    if stale is not None:
        log.warning("ending run %s, left active by an earlier job of this process: KILLED",
                    stale.info.run_id)  # fmt: skip
        mlflow.end_run("KILLED")


@contextmanager
def frozen_imports() -> Iterator[None]:
    """Run a block of imports without garbage collection; if it imported anything, then put
    every object alive out of the collector's reach.

    Nearly all of a job's process's objects (some 600,000: TensorFlow, Keras, MLflow, Hydra)
    are made by its imports and live as long as the process. Python walks all of them at
    each full collection: during the imports (about 1.4 s of TensorFlow's and augsweep's 4 s
    on a 2-core CPU), at ``keras.utils.clear_session`` at every job's start (0.4 s), and now
    and then while a model trains. Frozen (``gc.freeze``), they are skipped; what the jobs
    make is still collected. Use it only where no job's objects live yet (a job's start,
    before its run; a sweep's start): a block that imports nothing new (the next job of a
    process) freezes nothing.
    """
    modules = len(sys.modules)
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) > modules:
            gc.freeze()
        if enabled:
            gc.enable()


def end_with_parent(parent_pid: int) -> None:
    """End this worker process soon after ``parent_pid``, the sweep's process, dies.

    A launcher's worker (a loky process of the joblib launcher) outlives a sweep whose main
    process was killed (``kill -9``): it trains on, holding its memory and GPU, and nobody
    reads its result. Here a daemon thread looks every ``PARENT_POLL_S`` for its parent
    (polling ``os.getppid()``: it changes when the parent dies, on every POSIX system;
    Linux's ``PR_SET_PDEATHSIG`` would fire when the parent's *thread* that started the
    worker ends, which a pool's manager thread may do). Once the parent is gone it sends
    the process SIGTERM: the running job's run ends KILLED as on any SIGTERM
    (:func:`augsweep.tracking.store.tracked_run`), an idle worker just ends; the launcher
    ends the worker once its job has ended; one still alive ``PARENT_GONE_GRACE_S`` later
    exits.

    Args:
        parent_pid: The process whose death ends this one (the launcher's, passed down:
            by the time the thread starts it may already be gone).
    """
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="augsweep-end-with-parent", daemon=True
    ).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    log.warning("the sweep's process (pid %d) is gone: ending this worker (pid %d)",
                parent_pid, os.getpid())  # fmt: skip
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(PARENT_GONE_GRACE_S)
    os._exit(1)
