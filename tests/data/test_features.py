"""The feature cache of a frozen backbone, with a tiny backbone: computed once per split,
kept on disk for the next run of the same data and backbone, never read for other ones."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from augsweep.data.features import FeatureCache, backbone_identity

EXAMPLES = 10


def backbone(seed: int = 0, units: int = 3) -> keras.Model:
    """A small frozen 'backbone': 4x4 images to ``units`` features (names differ per call)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(units, activation="relu")(x))


def split(seed: int = 0) -> tf.data.Dataset:
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (EXAMPLES, 4, 4, 1)).astype("float32")
    one_hot = np.eye(2, dtype="float32")[np.arange(EXAMPLES) % 2]
    return tf.data.Dataset.from_tensor_slices((images, one_hot)).batch(4)


def test_features_are_the_backbones_output_one_row_per_example_with_the_labels():
    model = backbone()
    features, labels = FeatureCache(model, "data-1").features("val", split())
    images = np.concatenate([x for x, _ in split().as_numpy_iterator()])
    np.testing.assert_allclose(features, model.predict(images, verbose=0), rtol=1e-5)
    assert features.dtype == labels.dtype == np.float32
    assert features.shape == (EXAMPLES, 3) and labels.shape == (EXAMPLES, 2)
    np.testing.assert_array_equal(labels.argmax(axis=1), np.arange(EXAMPLES) % 2)


def test_a_split_goes_through_the_backbone_once_per_run_without_a_folder(tmp_path):
    cache = FeatureCache(backbone(), "data-1")
    first = cache.features("val", split())
    again = cache.features("val", split(seed=9))  # not read: the run's split is in memory
    np.testing.assert_array_equal(first[0], again[0])
    cache.features("clean_train", split(seed=1))
    assert (cache.backbone_passes, cache.disk_reads) == (2, 0)
    assert cache.path("val") is None and not list(tmp_path.iterdir())


def test_the_next_run_with_the_same_data_and_backbone_reads_the_disk(tmp_path):
    first = FeatureCache(backbone(), "data-1", tmp_path)
    expected = first.features("val", split())
    (entry,) = tmp_path.glob("val-*.npz")
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside it

    rebuilt = FeatureCache(backbone(), "data-1", tmp_path)  # rebuilt: other layer names
    features, labels = rebuilt.features("val", split(seed=9))
    assert (rebuilt.backbone_passes, rebuilt.disk_reads) == (0, 1)
    np.testing.assert_array_equal(features, expected[0])
    np.testing.assert_array_equal(labels, expected[1])
    assert rebuilt.path("val") == entry


@pytest.mark.parametrize(
    "other", ["data", "split", "weights", "architecture"], ids=lambda other: f"other {other}"
)
def test_other_data_split_or_backbone_never_read_the_entry(tmp_path, other):
    FeatureCache(backbone(), "data-1", tmp_path).features("val", split())
    model = {"weights": backbone(seed=1), "architecture": backbone(units=4)}.get(other, backbone())
    cache = FeatureCache(model, "data-2" if other == "data" else "data-1", tmp_path)
    cache.features("test" if other == "split" else "val", split())
    assert (cache.backbone_passes, cache.disk_reads) == (1, 0)
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_the_backbone_identity_ignores_layer_names_but_not_weights():
    a, b = backbone(), backbone()
    assert [layer.name for layer in a.layers] != [layer.name for layer in b.layers]
    assert backbone_identity(a) == backbone_identity(b)
    weights = b.get_weights()
    weights[-1] = weights[-1] + 1e-3
    b.set_weights(weights)
    assert backbone_identity(a) != backbone_identity(b)


@pytest.mark.parametrize(
    "damage", ["truncated", "not an archive", "1-D features"], ids=lambda d: d.replace(" ", "_")
)
def test_an_unreadable_entry_is_computed_again_and_replaced(tmp_path, damage, caplog):
    expected = FeatureCache(backbone(), "data-1", tmp_path).features("val", split())
    (entry,) = tmp_path.glob("val-*.npz")
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:100])
    elif damage == "not an archive":
        entry.write_bytes(b"\0" * 64)
    else:
        np.savez(entry, features=np.zeros(EXAMPLES), labels=np.zeros((EXAMPLES, 2)))
    caplog.set_level(logging.WARNING, logger="augsweep.data.features")
    cache = FeatureCache(backbone(), "data-1", tmp_path)
    features, _ = cache.features("val", split())
    assert (cache.backbone_passes, cache.disk_reads) == (1, 0)
    np.testing.assert_allclose(features, expected[0], rtol=1e-6)
    assert str(entry) in caplog.text and "computing the features again" in caplog.text
    again = FeatureCache(backbone(), "data-1", tmp_path)
    again.features("val", split())
    assert again.disk_reads == 1  # the entry was written anew


def test_a_folder_that_cannot_be_written_only_costs_the_next_run_a_pass(tmp_path, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # a file where the folder would be: mkdir fails even for root
    caplog.set_level(logging.WARNING, logger="augsweep.data.features")
    cache = FeatureCache(backbone(), "data-1", blocked / "features")
    features, labels = cache.features("val", split())
    assert features.shape == (EXAMPLES, 3) and labels.shape == (EXAMPLES, 2)
    assert "not written" in caplog.text and "unreadable" not in caplog.text
    assert blocked.read_text() == ""
