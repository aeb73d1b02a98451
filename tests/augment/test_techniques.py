"""Every technique of the catalogue, as its augment option builds it: shapes, value range,
training-only, tf.data and model, seeds; and the label mixing of MixUp and CutMix."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from augsweep.augment.layers import AugMix
from augsweep.augment.policy import augmentation_block, build_policy
from augsweep.config.catalogue import policy_specs
from augsweep.config.checks import validate
from tests.helpers import CONF_DIR, TECHNIQUES, compose_config, photos

MIXING = ["mixup", "cutmix"]
PER_IMAGE = [name for name in TECHNIQUES if name not in MIXING]
# Techniques that legitimately leave a one-channel image as it is.
NO_CHANGE_ON_GRAY = {"grayscale"}


def technique(name: str, seed: int = 0, *overrides: str):
    """The layer that ``augment=<name>`` builds (validated like a run's config)."""
    cfg = compose_config(f"augment={name}", f"seed={seed}", *overrides)
    validate(cfg)
    policy = build_policy(cfg.augment, seed)
    (layer,) = policy.image_layers + policy.mix_layers
    return layer


def one_hot(n: int, classes: int = 10) -> np.ndarray:
    return keras.utils.to_categorical(np.arange(n) % classes, classes).astype("float32")


def apply(layer, images, training=True, labels=None):
    """Images (and labels) after ``layer``; mixing layers get ``{"images", "labels"}``."""
    if layer.__class__.__name__ in ("MixUp", "CutMix"):
        labels = one_hot(len(images)) if labels is None else labels
        out = layer({"images": images, "labels": labels}, training=training)
        return np.asarray(out["images"]), np.asarray(out["labels"])
    return np.asarray(layer(images, training=training)), labels


def assert_pixel_scale(before: np.ndarray, after: np.ndarray) -> None:
    """The output is still 0-255 pixels: in range, not squashed to [0, 1], not saturated.

    A layer built for another value range clips 0-255 input to [0, 1] (or saturates it),
    or rescales it; either fails here.
    """
    assert after.min() >= 0 and after.max() <= 255, (after.min(), after.max())
    assert np.percentile(after, 99) > 100, "squashed toward [0, 1]"
    assert (after >= 254.5).mean() < 0.5, "saturated at 255"
    assert (after <= 0.5).mean() < 0.5 + (before <= 0.5).mean(), "clipped to 0"


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", TECHNIQUES)
def test_technique_keeps_shape_dtype_and_pixel_scale(name, channels):
    images = photos(channels=channels)
    out, _ = apply(technique(name), images)
    assert out.shape == images.shape and out.dtype == np.float32
    assert_pixel_scale(images, out)
    if not (channels == 1 and name in NO_CHANGE_ON_GRAY):
        assert not np.allclose(out, images), f"{name} changed nothing"


def test_the_pixel_scale_check_catches_a_layer_built_for_another_range():
    images = photos()
    wrong = keras.layers.RandomBrightness(0.2, value_range=(0, 1), seed=0)
    with pytest.raises(AssertionError, match="squashed"):
        assert_pixel_scale(images, np.asarray(wrong(images, training=True)))


@pytest.mark.parametrize("name", TECHNIQUES)
def test_technique_is_identity_when_not_training(name):
    images, labels = photos(), one_hot(16)
    out, out_labels = apply(technique(name), images, training=False, labels=labels)
    np.testing.assert_array_equal(out, images)
    if out_labels is not None:
        np.testing.assert_array_equal(out_labels, labels)


@pytest.mark.parametrize("name", PER_IMAGE)
def test_per_image_technique_works_in_tf_data_and_in_the_model(name):
    images = photos(channels=3)
    mapped_layer, model_layer = technique(name), technique(name)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(8).map(mapped_layer)
    mapped = np.concatenate(list(ds.as_numpy_iterator()))
    assert mapped.shape == images.shape and not np.allclose(mapped, images)
    assert_pixel_scale(images, mapped)

    model = keras.Sequential([keras.Input(images.shape[1:]), augmentation_block([model_layer])])
    trained = np.asarray(model(images, training=True))
    assert not np.allclose(trained, images)
    assert_pixel_scale(images, trained)
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)


@pytest.mark.parametrize("name", MIXING)
def test_mixing_technique_works_in_tf_data_on_images_and_labels(name):
    images, labels = photos(), one_hot(16)
    layer = technique(name)

    def mix(x, y):
        out = layer({"images": x, "labels": y})
        return out["images"], out["labels"]

    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8).map(mix)
    mixed_images, mixed_labels = (
        np.concatenate(a) for a in zip(*ds.as_numpy_iterator(), strict=True)
    )
    assert mixed_images.shape == images.shape and not np.allclose(mixed_images, images)
    np.testing.assert_allclose(mixed_labels.sum(axis=1), 1.0, atol=1e-6)
    assert (mixed_labels.max(axis=1) < 1).any()  # some labels are mixed


@pytest.mark.parametrize("name", TECHNIQUES)
def test_same_seed_same_output_other_seed_different(name):
    images = photos(n=32)
    first, _ = apply(technique(name, seed=1), images)
    again, _ = apply(technique(name, seed=1), images)
    other, _ = apply(technique(name, seed=2), images)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_magnitudes_follow_the_short_keys():
    assert technique("rotation", 0, "augment.rotation=0.2").factor == (-0.2, 0.2)
    assert technique("zoom", 0, "augment.zoom=0.15").height_factor == 0.15
    assert technique("flip", 0, "augment.flip_mode=vertical").mode == "vertical"
    assert technique("mixup", 0, "augment.mixup=0.4").alpha == 0.4
    assert technique("noise", 0, "augment.noise=0.1").stddev == 0.1
    assert technique("affine", 0, "augment.shear=0.3").shear == (-0.3, 0.3)


def test_noise_is_scaled_to_pixels():
    images = np.full((8, 32, 32, 3), 127.5, "float32")
    out, _ = apply(technique("noise", 0, "augment.noise=0.05"), images)
    assert np.std(out - images) == pytest.approx(0.05 * 255, rel=0.05)


def test_color_jitter_saturation_varies_both_ways():
    # A saturation jitter of 0.2 multiplies saturation by 0.8-1.2; Keras's own
    # saturation_factor=0.2 would always desaturate (factor 0-0.25).
    rgb = np.zeros((64, 8, 8, 3), "float32")
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200.0, 120.0, 80.0
    layer = technique(
        "color_jitter", 0, *(f"augment.{k}=0" for k in ("brightness", "contrast", "hue"))
    )
    out = np.asarray(layer(rgb, training=True))
    spread = out.max(axis=-1) - out.min(axis=-1)  # proportional to saturation at fixed value
    ratio = spread[:, 0, 0] / 120.0
    assert ratio.min() < 0.95 and ratio.max() > 1.05
    assert ratio.min() > 0.75 and ratio.max() < 1.25


def test_color_jitter_keeps_gray_images_gray_and_one_channel():
    gray = photos(channels=1)
    out, _ = apply(technique("color_jitter"), gray)
    assert out.shape == gray.shape and not np.allclose(out, gray)


def test_mixup_labels_sum_to_one_and_weigh_the_images_as_mixed():
    # Image i is a constant 10 * i: a mixed pixel must be the label-weighted mean.
    n = 10
    images = np.ones((n, 8, 8, 3), "float32") * (10.0 * np.arange(n))[:, None, None, None]
    out, labels = apply(technique("mixup", 0, "augment.mixup=1.0"), images, labels=one_hot(n))
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert (labels.max(axis=1) < 0.99).any()
    np.testing.assert_allclose(out[:, 0, 0, 0], labels @ (10.0 * np.arange(n)), atol=1e-3)


@pytest.mark.parametrize("seed", range(5))
def test_cutmix_label_weights_match_the_pasted_area(seed):
    # Image i is a constant 10 * i + 5; the share of pixels that are not its own value is
    # the area pasted from its partner, which must be its partner's label weight.
    n, size = 10, 16  # small images: where the area is rounded to whole pixels
    values = 10.0 * np.arange(n) + 5
    images = np.ones((n, size, size, 1), "float32") * values[:, None, None, None]
    out, labels = apply(technique("cutmix", seed), images, labels=one_hot(n))
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    pasted = (out[..., 0] != values[:, None, None]).mean(axis=(1, 2))
    own_weight = labels[np.arange(n), np.arange(n)]
    assert (pasted > 0).any()
    np.testing.assert_allclose(1.0 - own_weight, pasted, atol=1e-6)


@pytest.mark.parametrize("name", TECHNIQUES)
def test_every_layer_that_takes_a_value_range_is_given_0_255(name):
    import inspect

    from hydra.utils import get_object

    spec = compose_config().augment.techniques.keras[name]
    if "value_range" in inspect.signature(get_object(spec["_target_"])).parameters:
        assert list(spec.value_range) == [0, 255]


ALBUMENTATIONS = [
    name
    for name in OmegaConf.load(CONF_DIR / "techniques" / "albumentations.yaml")
    if name not in MIXING
]


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", ALBUMENTATIONS)
def test_albumentations_technique_keeps_shape_dtype_and_pixel_scale(name, channels):
    cfg = compose_config(f"augment={name}", "augment.backend=albumentations")
    validate(cfg)
    transform = build_policy(cfg.augment, 0).image_transform
    images = photos(n=32, channels=channels)
    labels = np.zeros(32, "int32")
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).map(transform.on_tensor)
    out = np.stack([image for image, _ in ds.as_numpy_iterator()])
    assert out.shape == images.shape and out.dtype == np.float32
    assert_pixel_scale(images, out)
    if not (channels == 1 and name in NO_CHANGE_ON_GRAY):
        assert np.abs(out - images).max() > 1, f"{name} changed nothing"


def test_every_technique_has_an_option_of_its_name_and_the_combinations_exist():
    options = {p.stem for p in (CONF_DIR / "augment").glob("*.yaml")}
    assert set(TECHNIQUES) | {"none", "flip_rot_zoom", "light", "medium", "heavy"} <= options
    for name in TECHNIQUES:
        assert list(compose_config(f"augment={name}").augment.use) == [name]


def test_flip_rot_zoom_is_still_the_classic_policy_resampled_once():
    cfg = compose_config("augment=flip_rot_zoom")
    specs = policy_specs(cfg.augment)
    (affine,) = specs
    assert affine["_target_"] == "augsweep.augment.layers.RandomAffine"
    assert affine.flip == "horizontal" and affine.rotation == affine.zoom == 0.1
    assert affine.translation == affine.shear == 0 and affine.fill_mode == "constant"


def test_medium_fuses_its_crop_rotation_and_zoom():
    cfg = compose_config("augment=medium", "augment.crop=0.2")
    (affine, _) = policy_specs(cfg.augment)
    assert (affine.translation, affine.rotation, affine.zoom, affine.shear) == (0.2, 0.1, 0.1, 0)
    assert affine.flip == "horizontal"


def test_augmix_draws_its_operations_per_call_in_graph_mode():
    layer = AugMix(seed=0)
    images = photos(n=4, size=16)
    draw = tf.function(lambda x: layer.get_random_transformation(x)["choices"])
    choices = {tuple(draw(images).numpy().ravel()) for _ in range(4)}
    assert len(choices) > 1  # a graph traced once still draws new operations
