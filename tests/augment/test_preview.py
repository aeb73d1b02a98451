"""The preview of a policy: the same images under several training-time draws, wherever the
policy runs, with the mixed labels of MixUp and CutMix."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from augsweep.augment.policy import Policy, build_policy
from augsweep.augment.preview import (
    PREVIEW_DRAWS,
    augment_preview,
    first_examples,
    label_captions,
    save_preview,
)
from augsweep.config.checks import validate
from tests.helpers import compose_config, photos


def policy(*overrides: str, seed: int = 0) -> Policy:
    cfg = compose_config(*overrides)
    validate(cfg)
    return build_policy(cfg.augment, seed)


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


def test_the_preview_of_a_run_is_a_png_of_its_first_training_images(tmp_path):
    images = photos(n=6, size=16)
    labels = np.arange(6, dtype=np.int32) % 3
    examples = tf.data.Dataset.from_tensor_slices((images, labels))
    first_images, first_labels = first_examples(examples, 4)
    np.testing.assert_array_equal(first_images, images[:4])
    np.testing.assert_array_equal(first_labels, labels[:4])
    built = policy("augment=cutmix")
    path = save_preview(
        built, first_images, first_labels, ["a", "b", "c"], tmp_path / "preview.png", "model"
    )
    assert path == tmp_path / "preview.png"
    with Image.open(path) as png:
        assert png.format == "PNG" and png.width > 1 + PREVIEW_DRAWS
        # The photos are drawn (thousands of colours), not an empty frame with its titles.
        assert len(png.convert("RGB").getcolors(maxcolors=1 << 20)) > 1000
