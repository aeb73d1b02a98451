"""The data of one run (:class:`Splits`) and what every loader uses to build one.

Images are float32 in the 0-255 pixel range, shape ``(H, W, C)``; labels are integer class
indices. On TensorFlow each split is a ``tf.data.Dataset``; on another Keras backend
(``trainer.keras_backend=jax``) it is :class:`Examples`, arrays in memory (uint8 photos,
float32 digits), and TensorFlow is never imported.
"""

from __future__ import annotations

import hashlib
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from augsweep.paths import resolve_path

if TYPE_CHECKING:
    import tensorflow as tf

# Training images evaluated without augmentation each epoch, unless trainer.clean_eval_samples
# says otherwise: a fixed subset for photo datasets (every image would cost nearly as much
# as the training pass on CPU); digits evaluates all of its few training images.
PHOTO_CLEAN_SAMPLES = 1000
# Seeds the draw of every loader's test split: never the run's seed, so that every run of a
# sweep (every seed) is tested on the same images.
TEST_SPLIT_SEED = 20_261_126


@dataclass
class Examples:
    """A split's examples in memory: what the loaders give on a backend other than
    TensorFlow (:mod:`augsweep.data.arrays` batches them).

    Attributes:
        images: ``(N, H, W, C)`` 0-255 pixels, uint8 or float32.
        labels: ``(N,)`` integer class indices.
    """

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, count: int) -> Examples:
        """The first ``count`` examples (as ``tf.data.Dataset.take``)."""
        return Examples(self.images[:count], self.labels[:count])


@dataclass
class Splits:
    """The data of one run.

    Attributes:
        train: Training examples ``(image, label)``, unbatched, not augmented.
        val: Validation examples, unbatched; never augmented.
        test: Held-out test examples, unbatched; never augmented, never trained or
            selected on (no epoch, policy or fallback is chosen with them). The same for
            every seed: every run of a sweep is tested on the same images.
        clean_train: A fixed subset of ``train`` evaluated without augmentation each epoch.
        class_names: Class names, index = label.
        image_shape: ``(H, W, C)`` of every image.
        num_train: Number of training examples.
        num_val: Number of validation examples.
        num_test: Number of test examples.
        fingerprint: A short hash of the data source and of how it is split and shaped,
            test split included (not of the seed: runs with other seeds draw from the
            same data), logged as tag ``data_fingerprint``.
        cache: How the pipeline caches each split: True in memory, False not at all, or a
            directory (absolute) for file caches named by ``cache_key``.
        artifacts: Text files to log with the run, ``{file name: content}`` (e.g. the
            files a folder dataset skipped).
        cache_key: Names file caches; it must change whenever the examples of a split do
            (e.g. with a seeded split). Defaults to ``fingerprint``.
    """

    train: tf.data.Dataset | Examples
    val: tf.data.Dataset | Examples
    clean_train: tf.data.Dataset | Examples
    class_names: list[str]
    image_shape: tuple[int, int, int]
    num_train: int
    fingerprint: str
    cache: bool | str = True
    artifacts: dict[str, str] = field(default_factory=dict)
    cache_key: str = ""
    # Keyword-only, so that they may follow the fields with defaults.
    _: KW_ONLY
    test: tf.data.Dataset | Examples
    num_val: int
    num_test: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def cache_for(self, part: str) -> bool | str:
        """The ``cache`` argument of :func:`augsweep.data.pipeline.batches` for one split.

        Args:
            part: ``train``, ``val``, ``test`` or ``clean_train``; names the split's cache file when
                caching to files.
        """
        if isinstance(self.cache, str):
            Path(self.cache).mkdir(parents=True, exist_ok=True)
            return str(Path(self.cache) / f"{self.cache_key or self.fingerprint}-{part}")
        return bool(self.cache)


def clean_subset(
    train: tf.data.Dataset | Examples, num_train: int, samples: int | None, default: int = -1
) -> tf.data.Dataset | Examples:
    """The first ``samples`` training examples (``default`` if None; all if -1 or more)."""
    samples = default if samples is None else samples
    if samples == -1 or samples >= num_train:
        return train
    return train.take(samples)


def fingerprint(source: str, *arrays: np.ndarray) -> str:
    """A 16-hex-digit hash of a description of the data and of its arrays."""
    digest = hashlib.sha256(source.encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def resize(image: tf.Tensor, image_size: int) -> tf.Tensor:
    """A square ``image_size`` float32 0-255 image (antialiased, aspect ratio not kept)."""
    import tensorflow as tf

    resized = tf.image.resize(image, (image_size, image_size), antialias=True)
    return tf.clip_by_value(resized, 0.0, 255.0)


def cache_setting(cache: bool | str) -> bool | str:
    """``cache`` (checked by the config) as :attr:`Splits.cache` wants it: a bool, or an
    absolute directory."""
    return cache if isinstance(cache, bool) else str(resolve_path(cache))


def pillow_resize(image: np.ndarray, size: int | tuple[int, int], method: str = "bilinear"):
    """:func:`resize` without TensorFlow: Pillow's resampling (antialiased when it shrinks),
    per channel, in float32.

    Args:
        image: ``(H, W, C)`` pixels.
        size: The side of the square result, or ``(height, width)``.
        method: ``bilinear`` (or another of Pillow's ``Image.Resampling`` names).

    Returns:
        The ``(height, width, C)`` float32 image, clipped to 0-255.
    """
    from PIL import Image

    height, width = (size, size) if isinstance(size, int) else size
    resample = Image.Resampling[method.upper()]
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32)).resize(
                (width, height), resample
            )
        )
        for c in range(image.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 255.0)
