"""Checks of a composed config that types alone cannot express.

They run before TensorFlow is imported and before any MLflow run is created, and each error
names the bad value and what is allowed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from omegaconf import DictConfig, OmegaConf

from augsweep.paths import resolve_path
from augsweep.techniques import BACKENDS, PLACEMENTS, catalogue

ON_BAD_FILE = ("fail", "skip")
WEIGHTS = ("imagenet", None)
LR_SCHEDULES = ("cosine", "constant")
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
        *_check_model(cfg.model),
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
    clean = trainer.clean_eval_samples
    if clean is not None and (clean == 0 or clean < -1):
        problems.append(
            f"trainer.clean_eval_samples={clean}: must be null (the dataset's default), "
            "-1 (all) or >= 1"
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
    if "val_percent" in dataset and not 1 <= dataset.val_percent <= 99:
        problems.append(f"dataset.val_percent={dataset.val_percent}: must be in 1..99")
    if "on_bad_file" in dataset and dataset.on_bad_file not in ON_BAD_FILE:
        problems.append(
            f"dataset.on_bad_file={dataset.on_bad_file}: must be one of {', '.join(ON_BAD_FILE)}"
        )
    if "cache" in dataset and not (
        isinstance(dataset.cache, bool) or (isinstance(dataset.cache, str) and dataset.cache)
    ):
        problems.append(
            f"dataset.cache={dataset.cache!r}: must be true (in memory), false (no cache) "
            "or a directory for file caches"
        )
    if "path" in dataset or OmegaConf.is_missing(dataset, "path"):  # `in`: False if missing
        problems += _check_folder(dataset)
    return problems


def _check_folder(dataset) -> list[str]:
    if OmegaConf.is_missing(dataset, "path"):
        return ["dataset.path is required: dataset.path=DIR, a folder with one subfolder per class"]
    path = resolve_path(dataset.path)
    if not path.is_dir():
        return [f"dataset.path={dataset.path}: no such directory ({path})"]
    return []


def _check_model(model) -> list[str]:
    problems = []
    if "dropout" in model and not 0 <= model.dropout < 1:
        problems.append(f"model.dropout={model.dropout}: must be in [0, 1)")
    if "weights" in model and model.weights not in WEIGHTS:
        problems.append(f"model.weights={model.weights}: must be imagenet or null")
    if "fine_tune_layers" in model and model.fine_tune_layers < 0:
        problems.append(f"model.fine_tune_layers={model.fine_tune_layers}: must be >= 0")
    if "dense_units" in model and model.dense_units < 1:
        problems.append(f"model.dense_units={model.dense_units}: must be >= 1")
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
