"""Policies as a run builds them: composition, where each part runs, the albumentations
backend, config errors before training, and the preview."""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from augsweep.augment import build_policy
from augsweep.data import Splits
from augsweep.entry import readable_overrides
from augsweep.layers import AugMix
from augsweep.models import build_classifier
from augsweep.techniques import policy_specs
from augsweep.train import augment_preview, input_pipelines, label_captions, logged_params
from augsweep.validation import ConfigError, validate

from .conftest import CONF_DIR, compose_config
from .test_augment_lib import TECHNIQUES, photos

SHAPE = (24, 24, 3)
CLASSES = 4


def policy(*overrides: str, seed: int = 0):
    cfg = compose_config(*overrides)
    validate(cfg)
    return build_policy(cfg.augment, seed)


def tiny_splits(n: int = 16) -> Splits:
    images = photos(n=n, size=SHAPE[0])
    labels = np.arange(n, dtype=np.int32) % CLASSES
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    return Splits(ds, ds, ds, [f"c{i}" for i in range(CLASSES)], SHAPE, n, "test")


def arrays(batched):
    images, labels = zip(*batched.as_numpy_iterator(), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def test_every_technique_has_an_option_of_its_name_and_the_combinations_exist():
    options = {p.stem for p in (CONF_DIR / "augment").glob("*.yaml")}
    assert set(TECHNIQUES) | {"none", "flip_rot_zoom", "light", "medium", "heavy"} <= options
    for name in TECHNIQUES:
        assert list(compose_config(f"augment={name}").augment.use) == [name]


def test_flip_rot_zoom_is_still_the_classic_policy():
    cfg = compose_config("augment=flip_rot_zoom")
    specs = policy_specs(cfg.augment)
    assert [s["_target_"] for s in specs] == [
        "keras.layers.RandomFlip",
        "keras.layers.RandomRotation",
        "keras.layers.RandomZoom",
    ]
    assert specs[0].mode == "horizontal"
    assert specs[1].factor == specs[2].height_factor == 0.1
    assert specs[1].fill_mode == specs[2].fill_mode == "constant"


def test_composition_from_the_command_line_is_named_after_its_techniques():
    cfg = compose_config("augment=compose", "augment.use=[flip,rotation,erasing]")
    validate(cfg)
    assert cfg.augment.name == "flip+rotation+erasing"
    assert compose_config("augment=compose").augment.name == "none"
    built = policy("augment=compose", "augment.use=[flip,rotation,erasing]")
    names = [type(layer).__name__ for layer in built.image_layers]
    assert names == ["RandomFlip", "RandomRotation", "RandomErasing"]
    assert [layer.seed for layer in built.image_layers] == [0, 1, 2]


def test_run_names_show_the_composition():
    shown = readable_overrides(
        ["augment=compose", "augment.use=[flip,rotation]", "seed=1"], "flip+rotation"
    )
    assert shown == ["augment=flip+rotation", "seed=1"]
    assert readable_overrides(["augment=flip", "seed=1"], "flip") == ["augment=flip", "seed=1"]


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["augment=compose", "augment.use=[flip,rotaton]"], "unknown technique 'rotaton'"),
        (["augment=compose", "augment.use=[flip,rotaton]"], "rotation, zoom, crop"),
        (["augment.placement=gpu"], "augment.placement='gpu': must be one of model, dataset"),
        (["augment.backend=torch"], "augment.backend='torch': must be one of keras"),
        (["augment.flip_mode=diagonal"], "augment.flip_mode='diagonal'"),
        (["augment.rotation=1.5"], "augment.rotation=1.5: must be in [0.0, 1.0]"),
        (["augment.mixup=0"], "augment.mixup=0.0: must be > 0.0"),
        (
            ["augment=randaugment", "augment.backend=albumentations"],
            "'randaugment' has no albumentations version",
        ),
    ],
)
def test_bad_augment_values_are_named_before_training(overrides, expected):
    with pytest.raises(ConfigError) as error:
        validate(compose_config(*overrides))
    assert expected in str(error.value)


def test_short_keys_are_typed_at_compose_time():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="augment.rotation"):
        compose_config("augment.rotation=large")
    with pytest.raises(ConfigCompositionException, match="augment.rotaton"):
        compose_config("augment.rotaton=0.2")


def test_model_placement_keeps_per_image_layers_in_the_model_and_mixes_in_the_pipeline():
    built = policy("augment=compose", "augment.use=[flip,rotation,mixup]")
    assert [type(x).__name__ for x in built.model_layers] == ["RandomFlip", "RandomRotation"]
    assert [type(x).__name__ for x in built.mix_layers] == ["MixUp"]
    splits = tiny_splits()
    train, val, clean = input_pipelines(splits, built, batch_size=8, seed=0)
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
        compose_config().model, built.model_layers, input_shape=SHAPE, num_classes=CLASSES
    )
    assert [type(x).__name__ for x in model.get_layer("augment").layers] == ["Identity"]
    splits = tiny_splits()
    train, val, _ = input_pipelines(splits, built, batch_size=8, seed=0)
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
    splits = tiny_splits()
    train, val, _ = input_pipelines(splits, built, batch_size=8, seed=0)
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


def test_augmix_draws_its_operations_per_call_in_graph_mode():
    layer = AugMix(seed=0)
    images = photos(n=4, size=16)
    draw = tf.function(lambda x: layer.get_random_transformation(x)["choices"])
    choices = {tuple(draw(images).numpy().ravel()) for _ in range(4)}
    assert len(choices) > 1  # a graph traced once still draws new operations


def test_preview_shows_dataset_placed_layers():
    built = policy("augment=rotation", "augment.placement=dataset")
    images = photos(n=8)
    grid, labels = augment_preview(built, images, keras.utils.to_categorical(np.arange(8), 8))
    assert grid.shape == (8, 5, *images.shape[1:]) and labels.shape == (8, 5, 8)
    np.testing.assert_array_equal(grid[:, 0], images)
    for draw in range(1, 5):
        assert not np.allclose(grid[:, draw], images)


def test_preview_shows_mixed_images_with_their_mixed_labels():
    built = policy("augment=mixup", "augment.mixup=1.0")
    n = 8
    images = np.ones((n, 8, 8, 3), "float32") * (20.0 * np.arange(n))[:, None, None, None]
    grid, labels = augment_preview(built, images, keras.utils.to_categorical(np.arange(n), n))
    np.testing.assert_allclose(labels.sum(axis=-1), 1.0, atol=1e-6)
    assert (labels[:, 1:].max(axis=-1) < 0.99).any()
    # Each shown image is the label-weighted mix of the originals.
    np.testing.assert_allclose(grid[..., 0, 0, 0], labels @ (20.0 * np.arange(n)), atol=1e-3)
    captions = label_captions(labels, [str(i) for i in range(n)])
    assert captions.shape == (n, 5) and captions[0, 0] == "0: 1.00"
    mixed = captions[labels.max(axis=-1) < 0.99]
    assert all(", " in caption for caption in mixed)


def test_logged_params_hold_only_the_techniques_used():
    cfg = compose_config("augment=compose", "augment.use=[flip,rotation]")
    params = logged_params(cfg)
    assert set(params.augment.techniques) == {"keras"}
    assert set(params.augment.techniques.keras) == {"flip", "rotation"}
    assert params.augment.techniques.keras.rotation.factor == 0.1
    assert "mixup" in cfg.augment.techniques.keras  # the run's own config is untouched


def test_custom_layers_reload_from_a_saved_model(tmp_path):
    built = policy("augment=compose", "augment.use=[noise,color_jitter,augmix]")
    model = build_classifier(
        compose_config().model, built.model_layers, input_shape=SHAPE, num_classes=CLASSES
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
