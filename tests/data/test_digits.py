"""The digits loader and the batching shared by every dataset."""

from __future__ import annotations

import numpy as np
import pytest

from augsweep.data import batches, load_digits


def arrays(ds):
    images, labels = zip(*ds.as_numpy_iterator(), strict=True)
    return np.stack(images), np.array(labels)


def test_digits_images_are_0_255_pixels_of_the_requested_size():
    splits = load_digits(train_samples=100, image_size=24, seed=0)
    images, labels = arrays(splits.train)
    assert images.shape == (100, 24, 24, 1) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() > 200 and images.max() <= 255
    assert sorted(set(labels)) == list(range(10))  # stratified: every class present
    assert splits.num_train == 100 and splits.class_names == [str(d) for d in range(10)]


def test_digits_are_framed_by_a_black_margin():
    splits = load_digits(train_samples=50, image_size=32, margin=0.125, seed=0)
    images, _ = arrays(splits.train)
    assert np.all(images[:, :4] == 0) and np.all(images[:, -4:] == 0)
    assert np.all(images[:, :, :4] == 0) and np.all(images[:, :, -4:] == 0)
    assert images[:, 4:-4, 4:-4].max() > 200
    unframed, _ = arrays(load_digits(train_samples=50, image_size=32, margin=0, seed=0).train)
    assert unframed[:, :4].max() > 0


def test_validation_images_do_not_depend_on_train_samples():
    small, large = (load_digits(train_samples=n, seed=3) for n in (50, 400))
    np.testing.assert_array_equal(arrays(small.val)[0], arrays(large.val)[0])
    assert len(arrays(small.val)[1]) == 540  # 30% of 1,797, stratified
    assert small.fingerprint != large.fingerprint


def test_the_seed_changes_the_split_reproducibly_but_not_the_fingerprint():
    a, b, c = (load_digits(train_samples=50, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(arrays(a.train)[0], arrays(b.train)[0])
    assert not np.array_equal(arrays(a.train)[0], arrays(c.train)[0])
    assert a.fingerprint == b.fingerprint == c.fingerprint  # same data, other draw


def test_train_samples_out_of_range_is_named():
    with pytest.raises(ValueError, match="dataset.train_samples=5000"):
        load_digits(train_samples=5000)


def test_clean_subset_is_the_first_training_images():
    splits = load_digits(train_samples=100, seed=0, clean_samples=30)
    np.testing.assert_array_equal(arrays(splits.clean_train)[0], arrays(splits.train)[0][:30])


def test_batches_one_hot_and_seeded_shuffle():
    splits = load_digits(train_samples=64, image_size=8, seed=0)
    first = [y for _, y in batches(splits.train, 16, 10, shuffle_seed=1).as_numpy_iterator()]
    again = [y for _, y in batches(splits.train, 16, 10, shuffle_seed=1).as_numpy_iterator()]
    assert first[0].shape == (16, 10) and np.all(first[0].sum(axis=1) == 1)
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
    ordered = np.concatenate([y for _, y in batches(splits.train, 16, 10).as_numpy_iterator()])
    assert not np.array_equal(np.concatenate(first), ordered)
