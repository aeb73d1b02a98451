"""Checks of a composed config that types alone cannot express.

They run before TensorFlow is imported and before any MLflow run is created, and each error
names the bad value and what is allowed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from omegaconf import DictConfig

from augsweep.techniques import BACKENDS, PLACEMENTS, catalogue

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")
# Short key -> (low, high, whether low itself is allowed); high (None: no bound) is allowed.
MAGNITUDES = {
    "rotation": (0.0, 1.0, True),
    "zoom": (0.0, 0.9, True),
    "crop": (0.0, 0.5, True),
    "translation": (0.0, 1.0, True),
    "brightness": (0.0, 1.0, True),
    "contrast": (0.0, 1.0, True),
    "saturation": (0.0, 1.0, True),
    "hue": (0.0, 0.5, True),
    "grayscale": (0.0, 1.0, True),
    "noise": (0.0, 1.0, True),
    "blur": (0.0, 1.0, False),
    "erasing": (0.02, 1.0, True),
    "randaugment": (0.0, 1.0, True),
    "augmix": (0.0, 1.0, True),
    "mixup": (0.0, None, False),
    "cutmix": (0.0, 1.0, False),
}
ALBUMENTATIONS_HINT = 'pip install -e ".[albumentations]"'


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
    for key in ("epochs", "batch_size"):
        if trainer[key] < 1:
            problems.append(f"trainer.{key}={trainer[key]}: must be >= 1")
    if not trainer.learning_rate > 0:
        problems.append(f"trainer.learning_rate={trainer.learning_rate}: must be > 0")
    if trainer.clean_eval_samples == 0 or trainer.clean_eval_samples < -1:
        problems.append(
            f"trainer.clean_eval_samples={trainer.clean_eval_samples}: must be -1 (all) or >= 1"
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
    if augment.placement not in PLACEMENTS:
        problems.append(
            f"augment.placement={augment.placement!r}: must be one of {', '.join(PLACEMENTS)}"
        )
    if augment.backend not in BACKENDS:
        problems.append(
            f"augment.backend={augment.backend!r}: must be one of {', '.join(BACKENDS)}"
        )
    else:
        problems += _check_techniques(augment)
    if augment.flip_mode not in FLIP_MODES:
        problems.append(
            f"augment.flip_mode={augment.flip_mode!r}: must be one of {', '.join(FLIP_MODES)}"
        )
    for key, (low, high, low_allowed) in MAGNITUDES.items():
        value = augment[key]
        too_low = value < low or (value == low and not low_allowed)
        if too_low or (high is not None and value > high):
            if high is None:
                bounds = f"> {low}"
            else:
                bounds = f"in {'[' if low_allowed else '('}{low}, {high}]"
            problems.append(f"augment.{key}={value}: must be {bounds}")
    if augment.randaugment_ops < 1:
        problems.append(f"augment.randaugment_ops={augment.randaugment_ops}: must be >= 1")
    return problems


def _check_techniques(augment) -> list[str]:
    """Every name in ``use`` exists for the backend; albumentations is installed if used."""
    backend = augment.backend
    known = catalogue(augment, backend)
    problems = []
    for name in augment.use:
        if name in known:
            continue
        if backend != "keras" and name in catalogue(augment, "keras"):
            problems.append(
                f"augment.use: {name!r} has no {backend} version; the {backend} backend "
                f"offers: {', '.join(known)} (or use augment.backend=keras)"
            )
        else:
            problems.append(
                f"augment.use: unknown technique {name!r}; valid names: {', '.join(known)}"
            )
    if backend == "albumentations":
        if augment.layers:
            problems.append(
                "augment.layers: custom Keras layer specs run with augment.backend=keras "
                "only; the albumentations backend runs the named techniques of augment.use"
            )
        if importlib.util.find_spec("albumentations") is None:
            problems.append(
                "augment.backend=albumentations: the albumentations package is not "
                f"installed; install the optional extra: {ALBUMENTATIONS_HINT}"
            )
    return problems
