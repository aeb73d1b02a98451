"""Policies as a run builds them: composition, where each part runs (the model's block, the
input pipeline), the albumentations backend, and saving a model with custom layers."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from augsweep.augment.layers import AugMix
from augsweep.augment.policy import Policy, build_policy
from augsweep.augment.preview import augment_preview
from augsweep.config.checks import ConfigError, validate
from augsweep.data.pipeline import input_pipelines
from augsweep.data.splits import Splits
from augsweep.models import build_classifier
from tests.helpers import CONF_DIR, compose_config, photos

SHAPE = (24, 24, 3)
CLASSES = 4
OPTIONS = sorted(path.stem for path in (CONF_DIR / "augment").glob("*.yaml"))


def policy(*overrides: str, seed: int = 0) -> Policy:
    cfg = compose_config(*overrides)
    validate(cfg)
    return build_policy(cfg.augment, seed)


def tiny_splits(n: int = 16) -> Splits:
    images = photos(n=n, size=SHAPE[0])
    labels = np.arange(n, dtype=np.int32) % CLASSES
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    return Splits(ds, ds, ds, [f"c{i}" for i in range(CLASSES)], SHAPE, n, "test", test=ds,
                  num_val=n, num_test=n)  # fmt: skip


@pytest.mark.parametrize("option", OPTIONS)
def test_every_augment_option_composes_builds_and_augments_a_batch(option):
    # What `-m augment=glob(*)` asks of each option, without a training each: its config
    # passes the checks (default dataset: digits, one channel) and its policy, wherever
    # each part runs, augments a batch as training does.
    chosen = policy(f"augment={option}")
    images = photos(n=4, size=SHAPE[0], channels=1)
    labels = np.eye(CLASSES, dtype=np.float32)[np.arange(4) % CLASSES]

    rows, row_labels = augment_preview(chosen, images, labels, draws=1)

    assert rows.shape == (4, 2, *images.shape[1:]) and np.isfinite(rows).all()
    np.testing.assert_array_equal(rows[:, 0], images)  # the originals, untouched
    np.testing.assert_allclose(row_labels.sum(axis=-1), 1.0, rtol=1e-5)  # mixed or not
    # compose's default list is empty: no augmentation; a one-channel image is its own
    # grayscale.
    if option in ("none", "compose", "grayscale"):
        np.testing.assert_array_equal(rows[:, 1], images)
    else:
        assert not np.allclose(rows[:, 1], images), f"augment={option} changed nothing"


def pipelines(splits: Splits, built: Policy):
    """The run's input pipelines with the policy's stages, as a run builds them."""
    return input_pipelines(
        splits,
        8,
        0,
        augment_example=built.example_stage(),
        augment_batch=built.batch_stage(),
    )


def arrays(batched):
    images, labels = zip(*batched.as_numpy_iterator(), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def test_composition_from_the_command_line_is_named_after_its_techniques():
    cfg = compose_config("augment=compose", "augment.use=[flip,rotation,erasing]")
    validate(cfg)
    assert cfg.augment.name == "flip+rotation+erasing"
    assert compose_config("augment=compose").augment.name == "none"
    built = policy("augment=compose", "augment.use=[flip,rotation,erasing]")
    names = [type(layer).__name__ for layer in built.image_layers]
    assert names == ["RandomFlip", "RandomRotation", "RandomErasing"]
    assert [layer.seed for layer in built.image_layers] == [0, 1, 2]


def test_no_augmentation_has_no_pipeline_stage_and_an_identity_block():
    built = policy("augment=none")
    assert built.example_stage() is None and built.batch_stage() is None
    block = built.model_block()
    assert block.name == "augment" and [type(x).__name__ for x in block.layers] == ["Identity"]


def test_model_placement_keeps_per_image_layers_in_the_model_and_mixes_in_the_pipeline():
    built = policy("augment=compose", "augment.use=[flip,rotation,mixup]")
    assert [type(x).__name__ for x in built.model_layers] == ["RandomFlip", "RandomRotation"]
    assert [type(x).__name__ for x in built.mix_layers] == ["MixUp"]
    block = built.model_block()
    assert block.name == "augment" and block.layers == built.model_layers
    assert built.example_stage() is None and built.batch_stage() is not None
    splits = tiny_splits()
    train, val, clean = pipelines(splits, built)
    train_images, train_labels = arrays(train)
    np.testing.assert_allclose(train_labels.sum(axis=1), 1.0, atol=1e-6)
    assert (train_labels.max(axis=1) < 0.99).any()  # mixed
    raw = np.stack([image for image, _ in splits.train.as_numpy_iterator()])
    for batches in (val, clean):  # never augmented, never mixed: the images in order
        images, labels = arrays(batches)
        np.testing.assert_array_equal(images, raw)
        np.testing.assert_array_equal(labels, keras.utils.to_categorical(np.arange(16) % 4, 4))


def test_dataset_placement_augments_training_batches_only_and_the_model_has_none():
    built = policy("augment=compose", "augment.use=[rotation,noise]", "augment.placement=dataset")
    assert built.model_layers == [] and len(built.image_layers) == 2
    model = build_classifier(
        compose_config().model, built.model_block(), input_shape=SHAPE, num_classes=CLASSES
    )
    assert [type(x).__name__ for x in model.get_layer("augment").layers] == ["Identity"]
    splits = tiny_splits()
    train, val, _ = pipelines(splits, built)
    raw = np.stack([image for image, _ in splits.train.as_numpy_iterator()])
    train_images, train_labels = arrays(train)
    assert train_images.shape == raw.shape and train_images.max() <= 255
    # Shuffled and augmented: no training image is any raw image.
    assert min(np.abs(train_images[0] - r).max() for r in raw) > 1
    assert np.all(train_labels.max(axis=1) == 1)  # per-image layers keep labels
    np.testing.assert_array_equal(arrays(val)[0], raw)


def test_albumentations_backend_runs_in_the_input_pipeline():
    built = policy("augment=flip_rot_zoom", "augment.backend=albumentations")
    assert built.model_layers == [] and built.image_transform is not None
    assert built.example_stage() is not None and built.batch_stage() is None
    splits = tiny_splits()
    train, val, _ = pipelines(splits, built)
    raw = np.stack([image for image, _ in splits.train.as_numpy_iterator()])
    train_images, _ = arrays(train)
    assert train_images.shape == raw.shape and train_images.dtype == np.float32
    assert train_images.min() >= 0 and train_images.max() <= 255
    assert np.percentile(train_images, 99) > 100
    assert min(np.abs(train_images[0] - r).max() for r in raw) > 1
    np.testing.assert_array_equal(arrays(val)[0], raw)


def test_albumentations_mixes_labels_with_the_keras_layers():
    built = policy("augment=compose", "augment.use=[flip,cutmix]", "augment.backend=albumentations")
    assert built.image_transform is not None and built.mixes_labels
    _, labels = built.draw(photos(n=8, size=16), keras.utils.to_categorical(np.arange(8), 8))
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)


def test_albumentations_seed_gives_the_same_draws():
    images = photos(n=8)
    labels = keras.utils.to_categorical(np.arange(8), 8)
    first = policy("augment=medium", "augment.backend=albumentations", seed=3).draw(images, labels)
    again = policy("augment=medium", "augment.backend=albumentations", seed=3).draw(images, labels)
    other = policy("augment=medium", "augment.backend=albumentations", seed=4).draw(images, labels)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])


def test_missing_albumentations_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "albumentations", None)  # `import albumentations` fails
    cfg = compose_config("augment=flip", "augment.backend=albumentations")
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[albumentations\]"'):
        validate(cfg)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[albumentations\]"'):
        build_policy(cfg.augment, 0)


def test_custom_layers_reload_from_a_saved_model(tmp_path):
    built = policy("augment=compose", "augment.use=[noise,color_jitter,augmix]")
    model = build_classifier(
        compose_config().model, built.model_block(), input_shape=SHAPE, num_classes=CLASSES
    )
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    block = reloaded.get_layer("augment")
    assert [type(x).__name__ for x in block.layers] == [
        "RandomGaussianNoise",
        "ColorJitter",
        "AugMix",
    ]
    assert block.layers[1].get_config()["saturation"] == 0.2
    images = photos(n=4)
    np.testing.assert_allclose(
        reloaded.predict(images, verbose=0), model.predict(images, verbose=0)
    )


def augmix_batches(seed: int, batches: int = 3):
    """AugMix mapped over one batch repeated in ``tf.data``, through ``keras.layers.Pipeline``
    as a dataset-placed policy runs it: the images, and the operations drawn.

    Small chains keep the traced graph small. The map is sequential: a parallel map updates
    the layer's generator in a racing order.
    """
    layer = AugMix(value_range=(0, 255), num_chains=2, chain_depth=1, seed=seed)
    pipeline = keras.layers.Pipeline([layer])
    images = photos(n=4, size=16)

    def augment(x):
        return pipeline(x, training=True), layer.get_random_transformation(x)["choices"]

    ds = tf.data.Dataset.from_tensors(images).repeat(batches).map(augment)
    outputs, choices = zip(*ds.as_numpy_iterator(), strict=True)
    return np.stack(outputs), np.stack(choices)


def test_augmix_in_tf_data_draws_new_operations_per_batch_reproducibly():
    outputs, choices = augmix_batches(seed=5)
    assert len({c.tobytes() for c in choices}) == len(choices)  # not one frozen choice
    assert len({o.tobytes() for o in outputs}) == len(outputs)
    again, again_choices = augmix_batches(seed=5)
    np.testing.assert_array_equal(outputs, again)
    np.testing.assert_array_equal(choices, again_choices)
    other, _ = augmix_batches(seed=6)
    assert not np.array_equal(outputs, other)


def test_no_module_imports_keras_private_api():
    import augsweep

    sources = Path(augsweep.__file__).parent.rglob("*.py")
    offenders = [str(path) for path in sources if re.search(r"\bkeras\.src\b", path.read_text())]
    assert offenders == []
