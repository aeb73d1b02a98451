"""tf_flowers through TFDS: faked with tfds.testing.mock_data, and offline failures."""

from __future__ import annotations

import socket
import tarfile
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from augsweep.data.pipeline import batches
from augsweep.data.preflight import DatasetError
from augsweep.data.tfds import load_tf_flowers
from tests.helpers.imagefiles import class_folder


def offline(monkeypatch):
    """No network: every name lookup fails, as on a machine without a connection."""

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)


def test_mocked_tf_flowers_gives_resized_rgb_images_and_the_five_classes():
    with tfds.testing.mock_data(num_examples=12):
        splits = load_tf_flowers(image_size=32, seed=0)
        images = np.stack([x for x, _ in splits.train.as_numpy_iterator()])
        batch, labels = next(iter(batches(splits.train, 8, splits.num_classes)))
        again = load_tf_flowers(image_size=32, seed=5).fingerprint

    # mock_data's images have random sizes of 5-49 px: every one comes out 32x32x3
    assert images.shape == (12, 32, 32, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 255
    assert batch.shape == (8, 32, 32, 3) and labels.shape == (8, 5)
    assert sorted(splits.class_names) == ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
    assert splits.num_train == 12 and splits.image_shape == (32, 32, 3)
    assert again == splits.fingerprint  # a fixed slice: the seed does not change the data


def numbered_flowers(count: int):
    """A mock ``as_dataset`` for TFDS: ``count`` examples in ``train``, example ``i`` an
    image whose pixels spell ``i``, sliced as TFDS slices (``train[70%:90%]``)."""
    info = tfds.core.SplitInfo(name="train", shard_lengths=[count], num_bytes=0)

    def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
        (part,) = tfds.core.ReadInstruction.from_spec(str(split)).to_absolute({"train": info})
        index = np.arange(part.from_ or 0, count if part.to is None else part.to)
        pixels = np.stack([index // 256, index % 256, np.zeros_like(index)], axis=-1)
        images = np.broadcast_to(pixels[:, None, None, :], (len(index), 6, 6, 3)).astype("uint8")
        labels = (index % 5).astype("int64")
        return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})

    return as_dataset


def test_tf_flowers_test_slice_is_fixed_and_disjoint_from_train_and_val():
    def numbers(examples) -> set[int]:
        images = np.stack([x for x, _ in examples.as_numpy_iterator()])
        return {int(a) * 256 + int(b) for a, b in np.rint(images[:, 0, 0, :2])}

    with tfds.testing.mock_data(as_dataset_fn=numbered_flowers(3670)):
        splits = load_tf_flowers(image_size=6, seed=0)
        again = load_tf_flowers(image_size=6, seed=3)
        train, val, test = (numbers(getattr(splits, p)) for p in ("train", "val", "test"))
        assert test == numbers(again.test)
        other = load_tf_flowers(image_size=6, test_percent=15)

    assert (splits.num_train, splits.num_val, splits.num_test) == (2569, 734, 367)
    assert (len(train), len(val), len(test)) == (2569, 734, 367)
    assert train | val | test == set(range(3670))  # every photo in exactly one split
    assert max(train) < min(test) and max(test) < min(val)  # 70% | 10% | the last 20%
    assert splits.fingerprint == again.fingerprint != other.fingerprint


def test_offline_without_data_fails_at_once_saying_how_to_provide_it(tmp_path, monkeypatch):
    offline(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(DatasetError) as error:
        load_tf_flowers(data_dir=str(tmp_path / "tfds"), image_size=32)
    assert time.perf_counter() - start < 10  # TFDS alone retries for minutes
    message = str(error.value)
    assert str(tmp_path / "tfds" / "downloads" / "manual" / "flower_photos.tgz") in message
    assert "dataset=folder dataset.path=" in message


def test_an_archive_in_the_manual_dir_is_used_without_the_network(tmp_path, monkeypatch):
    # A home-made archive, not TFDS's: TFDS takes it (no network needed) and then rejects
    # its checksum. Reaching that check proves the manual file was used.
    photos = tmp_path / "src" / "flower_photos"
    class_folder(photos, "red", 2)
    manual = tmp_path / "tfds" / "downloads" / "manual"
    manual.mkdir(parents=True)
    with tarfile.open(manual / "flower_photos.tgz", "w:gz") as archive:
        archive.add(photos, arcname="flower_photos")
    offline(monkeypatch)
    with pytest.raises(Exception, match="has wrong checksum"):
        load_tf_flowers(data_dir=str(tmp_path / "tfds"), image_size=32)
