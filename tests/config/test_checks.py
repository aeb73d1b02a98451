"""Value checks of a composed config: each bad value is named with what is allowed, before
TensorFlow is imported and before any MLflow run exists (``python train.py`` exits 2)."""

from __future__ import annotations

import pytest

from augsweep.config.checks import MOBILENET_V2_LAYERS, ConfigError, validate
from tests.helpers import ROOT, compose_config, run_cli, stored_runs


def problems(*overrides: str) -> str:
    """The message :func:`validate` raises for the config with ``overrides``."""
    with pytest.raises(ConfigError) as error:
        validate(compose_config(*overrides))
    return str(error.value)


@pytest.mark.parametrize(
    "override,expected",
    [
        ("trainer.epochs=0", "trainer.epochs=0: must be >= 1"),
        ("trainer.learning_rate=-1", "trainer.learning_rate=-1.0: must be > 0"),
        ("dataset.val_fraction=1.5", "dataset.val_fraction=1.5: must be in (0, 1)"),
        ("dataset.train_samples=0", "dataset.train_samples=0"),
        ("trainer.verbose=5", "must be one of 0, 1, 2"),
        ("trainer.feature_cache=on", "trainer.feature_cache='on': must be one of auto, off"),
        ("trainer.clean_eval_samples=0", "trainer.clean_eval_samples=0: must be null"),
        ("trainer.jit_compile=yes", "trainer.jit_compile='yes': must be one of auto, true, false"),
        ("trainer.jit_compile=1", "trainer.jit_compile=1: must be one of auto, true, false"),
        ("trainer.steps_per_execution=0", "trainer.steps_per_execution=0: must be >= 1"),
        (
            "trainer.keras_backend=torch",
            "trainer.keras_backend='torch': must be one of tensorflow, jax",
        ),
        (
            "trainer.mixed_precision=float8",
            "trainer.mixed_precision='float8': must be one of "
            "false, float16, bfloat16 (true: float16)",
        ),
        (
            "trainer.keras_backend=jax augment.placement=dataset",
            "augment.placement=dataset with trainer.keras_backend=jax: augmentation in the input "
            "pipeline runs in tf.data; use augment.placement=model, or use "
            "trainer.keras_backend=tensorflow",
        ),
        (
            "trainer.keras_backend=jax dataset=tf_flowers",
            "dataset=tf_flowers with trainer.keras_backend=jax: TensorFlow Datasets needs "
            "TensorFlow; use dataset=folder",
        ),
        (
            "trainer.keras_backend=jax augment.backend=albumentations",
            "augment.backend=albumentations with trainer.keras_backend=jax",
        ),
        ("dataset=tf_flowers dataset.val_percent=100", "dataset.val_percent=100: must be in"),
        ("dataset=tf_flowers dataset.val_percent=0", "dataset.val_percent=0: must be in 1..99"),
        ("dataset=tf_flowers dataset.cache=[1]", "dataset.cache=[1]: must be true"),
        ("dataset=folder", "dataset.path is required"),
        ("dataset=folder dataset.path=/no/such/dir", "dataset.path=/no/such/dir: no such"),
        ("dataset=folder dataset.path=. dataset.on_bad_file=ignore", "must be one of fail, skip"),
        ("model=mobilenet_v2 model.weights=coco", "model.weights=coco: must be imagenet or null"),
        ("model=mobilenet_v2 model.dropout=1.5", "model.dropout=1.5: must be in [0, 1)"),
        ("report.baseline=''", "report.baseline='': must be a value of augment (e.g. none)"),
    ],
)
def test_out_of_range_values_are_named(override, expected):
    assert expected in problems(*override.split())


# digits: 1,797 images; test_fraction=0.2 holds out 360 and val_fraction=0.3 540, which
# leaves 897 for training.
DIGITS_RANGE = "must be -1 (all 897) or in 10..887"


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["dataset.train_samples=5"], ["dataset.train_samples=5:", DIGITS_RANGE]),
        (["dataset.train_samples=5000"], ["dataset.train_samples=5000:", DIGITS_RANGE]),
        (
            ["dataset.train_samples=100000"],
            ["dataset.train_samples=100000:", DIGITS_RANGE, "lower dataset.val_fraction or "],
        ),
        (["trainer.batch_size=0"], ["trainer.batch_size=0: must be >= 1"]),
        (["trainer.eval_batch_size=-3"], ["trainer.eval_batch_size=-3: must be >= 1"]),
        (
            # Holds out 1,420 + 360 images: 17 are left, too few to draw 100 from.
            ["dataset.val_fraction=0.79"],
            ["dataset.train_samples=100: must be -1 (all 17)", "dataset.val_fraction=0.79 with"],
        ),
        (
            ["dataset.val_fraction=0.001"],
            ["dataset.val_fraction=0.001: holds out 2 of digits' 1797", "at least 0.006"],
        ),
        (
            ["dataset.test_fraction=0.001"],
            ["dataset.test_fraction=0.001: holds out 2 of digits' 1797", "at least 0.006"],
        ),
        (
            ["dataset.val_fraction=0.5", "dataset.test_fraction=0.495"],
            ["hold out 899 + 890 of digits' 1797 images, leaving 8 for training"],
        ),
        (
            ["dataset.val_fraction=0.9"],
            [
                "dataset.val_fraction=0.9 + dataset.test_fraction=0.2 = 1.1: together they must "
                "be below 1"
            ],
        ),
        (
            ["dataset=folder", "dataset.path=.", "dataset.test_fraction=1.0"],
            ["dataset.test_fraction=1.0: must be in (0, 1)"],
        ),
        (
            ["dataset=tf_flowers", "dataset.val_percent=60", "dataset.test_percent=40"],
            [
                "dataset.val_percent=60 + dataset.test_percent=40 = 100: together they must be at "
                "most 99"
            ],
        ),
        (
            ["dataset.image_size=8", "model.filters=[16,32,64,128]"],
            [
                "dataset.image_size=8 with model.filters=[16, 32, 64, 128]",
                "use dataset.image_size >= 16, or at most 3 entries in model.filters",
            ],
        ),
        (
            ["model=mobilenet_v2", "dataset.image_size=16"],
            ["dataset.image_size=16: model=mobilenet_v2 needs", "dataset.image_size >= 32"],
        ),
        (
            ["model=mobilenet_v2", "model.fine_tune_layers=155"],
            ["model.fine_tune_layers=155: must be in 0..154"],
        ),
        (
            ["model=mobilenet_v2", "model.fine_tune_layers=1000"],
            ["model.fine_tune_layers=1000: must be in 0..154"],
        ),
    ],
)
def test_bounds_known_from_the_config_are_named_with_the_allowed_range(overrides, expected):
    message = problems(*overrides)
    for part in expected:
        assert part in message


def test_every_problem_is_listed_in_one_error():
    message = problems("trainer.epochs=0", "dataset.train_samples=5", "augment.rotation=2")
    assert message.startswith("invalid config:\n  ")
    assert "trainer.epochs=0" in message and "dataset.train_samples=5" in message
    assert "augment.rotation=2.0" in message and len(message.splitlines()) == 4


def test_a_file_or_a_missing_folder_as_dataset_path_is_named(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not really a jpeg")
    message = problems("dataset=folder", f"dataset.path={photo}")
    assert f"dataset.path={photo}: is a file" in message
    assert "give the folder that holds one subfolder of images per class" in message
    missing = tmp_path / "nope"
    assert f"dataset.path={missing}: no such directory" in problems(
        "dataset=folder", f"dataset.path={missing}"
    )
    validate(compose_config("dataset=folder", f"dataset.path={tmp_path}"))  # a folder: fine


def test_a_relative_dataset_path_is_checked_against_the_launch_dir(tmp_path, monkeypatch):
    (tmp_path / "photos").mkdir()
    monkeypatch.chdir(tmp_path)
    validate(compose_config("dataset=folder", "dataset.path=photos"))
    assert f"no such directory ({tmp_path / 'photoz'})" in problems(
        "dataset=folder", "dataset.path=photoz"
    )


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (
            ["augment=compose", "augment.use=[flip,rotaton]"],
            "augment.use: unknown technique 'rotaton'; valid names: flip, rotation, zoom, crop",
        ),
        (["augment.placement=gpu"], "augment.placement='gpu': must be one of model, dataset"),
        (["augment.backend=torch"], "augment.backend='torch': must be one of keras"),
        (["augment.flip_mode=diagonal"], "augment.flip_mode='diagonal'"),
        (["augment.rotation=1.5"], "augment.rotation=1.5: must be in [0.0, 1.0]"),
        (["augment=affine", "augment.shear=-0.1"], "augment.shear=-0.1: must be in [0.0, 1.0]"),
        (["augment.affine_flip=diagonal"], "augment.affine_flip='diagonal': must be null or"),
        (["augment.mixup=0"], "augment.mixup=0.0: must be > 0.0"),
        (
            ["augment=randaugment", "augment.backend=albumentations"],
            "'randaugment' has no albumentations version",
        ),
    ],
)
def test_bad_augment_values_are_named_before_training(overrides, expected):
    assert expected in problems(*overrides)


@pytest.mark.parametrize("train_samples", [10, 887, 897, -1])
def test_digits_train_samples_allowed_by_the_check_load(train_samples):
    from augsweep.data.digits import load_digits

    cfg = compose_config(f"dataset.train_samples={train_samples}", "dataset.image_size=8")
    validate(cfg)
    splits = load_digits(train_samples=train_samples, image_size=8)
    assert splits.num_train == (897 if train_samples == -1 else train_samples)


@pytest.mark.parametrize("train_samples", [9, 888, 896, 898])
def test_digits_train_samples_refused_by_the_check_would_fail_in_the_loader(train_samples):
    from augsweep.data.digits import load_digits

    assert f"dataset.train_samples={train_samples}: " in problems(
        f"dataset.train_samples={train_samples}"
    )
    with pytest.raises(ValueError):  # scikit-learn's stratified split, or too few images
        load_digits(train_samples=train_samples, image_size=8)


@pytest.mark.parametrize("image_size,blocks", [(8, 3), (16, 4), (17, 4), (32, 5)])
def test_the_pooling_depth_allowed_by_the_check_builds_and_one_more_block_does_not(
    image_size, blocks
):
    import keras

    from augsweep.models import small_cnn

    filters = [4] * blocks
    validate(compose_config(f"dataset.image_size={image_size}", f"model.filters={filters}"))
    model = small_cnn(filters=filters, input_shape=(image_size, image_size, 1), num_classes=2)
    assert model.output_shape == (None, 2)
    deeper = [4] * (blocks + 1)
    assert f"model.filters={deeper}" in problems(
        f"dataset.image_size={image_size}", f"model.filters={deeper}"
    )
    keras.utils.clear_session()
    with pytest.raises(ValueError):  # Keras cannot build a 0x0 feature map
        small_cnn(filters=deeper, input_shape=(image_size, image_size, 1), num_classes=2)


def test_mobilenet_v2_layers_constant_matches_keras():
    import keras

    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert len(base.layers) == MOBILENET_V2_LAYERS


@pytest.mark.slow
def test_bad_config_from_cli_creates_no_run_and_never_imports_tensorflow(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not a folder")
    cases = [
        # Composition errors (typos, types, unknown options): Hydra's own message, exit 1.
        (1, "trainer.epoch=3", "trainer.epoch"),
        (1, "augment=flipp", "augment"),
        (1, "trainer.epochs=abc", "trainer.epochs"),
        # Value checks: one message, exit 2.
        (2, "augment.use=[rotaton]", "augment.use: unknown technique 'rotaton'"),
        (2, "trainer.batch_size=0", "trainer.batch_size=0: must be >= 1"),
        (2, "dataset.train_samples=5", f"dataset.train_samples=5: {DIGITS_RANGE}"),
        (2, "model.filters=[8,8,8,8,8,8]", "dataset.image_size=32 with model.filters="),
        (2, f"dataset=folder dataset.path={photo}", f"dataset.path={photo}: is a file"),
    ]
    for code, overrides, expected in cases:
        result = run_cli(
            "-X", "importtime", str(ROOT / "train.py"), *overrides.split(),
            f"tracking.uri=sqlite:///{db}", cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == code, (overrides, result.stderr[-3000:])
        assert expected in result.stderr, (overrides, result.stderr[-3000:])
        assert "Traceback" not in result.stderr, overrides
        if code == 2:
            assert f"augsweep: invalid config:\n  {expected}" in result.stderr
        imported = {
            line.split("|")[-1].strip()
            for line in result.stderr.splitlines()
            if line.startswith("import time:")
        }
        assert "tensorflow" not in imported and "mlflow" not in imported, overrides
    assert stored_runs(db) == 0 and not db.exists()
