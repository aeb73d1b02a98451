"""Input pipelines: examples -> cached, shuffled, augmented, batched, prefetched ``tf.data``.

The same for every dataset. Training batches may be augmented in the pipeline (on the CPU, in
parallel); validation and clean-train batches never are.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from augsweep.data.splits import Splits

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 4096


def batches(
    examples: tf.data.Dataset,
    batch_size: int,
    num_classes: int,
    *,
    shuffle_seed: int | None = None,
    cache: bool | str = True,
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
        cache: Cache the decoded examples after the first pass: True in memory, a path
            prefix for a file cache (see :meth:`Splits.cache_for`), False not at all.
        augment_example: Maps ``(image, one_hot)`` to an augmented pair, or None.
        augment_batch: Maps ``(images, one_hots)`` to an augmented pair, or None.

    Returns:
        Batched ``(images, one_hot_labels)``.
    """

    def one_hot(image, label):
        return image, tf.one_hot(label, num_classes, dtype=tf.float32)

    ds = examples.map(one_hot, num_parallel_calls=AUTOTUNE)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if shuffle_seed is not None:
        ds = ds.shuffle(SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True)
    if augment_example is not None:
        ds = ds.map(augment_example, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size)
    if augment_batch is not None:
        ds = ds.map(augment_batch, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def input_pipelines(
    splits: Splits,
    batch_size: int,
    seed: int,
    eval_batch_size: int = 256,
    *,
    augment_example: Callable | None = None,
    augment_batch: Callable | None = None,
) -> tuple[tf.data.Dataset, tf.data.Dataset, tf.data.Dataset]:
    """The run's batches: training (shuffled, augmented in the pipeline if asked),
    validation and clean-train (never augmented or mixed: hard one-hot labels).

    Args:
        splits: The run's data.
        batch_size: Training examples per batch.
        seed: Seeds the shuffling of the training examples.
        eval_batch_size: Examples per validation and clean-train batch.
        augment_example: The policy's per-example stage (``Policy.example_stage()``).
        augment_batch: The policy's per-batch stage (``Policy.batch_stage()``).

    Returns:
        ``(train, val, clean_train)`` batched datasets.
    """

    def batched(part: str, size: int, **options) -> tf.data.Dataset:
        examples = getattr(splits, part)
        return batches(examples, size, splits.num_classes, cache=splits.cache_for(part), **options)

    train = batched(
        "train",
        batch_size,
        shuffle_seed=seed,
        augment_example=augment_example,
        augment_batch=augment_batch,
    )
    return train, batched("val", eval_batch_size), batched("clean_train", eval_batch_size)
