"""Every check of a composed config that types alone cannot express: the single source of truth.

They run before TensorFlow is imported and before any MLflow run is created, and each error
names the bad value, what is allowed and the way out. Everything knowable from the config is
checked here, including bounds that follow from a dataset's known size (digits) and
combinations that cannot work (pooling blocks that shrink the image below 1 pixel); loaders
and model builders check only what needs the data itself (a folder's contents).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping

from omegaconf import DictConfig, ListConfig, OmegaConf

from augsweep.config.catalogue import BACKENDS, PLACEMENTS, catalogue
from augsweep.config.schema import (
    DigitsConfig,
    MobileNetV2Config,
    SmallCNNConfig,
    TFFlowersConfig,
    magnitude_bounds,
)
from augsweep.errors import EXIT_CONFIG_ERROR, InputError
from augsweep.paths import resolve_path

ON_BAD_FILE = ("fail", "skip")
WEIGHTS = ("imagenet", None)
LR_SCHEDULES = ("cosine", "constant")
FEATURE_CACHE = ("auto", "off")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")
KERAS_BACKENDS = ("tensorflow", "jax")
MIXED_PRECISION = (False, "float16", "bfloat16")  # and True: float16
# Short key -> (low, high, whether low itself is allowed), declared beside each knob.
MAGNITUDES = magnitude_bounds()
ALBUMENTATIONS_HINT = 'pip install -e ".[albumentations]"'
# scikit-learn's digits: its size is known, so train_samples and the held-out fractions are
# checked here.
DIGITS_IMAGES = 1797
DIGITS_CLASSES = 10
# MobileNetV2 (include_top=False) has this many layers at any input size (Keras 3.15); a test
# checks it against keras.applications.
MOBILENET_V2_LAYERS = 154
MOBILENET_V2_MIN_SIZE = 32


class ConfigError(InputError, ValueError):
    """Config values out of their allowed range, or values that cannot work together.

    Args:
        problems: One line per bad value: the value, what is allowed, the way out.
    """

    exit_code = EXIT_CONFIG_ERROR

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        self.tag = "invalid config: " + "; ".join(self.problems)  # one line, for tags
        super().__init__("invalid config:\n  " + "\n  ".join(self.problems))


def validate(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` listing every bad value of ``cfg``.

    Args:
        cfg: The composed root config.
    """
    problems = [
        *_check_trainer(cfg.trainer),
        *_check_dataset(cfg.dataset),
        *_check_model(cfg.model, cfg.dataset),
        *_check_augment(cfg.augment),
        *_check_resources(cfg.resources),
        *_check_report(cfg.report),
        *_check_keras_backend(cfg),
    ]
    if cfg.seed < 0:
        problems.append(f"seed={cfg.seed}: must be >= 0")
    if cfg.tracking.stale_after_s < 1:
        problems.append(
            f"tracking.stale_after_s={cfg.tracking.stale_after_s}: must be >= 1 (seconds)"
        )
    if problems:
        raise ConfigError(problems)


def _check_report(report) -> list[str]:
    """``report.baseline``: a value of ``augment`` (``none``) or ``key=value``, none empty."""
    key, sep, value = str(report.baseline).partition("=")
    if not key.strip() or (sep and not value.strip()):
        return [
            f"report.baseline={report.baseline!r}: must be a value of augment (e.g. none) or "
            "key=value of a swept key (e.g. trainer.learning_rate=0.001)"
        ]
    return []


def is_option(node: DictConfig, schema: type) -> bool:
    """Whether a group's node was composed from ``schema`` (or a subclass of it)."""
    node_type = OmegaConf.get_type(node)
    return isinstance(node_type, type) and issubclass(node_type, schema)


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
    if trainer.feature_cache not in FEATURE_CACHE:
        problems.append(
            f"trainer.feature_cache={trainer.feature_cache!r}: must be one of "
            f"{', '.join(FEATURE_CACHE)}"
        )
    if trainer.verbose not in (0, 1, 2):
        problems.append(f"trainer.verbose={trainer.verbose}: must be one of 0, 1, 2")
    return problems + _check_compute(trainer)


def _check_keras_backend(cfg) -> list[str]:
    """``trainer.keras_backend``, and what only the TensorFlow backend can do: tf_flowers
    (TFDS), ``augment.placement=dataset`` and the albumentations backend (both run in
    ``tf.data``)."""
    backend = cfg.trainer.keras_backend
    if backend not in KERAS_BACKENDS:
        return [f"trainer.keras_backend={backend!r}: must be one of {', '.join(KERAS_BACKENDS)}"]
    if backend == "tensorflow":
        return []
    way_out = "or use trainer.keras_backend=tensorflow"
    problems = []
    if is_option(cfg.dataset, TFFlowersConfig):
        problems.append(
            f"dataset=tf_flowers with trainer.keras_backend={backend}: TensorFlow Datasets "
            f"needs TensorFlow; use dataset=folder dataset.path=<the flower_photos folder>, "
            f"{way_out}"
        )
    if cfg.augment.placement == "dataset":
        problems.append(
            f"augment.placement=dataset with trainer.keras_backend={backend}: augmentation "
            f"in the input pipeline runs in tf.data; use augment.placement=model, {way_out}"
        )
    if cfg.augment.backend == "albumentations":
        problems.append(
            f"augment.backend=albumentations with trainer.keras_backend={backend}: its "
            f"transforms run in tf.data; use augment.backend=keras, {way_out}"
        )
    return problems


def _check_compute(trainer) -> list[str]:
    """The speed knobs: ``jit_compile``, ``steps_per_execution``, ``mixed_precision``."""
    problems = []
    precision = trainer.mixed_precision
    if not (isinstance(precision, bool) or precision in MIXED_PRECISION):
        problems.append(
            f"trainer.mixed_precision={precision!r}: must be one of false, float16, bfloat16 "
            "(true: float16)"
        )
    jit = trainer.jit_compile
    if not (isinstance(jit, bool) or jit == "auto"):  # not `in JIT_COMPILE`: 1 == True
        problems.append(
            f"trainer.jit_compile={jit!r}: must be one of auto, true, false (XLA for the "
            "training step; auto: on with a GPU, off on a CPU)"
        )
    if trainer.steps_per_execution < 1:
        problems.append(
            f"trainer.steps_per_execution={trainer.steps_per_execution}: must be >= 1 "
            "(training steps per call of the compiled function)"
        )
    return problems


def _check_dataset(dataset) -> list[str]:
    problems = []
    problems += _check_held_out(dataset)
    if "image_size" in dataset and dataset.image_size < 8:
        problems.append(f"dataset.image_size={dataset.image_size}: must be >= 8")
    if "margin" in dataset and not 0 <= dataset.margin < 0.5:
        problems.append(f"dataset.margin={dataset.margin}: must be in [0, 0.5)")
    if is_option(dataset, DigitsConfig) and not problems:
        problems += _check_digits(dataset)
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


def _check_held_out(dataset) -> list[str]:
    """The validation and test shares (``*_fraction`` or ``*_percent``): each in range, and
    together leaving images to train on."""
    problems = []
    for kind, low, high, allowed in (("fraction", 0, 1, "(0, 1)"), ("percent", 1, 99, "1..99")):
        keys = [f"{split}_{kind}" for split in ("val", "test") if f"{split}_{kind}" in dataset]
        for key in keys:
            value = dataset[key]
            if not (low < value < high if kind == "fraction" else low <= value <= high):
                problems.append(f"dataset.{key}={value}: must be in {allowed}")
        if len(keys) == 2 and not problems:
            total = dataset[keys[0]] + dataset[keys[1]]
            most = "below 1" if kind == "fraction" else "at most 99"
            if not (total < 1 if kind == "fraction" else total <= 99):
                problems.append(
                    f"dataset.val_{kind}={dataset[keys[0]]} + dataset.test_{kind}="
                    f"{dataset[keys[1]]} = {total:g}: together they must be {most}, so that "
                    "images are left for training"
                )
    return problems


def digits_split_sizes(val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """``(test images, validation images, images left for training)`` of digits.

    The loader holds out ``ceil(test_fraction * 1797)`` test images, then
    ``ceil(val_fraction * 1797)`` validation images, as scikit-learn's ``train_test_split``
    counts them.
    """
    test = math.ceil(test_fraction * DIGITS_IMAGES)
    val = math.ceil(val_fraction * DIGITS_IMAGES)
    return test, val, DIGITS_IMAGES - test - val


def _check_digits(dataset) -> list[str]:
    """``train_samples``, ``val_fraction`` and ``test_fraction`` against digits' 1,797 images
    and 10 classes: each stratified split needs at least one image per class."""
    test, val, rest = digits_split_sizes(dataset.val_fraction, dataset.test_fraction)
    low = math.ceil(DIGITS_CLASSES / DIGITS_IMAGES * 1000) / 1000
    problems = [
        f"dataset.{key}={dataset[key]}: holds out {held_out} of digits' {DIGITS_IMAGES} "
        f"images; each split needs at least {DIGITS_CLASSES} (one per class): use a {key} "
        f"of at least {low}"
        for key, held_out in (("test_fraction", test), ("val_fraction", val))
        if held_out < DIGITS_CLASSES
    ]
    if not problems and rest < DIGITS_CLASSES:
        problems.append(
            f"dataset.val_fraction={dataset.val_fraction} and dataset.test_fraction="
            f"{dataset.test_fraction}: hold out {val} + {test} of digits' {DIGITS_IMAGES} "
            f"images, leaving {rest} for training, fewer than {DIGITS_CLASSES} (one per "
            "class): lower them"
        )
    return problems or _check_digits_train_samples(dataset, test + val, rest)


def _check_digits_train_samples(dataset, held_out: int, rest: int) -> list[str]:
    samples = dataset.train_samples
    largest = rest - DIGITS_CLASSES
    if samples in (-1, rest) or DIGITS_CLASSES <= samples <= largest:
        return []
    allowed = f"-1 (all {rest})"
    if largest >= DIGITS_CLASSES:
        allowed += f" or in {DIGITS_CLASSES}..{largest}"
    return [
        f"dataset.train_samples={samples}: must be {allowed}: digits has {DIGITS_IMAGES} "
        f"images and dataset.val_fraction={dataset.val_fraction} with "
        f"dataset.test_fraction={dataset.test_fraction} hold out {held_out} of them"
        + (
            "; lower dataset.val_fraction or dataset.test_fraction to train on more"
            if samples > rest
            else ""
        )
    ]


def _check_folder(dataset) -> list[str]:
    if OmegaConf.is_missing(dataset, "path"):
        return ["dataset.path is required: dataset.path=DIR, a folder with one subfolder per class"]
    path = resolve_path(dataset.path)
    if path.is_file():
        return [
            f"dataset.path={dataset.path}: is a file ({path}); give the folder that holds one "
            "subfolder of images per class"
        ]
    if not path.is_dir():
        return [f"dataset.path={dataset.path}: no such directory ({path})"]
    return []


def _check_model(model, dataset) -> list[str]:
    problems = []
    if "dropout" in model and not 0 <= model.dropout < 1:
        problems.append(f"model.dropout={model.dropout}: must be in [0, 1)")
    if "dense_units" in model and model.dense_units < 1:
        problems.append(f"model.dense_units={model.dense_units}: must be >= 1")
    if is_option(model, SmallCNNConfig):
        problems += _check_small_cnn(model, dataset.image_size)
    if is_option(model, MobileNetV2Config):
        problems += _check_mobilenet_v2(model, dataset.image_size)
    return problems


def _check_small_cnn(model, image_size: int) -> list[str]:
    """Each Conv2D + 2x2 MaxPooling block halves the image: it must stay >= 1 pixel."""
    filters = list(model.filters)
    problems = [
        f"model.filters={filters}: every entry must be >= 1 (got {width})"
        for width in filters
        if width < 1
    ]
    blocks = len(filters)
    if image_size >> blocks < 1:
        most = image_size.bit_length() - 1  # blocks that keep image_size >= 1 px
        problems.append(
            f"dataset.image_size={image_size} with model.filters={filters}: each of the "
            f"{blocks} pooling blocks halves the image, which ends below 1 pixel; use "
            f"dataset.image_size >= {2**blocks}, or at most {most} entries in model.filters"
        )
    return problems


def _check_mobilenet_v2(model, image_size: int) -> list[str]:
    problems = []
    if model.weights not in WEIGHTS:
        problems.append(f"model.weights={model.weights}: must be imagenet or null")
    if not 0 <= model.fine_tune_layers <= MOBILENET_V2_LAYERS:
        problems.append(
            f"model.fine_tune_layers={model.fine_tune_layers}: must be in "
            f"0..{MOBILENET_V2_LAYERS} (the layers of MobileNetV2)"
        )
    if image_size < MOBILENET_V2_MIN_SIZE:
        problems.append(
            f"dataset.image_size={image_size}: model=mobilenet_v2 needs images of at least "
            f"{MOBILENET_V2_MIN_SIZE} px; use dataset.image_size >= {MOBILENET_V2_MIN_SIZE}"
        )
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
    if augment.affine_flip is not None and augment.affine_flip not in FLIP_MODES:
        problems.append(
            f"augment.affine_flip={augment.affine_flip!r}: must be null or one of "
            f"{', '.join(FLIP_MODES)}"
        )
    if augment.randaugment_ops < 1:
        problems.append(f"augment.randaugment_ops={augment.randaugment_ops}: must be >= 1")
    return problems


def _check_resources(resources) -> list[str]:
    """The GPU pool: ``auto``, none, or a list of distinct GPU ids; slots per GPU >= 1."""
    problems = []
    gpus = resources.gpus
    if isinstance(gpus, (ListConfig, list)):
        bad = [gpu for gpu in gpus if not _is_gpu_id(gpu)]
        if bad:
            problems.append(
                f"resources.gpus={list(gpus)}: {', '.join(map(repr, bad))} is not a GPU id; "
                "use integers >= 0 or UUIDs (GPU-..., MIG-...) as CUDA_VISIBLE_DEVICES names them"
            )
        elif len({str(gpu) for gpu in gpus}) != len(gpus):
            problems.append(f"resources.gpus={list(gpus)}: each GPU may be listed once")
    elif gpus is not None and gpus != "auto":
        problems.append(
            f"resources.gpus={gpus!r}: must be auto (every visible GPU), null or [] (no pool), "
            "or a list of GPU ids such as [0,1]"
        )
    if resources.jobs_per_gpu < 1:
        problems.append(
            f"resources.jobs_per_gpu={resources.jobs_per_gpu}: must be >= 1 (jobs sharing a GPU)"
        )
    return problems


def _is_gpu_id(gpu) -> bool:
    if isinstance(gpu, bool):
        return False
    if isinstance(gpu, int):
        return gpu >= 0
    return isinstance(gpu, str) and gpu.startswith(("GPU-", "MIG-")) and "," not in gpu


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
