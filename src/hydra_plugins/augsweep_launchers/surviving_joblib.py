"""hydra-joblib-launcher's launcher, surviving the death of one job's process.

The plugin (1.2) runs the jobs through ``joblib.Parallel`` on one pool of loky workers. When
a worker dies mid-job (``kill -9``, the kernel's OOM killer), loky marks the whole pool
broken and SIGKILLs its other workers; joblib then aborts: the healthy jobs in flight die
too, the later ones never start, and the sweep ends with ``TerminatedWorkerError``.

This launcher takes the same options (``hydra.launcher.n_jobs`` ...) and runs the same job
function (the plugin's ``execute_job``), but on ``n_jobs`` loky executors of one worker
each instead of one pool, because loky's pool cannot lose a worker alone: a dead worker
breaks only its own executor. Its job is recorded as killed, with the signal
(:func:`augsweep.tracking.sweep.record_lost_job`), and not retried in this launch (a
relaunch resumes it from its checkpoint); a new worker takes its place for the next jobs,
and every other job runs to its end. Like the plugin's, workers are reused from job to job,
except by a job of another ``trainer.keras_backend`` (Keras loads one backend per process):
its slot's worker is replaced.

Each worker ends itself soon after the launching process dies (``kill -9`` of the sweep):
:func:`augsweep.worker.end_with_parent`, its loky initializer.

Of joblib's options only ``n_jobs`` applies (the others tune ``joblib.Parallel``'s batching
and memmapping of large arguments, which Hydra's jobs do not have); each worker gets the
thread limits joblib's loky backend gives its workers (``OMP_NUM_THREADS`` ...).

``hydra/launcher=joblib`` is this launcher (:class:`TakeJoblibsPlace`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import signal
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.search_path_plugin import SearchPathPlugin
from hydra_plugins.hydra_joblib_launcher import joblib_launcher as plugin

log = logging.getLogger(__name__)

# After an interrupt of the launching process: how long the jobs have to end by themselves
# (Ctrl-C reaches every worker too), then how long after a SIGTERM before they are killed.
STOP_GRACE_S = 10.0
TERM_GRACE_S = 20.0


class TakeJoblibsPlace(SearchPathPlugin):
    """Makes ``hydra/launcher=joblib`` this module's launcher, with the plugin's options.

    The plugin stores its options as ConfigStore's ``hydra/launcher/joblib`` when Hydra
    imports it, and Hydra imports every plugin module in an order that depends on where
    each is installed, so a store made at import could come first and be overwritten. A
    SearchPathPlugin's hook runs after every plugin is imported and before any config is
    composed: the entry is replaced there. (A ``conf/hydra/launcher/joblib.yaml`` would be
    merged with the plugin's entry by Hydra's deprecated automatic schema matching, with a
    warning on every run.)
    """

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf

        ConfigStore.instance().store(
            group="hydra/launcher",
            name="joblib",
            node=JobLibLauncherConf(_target_=f"{__name__}.JoblibLauncher"),
            provider="augsweep",
        )


class _Slot:
    """One worker process: a loky executor of one worker, made when a job needs it.

    Args:
        env: The worker's environment variables (joblib's thread limits).
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.executor = None
        self.job = None  # the future of the job it runs or ran last
        self.keras_backend = None  # the trainer.keras_backend override of its worker's jobs

    def submit(self, *args):
        """Run ``args[0](*args[1:])`` in this slot's worker (started if need be)."""
        if self.executor is None:
            from joblib.externals.loky import ProcessPoolExecutor

            from augsweep.worker import end_with_parent

            self.executor = ProcessPoolExecutor(
                max_workers=1, env=self.env, initializer=end_with_parent,
                initargs=(os.getpid(),),
            )  # fmt: skip
        self.job = self.executor.submit(*args)
        return self.job

    def busy(self) -> bool:
        return self.executor is not None and self.job is not None and not self.job.done()

    def terminate(self) -> None:
        """SIGTERM to the worker: its job ends its run KILLED."""
        # loky has no public way to signal a worker: its executor's pid -> process table.
        for pid in list(getattr(self.executor, "_processes", None) or {}):
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(pid, signal.SIGTERM)

    def kill(self) -> None:
        self.close(kill=True)

    def close(self, kill: bool = False) -> None:
        """Shut the worker down (``kill``: SIGKILL it and its children, as loky does)."""
        if self.executor is not None:
            self.executor.shutdown(wait=not kill, kill_workers=kill)
            self.executor = None


class JoblibLauncher(plugin.JoblibLauncher):
    """``hydra/launcher=joblib`` whose sweep survives the death of a job's process."""

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> list[JobReturn]:
        """Run the jobs of one batch, ``n_jobs`` at a time; return their results in order.

        Args:
            job_overrides: Each job's overrides.
            initial_job_idx: The number of the batch's first job in the sweep.

        Returns:
            Every job's ``JobReturn``; a job whose process died returns NaN, as a job that
            recorded its failure does.
        """
        from joblib._parallel_backends import LokyBackend

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        backend = LokyBackend()  # joblib's own rules for n_jobs=-1 and the thread limits
        n_jobs = min(backend.effective_n_jobs(self.joblib.get("n_jobs", -1)), len(job_overrides))
        log.info(f"Launching {len(job_overrides)} jobs, {n_jobs} at a time (loky workers), "
                 f"sweep output dir : {sweep_dir}")  # fmt: skip
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        env = backend._prepare_worker_env(n_jobs=n_jobs)
        slots = [_Slot(env) for _ in range(n_jobs)]
        try:
            results = self._run(slots, job_overrides, initial_job_idx)
        except BaseException:  # an interrupt, or a job's (joblib too stops at the first)
            try:
                _stop(slots)
            finally:
                for slot in slots:
                    slot.kill()
            raise
        for slot in slots:
            slot.close()
        return results

    def _run(self, slots: list[_Slot], job_overrides, initial_job_idx: int) -> list[JobReturn]:
        """Give each free slot the next job until every job has ended."""
        from concurrent.futures import FIRST_COMPLETED, wait

        from joblib.externals.loky.process_executor import BrokenProcessPool

        waiting = deque(enumerate(job_overrides, start=initial_job_idx))
        running: dict = {}  # future -> (slot, job number, overrides)
        results: dict[int, JobReturn] = {}
        state = Singleton.get_state()
        while waiting or running:
            for slot in [s for s in slots if s not in {v[0] for v in running.values()}]:
                if waiting:
                    idx, overrides = waiting.popleft()
                    backend = keras_backend_of(overrides)
                    if backend != slot.keras_backend:  # Keras loaded another: a new worker
                        slot.close()
                        slot.keras_backend = backend
                    future = slot.submit(_execute_job, os.getpid(), idx, overrides,
                                         self.hydra_context, self.config, self.task_function,
                                         state)  # fmt: skip
                    running[future] = (slot, idx, overrides)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                slot, idx, overrides = running.pop(future)
                try:
                    results[idx] = future.result()
                except BrokenProcessPool as error:  # its worker died: only this job is lost
                    slot.close(kill=True)
                    results[idx] = self._lost(idx, overrides, died(error))
        return [results[idx] for idx in sorted(results)]

    def _lost(self, idx: int, overrides: Sequence[str], reason: str) -> JobReturn:
        """Record a job whose process died; its result: NaN, completed (not raised: the
        sweep goes on, and exits 1 at its end for the killed job)."""
        from augsweep.tracking.sweep import SweepInfo, record_lost_job

        info = SweepInfo.read(Path(str(self.config.hydra.sweep.dir)).absolute())
        name = record_lost_job(info, idx, reason) if info else " ".join(overrides)
        total = len(info.jobs) if info and info.jobs else "?"
        print(f"job {idx + 1}/{total} {name}: killed: {reason}", flush=True)
        result = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
        result.return_value = math.nan
        return result


def keras_backend_of(overrides: Sequence[str]) -> str | None:
    """A job's ``trainer.keras_backend`` override's value, or None (the config's)."""
    from augsweep.overrides import override_key, split_override

    for item in overrides:
        if override_key(item) == "trainer.keras_backend":
            return split_override(item)[1]
    return None


def _execute_job(parent_pid: int, *args):
    """The plugin's ``execute_job(*args)``, in a worker; a worker whose sweep's process died
    meanwhile (:func:`augsweep.worker.end_with_parent` ended the job) exits as soon as the
    job has ended: nobody is left to take its result or give it another job."""
    from hydra_plugins.hydra_joblib_launcher._core import execute_job

    try:
        return execute_job(*args)
    finally:
        if os.getppid() != parent_pid:
            os._exit(1)


def died(error: BaseException) -> str:
    """Why a worker's job was lost, from loky's error: ``its process died: signal 9
    (SIGKILL), likely out of memory``.

    loky names the dead worker's exit code only in its message (``The exit codes of the
    workers are {SIGKILL(-9)}``): read there, else said plainly.
    """
    found = re.search(r"\((-?\d+)\)", str(error))
    code = int(found.group(1)) if found else None
    if code is None or code == 0:
        return "its process died"
    if code > 0:
        return f"its process died: exit code {code}"
    try:
        name = f" ({signal.Signals(-code).name})"
    except ValueError:
        name = ""
    oom = ", likely out of memory" if -code == signal.SIGKILL else ""
    return f"its process died: signal {-code}{name}{oom}"


def _stop(slots: list[_Slot]) -> None:
    """Stop the jobs in flight after an interrupt of the launching process (Ctrl-C, SIGTERM):
    they end their runs KILLED. Ctrl-C reaches the workers too; a SIGTERM of this process
    alone is passed on to them after ``STOP_GRACE_S``; a job still running
    ``TERM_GRACE_S`` later is killed (its run is reaped at the sweep's end)."""
    from concurrent.futures import wait

    busy = [slot for slot in slots if slot.busy()]
    for grace, then in ((STOP_GRACE_S, _Slot.terminate), (TERM_GRACE_S, _Slot.kill)):
        if busy:
            wait([slot.job for slot in busy], timeout=grace)
        busy = [slot for slot in busy if slot.busy()]
        for slot in busy:
            then(slot)
