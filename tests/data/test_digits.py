"""The digits loader (its bounds are checked with the config: tests/config/test_checks.py)."""

from __future__ import annotations

import numpy as np

from augsweep.data.digits import load_digits
from tests.helpers import arrays


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


def test_clean_subset_is_the_first_training_images():
    splits = load_digits(train_samples=100, seed=0, clean_samples=30)
    np.testing.assert_array_equal(arrays(splits.clean_train)[0], arrays(splits.train)[0][:30])
