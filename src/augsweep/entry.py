"""The bridge between a Hydra job and :func:`augsweep.train.train`."""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from augsweep.sweep import SweepInfo


def run_job(cfg: DictConfig) -> float:
    """Train the job's run, nested in its sweep when Hydra runs a multirun.

    In a sweep, the run is named after the job's values of the swept keys
    (``augment=flip``); otherwise after the command line's overrides, or ``defaults``.
    """
    from augsweep.train import train

    hydra_cfg = HydraConfig.get()
    sweep = None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        sweep = SweepInfo.read(Path(hydra_cfg.sweep.dir).absolute())
    overrides = list(hydra_cfg.overrides.task)
    run_name = sweep.run_name(overrides) if sweep else ",".join(overrides) or "defaults"
    return train(cfg, sweep=sweep, run_name=run_name)["best_val_accuracy"]
