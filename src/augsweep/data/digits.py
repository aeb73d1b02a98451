"""scikit-learn's embedded ``digits`` (1,797 8x8 images, 10 classes): offline, the default."""

from __future__ import annotations

import math

import numpy as np

from augsweep.backend import uses_tensorflow
from augsweep.data.splits import (
    TEST_SPLIT_SEED,
    Examples,
    Splits,
    clean_subset,
    fingerprint,
    pillow_resize,
)


def load_digits(
    name: str = "digits",
    train_samples: int = 100,
    val_fraction: float = 0.3,
    test_fraction: float = 0.2,
    image_size: int = 32,
    margin: float = 0.125,
    *,
    seed: int = 0,
    clean_samples: int | None = -1,
) -> Splits:
    """scikit-learn's embedded ``digits`` (1,797 8x8 images, 10 classes), offline.

    The test set is a stratified ``test_fraction`` of all images, the same for every seed
    (drawn with :data:`~augsweep.data.splits.TEST_SPLIT_SEED`). The validation set is a
    stratified ``val_fraction`` of all images, drawn from the rest by ``seed`` alone: it
    stays the same whatever ``train_samples`` is. The training images are a stratified
    subset of what is left. The bounds of ``train_samples``, ``val_fraction`` and
    ``test_fraction`` are checked with the config (:mod:`augsweep.config.checks`).

    Args:
        name: Unused; the dataset's display name.
        train_samples: Training images to use, or -1 for all of the images left.
        val_fraction: Share of all images held out for validation, in (0, 1).
        test_fraction: Share of all images held out for the test, in (0, 1).
        image_size: Side of the square images, in pixels.
        margin: Share of the side left black on each side of the digit, which is resized
            (bilinear) into the rest.
        seed: Seeds the validation and training split (not the test split).
        clean_samples: Size of ``clean_train``; -1 or None for the whole training set.

    Returns:
        The run's :class:`Splits`.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    labels = bunch.target.astype(np.int32)
    test_idx, val_idx, train_idx = _split_indices(
        labels, train_samples, val_fraction, test_fraction, seed
    )
    images = _digits_images(bunch.images, image_size, margin)
    train = _from_arrays(images[train_idx], labels[train_idx])
    return Splits(
        train=train,
        val=_from_arrays(images[val_idx], labels[val_idx]),
        test=_from_arrays(images[test_idx], labels[test_idx]),
        clean_train=clean_subset(train, len(train_idx), clean_samples),
        class_names=[str(d) for d in range(10)],
        image_shape=images.shape[1:],
        num_train=len(train_idx),
        num_val=len(val_idx),
        num_test=len(test_idx),
        fingerprint=fingerprint(
            f"sklearn-digits:{train_samples}:{val_fraction}:{test_fraction}:{image_size}:{margin}",
            bunch.images,
            labels,
            test_idx,
        ),
    )


def _split_indices(
    labels: np.ndarray, train_samples: int, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(test, val, train)`` indices: test fixed, validation and training by ``seed``."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    pool, test_idx = train_test_split(
        indices, test_size=test_fraction, stratify=labels, random_state=TEST_SPLIT_SEED
    )
    num_val = math.ceil(val_fraction * len(labels))  # a share of all images, as before
    rest, val_idx = train_test_split(
        pool, test_size=num_val, stratify=labels[pool], random_state=seed
    )
    train_idx = rest
    if train_samples not in (-1, len(rest)):
        train_idx, _ = train_test_split(
            rest, train_size=train_samples, stratify=labels[rest], random_state=seed
        )
    return np.sort(test_idx), val_idx, train_idx


def _digits_images(images: np.ndarray, image_size: int, margin: float) -> np.ndarray:
    """Scale 0-16 digit intensities to 0-255 pixels, resize, and frame them in black."""
    pad = round(image_size * margin)
    inner = image_size - 2 * pad
    pixels = (images[..., None] * (255.0 / 16.0)).astype(np.float32)
    if inner != pixels.shape[1] and uses_tensorflow():
        import tensorflow as tf

        pixels = tf.image.resize(pixels, (inner, inner), method="bilinear").numpy()
    elif inner != pixels.shape[1]:  # without TensorFlow: Pillow's bilinear
        pixels = np.stack([pillow_resize(image, inner) for image in pixels])
    pixels = np.pad(pixels, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return np.clip(pixels, 0.0, 255.0)


def _from_arrays(images: np.ndarray, labels: np.ndarray):
    """A ``tf.data.Dataset`` on TensorFlow, else :class:`Examples` in memory."""
    if not uses_tensorflow():
        return Examples(images, labels)
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((images, labels))
