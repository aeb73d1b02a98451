"""What every loader builds a run's data with: the clean subset, the data fingerprint, the
resize, and where each split's file cache goes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from augsweep.data.splits import Splits, cache_setting, clean_subset, fingerprint, resize


def examples(n: int) -> tf.data.Dataset:
    images = np.arange(n * 4, dtype="float32").reshape(n, 2, 2, 1)
    return tf.data.Dataset.from_tensor_slices((images, np.arange(n)))


def labels_of(dataset: tf.data.Dataset) -> list[int]:
    return [int(label) for _, label in dataset.as_numpy_iterator()]


def splits(cache, cache_key: str = "") -> Splits:
    data = examples(4)
    return Splits(
        train=data, val=data, clean_train=data, class_names=["a", "b"], image_shape=(2, 2, 1),
        num_train=4, fingerprint="f00d", cache=cache, cache_key=cache_key, test=data,
        num_val=4, num_test=4,
    )  # fmt: skip


@pytest.mark.parametrize(
    "samples,default,expected",
    [
        (3, -1, [0, 1, 2]),  # the first 3
        (None, 2, [0, 1]),  # the loader's default
        (None, -1, [0, 1, 2, 3, 4]),  # -1: every training image
        (-1, 2, [0, 1, 2, 3, 4]),
        (9, -1, [0, 1, 2, 3, 4]),  # more than there are: all of them
    ],
)
def test_the_clean_subset_is_the_first_training_examples(samples, default, expected):
    subset = clean_subset(examples(5), num_train=5, samples=samples, default=default)
    assert labels_of(subset) == expected


def test_the_fingerprint_changes_with_the_source_and_with_any_pixel():
    images = np.zeros((3, 4, 4, 1), dtype="float32")
    base = fingerprint("digits:16", images)
    assert len(base) == 16 and int(base, 16) >= 0
    assert fingerprint("digits:16", images.copy()) == base  # the same data: the same hash
    assert fingerprint("digits:24", images) != base
    changed = images.copy()
    changed[2, 3, 3, 0] = 1.0
    assert fingerprint("digits:16", changed) != base


def test_the_fingerprint_of_a_strided_view_is_that_of_its_values():
    images = np.arange(32, dtype="float32").reshape(4, 8)
    view = images[:, ::2]  # not contiguous in memory
    assert fingerprint("x", view) == fingerprint("x", np.array(view))
    assert fingerprint("x", view) != fingerprint("x", images[:, 1::2])


def test_resize_makes_a_square_float_image_in_the_pixel_range():
    image = tf.constant(np.full((30, 50, 3), 255.0, dtype="float32"))
    resized = resize(image, 12).numpy()
    assert resized.shape == (12, 12, 3) and resized.dtype == np.float32
    np.testing.assert_allclose(resized, 255.0, atol=1e-3)
    # a hard edge: antialiasing must not ring beyond black and white
    edge = np.zeros((40, 40, 1), dtype="float32")
    edge[:, 20:] = 255.0
    shrunk = resize(tf.constant(edge), 7).numpy()
    assert shrunk.min() >= 0.0 and shrunk.max() <= 255.0


def test_file_caches_go_in_the_cache_folder_named_by_the_fingerprint_unless_a_key_is_given(
    tmp_path,
):
    folder = tmp_path / "cache" / "nested"
    assert splits(str(folder)).cache_for("val") == str(folder / "f00d-val")
    assert folder.is_dir()  # created for tf.data, which does not create folders
    assert splits(str(folder), "seed3").cache_for("train") == str(folder / "seed3-train")


def test_a_boolean_cache_setting_is_used_as_is():
    assert splits(True).cache_for("train") is True
    assert splits(False).cache_for("test") is False


def test_a_relative_cache_folder_is_made_absolute_against_the_launch_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert cache_setting("tfcache") == str(tmp_path / "tfcache")
    assert cache_setting(True) is True and cache_setting(False) is False
