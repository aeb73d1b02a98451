"""Batches of examples in memory (:class:`~augsweep.data.splits.Examples`) for Keras's
``fit``, ``evaluate`` and ``predict``: the input path without TensorFlow
(``trainer.keras_backend=jax``).

The same rules as :func:`augsweep.data.pipeline.batches`: one-hot float labels; the training
batches of epochs ``first`` to ``last - 1`` one after the other, each epoch shuffled with a
seed made of the run's seed and the epoch's number (a run resumed at epoch ``k`` sees the
order an uninterrupted one saw); the batch stage (MixUp, CutMix) on training batches only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import keras
import numpy as np

from augsweep.data.splits import Examples

EPOCH_SEED_STRIDE = 100_003  # as data/pipeline.py: epoch e of seed s shuffles with s * stride + e


class ArrayBatches(keras.utils.PyDataset):
    """Batched ``(images, one_hot_labels)`` of examples in memory, float32 images.

    Keras reads it in order, in this process (one worker: the batch stage's random layers
    draw in the same order every time).

    Args:
        examples: The split's examples.
        batch_size: Examples per batch.
        num_classes: Width of the one-hot labels.
        shuffle_seed: Shuffle every epoch with this seed; None keeps the order.
        epochs: ``(first, last)``: the epochs it holds (train with ``steps_per_epoch``);
            None: one pass.
        augment_batch: Maps ``(images, one_hots)`` training batches to augmented ones.
    """

    def __init__(
        self,
        examples: Examples,
        batch_size: int,
        num_classes: int,
        *,
        shuffle_seed: int | None = None,
        epochs: tuple[int, int] | None = None,
        augment_batch: Callable | None = None,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        self.examples = examples
        self.batch_size = batch_size
        self.num_classes = num_classes
        self.shuffle_seed = shuffle_seed
        self.epochs = list(range(*epochs)) if epochs is not None else [0]
        self.augment_batch = augment_batch
        self.steps = math.ceil(len(examples) / batch_size)
        self._order = lru_cache(maxsize=2)(self._epoch_order)

    def __len__(self) -> int:
        return self.steps * len(self.epochs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        epoch = self.epochs[index // self.steps]
        start = (index % self.steps) * self.batch_size
        chosen = self._order(epoch)[start : start + self.batch_size]
        images = self.examples.images[chosen].astype(np.float32)
        labels = self._one_hot(self.examples.labels[chosen])
        if self.augment_batch is not None:
            images, labels = self.augment_batch(images, labels)
            images, labels = keras.ops.convert_to_numpy(images), keras.ops.convert_to_numpy(labels)
        return images, labels

    def one_hot_labels(self) -> np.ndarray:
        """Every batch's labels of one pass, in order (the feature cache's labels)."""
        order = self._order(self.epochs[0])
        return self._one_hot(self.examples.labels[order])

    def _one_hot(self, labels: np.ndarray) -> np.ndarray:
        return np.eye(self.num_classes, dtype=np.float32)[labels]

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if self.shuffle_seed is None:
            return np.arange(len(self.examples))
        seed = EPOCH_SEED_STRIDE * self.shuffle_seed + epoch
        return np.random.default_rng(seed).permutation(len(self.examples))
