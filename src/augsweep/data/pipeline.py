"""Input pipelines: examples -> cached, shuffled, augmented, batched, prefetched ``tf.data``.

The same for every dataset. Training batches may be augmented in the pipeline (on the CPU, in
parallel); validation, test and clean-train batches never are (:func:`eval_batches`).
Examples in memory (another Keras backend than TensorFlow) are batched by
:class:`augsweep.data.arrays.ArrayBatches` instead, by the same rules, without TensorFlow.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from augsweep.data.splits import Examples, Splits

if TYPE_CHECKING:
    import tensorflow as tf

AUTOTUNE = -1  # tf.data.AUTOTUNE
SHUFFLE_BUFFER = 4096
EPOCH_SEED_STRIDE = 100_003  # epoch e of seed s shuffles with s * stride + e


def batches(
    examples: tf.data.Dataset,
    batch_size: int,
    num_classes: int,
    *,
    shuffle_seed: int | None = None,
    cache: bool | str = True,
    augment_example: Callable | None = None,
    augment_batch: Callable | None = None,
    epochs: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """Batch examples for Keras: one-hot float labels, optional seeded shuffle, prefetch.

    ``cache()`` comes before any shuffling or random augmentation, so every epoch sees new
    random draws. Augmentation in the input pipeline (training batches only) runs in
    parallel on the CPU: ``augment_example`` on single examples before batching,
    ``augment_batch`` on the batches (e.g. MixUp and CutMix, which mix labels too).

    With ``epochs=(first, last)`` the dataset holds the batches of epochs ``first`` to
    ``last - 1`` one after the other (train it with ``steps_per_epoch``), each epoch
    shuffled with a seed made of ``shuffle_seed`` and the epoch's number: a run resumed at
    epoch ``k`` sees the same order as one never interrupted. (TensorFlow's
    ``reshuffle_each_iteration`` draws each epoch's order from a state that lives in the
    dataset object and cannot be set to epoch ``k``.)

    Args:
        examples: Unbatched ``(image, label)`` examples.
        batch_size: Examples per batch.
        num_classes: Width of the one-hot labels.
        shuffle_seed: Shuffle every epoch with this seed; ``None`` keeps the order.
        cache: Cache the decoded examples after the first pass: True in memory, a path
            prefix for a file cache (see :meth:`Splits.cache_for`), False not at all.
        augment_example: Maps ``(image, one_hot)`` to an augmented pair, or None.
        augment_batch: Maps ``(images, one_hots)`` to an augmented pair, or None.
        epochs: ``(first, last)``: the epochs the dataset holds; None: one pass, which
            reshuffles at every iteration.

    Returns:
        Batched ``(images, one_hot_labels)``.
    """
    if isinstance(examples, Examples):
        if augment_example is not None:  # refused by the config (albumentations: tf.data)
            raise ValueError("per-example augmentation needs tf.data (TensorFlow)")
        from augsweep.data.arrays import ArrayBatches

        return ArrayBatches(examples, batch_size, num_classes, shuffle_seed=shuffle_seed,
                            epochs=epochs, augment_batch=augment_batch)  # fmt: skip
    import tensorflow as tf

    def one_hot(image, label):
        return image, tf.one_hot(label, num_classes, dtype=tf.float32)

    ds = examples.map(one_hot, num_parallel_calls=AUTOTUNE)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")

    def one_epoch(seed, reshuffle: bool):
        shuffled = ds
        if shuffle_seed is not None:
            shuffled = ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=reshuffle)
        if augment_example is not None:
            shuffled = shuffled.map(augment_example, num_parallel_calls=AUTOTUNE)
        return shuffled.batch(batch_size)

    if epochs is None:
        ds = one_epoch(shuffle_seed, reshuffle=True)
    else:
        # One dataset per epoch, chained: with a global seed set (keras.utils.set_random_seed)
        # tf.data takes only Python ints as shuffle seeds, not an epoch tensor of flat_map.
        stride = EPOCH_SEED_STRIDE * (shuffle_seed or 0)
        parts = [one_epoch(stride + epoch, reshuffle=False) for epoch in range(*epochs)]
        # Starting from an empty pass: a resumed run whose epochs were all done holds none.
        empty = one_epoch(stride, reshuffle=False).take(0)
        ds = functools.reduce(tf.data.Dataset.concatenate, parts, empty)
    if augment_batch is not None:
        ds = ds.map(augment_batch, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def input_pipelines(
    splits: Splits,
    batch_size: int,
    seed: int,
    eval_batch_size: int = 256,
    *,
    epochs: tuple[int, int] = (0, 1),
    augment_example: Callable | None = None,
    augment_batch: Callable | None = None,
) -> tuple[tf.data.Dataset, tf.data.Dataset, tf.data.Dataset]:
    """The run's batches: training (shuffled per epoch, augmented in the pipeline if asked),
    validation and clean-train (never augmented or mixed: hard one-hot labels).

    Args:
        splits: The run's data.
        batch_size: Training examples per batch.
        seed: Seeds the shuffling of the training examples.
        eval_batch_size: Examples per validation and clean-train batch.
        epochs: ``(first, last)``: the training epochs to hold (see :func:`batches`);
            train with ``steps_per_epoch=steps_per_epoch(splits.num_train, batch_size)``.
        augment_example: The policy's per-example stage (``Policy.example_stage()``).
        augment_batch: The policy's per-batch stage (``Policy.batch_stage()``).

    Returns:
        ``(train, val, clean_train)`` batched datasets.
    """

    train = batches(
        splits.train,
        batch_size,
        splits.num_classes,
        cache=splits.cache_for("train"),
        shuffle_seed=seed,
        augment_example=augment_example,
        augment_batch=augment_batch,
        epochs=epochs,
    )
    return (
        train,
        eval_batches(splits, "val", eval_batch_size),
        eval_batches(splits, "clean_train", eval_batch_size),
    )


def eval_batches(splits: Splits, part: str, batch_size: int) -> tf.data.Dataset:
    """Batches of one split to evaluate on: in order, hard one-hot labels, never augmented
    (no augmentation stage can be given here).

    Args:
        splits: The run's data.
        part: ``val``, ``test`` or ``clean_train``.
        batch_size: Examples per batch.
    """
    if isinstance(splits.val, Examples):  # in memory: nothing to cache
        return batches(getattr(splits, part), batch_size, splits.num_classes)
    cache = splits.cache_for(part)
    if part == "test" and not isinstance(cache, str):
        cache = False  # read once per run: an in-memory cache would only hold memory
    return batches(getattr(splits, part), batch_size, splits.num_classes, cache=cache)


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Batches per epoch (the last one may be smaller)."""
    return math.ceil(num_examples / batch_size)
