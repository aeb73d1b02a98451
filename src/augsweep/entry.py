"""The bridge between a Hydra job and :func:`augsweep.train.train`."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from augsweep.sweep import SweepInfo

log = logging.getLogger(__name__)


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
    shown = sweep.swept_overrides(overrides) if sweep else overrides
    run_name = ",".join(readable_overrides(shown, cfg.augment.name)) or "defaults"
    summary = train(cfg, sweep=sweep, run_name=run_name)
    log.info(
        "run %s: best val accuracy %.4f (epoch %d), final clean %.4f, val %.4f, gap %.4f%s",
        run_name, summary["best_val_accuracy"], summary["best_epoch"],
        summary["final_clean_accuracy"], summary["final_val_accuracy"], summary["final_gap"],
        "" if sweep else "; browse it with `make ui` (http://127.0.0.1:5000)",
    )  # fmt: skip
    return summary["best_val_accuracy"]


def readable_overrides(overrides: list[str], augment_name: str) -> list[str]:
    """Show a composition by its name rather than its list of techniques.

    ``["augment=compose", "augment.use=[flip,rotation]", "seed=1"]`` becomes
    ``["augment=flip+rotation", "seed=1"]``; overrides without ``augment.use`` are kept.

    Args:
        overrides: Hydra overrides of the job, ``key=value``.
        augment_name: The resolved ``augment.name``.

    Returns:
        The overrides to show in the run name.
    """
    keys = [item.split("=", 1)[0].lstrip("+~") for item in overrides]
    if "augment.use" not in keys:
        return list(overrides)
    shown = []
    for item, key in zip(overrides, keys, strict=True):
        if key == "augment.use":
            shown.append(f"augment={augment_name}")
        elif key != "augment":
            shown.append(item)
    return shown
