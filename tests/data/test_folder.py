"""Folder datasets: layouts, preflight of every file, the skip mode, the manifest."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from augsweep.data.folder import load_folder
from augsweep.data.pipeline import batches
from augsweep.data.preflight import DatasetError
from tests.helpers import arrays
from tests.helpers.imagefiles import (
    COLORS,
    class_folder,
    good_folder,
    image_bytes,
    truncated_jpeg,
    write,
)


def dominant_class(image: np.ndarray, class_names: list[str]) -> str:
    """The class whose color the image's mean pixel is nearest to."""
    mean = image.reshape(-1, 3).mean(axis=0)
    return min(class_names, key=lambda name: np.abs(mean - COLORS[name]).sum())


def test_every_image_kind_loads_as_rgb_with_the_label_of_its_folder(tmp_path):
    root = good_folder(tmp_path / "photos")
    splits = load_folder(path=str(root), image_size=24, val_fraction=0.25, seed=0)

    assert splits.class_names == ["blue", "green", "red"]
    assert splits.image_shape == (24, 24, 3)
    images, labels = arrays(splits.train)
    val_images, val_labels = arrays(splits.val)
    test_images, test_labels = arrays(splits.test)
    assert images.dtype == np.float32 and images.shape[1:] == (24, 24, 3)
    assert images.min() >= 0 and images.max() <= 255
    # 5 blue + png-named-.jpg, 5 green, 5 red + grayscale, RGBA and palette PNGs
    assert len(labels) + len(val_labels) + len(test_labels) == 19
    assert (len(labels), len(val_labels), len(test_labels)) == (
        splits.num_train,
        splits.num_val,
        splits.num_test,
    )
    for image, label in zip(
        [*images, *val_images, *test_images], [*labels, *val_labels, *test_labels], strict=True
    ):
        name = splits.class_names[label]
        if name == "red" and np.ptp(image.mean(axis=(0, 1))) < 1:
            continue  # the grayscale image: R = G = B
        assert dominant_class(image, splits.class_names) == name
    assert "notes.txt: not an image" in splits.artifacts["skipped_files.txt"]


def test_one_error_lists_every_problem_with_its_path(tmp_path):
    root = good_folder(tmp_path / "photos")
    (root / "purple").mkdir()
    truncated = write(root / "green" / "cut.jpg", truncated_jpeg())
    text_as_jpeg = write(root / "blue" / "readme.jpg", b"not an image at all\n")
    tiff = write(root / "red" / "scan.tif", image_bytes(fmt="TIFF"))

    with pytest.raises(DatasetError) as error:
        load_folder(path=str(root), image_size=24)
    message = str(error.value)
    problems, skipped = message.split("Skipped")
    assert f"{root / 'purple'}: empty class folder" in problems
    assert f"{truncated}: cannot be decoded" in problems and "Invalid JPEG data" in problems
    assert f"{text_as_jpeg}: cannot be decoded" in problems
    assert f"{tiff}: .tif images cannot be decoded by TensorFlow" in problems
    assert "4 problem(s)" in problems and "dataset.on_bad_file=skip" in problems
    assert f"{root / 'blue' / 'notes.txt'}: not an image" in skipped
    assert "png_named" not in message and "gray.png" not in message


def test_skip_trains_on_the_good_images_and_lists_the_rest(tmp_path):
    root = good_folder(tmp_path / "photos")
    (root / "purple").mkdir()
    write(root / "green" / "cut.jpg", truncated_jpeg())

    splits = load_folder(path=str(root), image_size=16, on_bad_file="skip", seed=1)

    assert splits.class_names == ["blue", "green", "red"]  # the empty class is dropped
    total = splits.num_train + len(arrays(splits.val)[1]) + len(arrays(splits.test)[1])
    assert total == 19
    skipped = splits.artifacts["skipped_files.txt"].splitlines()
    assert any(
        line.startswith(f"{root / 'green' / 'cut.jpg'}: cannot be decoded") for line in skipped
    )
    assert f"{root / 'purple'}: empty class folder (no images)" in skipped
    assert f"{root / 'blue' / 'notes.txt'}: not an image" in skipped
    assert sum(len(x) for x, _ in batches(splits.train, 4, 3)) == splits.num_train  # all decode


def test_train_and_val_folders_are_the_split(tmp_path):
    root = tmp_path / "photos"
    class_folder(root / "train", "blue", 6)
    class_folder(root / "train", "red", 4)
    class_folder(root / "validation", "blue", 2)
    class_folder(root / "validation", "red", 3)
    write(root / "LICENSE.txt", b"CC-BY\n")

    a, b = (load_folder(path=str(root), image_size=16, seed=s) for s in (0, 1))

    # Without test/, the test images are a fixed 10% of train/ (rounded up per class).
    assert a.class_names == ["blue", "red"] and (a.num_train, a.num_test) == (8, 2)
    val_images, val_labels = arrays(a.val)
    assert sorted(val_labels) == [0, 0, 1, 1, 1]
    np.testing.assert_array_equal(val_images, arrays(b.val)[0])  # not chosen by the seed
    np.testing.assert_array_equal(arrays(a.test)[0], arrays(b.test)[0])
    assert a.fingerprint == b.fingerprint
    assert "LICENSE.txt: not used" in a.artifacts["skipped_files.txt"]


def test_a_val_class_missing_from_train_is_a_problem(tmp_path):
    root = tmp_path / "photos"
    class_folder(root / "train", "blue", 3)
    class_folder(root / "train", "red", 3)
    class_folder(root / "val", "green", 2)
    with pytest.raises(DatasetError, match="green: class folder without a match"):
        load_folder(path=str(root), image_size=16)


def test_the_seed_chooses_a_stratified_split(tmp_path):
    root = tmp_path / "photos"
    class_folder(root, "blue", 10)
    class_folder(root, "red", 5)
    first, again, other = (
        load_folder(path=str(root), image_size=16, val_fraction=0.4, seed=s) for s in (0, 0, 1)
    )
    val_labels = arrays(first.val)[1]
    assert sorted(val_labels) == [0, 0, 0, 0, 1, 1]  # 40% of each class
    assert sorted(arrays(first.test)[1]) == [0, 1]  # 10% of each class, rounded up
    assert first.num_train == 7
    np.testing.assert_array_equal(arrays(first.train)[0], arrays(again.train)[0])
    # Another seed draws another split from the same data: the fingerprint (what the runs
    # are compared on) stays, the file-cache key (what the cached examples are) changes.
    assert first.fingerprint == again.fingerprint == other.fingerprint
    assert first.cache_key == again.cache_key != other.cache_key


def test_fingerprint_changes_with_the_files(tmp_path):
    root = tmp_path / "photos"
    class_folder(root, "blue", 4)
    class_folder(root, "red", 4)
    before = load_folder(path=str(root), image_size=16).fingerprint
    write(root / "red" / "red_0.jpg", image_bytes(COLORS["red"], size=(41, 30)))
    assert load_folder(path=str(root), image_size=16).fingerprint != before
    assert load_folder(path=str(root), image_size=20).fingerprint != before


def test_the_manifest_remembers_decoded_files_by_size_and_mtime(tmp_path, caplog):
    root = good_folder(tmp_path / "photos")
    caplog.set_level(logging.INFO, logger="augsweep.data.preflight")

    load_folder(path=str(root), image_size=16)
    load_folder(path=str(root), image_size=16)
    decoded = [r.getMessage() for r in caplog.records if "decoding" in r.getMessage()]
    assert decoded == [f"preflight: decoding 19 of 19 images in {root}"]  # not on the 2nd run

    caplog.clear()
    victim = root / "green" / "green_0.jpg"
    victim.write_bytes(truncated_jpeg())
    os.utime(victim, ns=(1, 1))
    with pytest.raises(DatasetError, match="green_0.jpg: cannot be decoded"):
        load_folder(path=str(root), image_size=16)
    assert [r.getMessage() for r in caplog.records if "decoding" in r.getMessage()] == [
        f"preflight: decoding 1 of 19 images in {root}"
    ]


def test_two_classes_and_a_relative_path_against_the_launch_dir(tmp_path, monkeypatch):
    class_folder(tmp_path / "photos", "blue", 3)
    class_folder(tmp_path / "photos", "red", 3)
    monkeypatch.chdir(tmp_path)
    splits = load_folder(path="photos", image_size=16, val_fraction=0.34)
    assert splits.class_names == ["blue", "red"]
    assert (splits.num_train, splits.num_val, splits.num_test) == (2, 2, 2)


@pytest.mark.parametrize("classes", [[], ["blue"]])
def test_fewer_than_two_classes_is_an_error(tmp_path, classes):
    root = tmp_path / "photos"
    root.mkdir()
    for name in classes:
        class_folder(root, name, 3)
    with pytest.raises(DatasetError, match="a dataset needs at least 2"):
        load_folder(path=str(root))


def test_clean_subset_is_a_fixed_sample_of_the_training_images(tmp_path):
    root = tmp_path / "photos"
    class_folder(root, "blue", 6)
    class_folder(root, "red", 6)
    splits = load_folder(path=str(root), image_size=16, seed=0, clean_samples=4)
    clean, _ = arrays(splits.clean_train)
    np.testing.assert_array_equal(clean, arrays(splits.train)[0][:4])
    everything = load_folder(path=str(root), image_size=16, seed=0)  # default: up to 1,000
    assert len(arrays(everything.clean_train)[1]) == everything.num_train


def distinct_images(root, name: str, count: int, first: int = 0) -> None:
    """``count`` PNG images of class ``name``, each of its own color (lossless, so the
    decoded pixels tell the files apart)."""
    base = np.array(COLORS[name])
    for i in range(first, first + count):
        color = tuple(int(c) for c in np.clip(base + [i, -i, 2 * i], 0, 255))
        write(root / name / f"{name}_{i}.png", image_bytes(color, fmt="PNG", size=(8, 8)))


def contents(examples) -> set[bytes]:
    images, labels = arrays(examples)
    return {image.tobytes() + bytes([label]) for image, label in zip(images, labels, strict=True)}


def assert_disjoint(splits) -> tuple[set, set, set]:
    """The three splits share no image; returns their contents."""
    train, val, test = (contents(getattr(splits, part)) for part in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (splits.num_train, splits.num_val, splits.num_test)
    assert not train & val and not train & test and not val & test
    return train, val, test


def test_test_fraction_is_a_fixed_slice_disjoint_from_train_and_val(tmp_path):
    root = tmp_path / "photos"
    distinct_images(root, "blue", 12)
    distinct_images(root, "red", 8)
    a, b = (load_folder(path=str(root), image_size=8, test_fraction=0.25, seed=s) for s in (0, 1))
    a_train, a_val, a_test = assert_disjoint(a)
    b_train, b_val, b_test = assert_disjoint(b)
    assert len(a_train | a_val | a_test) == 20  # every image in one split
    assert a_test == b_test and a_val != b_val  # the seed draws validation, never the test
    assert sorted(arrays(a.test)[1]) == [0, 0, 0, 1, 1]  # 25% of each class, rounded up
    assert a.fingerprint == b.fingerprint
    other = load_folder(path=str(root), image_size=8, test_fraction=0.4, seed=0)
    assert other.fingerprint != a.fingerprint  # another test split, another run key's data


@pytest.mark.parametrize("with_val", [False, True], ids=["classes+test", "train+val+test"])
def test_a_test_folder_is_the_test_split(tmp_path, with_val):
    root = tmp_path / "photos"
    train_root = root / "train" if with_val else root
    for name in ("blue", "red"):
        distinct_images(train_root, name, 6)
        distinct_images(root / "test", name, 3, first=20)
        if with_val:
            distinct_images(root / "val", name, 2, first=40)
    splits = load_folder(path=str(root), image_size=8, test_fraction=0.5, seed=0)
    assert splits.class_names == ["blue", "red"]  # test/ is no class
    _, val, test = assert_disjoint(splits)
    assert splits.num_test == 6 and splits.num_train + splits.num_val == 12 + 4 * with_val
    # exactly the images of test/ (test_fraction is unused)
    only_test = load_folder(path=str(root / "test"), image_size=8, test_fraction=0.01)
    expected = contents(only_test.train) | contents(only_test.val) | contents(only_test.test)
    assert test == expected
    # a test image added is in the fingerprint: another run key's data
    before = splits.fingerprint
    distinct_images(root / "test", "red", 1, first=30)
    assert load_folder(path=str(root), image_size=8, seed=0).fingerprint != before
    # preflight decodes the test images too
    write(root / "test" / "blue" / "cut.jpg", truncated_jpeg())
    with pytest.raises(DatasetError, match="cut.jpg: cannot be decoded"):
        load_folder(path=str(root), image_size=8)
