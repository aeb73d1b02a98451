"""``hydra/launcher=ray``: each job of a sweep as one Ray task on a Ray cluster (Ray core).

hydra-ray-launcher 1.2.2 cannot be installed beside joblib 1.6 (it pins ``cloudpickle<3``);
Ray itself vendors its own cloudpickle. This launcher follows Hydra's own launchers (the
joblib launcher's ``execute_job``): the launching process composes every job's config, then
each job runs Hydra's ``run_job`` in a ``ray.remote`` task with ``num_cpus`` and
``num_gpus`` from the config (fractions of a GPU share one: Ray sets
``CUDA_VISIBLE_DEVICES`` per task), Hydra's singletons restored there. The code goes with
the tasks through Ray's ``runtime_env`` (``py_modules``: the ``augsweep`` package); the
nodes need the same Python packages (TensorFlow, MLflow ...) and, for the job records and the
report, the sweep directory and the tracking store (an ``mlflow server``) reachable.

A task whose node or worker process dies is retried by Ray (``max_retries``) on a live node,
where the job resumes its run from its last epoch checkpoint (checkpoints shared between
nodes: ``tracking.checkpoints``); a job still lost after that is recorded as killed
(:func:`augsweep.tracking.sweep.record_lost_job`) and the sweep exits 1, as under the other
launchers. Ctrl-C of the launching process cancels the tasks (their runs end KILLED).
"""

# No `from __future__ import annotations`: Hydra's plugin scan runs this module outside
# sys.modules, where dataclasses cannot resolve string annotations; OmegaConf reads typing's.
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional  # noqa: UP035 (OmegaConf's types)

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class RayLauncherConf:
    """``hydra/launcher=ray``'s options (``hydra.launcher.*``).

    Attributes:
        address: The cluster (``ray.init(address=...)``): ``HOST:6379`` of its head, ``auto``
            (the cluster this machine belongs to), or null: a Ray started for the sweep on
            this machine alone.
        num_cpus: CPUs each job holds (its tf.data pipeline).
        num_gpus: GPUs each job holds; a fraction (0.5) puts that many jobs on one GPU.
        max_retries: How many times Ray reruns a job whose node or process died.
        runtime_env: Ray's ``runtime_env`` for every job; null ships the ``augsweep``
            package (``py_modules``); ``env_vars`` are added to the jobs' environment.
        init: More keyword arguments of ``ray.init`` (``num_cpus`` of a local Ray ...).
    """

    _target_: str = "hydra_plugins.augsweep_launchers.ray_launcher.RayLauncher"
    address: Optional[str] = None  # noqa: UP045
    num_cpus: float = 1
    num_gpus: float = 0
    max_retries: int = 3
    runtime_env: Optional[Dict[str, Any]] = None  # noqa: UP006, UP045
    init: Dict[str, Any] = field(default_factory=dict)  # noqa: UP006


ConfigStore.instance().store(
    group="hydra/launcher", name="ray", node=RayLauncherConf, provider="augsweep"
)


class RayLauncher(Launcher):
    """Runs each job of a sweep as a Ray task; waits for every job, in order."""

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.hydra_context = None
        self.task_function = None

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> List[JobReturn]:  # noqa: UP006
        """Run the jobs of one batch as Ray tasks; return their results in order.

        Args:
            job_overrides: Each job's overrides.
            initial_job_idx: The number of the batch's first job in the sweep.

        Returns:
            Every job's ``JobReturn``; a job lost with its node (after Ray's retries) returns
            NaN, as a job that recorded its failure does, and is recorded as killed.
        """
        ray = _import_ray()
        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if not ray.is_initialized():
            # "local": a Ray of its own, never one found on this machine (ray.init's None)
            ray.init(address=self.params.get("address") or "local",
                     runtime_env=self._runtime_env(),
                     **dict(self.params.get("init") or {}))  # fmt: skip
        log.info(f"Ray: {len(job_overrides)} jobs on {len(ray.nodes())} node(s), "
                 f"sweep output dir : {sweep_dir}")  # fmt: skip
        remote = ray.remote(_execute_job).options(
            num_cpus=self.params.get("num_cpus", 1), num_gpus=self.params.get("num_gpus", 0),
            max_retries=self.params.get("max_retries", 3),
        )  # fmt: skip
        state = Singleton.get_state()
        refs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            # Composed here, as Hydra composes every job's config before the first starts:
            # the nodes need no copy of conf/.
            sweep_config = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides)
            )
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
                sweep_config.hydra.job.num = idx
            refs.append(remote.remote(sweep_config, self.hydra_context, self.task_function,
                                      state))  # fmt: skip
        try:
            ray.wait(refs, num_returns=len(refs))  # every job ends before any is judged
        except BaseException:  # Ctrl-C, SIGTERM: the jobs end their runs KILLED
            for ref in refs:
                ray.cancel(ref)
            raise
        jobs = enumerate(zip(refs, job_overrides, strict=True), start=initial_job_idx)
        return [self._result(ref, idx, overrides) for idx, (ref, overrides) in jobs]

    def _runtime_env(self) -> dict:
        """The jobs' ``runtime_env``: the config's, or the ``augsweep`` package shipped."""
        configured = self.params.get("runtime_env")
        if configured is not None:
            return OmegaConf.to_container(configured) if isinstance(configured, DictConfig) \
                else dict(configured)  # fmt: skip
        import augsweep

        return {"py_modules": [str(Path(augsweep.__file__).parent)]}

    def _result(self, ref, idx: int, overrides: Sequence[str]) -> JobReturn:
        """The job's ``JobReturn``, or, for a job whose process or node died, a record of
        it as killed and NaN."""
        import ray

        try:
            return ray.get(ref)
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.TaskCancelledError) as error:  # fmt: skip
            reason = f"its Ray worker or node died ({type(error).__name__})"
            return lost_job(self.config, idx, overrides, reason)


def lost_job(config: DictConfig, idx: int, overrides: Sequence[str], reason: str) -> JobReturn:
    """Record a job whose process died as killed, saying so; its result: NaN, completed (the
    sweep goes on, and exits 1 at its end for the killed job)."""
    from augsweep.tracking.sweep import SweepInfo, record_lost_job

    info = SweepInfo.read(Path(str(config.hydra.sweep.dir)).absolute())
    name = record_lost_job(info, idx, reason) if info else " ".join(overrides)
    total = len(info.jobs) if info and info.jobs else "?"
    print(f"job {idx + 1}/{total} {name}: killed: {reason}", flush=True)
    result = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
    result.return_value = math.nan
    return result


def _execute_job(sweep_config: DictConfig, hydra_context, task_function, state) -> JobReturn:
    """One job, in its Ray worker: Hydra's singletons restored, then Hydra's ``run_job``."""
    import ray
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import run_job

    from augsweep.tracking.store import RAY_TASK_ENV

    setup_globals()
    Singleton.set_state(state)
    HydraConfig.instance().set_config(sweep_config)
    context = ray.get_runtime_context()
    # The run's owner names the task: a rerun of it (its node died) takes the run as its own.
    os.environ[RAY_TASK_ENV] = context.get_task_id()
    print(f"ray: job #{sweep_config.hydra.job.num} on node {context.get_node_id()[:12]} "
          f"({ray.util.get_node_ip_address()}, pid {os.getpid()})", flush=True)  # fmt: skip
    return run_job(hydra_context=hydra_context, task_function=task_function,
                   config=sweep_config, job_dir_key="hydra.sweep.dir",
                   job_subdir_key="hydra.sweep.subdir")  # fmt: skip


def _import_ray():
    # Ray folds lines of its tasks that look alike ("job #3 on node ..." [repeated 2x across
    # cluster]) in the driver's output: each job's lines are wanted whole. Read at import.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        import ray
    except ImportError as error:
        raise ImportError("hydra/launcher=ray needs Ray: pip install -e '.[ray]'") from error
    return ray
