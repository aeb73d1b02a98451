"""The command line's job: check the config, name the run, hand over to :func:`augsweep.run.train`.

A bad config is refused here, before TensorFlow is imported and before any MLflow run
exists: one message naming each bad value and what is allowed, no traceback, exit code 2.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from augsweep.config.checks import ConfigError, validate
from augsweep.tracking.sweep import SweepInfo

log = logging.getLogger(__name__)

EXIT_CONFIG_ERROR = 2  # as argparse and Hydra's own composition errors


def run_job(cfg: DictConfig) -> float:
    """Check the config, then train the job's run, nested in its sweep in a multirun.

    In a sweep, the run is named after the job's values of the swept keys
    (``augment=flip``); otherwise after the command line's overrides, or ``defaults``.

    Returns:
        The run's best validation accuracy (for sweepers that optimise).

    Raises:
        SystemExit: With code 2 for a bad config of a single run.
        ConfigError: For a bad config of one job of a sweep (Hydra records the job as
            failed and goes on with the others).
    """
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        validate(cfg)
    except ConfigError as error:
        if multirun:
            log.error("%s", error)
            raise
        print(f"augsweep: {error}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG_ERROR) from None

    from augsweep.run import train  # imports TensorFlow: only once the config is good

    sweep = SweepInfo.read(Path(hydra_cfg.sweep.dir).absolute()) if multirun else None
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
