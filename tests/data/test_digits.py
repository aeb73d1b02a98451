"""The digits loader (its bounds are checked with the config: tests/config/test_checks.py)."""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.datasets import load_digits as sk_load_digits

from augsweep.data.digits import load_digits
from tests.helpers import arrays


def contents(examples) -> Counter:
    """How many times each (image, label) occurs: the split by content."""
    images, labels = arrays(examples)
    return Counter(
        (image.tobytes(), int(label)) for image, label in zip(images, labels, strict=True)
    )


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
    assert len(arrays(small.val)[1]) == small.num_val == 540  # 30% of 1,797, stratified
    assert small.fingerprint != large.fingerprint


def test_the_seed_changes_the_split_reproducibly_but_not_the_fingerprint():
    a, b, c = (load_digits(train_samples=50, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(arrays(a.train)[0], arrays(b.train)[0])
    assert not np.array_equal(arrays(a.train)[0], arrays(c.train)[0])
    assert a.fingerprint == b.fingerprint == c.fingerprint  # same data, other draw


def test_clean_subset_is_the_first_training_images():
    splits = load_digits(train_samples=100, seed=0, clean_samples=30)
    np.testing.assert_array_equal(arrays(splits.clean_train)[0], arrays(splits.train)[0][:30])


def test_the_test_split_is_fixed_stratified_and_disjoint_from_train_and_val():
    every = [load_digits(train_samples=-1, image_size=8, margin=0, seed=s) for s in (0, 1)]
    fewer = load_digits(train_samples=50, val_fraction=0.4, image_size=8, margin=0, seed=2)
    bunch = sk_load_digits()
    dataset = Counter(
        ((image * (255.0 / 16.0)).astype(np.float32).tobytes(), int(label))
        for image, label in zip(bunch.images[..., None], bunch.target, strict=True)
    )
    for splits in every:  # train + val + test = digits, each image once: disjoint splits
        assert contents(splits.train) + contents(splits.val) + contents(splits.test) == dataset
        assert (splits.num_train, splits.num_val, splits.num_test) == (897, 540, 360)
    # The same test images whatever the seed, train_samples or val_fraction (one test set
    # for every run of a sweep), while the seed draws another validation split.
    assert contents(every[0].test) == contents(every[1].test) == contents(fewer.test)
    assert contents(every[0].val) != contents(every[1].val)
    test_labels = arrays(every[0].test)[1]
    assert set(np.bincount(test_labels)) <= {35, 36, 37}  # 20%, stratified
    other = load_digits(
        train_samples=50, val_fraction=0.4, test_fraction=0.25, image_size=8, margin=0, seed=2
    )
    assert other.num_test == 450 and other.fingerprint != fewer.fingerprint
