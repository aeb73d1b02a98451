"""The fused affine layer: Keras's distributions, the chain's composition, one resampling.

Shape, pixel range, seeds, tf.data and identity at inference are checked with every technique
in ``test_techniques.py`` (the catalogue's ``affine``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from augsweep.augment.layers import RandomAffine
from tests.helpers import photos


def noise_images(n: int = 4, size: int = 48, seed: int = 0) -> np.ndarray:
    """Pixel noise: any blur shows as a drop in its variance."""
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 1)).astype("float32")


@pytest.mark.parametrize("turn", [0.05, -0.12])
def test_a_fixed_rotation_is_exactly_random_rotation(turn):
    images = photos(n=4, size=32)
    fused = RandomAffine(rotation=(turn, turn), fill_mode="constant", seed=0)
    keras_layer = keras.layers.RandomRotation((turn, turn), fill_mode="constant", seed=0)
    np.testing.assert_allclose(fused(images), keras_layer(images), atol=1e-3)


def test_rotation_angles_follow_random_rotation_distribution():
    fused = RandomAffine(rotation=0.1, seed=0)
    matrices = np.asarray(fused.random_matrices(4000, 8, 8))
    fused_angles = np.degrees(np.arctan2(matrices[:, 3], matrices[:, 0]))
    keras_layer = keras.layers.RandomRotation(0.1, seed=0)
    drawn = keras_layer.get_random_transformation(np.zeros((4000, 8, 8, 1), "float32"))
    keras_angles = np.asarray(drawn["angle"])
    assert fused_angles.min() >= -36 and fused_angles.max() <= 36
    quantiles = np.linspace(0.05, 0.95, 10)
    np.testing.assert_allclose(
        np.quantile(fused_angles, quantiles), np.quantile(keras_angles, quantiles), atol=2.5
    )


def test_zero_magnitudes_are_the_identity():
    images = photos()
    out = RandomAffine(0, 0, 0, 0, fill_mode="constant", seed=0)(images, training=True)
    np.testing.assert_array_equal(out, images)


def test_it_composes_like_the_chain_translation_rotation_zoom():
    # Exact resampling (nearest, a quarter turn, whole-pixel shifts, zoom 2 about an integer
    # centre): the fused map and the chain then give the same pixels wherever the chain shows
    # any (zooming out, the chain shows the fill where it cut the rotated image at its frame).
    images = photos(n=4, size=17)
    shift = 2 / 17
    chain = keras.layers.Pipeline(
        [
            keras.layers.RandomTranslation((shift, shift), (shift, shift), **EXACT),
            keras.layers.RandomRotation((0.25, 0.25), **EXACT),
            keras.layers.RandomZoom((1.0, 1.0), **EXACT),
        ]
    )
    fused = RandomAffine(
        rotation=(0.25, 0.25), zoom=(1.0, 1.0), translation=(shift, shift), **EXACT
    )
    chained, fused = np.asarray(chain(images)), np.asarray(fused(images))
    shown = chained != 0
    assert shown.mean() > 0.15
    np.testing.assert_array_equal(fused[shown], chained[shown])


EXACT = {"fill_mode": "constant", "interpolation": "nearest"}


def test_a_folded_flip_comes_first_and_flips_about_half_the_images():
    images = photos(n=64, size=17)
    quarter = keras.layers.RandomRotation((0.25, 0.25), **EXACT)
    turned, flipped_turned = np.asarray(quarter(images)), np.asarray(quarter(images[:, :, ::-1]))
    fused = RandomAffine(rotation=(0.25, 0.25), flip="horizontal", seed=0, **EXACT)
    out = np.asarray(fused(images))
    flipped = [np.array_equal(o, f) for o, f in zip(out, flipped_turned, strict=True)]
    plain = [np.array_equal(o, t) for o, t in zip(out, turned, strict=True)]
    assert all(f != p for f, p in zip(flipped, plain, strict=True))  # one or the other
    assert 16 < sum(flipped) < 48


def test_one_resampling_blurs_less_than_the_chain():
    images = noise_images()
    rotation, zoom = (0.03, 0.03), (-0.1, -0.1)
    chain = keras.layers.Pipeline(
        [
            keras.layers.RandomRotation(rotation, fill_mode="constant", seed=0),
            keras.layers.RandomZoom(zoom, fill_mode="constant", seed=0),
        ]
    )
    fused = RandomAffine(rotation=rotation, zoom=zoom, fill_mode="constant", seed=0)
    centre = slice(12, 36)  # away from the filled corners

    def sharpness(out):
        return float(np.asarray(out)[:, centre, centre].std())

    assert sharpness(fused(images)) > 1.1 * sharpness(chain(images))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"rotation": 1.5}, "rotation=1.5: a magnitude must be in [0, 1.0]"),
        ({"zoom": 1.0}, "zoom=1.0: a magnitude must be in [0, 1.0)"),
        ({"shear": (-1.5, 0.1)}, "shear=(-1.5, 0.1): must be a float magnitude or a (low, high)"),
        ({"flip": "diagonal"}, "flip='diagonal': must be None or one of horizontal, vertical"),
        ({"fill_mode": "mirror"}, "fill_mode='mirror': must be one of reflect, wrap, constant"),
        ({"interpolation": "bicubic"}, "interpolation='bicubic': must be one of nearest, bilinear"),
    ],
)
def test_bad_arguments_name_the_value_and_the_allowed_set(kwargs, message):
    with pytest.raises(ValueError) as error:
        RandomAffine(**kwargs)
    assert message in str(error.value)


def test_it_reloads_from_its_config():
    layer = RandomAffine(0.1, 0.2, 0.05, 0.1, fill_mode="constant", seed=3)
    again = RandomAffine.from_config(layer.get_config())
    images = photos(n=4)
    np.testing.assert_array_equal(layer(images), again(images))


def test_the_albumentations_affine_transforms_every_image():
    pytest.importorskip("albumentations")
    from augsweep.augment.albumentations import affine

    transform = affine(rotation=0.1, zoom=0.1, translation=0, shear=0, flip_mode="horizontal")
    (image,) = noise_images(n=1, size=16)
    for _ in range(8):
        out = transform(image=image)["image"]
        assert min(np.abs(out - image).max(), np.abs(out - image[:, ::-1]).max()) > 1
