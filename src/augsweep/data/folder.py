"""A folder of images, one subfolder per class, checked by :mod:`augsweep.data.preflight`."""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from augsweep.backend import uses_tensorflow
from augsweep.data import preflight
from augsweep.data.splits import (
    PHOTO_CLEAN_SAMPLES,
    TEST_SPLIT_SEED,
    Examples,
    Splits,
    cache_setting,
    clean_subset,
    pillow_resize,
    resize,
)

if TYPE_CHECKING:
    import tensorflow as tf
from augsweep.paths import resolve_path

log = logging.getLogger(__name__)


def load_folder(
    name: str = "folder",
    path: str = "",
    image_size: int = 180,
    val_fraction: float = 0.2,
    test_fraction: float = 0.1,
    on_bad_file: str = "fail",
    cache: bool | str = True,
    *,
    seed: int = 0,
    clean_samples: int | None = None,
) -> Splits:
    """A folder of images, one subfolder per class (``DIR/<class>/*.jpg``).

    The test images are those of ``DIR/test/`` (the same class folders) when there is one;
    otherwise a stratified ``test_fraction`` of each class, the same for every seed. If
    ``DIR`` holds ``train/`` and ``val/`` (or ``validation/``), those are the training and
    validation images; otherwise a stratified ``val_fraction`` of each class, chosen by
    ``seed``, is held out for validation. Before
    anything else every image is decoded once (see :mod:`augsweep.data.preflight`).
    Grayscale, RGBA and palette images become RGB. The settings themselves are checked
    with the config (:mod:`augsweep.config.checks`); here only what needs the files.

    Args:
        name: The dataset's display name.
        path: The folder; a relative path is relative to the launch directory.
        image_size: Side of the square the images are resized to.
        val_fraction: Share of each class held out for validation (without ``val/``).
        test_fraction: Share of each class held out for the test (without ``test/``).
        on_bad_file: ``fail``: one error listing every problem; ``skip``: train on the
            good images, list the rest in the ``skipped_files.txt`` artifact.
        cache: True caches decoded images in memory, False not at all, a path in files.
        seed: Seeds the validation split and the order of the training images (never the
            test split).
        clean_samples: Size of ``clean_train`` (a fixed, seeded sample of the training
            images); -1 for all, None for :data:`PHOTO_CLEAN_SAMPLES`.

    Returns:
        The run's :class:`Splits`.

    Raises:
        preflight.DatasetError: For fewer than two classes, a split left without images,
            or (with ``on_bad_file=fail``) any bad file or empty class folder.
    """
    scan = preflight.scan_folder(resolve_path(path), skip_bad=on_bad_file == "skip")
    if scan.skipped:
        log.warning(
            "%d files in %s are not used (artifact skipped_files.txt):\n%s",
            len(scan.skipped), scan.root, preflight.skipped_report(scan).rstrip(),
        )  # fmt: skip
    train_files, val_files, test_files, split_rule = _three_splits(
        scan, val_fraction, test_fraction, seed
    )
    order = np.random.default_rng(seed).permutation(len(train_files))
    train_files = [train_files[i] for i in order]
    train = _image_files(train_files, image_size)
    return Splits(
        train=train,
        val=_image_files(val_files, image_size),
        test=_image_files(test_files, image_size),
        clean_train=clean_subset(train, len(train_files), clean_samples, PHOTO_CLEAN_SAMPLES),
        class_names=scan.class_names,
        image_shape=(image_size, image_size, 3),
        num_train=len(train_files),
        num_val=len(val_files),
        num_test=len(test_files),
        fingerprint=_files_fingerprint(
            scan, f"{image_size}:{split_rule}", scan.all_files, test_files
        ),
        cache=cache_setting(cache),
        cache_key=_files_fingerprint(
            scan, f"{image_size}:{seed}", train_files, val_files, test_files
        ),
        artifacts={"skipped_files.txt": preflight.skipped_report(scan)} if scan.skipped else {},
    )


def _three_splits(scan, val_fraction: float, test_fraction: float, seed: int):
    """``(train, val, test, rule)``: the files of each split and how they were chosen.

    The test files come first, from ``test/`` or as a fixed ``test_fraction`` of each class
    (:data:`TEST_SPLIT_SEED`), so that no seed ever draws them for training or validation.

    Raises:
        preflight.DatasetError: If a split is left without images.
    """
    if scan.test is None:
        # Rounded up, so that a small class has a test image, while 2 stay for training and
        # validation.
        pool, test = _stratified_split(scan.train, test_fraction, TEST_SPLIT_SEED, up_to=2)
        rule = f"test_fraction={test_fraction}"
    else:
        pool, test = scan.train, scan.test
        rule = "test folder"
    if scan.val is None:
        # val_fraction is a share of each class's images (but those of a test/ folder), as
        # before the test split existed: a test_fraction does not shrink the validation.
        class_sizes = Counter(label for _, label in scan.train)
        train, val = _stratified_split(pool, val_fraction, seed, class_sizes)
        rule += f":val_fraction={val_fraction}"
    else:
        train, val = pool, scan.val
        rule += ":train/val folders"
    if not test:
        raise preflight.DatasetError(
            f"dataset.path={scan.root}: no test images; raise dataset.test_fraction (now "
            f"{test_fraction}) or put images in {scan.root}/test/<class>/"
        )
    for part, files in (("training", train), ("validation", val)):
        if not files:
            raise preflight.DatasetError(f"dataset.path={scan.root}: no {part} images")
    return train, val, test, rule


def _stratified_split(
    files: list[tuple[Path, int]],
    fraction: float,
    seed: int,
    class_sizes: dict[int, int] | None = None,
    up_to: int | None = None,
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Hold out ``fraction`` of each class (at least one image stays in the rest).

    Args:
        files: The ``(path, label)`` pairs to split.
        fraction: Share of each class to hold out, rounded to the nearest.
        seed: Seeds the draw.
        class_sizes: The class sizes the share is of; None: those of ``files``.
        up_to: Round the share up instead, leaving at least ``up_to`` images in the rest.
    """
    rng = np.random.default_rng(seed)
    rest, held = [], []
    for label in sorted({label for _, label in files}):
        members = [item for item in files if item[1] == label]
        members = [members[i] for i in rng.permutation(len(members))]
        size = class_sizes[label] if class_sizes else len(members)
        if up_to is None:
            held_out = min(round(size * fraction), len(members) - 1)
        else:
            held_out = max(min(math.ceil(size * fraction), len(members) - up_to), 0)
        held += members[:held_out]
        rest += members[held_out:]
    return rest, held


def _image_files(files: list[tuple[Path, int]], image_size: int) -> tf.data.Dataset | Examples:
    """Decode (any format TensorFlow reads, as RGB) and resize in parallel, in order; without
    TensorFlow (:func:`_decoded_files`), in memory."""
    if not uses_tensorflow():
        return _decoded_files(files, image_size)
    import tensorflow as tf

    paths = tf.constant([str(path) for path, _ in files])
    labels = tf.constant([label for _, label in files], dtype=tf.int32)

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return resize(image, image_size), label

    return tf.data.Dataset.from_tensor_slices((paths, labels)).map(
        load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def _decoded_files(files: list[tuple[Path, int]], image_size: int) -> Examples:
    """The images decoded by Pillow as RGB, resized (antialiased), as uint8 in memory: the
    same files as on TensorFlow, pixels within a rounding of its decoder's."""
    from concurrent.futures import ThreadPoolExecutor

    def load(path: Path) -> np.ndarray:
        pixels = preflight.pillow_rgb(path)
        return np.round(pillow_resize(pixels, image_size)).astype(np.uint8)

    with ThreadPoolExecutor() as pool:  # Pillow releases the GIL while decoding
        images = list(pool.map(load, [path for path, _ in files]))
    shape = (0, image_size, image_size, 3)
    stacked = np.stack(images) if images else np.zeros(shape, np.uint8)
    return Examples(stacked, np.array([label for _, label in files], dtype=np.int32))


def _files_fingerprint(scan, tag: str, *splits: list[tuple[Path, int]]) -> str:
    """Hash of ``tag`` and file lists (paths relative to the folder, sizes, labels)."""
    digest = hashlib.sha256(f"folder:{tag}:{scan.class_names}".encode())
    for files in splits:
        for path, label in sorted(files):
            relative = path.relative_to(scan.root)
            digest.update(f"{relative}|{path.stat().st_size}|{label}\n".encode())
        digest.update(b"--\n")
    return digest.hexdigest()[:16]
