"""Datasets: each loader returns a :class:`Splits` of unbatched images and labels.

Images are float32 in the 0-255 pixel range, shape ``(H, W, C)``; labels are integer class
indices. Batching, one-hot encoding and shuffling are done by :func:`batches`, the same for
every dataset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


@dataclass
class Splits:
    """The data of one run.

    Attributes:
        train: Training examples ``(image, label)``, unbatched, not augmented.
        val: Validation examples, unbatched; never augmented.
        clean_train: A fixed subset of ``train`` evaluated without augmentation each epoch.
        class_names: Class names, index = label.
        image_shape: ``(H, W, C)`` of every image.
        num_train: Number of training examples.
        fingerprint: A short hash identifying the data, logged as tag ``data_fingerprint``.
    """

    train: tf.data.Dataset
    val: tf.data.Dataset
    clean_train: tf.data.Dataset
    class_names: list[str]
    image_shape: tuple[int, int, int]
    num_train: int
    fingerprint: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_digits(
    name: str = "digits",
    train_samples: int = 200,
    val_fraction: float = 0.3,
    image_size: int = 32,
    *,
    seed: int = 0,
    clean_samples: int = -1,
) -> Splits:
    """scikit-learn's embedded ``digits`` (1,797 8x8 images, 10 classes), offline.

    The validation set is a stratified ``val_fraction`` of all images, chosen by ``seed``
    alone: it stays the same whatever ``train_samples`` is. The training images are a
    stratified subset of the rest.

    Args:
        name: Unused; the dataset's display name.
        train_samples: Training images to use, or -1 for all of the non-validation ones.
        val_fraction: Share of the images held out for validation, in (0, 1).
        image_size: Side in pixels that the 8x8 images are resized to (bilinear).
        seed: Seeds the split.
        clean_samples: Size of ``clean_train``; -1 for the whole training set.

    Returns:
        The run's :class:`Splits`.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    labels = bunch.target.astype(np.int32)
    indices = np.arange(len(labels))
    rest, val_idx = train_test_split(
        indices, test_size=val_fraction, stratify=labels, random_state=seed
    )
    if train_samples == -1 or train_samples == len(rest):
        train_idx = rest
    elif 10 <= train_samples < len(rest):
        train_idx, _ = train_test_split(
            rest, train_size=train_samples, stratify=labels[rest], random_state=seed
        )
    else:
        raise ValueError(
            f"dataset.train_samples={train_samples} is out of range: use -1 (all) or "
            f"10..{len(rest)} with val_fraction={val_fraction}"
        )
    images = _digits_images(bunch.images, image_size)
    train = _from_arrays(images[train_idx], labels[train_idx])
    return Splits(
        train=train,
        val=_from_arrays(images[val_idx], labels[val_idx]),
        clean_train=_subset(train, len(train_idx), clean_samples),
        class_names=[str(d) for d in range(10)],
        image_shape=images.shape[1:],
        num_train=len(train_idx),
        fingerprint=_fingerprint(f"sklearn-digits:{image_size}", train_idx, val_idx),
    )


def _digits_images(images: np.ndarray, image_size: int) -> np.ndarray:
    """Scale 0-16 digit intensities to 0-255 pixels and resize them."""
    pixels = (images[..., None] * (255.0 / 16.0)).astype(np.float32)
    if image_size != pixels.shape[1]:
        pixels = tf.image.resize(pixels, (image_size, image_size), method="bilinear").numpy()
    return np.clip(pixels, 0.0, 255.0)


def _from_arrays(images: np.ndarray, labels: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((images, labels))


def _subset(train: tf.data.Dataset, num_train: int, samples: int) -> tf.data.Dataset:
    """The first ``samples`` training examples (all if -1 or larger than the set)."""
    if samples == -1 or samples >= num_train:
        return train
    return train.take(samples)


def _fingerprint(source: str, *index_arrays: np.ndarray) -> str:
    digest = hashlib.sha256(source.encode())
    for array in index_arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def batches(
    examples: tf.data.Dataset,
    batch_size: int,
    num_classes: int,
    *,
    shuffle_seed: int | None = None,
    cache: bool = True,
    augment_example: Callable | None = None,
    augment_batch: Callable | None = None,
) -> tf.data.Dataset:
    """Batch examples for Keras: one-hot float labels, optional seeded shuffle, prefetch.

    ``cache()`` comes before any shuffling or random augmentation, so every epoch sees new
    random draws. Augmentation in the input pipeline (training batches only) runs in
    parallel on the CPU: ``augment_example`` on single examples before batching,
    ``augment_batch`` on the batches (e.g. MixUp and CutMix, which mix labels too).

    Args:
        examples: Unbatched ``(image, label)`` examples.
        batch_size: Examples per batch.
        num_classes: Width of the one-hot labels.
        shuffle_seed: Shuffle every epoch with this seed; ``None`` keeps the order.
        cache: Cache the decoded examples in memory after the first pass.
        augment_example: Maps ``(image, one_hot)`` to an augmented pair, or None.
        augment_batch: Maps ``(images, one_hots)`` to an augmented pair, or None.

    Returns:
        Batched ``(images, one_hot_labels)``.
    """

    def one_hot(image, label):
        return image, tf.one_hot(label, num_classes, dtype=tf.float32)

    ds = examples.map(one_hot, num_parallel_calls=AUTOTUNE)
    if cache:
        ds = ds.cache()
    if shuffle_seed is not None:
        ds = ds.shuffle(4096, seed=shuffle_seed, reshuffle_each_iteration=True)
    if augment_example is not None:
        ds = ds.map(augment_example, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size)
    if augment_batch is not None:
        ds = ds.map(augment_batch, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
