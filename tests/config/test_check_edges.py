"""The edges of every checked range, and whole messages: a value at the edge of what is
allowed passes, the next one is refused with exactly the line a user reads. (What mutation
testing of ``config/checks.py`` found unguarded: docs/mutation.md.)"""

from __future__ import annotations

import importlib.util

import pytest

from augsweep.config.checks import (
    ALBUMENTATIONS_HINT,
    MOBILENET_V2_LAYERS,
    MOBILENET_V2_MIN_SIZE,
    ConfigError,
    validate,
)
from tests.helpers import compose_config

MOBILENET = ("model=mobilenet_v2", "model.weights=null", "dataset.image_size=32")
FLOWERS = ("dataset=tf_flowers",)


def refused(*overrides: str) -> list[str]:
    """Every problem :func:`validate` names for the config with ``overrides``."""
    with pytest.raises(ConfigError) as error:
        validate(compose_config(*overrides))
    return error.value.problems


@pytest.mark.parametrize(
    "overrides",
    [
        ("trainer.learning_rate=1e-9",),
        ("trainer.clean_eval_samples=-1",),
        ("trainer.clean_eval_samples=1",),
        ("trainer.verbose=1",),
        ("trainer.verbose=2",),
        ("trainer.lr_schedule=constant",),
        ("tracking.stale_after_s=1",),
        ("dataset.image_size=8", "model.filters=[8,8,8]"),
        ("dataset.margin=0",),
        ("dataset.margin=0.49",),
        ("model.dense_units=1",),
        ("model.filters=[1,1]",),
        ("model.dropout=0",),
        ("augment.randaugment_ops=1",),
        ("augment=flip", "augment.flip_mode=vertical"),
        (*MOBILENET, "model.fine_tune_layers=0"),
        (*MOBILENET, f"model.fine_tune_layers={MOBILENET_V2_LAYERS}"),
        (*FLOWERS, "dataset.val_percent=1", "dataset.test_percent=1"),
        (*FLOWERS, "dataset.val_percent=49", "dataset.test_percent=50"),  # 99 together
        ("resources.gpus=[0,GPU-5d2c,MIG-3f1a]",),
        ("resources.gpus=auto",),
        ("resources.gpus=null",),
    ],
)
def test_a_value_at_the_edge_of_its_range_is_allowed(overrides):
    validate(compose_config(*overrides))


@pytest.mark.parametrize(
    "overrides,problem",
    [
        (("seed=-1",), "seed=-1: must be >= 0"),
        (("trainer.learning_rate=0",), "trainer.learning_rate=0.0: must be > 0"),
        (
            ("trainer.clean_eval_samples=-2",),
            "trainer.clean_eval_samples=-2: must be null (the dataset's default), -1 (all) or >= 1",
        ),
        (
            ("trainer.lr_schedule=step",),
            "trainer.lr_schedule='step': must be one of cosine, constant",
        ),
        (("trainer.verbose=3",), "trainer.verbose=3: must be one of 0, 1, 2"),
        (
            ("trainer.jit_compile=on",),
            "trainer.jit_compile='on': must be one of auto, true, false (XLA for the "
            "training step; auto: on with a GPU, off on a CPU)",
        ),
        (
            ("trainer.steps_per_execution=0",),
            "trainer.steps_per_execution=0: must be >= 1 "
            "(training steps per call of the compiled function)",
        ),
        (
            ("tracking.stale_after_s=0",),
            "tracking.stale_after_s=0: must be >= 1 (seconds)",
        ),
        (("dataset.image_size=7", "model.filters=[8]"), "dataset.image_size=7: must be >= 8"),
        (("dataset.margin=0.5",), "dataset.margin=0.5: must be in [0, 0.5)"),
        (("dataset.margin=-0.01",), "dataset.margin=-0.01: must be in [0, 0.5)"),
        (
            (*FLOWERS, "dataset.cache=[1]"),
            "dataset.cache=[1]: must be true (in memory), false (no cache) "
            "or a directory for file caches",
        ),
        (("model.dense_units=0",), "model.dense_units=0: must be >= 1"),
        (("model.dropout=1",), "model.dropout=1.0: must be in [0, 1)"),
        (
            ("model.filters=[4,0]",),
            "model.filters=[4, 0]: every entry must be >= 1 (got 0)",
        ),
        (
            (*MOBILENET, "model.fine_tune_layers=-1"),
            f"model.fine_tune_layers=-1: must be in 0..{MOBILENET_V2_LAYERS} "
            "(the layers of MobileNetV2)",
        ),
        (
            (*MOBILENET, f"model.fine_tune_layers={MOBILENET_V2_LAYERS + 1}"),
            f"model.fine_tune_layers={MOBILENET_V2_LAYERS + 1}: must be in "
            f"0..{MOBILENET_V2_LAYERS} (the layers of MobileNetV2)",
        ),
        (
            ("model=mobilenet_v2", "model.weights=null", "dataset.image_size=31"),
            f"dataset.image_size=31: model=mobilenet_v2 needs images of at least "
            f"{MOBILENET_V2_MIN_SIZE} px; use dataset.image_size >= {MOBILENET_V2_MIN_SIZE}",
        ),
        (
            (*FLOWERS, "dataset.val_percent=50", "dataset.test_percent=50"),
            "dataset.val_percent=50 + dataset.test_percent=50 = 100: together they must be "
            "at most 99, so that images are left for training",
        ),
        (
            (
                "dataset=folder",
                "dataset.path=.",
                "dataset.val_fraction=0.5",
                "dataset.test_fraction=0.5",
            ),
            "dataset.val_fraction=0.5 + dataset.test_fraction=0.5 = 1: together they must be "
            "below 1, so that images are left for training",
        ),  # fmt: skip
        (
            ("dataset=folder",),
            "dataset.path is required: dataset.path=DIR, a folder with one subfolder per class",
        ),
        (
            ("augment.backend=torch",),
            "augment.backend='torch': must be one of keras, albumentations",
        ),
        (
            ("augment.flip_mode=diagonal",),
            "augment.flip_mode='diagonal': must be one of horizontal, vertical, "
            "horizontal_and_vertical",
        ),
        (
            ("augment.affine_flip=diagonal",),
            "augment.affine_flip='diagonal': must be null or one of horizontal, vertical, "
            "horizontal_and_vertical",
        ),
        (("augment.randaugment_ops=0",), "augment.randaugment_ops=0: must be >= 1"),
        (
            ("report.baseline='trainer.learning_rate='",),
            "report.baseline='trainer.learning_rate=': must be a value of augment (e.g. none) "
            "or key=value of a swept key (e.g. trainer.learning_rate=0.001)",
        ),
        (
            ("resources.gpus=[gpu-5d2c,'GPU-1,2',-1]",),
            "resources.gpus=['gpu-5d2c', 'GPU-1,2', -1]: 'gpu-5d2c', 'GPU-1,2', -1 is not a "
            "GPU id; use integers >= 0 or UUIDs (GPU-..., MIG-...) as CUDA_VISIBLE_DEVICES "
            "names them",
        ),
        (
            ("resources.gpus=[true]",),  # YAML's true is no GPU 1
            "resources.gpus=[True]: True is not a GPU id; use integers >= 0 or UUIDs "
            "(GPU-..., MIG-...) as CUDA_VISIBLE_DEVICES names them",
        ),
        (
            ("resources.gpus=all",),
            "resources.gpus='all': must be auto (every visible GPU), null or [] (no pool), "
            "or a list of GPU ids such as [0,1]",
        ),
    ],
)
def test_the_value_past_the_edge_is_refused_with_its_whole_message(overrides, problem):
    assert refused(*overrides) == [problem]


def test_a_problem_in_one_group_does_not_hide_those_of_another():
    problems = refused(
        "dataset.image_size=7", "model.filters=[8]", "dataset.margin=0.5", "model.dense_units=0"
    )
    assert problems == [
        "dataset.image_size=7: must be >= 8",
        "dataset.margin=0.5: must be in [0, 0.5)",
        "model.dense_units=0: must be >= 1",
    ]


def test_the_error_lists_every_problem_on_its_own_line_and_the_tag_on_one():
    error = ConfigError(["seed=-1: must be >= 0", "trainer.epochs=0: must be >= 1"])
    assert (
        str(error) == "invalid config:\n  seed=-1: must be >= 0\n  trainer.epochs=0: must be >= 1"
    )
    assert error.tag == "invalid config: seed=-1: must be >= 0; trainer.epochs=0: must be >= 1"


def test_a_custom_layer_spec_without_a_target_is_named():
    problems = refused("augment.layers=[{factor: 0.1}]")
    assert problems == [
        "augment.layers[0]={'factor': 0.1}: must be a mapping with a _target_ naming a layer "
        "class, e.g. keras.layers.RandomFlip"
    ]


def test_the_albumentations_backend_names_what_it_cannot_run():
    known = "flip, rotation"  # the start of the albumentations catalogue's list
    (problem,) = refused("augment=compose", "augment.use=[flip,randaugment]",
                         "augment.backend=albumentations")  # fmt: skip
    assert problem.startswith(
        "augment.use: 'randaugment' has no albumentations version; the albumentations backend "
        f"offers: {known}"
    ), problem
    assert problem.endswith(" (or use augment.backend=keras)")
    layers = refused("augment.backend=albumentations",
                     "augment.layers=[{_target_: keras.layers.RandomFlip}]")  # fmt: skip
    assert layers == [
        "augment.layers: custom Keras layer specs run with augment.backend=keras only; the "
        "albumentations backend runs the named techniques of augment.use"
    ]


def test_the_albumentations_backend_without_its_package_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "albumentations" else real(name, *a),
    )
    assert refused("augment=flip", "augment.backend=albumentations") == [
        "augment.backend=albumentations: the albumentations package is not installed; "
        f"install the optional extra: {ALBUMENTATIONS_HINT}"
    ]
    monkeypatch.undo()
    validate(compose_config("augment=flip", "augment.backend=albumentations"))
