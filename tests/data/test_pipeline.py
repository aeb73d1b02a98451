"""Batching shared by every dataset, file caches, and the run's three input pipelines."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from augsweep.data.digits import load_digits
from augsweep.data.folder import load_folder
from augsweep.data.pipeline import batches, eval_batches, input_pipelines
from augsweep.data.splits import Splits
from tests.helpers.imagefiles import class_folder


def concatenated(batched) -> tuple[np.ndarray, np.ndarray]:
    images, labels = zip(*batched.as_numpy_iterator(), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def test_batches_one_hot_and_seeded_shuffle():
    splits = load_digits(train_samples=64, image_size=8, seed=0)
    first = [y for _, y in batches(splits.train, 16, 10, shuffle_seed=1).as_numpy_iterator()]
    again = [y for _, y in batches(splits.train, 16, 10, shuffle_seed=1).as_numpy_iterator()]
    assert first[0].shape == (16, 10) and np.all(first[0].sum(axis=1) == 1)
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
    ordered = np.concatenate([y for _, y in batches(splits.train, 16, 10).as_numpy_iterator()])
    assert not np.array_equal(np.concatenate(first), ordered)


def test_file_cache_is_written_once_and_read_back(tmp_path):
    root = tmp_path / "photos"
    class_folder(root, "blue", 4)
    class_folder(root, "red", 4)
    splits = load_folder(path=str(root), image_size=16, cache=str(tmp_path / "cache"))
    prefix = splits.cache_for("val")
    assert prefix == str(tmp_path / "cache" / f"{splits.cache_key}-val")
    first = np.concatenate([x for x, _ in batches(splits.val, 4, 2, cache=prefix)])
    assert any(
        name.startswith(f"{splits.cache_key}-val") for name in os.listdir(tmp_path / "cache")
    )
    for path in (root / "blue").iterdir():
        path.unlink()  # a second pass reads the cache, not the files
    second = np.concatenate([x for x, _ in batches(splits.val, 4, 2, cache=prefix)])
    np.testing.assert_array_equal(first, second)


def test_input_pipelines_augment_training_batches_only_with_the_stages_given():
    images = np.arange(12, dtype=np.float32).reshape(12, 1, 1, 1) * np.ones((1, 2, 2, 1), "float32")
    labels = np.arange(12, dtype=np.int32) % 3
    examples = tf.data.Dataset.from_tensor_slices((images, labels))
    test = tf.data.Dataset.from_tensor_slices((images + 100, labels))
    splits = Splits(examples, examples, examples.take(6), ["a", "b", "c"], (2, 2, 1), 12, "t",
                    test=test, num_val=12, num_test=12)  # fmt: skip

    def negate(image, one_hot):  # per example, before batching
        assert image.shape == (2, 2, 1)
        return -image, one_hot

    def halve_labels(images, one_hots):  # per batch, after batching
        assert images.shape.rank == 4
        return images, one_hots / 2

    train, val, clean = input_pipelines(
        splits, 4, seed=0, eval_batch_size=5, augment_example=negate, augment_batch=halve_labels
    )
    train_images, train_labels = concatenated(train)
    assert sorted(-train_images[:, 0, 0, 0]) == list(range(12))  # every image, negated
    assert not np.array_equal(-train_images[:, 0, 0, 0], np.arange(12))  # shuffled
    np.testing.assert_array_equal(train_labels.sum(axis=1), 0.5)
    assert [len(x) for x, _ in val] == [5, 5, 2] and [len(x) for x, _ in clean] == [5, 1]
    # The test batches of the run's evaluation: no stage is given, none applies.
    held_out = eval_batches(splits, "test", 5)
    for batched, count, offset in ((val, 12, 0), (clean, 6, 0), (held_out, 12, 100)):
        # in order, as they are (not negated), hard labels
        val_images, val_labels = concatenated(batched)
        np.testing.assert_array_equal(val_images, images[:count] + offset)
        np.testing.assert_array_equal(val_labels.argmax(axis=1), labels[:count])
        np.testing.assert_array_equal(val_labels.sum(axis=1), 1.0)
    plain, _, _ = input_pipelines(splits, 4, seed=0)
    np.testing.assert_array_equal(np.sort(concatenated(plain)[0], axis=0), images)
