"""hydra-submitit-launcher's launchers, waiting for every job before reporting a lost one.

The plugin (1.2) collects results in job order and raises at the first job that produced
none (killed, out of memory, past its SLURM time limit) while the later jobs still run:
the launching process then exits and builds the sweep's report with those jobs unfinished
(listed as killed, their runs RUNNING), and they go on writing to a closed sweep. These
launchers submit the same way, wait until every job has ended, and only then collect the
results (raising the first such error as the plugin does), so the report sees every job's
outcome. A job that records a failure and returns normally (augsweep's failed jobs) is a
completed job to submitit either way.

Used by ``conf/hydra/launcher/slurm.yaml`` and ``subprocesses.yaml`` (``_target_``). Hydra
imports every module of ``hydra_plugins`` when it starts: without the ``slurm`` extra
(``pip install -e ".[slurm]"``) this one defines nothing, quietly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from omegaconf import OmegaConf

try:
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher as plugin
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
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
            return executor.map_array(self, *zip(*params, strict=True))

    class LocalLauncher(_WaitForEveryJob, plugin.LocalLauncher):
        """``submitit_local`` that waits for every job: each job a process of this machine."""

    class SlurmLauncher(_WaitForEveryJob, plugin.SlurmLauncher):
        """``submitit_slurm`` that waits for every job: a SLURM job array."""
