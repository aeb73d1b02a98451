"""TensorFlow Flowers from TensorFlow Datasets, failing at once when offline and unprepared."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from augsweep.data.preflight import DatasetError
from augsweep.data.splits import (
    PHOTO_CLEAN_SAMPLES,
    Splits,
    cache_setting,
    clean_subset,
    fingerprint,
    resize,
)
from augsweep.downloads import reachable
from augsweep.paths import resolve_path


def load_tf_flowers(
    name: str = "tf_flowers",
    image_size: int = 180,
    val_percent: int = 20,
    test_percent: int = 10,
    data_dir: str | None = None,
    cache: bool | str = True,
    *,
    seed: int = 0,
    clean_samples: int | None = None,
) -> Splits:
    """TensorFlow Flowers (3,670 photos, 5 classes) from TensorFlow Datasets.

    TFDS has only a ``train`` split: validation is its last ``val_percent`` percent, the
    test the ``test_percent`` percent before them, and training the rest: fixed slices,
    the same for every run whatever the seed. The data is loaded as prepared
    in ``data_dir``; if it is not, it is downloaded and prepared, from
    ``<data_dir>/downloads/manual/flower_photos.tgz`` when that file is there. Offline,
    with neither, it fails at once with an error saying how to provide the photos.

    Args:
        name: The dataset's display name.
        image_size: Side of the square the photos are resized to.
        val_percent: Percentage of the photos held out for validation, 1-99.
        test_percent: Percentage of the photos held out for the test, 1-99 (with
            ``val_percent``, at most 99).
        data_dir: TFDS data folder (relative to the launch directory); None uses TFDS's
            default (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        cache: True caches decoded images in memory, False not at all, a path in files.
        seed: Unused: the split is a fixed slice.
        clean_samples: Size of ``clean_train`` (the first training images); -1 for all,
            None for :data:`PHOTO_CLEAN_SAMPLES`.

    Returns:
        The run's :class:`Splits`.

    Raises:
        DatasetError: If the data is neither prepared nor downloadable.
    """
    split = tfds_slices(val_percent, test_percent)
    data_dir = str(resolve_path(data_dir)) if data_dir else None
    parts, info = _tfds_load("tf_flowers", split, data_dir)
    train, val, test = (
        ds.map(lambda image, label: (resize(image, image_size), label), tf.data.AUTOTUNE)
        for ds in parts
    )
    num_train = _count(train)
    return Splits(
        train=train,
        val=val,
        test=test,
        clean_train=clean_subset(train, num_train, clean_samples, PHOTO_CLEAN_SAMPLES),
        class_names=list(info.features["label"].names),
        image_shape=(image_size, image_size, 3),
        num_train=num_train,
        num_val=_count(val),
        num_test=_count(test),
        fingerprint=fingerprint(f"tfds:tf_flowers:{info.version}:{split}:{image_size}"),
        cache=cache_setting(cache),
    )


def tfds_slices(val_percent: int, test_percent: int) -> list[str]:
    """TFDS split strings of ``train``: ``[train, val, test]`` as fixed, disjoint slices
    (training first, then the test, validation last, as it was before there was a test)."""
    test_start = 100 - val_percent - test_percent
    val_start = 100 - val_percent
    return [f"train[:{test_start}%]", f"train[{val_start}%:]", f"train[{test_start}%:{val_start}%]"]


def _tfds_load(name: str, split: Sequence[str], data_dir: str | None):
    """``tfds.load`` that fails at once, saying what to do, when it would need the network
    and cannot reach it (TFDS itself retries for minutes)."""
    import tensorflow_datasets as tfds

    options = dict(split=list(split), data_dir=data_dir, as_supervised=True, with_info=True)
    try:
        return tfds.load(name, download=False, shuffle_files=False, **options)
    except AssertionError as error:
        if "could not find data" not in str(error):  # TFDS's words for "not prepared"
            raise
    builder = tfds.builder(name, data_dir=data_dir)
    manual_dir = Path(builder.data_dir_root) / "downloads" / "manual"
    for url, url_info in builder.url_infos.items():
        archive = manual_dir / url_info.filename
        if not archive.exists() and not reachable(url):
            raise DatasetError(
                f"dataset={name} is not prepared in {builder.data_dir_root} and {url} cannot "
                f"be reached (offline?). Put that file at {archive} (TFDS prepares the data "
                "from there), or train on the photos in a folder: dataset=folder "
                "dataset.path=DIR (one subfolder per class)"
            )
    return tfds.load(name, download=True, shuffle_files=False, **options)


def _count(examples: tf.data.Dataset) -> int:
    """Number of examples, from the cardinality when known, else by reading them once."""
    known = int(examples.cardinality())
    if known >= 0:
        return known
    return int(examples.reduce(0, lambda count, _: count + 1))
