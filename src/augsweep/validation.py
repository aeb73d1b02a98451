"""Checks of a composed config that types alone cannot express.

They run before TensorFlow is imported and before any MLflow run is created, and each error
names the bad value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping

from omegaconf import DictConfig

LR_SCHEDULES = ("cosine", "constant")


class ConfigError(ValueError):
    """A config value is out of its allowed range."""


def validate(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` listing every bad value of ``cfg``.

    Args:
        cfg: The composed root config.
    """
    problems = [
        *_check_trainer(cfg.trainer),
        *_check_dataset(cfg.dataset),
        *_check_augment(cfg.augment),
    ]
    if cfg.seed < 0:
        problems.append(f"seed={cfg.seed}: must be >= 0")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _check_trainer(trainer) -> list[str]:
    problems = []
    for key in ("epochs", "batch_size", "eval_batch_size"):
        if trainer[key] < 1:
            problems.append(f"trainer.{key}={trainer[key]}: must be >= 1")
    if not trainer.learning_rate > 0:
        problems.append(f"trainer.learning_rate={trainer.learning_rate}: must be > 0")
    if trainer.clean_eval_samples == 0 or trainer.clean_eval_samples < -1:
        problems.append(
            f"trainer.clean_eval_samples={trainer.clean_eval_samples}: must be -1 (all) or >= 1"
        )
    if trainer.lr_schedule not in LR_SCHEDULES:
        problems.append(
            f"trainer.lr_schedule={trainer.lr_schedule!r}: must be one of {', '.join(LR_SCHEDULES)}"
        )
    if trainer.verbose not in (0, 1, 2):
        problems.append(f"trainer.verbose={trainer.verbose}: must be one of 0, 1, 2")
    return problems


def _check_dataset(dataset) -> list[str]:
    problems = []
    if "val_fraction" in dataset and not 0 < dataset.val_fraction < 1:
        problems.append(f"dataset.val_fraction={dataset.val_fraction}: must be in (0, 1)")
    if "image_size" in dataset and dataset.image_size < 8:
        problems.append(f"dataset.image_size={dataset.image_size}: must be >= 8")
    if "margin" in dataset and not 0 <= dataset.margin < 0.5:
        problems.append(f"dataset.margin={dataset.margin}: must be in [0, 0.5)")
    if "train_samples" in dataset and (dataset.train_samples == 0 or dataset.train_samples < -1):
        problems.append(f"dataset.train_samples={dataset.train_samples}: must be -1 (all) or >= 1")
    return problems


def _check_augment(augment) -> list[str]:
    problems = []
    for index, spec in enumerate(augment.layers):
        if not isinstance(spec, (DictConfig, Mapping)) or not spec.get("_target_"):
            problems.append(
                f"augment.layers[{index}]={spec!r}: must be a mapping with a _target_ "
                "naming a layer class, e.g. keras.layers.RandomFlip"
            )
    return problems
