"""hydra-submitit-launcher's launchers, waiting for every job before reporting a lost one.

The plugin (1.2) collects results in job order and raises at the first job that produced
none (killed, out of memory, past its SLURM time limit) while the later jobs still run:
the launching process then exits and builds the sweep's report with those jobs unfinished
(listed as killed, their runs RUNNING), and they go on writing to a closed sweep. These
launchers submit the same way, wait until every job has ended, and only then collect the
results (raising the first such error as the plugin does), so the report sees every job's
outcome. A job that records a failure and returns normally (augsweep's failed jobs) is a
completed job to submitit either way.

Under SLURM two more things:

- A job that gets SLURM's warning signal (``USR2``, ``signal_delay_s`` before its time limit,
  or sent by ``scancel --signal=USR2``) ends its run KILLED at once (its epoch checkpoint
  stands), then submitit requeues it (``max_num_timeout`` times after time limits, always
  after a preemption); the next attempt, maybe on another node, resumes the run from that
  epoch (the run's owner names the SLURM job: :func:`augsweep.tracking.store.owner_tags`).
- Without SLURM accounting ``sacct`` fails on every poll and submitit logs a warning each
  time (three lines, sacct's own message too): the states are then read with ``squeue``,
  said once in the log.

Used by ``conf/hydra/launcher/slurm.yaml`` (``_target_``) and ``hydra/launcher=subprocesses``,
registered here in Hydra's ConfigStore (as Hydra's own plugins register theirs, so that any
Hydra app and Hydra's launcher test suite can name it): each job in a process of its own on
this machine, all started at once (submitit's local executor), a job past ``timeout_min``
(1440) killed; logs in ``<hydra.sweep.dir>/.submitit/<job id>/<job id>_0_log.out``. Hydra
imports every module of ``hydra_plugins`` when it starts: without the ``slurm`` extra
(``pip install -e ".[slurm]"``) this one defines nothing, quietly.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from omegaconf import OmegaConf

from augsweep import interrupts

try:
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher as plugin
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, LocalQueueConf
    from submitit.slurm.slurm import SlurmInfoWatcher
except ImportError:  # the slurm extra is not installed: no launcher here
    plugin = None

log = logging.getLogger(__name__)


if plugin is not None:

    class _WaitForEveryJob(plugin.BaseSubmititLauncher):
        """The plugin's ``launch``, split: submit the jobs, wait for all, collect."""

        def launch(
            self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
        ) -> list[JobReturn]:
            """Run the jobs of one batch; return their results in order.

            Args:
                job_overrides: Each job's overrides.
                initial_job_idx: The number of the batch's first job in the sweep.

            Returns:
                Every job's ``JobReturn``.

            Raises:
                submitit.core.utils.UncompletedJobError: A job ended without a result (the first
                    one, once every job has ended).
            """
            jobs = self._submit(job_overrides, initial_job_idx)
            for job in jobs:
                job.wait()
            return [job.results()[0] for job in jobs]

        def _submit(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list:
            """Submit the jobs as the plugin does (hydra-submitit-launcher 1.2.0, ``launch``)."""
            import submitit

            assert self.config is not None and len(job_overrides) > 0
            init_keys = {"max_num_timeout", "submitit_folder"}
            executor = submitit.AutoExecutor(
                cluster=self._EXECUTOR,
                folder=self.params["submitit_folder"],
                **{
                    f"{self._EXECUTOR}_{k}": v
                    for k, v in self.params.items()
                    if k == "max_num_timeout"
                },
            )
            base = set(OmegaConf.structured(BaseQueueConf).keys())
            executor.update_parameters(**{
                k if k in base else f"{self._EXECUTOR}_{k}": v
                for k, v in self.params.items() if k not in init_keys
            })  # fmt: skip
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
            sweep_dir.mkdir(parents=True, exist_ok=True)
            if "mode" in self.config.hydra.sweep:
                os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
            params = []
            for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                params.append(
                    (
                        list(overrides),
                        "hydra.sweep.dir",
                        idx,
                        f"job_id_for_{idx}",
                        Singleton.get_state(),
                    )
                )
            jobs = executor.map_array(self, *zip(*params, strict=True))
            if self._EXECUTOR == "slurm":  # (a job array's jobs are made as SlurmJob)
                for job in jobs:
                    job.watcher = QUIET_SACCT
            return jobs

    class LocalLauncher(_WaitForEveryJob, plugin.LocalLauncher):
        """``submitit_local`` that waits for every job: each job a process of this machine."""

    class SlurmLauncher(_WaitForEveryJob, plugin.SlurmLauncher):
        """``submitit_slurm`` that waits for every job: a SLURM job array; a job warned of
        its end (time limit, preemption) ends its run KILLED, then is requeued."""

        def __call__(self, *args, **kwargs) -> JobReturn:
            """Run one job in its SLURM job (submitit calls this there).

            SLURM's warning signal interrupts the job as Ctrl-C would (its run ends KILLED,
            its last epoch checkpoint kept); submitit's own handler of the signal then
            checkpoints the job and requeues it (``scontrol requeue``), and the process exits.
            """
            import submitit

            signum = signal.Signals[f"SIG{submitit.JobEnvironment.USR_SIG}"]
            requeue = signal.getsignal(signum)  # submitit's checkpoint_and_try_requeue
            warned: list = []

            def end_the_run(sig: int, frame) -> None:
                if not warned:
                    warned.append(frame)
                    raise interrupts.Requeued(
                        f"SLURM's warning signal ({signum.name}): requeued, to resume"
                    )

            signal.signal(signum, end_the_run)
            try:
                return super().__call__(*args, **kwargs)
            except (KeyboardInterrupt, SystemExit):
                if not warned or not callable(requeue):
                    raise
            finally:
                signal.signal(signum, requeue)
            print(f"SLURM's warning signal ({signum.name}): the run ended KILLED at its last "
                  "epoch checkpoint; requeueing the job, which resumes it", flush=True)  # fmt: skip
            requeue(signum, warned[0])  # exits (or raises: requeued too many times)
            raise SystemExit(-1)  # (not reached)

    class _QuietSacctWatcher(SlurmInfoWatcher):
        """submitit's job states from ``sacct``, or from ``squeue`` where SLURM keeps no
        accounting (``sacct`` fails: said once, in place of a warning at every poll)."""

        def __init__(self, delay_s: int) -> None:
            super().__init__(delay_s=delay_s)
            self.accounting = True

        def update(self) -> None:
            """Read the states of the registered jobs that have not ended."""
            command = self._make_command()
            if command is None:
                return
            self._num_calls += 1
            if self.accounting:
                try:
                    done = subprocess.run(command, capture_output=True, text=True)
                    failed = done.stderr.strip() or done.returncode
                except OSError as error:  # no sacct on this machine
                    done, failed = None, error
                if done is not None and done.returncode == 0:
                    self._info_dict.update(self.read_info(done.stdout))
                else:
                    self.accounting = False
                    log.info(f"sacct: {failed}: job states from squeue instead")
            if not self.accounting:
                self._info_dict.update(self._squeue())
            self._last_status_check = time.time()
            for job_id in self._registered - self._finished:
                if self.is_done(job_id, mode="cache"):
                    self._finished.add(job_id)

        def _squeue(self) -> dict[str, dict[str, str]]:
            """The states ``squeue`` knows (``--states=all``: ended jobs too, for SLURM's
            ``MinJobAge``); a job it no longer knows has ended (``GONE``)."""
            pending = sorted(self._registered - self._finished)
            arrays = ",".join(sorted({job_id.split("_")[0] for job_id in pending}))
            command = ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T|%N",
                       f"--jobs={arrays}"]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0 and "Invalid job id" not in done.stderr:
                return {}  # the controller is away: ask again at the next poll
            info = self.read_info("JobID|State|NodeList\n" + done.stdout)
            return {job_id: info.get(job_id, {"State": "GONE"}) for job_id in pending}

    ConfigStore.instance().store(
        group="hydra/launcher",
        name="subprocesses",
        node=LocalQueueConf(_target_=f"{__name__}.LocalLauncher", timeout_min=1440),
        provider="augsweep",
    )

    # One for the launching process, as submitit's SlurmJob has (its poll delays).
    QUIET_SACCT = _QuietSacctWatcher(delay_s=600)
