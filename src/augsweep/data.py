"""Datasets: each loader returns a :class:`Splits` of unbatched images and labels.

Images are float32 in the 0-255 pixel range, shape ``(H, W, C)``; labels are integer class
indices. Photos are decoded and resized in parallel by the loaders; caching, one-hot
encoding, shuffling, batching and prefetching are done by :func:`batches`, the same for
every dataset.

Loaders: :func:`load_digits` (embedded, offline), :func:`load_tf_flowers` (TFDS) and
:func:`load_folder` (a folder with one subfolder of images per class).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from augsweep import preflight
from augsweep.network import reachable
from augsweep.paths import resolve_path
from augsweep.validation import ON_BAD_FILE

AUTOTUNE = tf.data.AUTOTUNE
# Training images evaluated without augmentation each epoch, unless trainer.clean_eval_samples
# says otherwise: a fixed subset for photo datasets (every image would cost nearly as much
# as the training pass on CPU); digits evaluates all of its few training images.
PHOTO_CLEAN_SAMPLES = 1000

log = logging.getLogger(__name__)


@dataclass
class Splits:
    """The data of one run.

    Attributes:
        train: Training examples ``(image, label)``, unbatched, not augmented.
        val: Validation examples, unbatched; never augmented.
        clean_train: A fixed subset of ``train`` evaluated without augmentation each epoch.
        class_names: Class names, index = label.
        image_shape: ``(H, W, C)`` of every image.
        num_train: Number of training examples.
        fingerprint: A short hash of the data source and of how it is split and shaped
            (not of the seed: runs with other seeds draw from the same data), logged as
            tag ``data_fingerprint``.
        cache: How :func:`batches` caches each split: True in memory, False not at all,
            or a directory (absolute) for file caches named by ``cache_key``.
        artifacts: Text files to log with the run, ``{file name: content}`` (e.g. the
            files a folder dataset skipped).
        cache_key: Names file caches; it must change whenever the examples of a split do
            (e.g. with a seeded split). Defaults to ``fingerprint``.
    """

    train: tf.data.Dataset
    val: tf.data.Dataset
    clean_train: tf.data.Dataset
    class_names: list[str]
    image_shape: tuple[int, int, int]
    num_train: int
    fingerprint: str
    cache: bool | str = True
    artifacts: dict[str, str] = field(default_factory=dict)
    cache_key: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def cache_for(self, part: str) -> bool | str:
        """The ``cache`` argument of :func:`batches` for one split (``train``, ``val``, ...).

        Args:
            part: Names the split's cache file when caching to files.
        """
        if isinstance(self.cache, str):
            Path(self.cache).mkdir(parents=True, exist_ok=True)
            return str(Path(self.cache) / f"{self.cache_key or self.fingerprint}-{part}")
        return bool(self.cache)


def load_digits(
    name: str = "digits",
    train_samples: int = 100,
    val_fraction: float = 0.3,
    image_size: int = 32,
    margin: float = 0.125,
    *,
    seed: int = 0,
    clean_samples: int | None = -1,
) -> Splits:
    """scikit-learn's embedded ``digits`` (1,797 8x8 images, 10 classes), offline.

    The validation set is a stratified ``val_fraction`` of all images, chosen by ``seed``
    alone: it stays the same whatever ``train_samples`` is. The training images are a
    stratified subset of the rest.

    Args:
        name: Unused; the dataset's display name.
        train_samples: Training images to use, or -1 for all of the non-validation ones.
        val_fraction: Share of the images held out for validation, in (0, 1).
        image_size: Side of the square images, in pixels.
        margin: Share of the side left black on each side of the digit, which is resized
            (bilinear) into the rest.
        seed: Seeds the split.
        clean_samples: Size of ``clean_train``; -1 or None for the whole training set.

    Returns:
        The run's :class:`Splits`.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    labels = bunch.target.astype(np.int32)
    indices = np.arange(len(labels))
    rest, val_idx = train_test_split(
        indices, test_size=val_fraction, stratify=labels, random_state=seed
    )
    if train_samples == -1 or train_samples == len(rest):
        train_idx = rest
    elif 10 <= train_samples < len(rest):
        train_idx, _ = train_test_split(
            rest, train_size=train_samples, stratify=labels[rest], random_state=seed
        )
    else:
        raise ValueError(
            f"dataset.train_samples={train_samples} is out of range: use -1 (all) or "
            f"10..{len(rest)} with val_fraction={val_fraction}"
        )
    images = _digits_images(bunch.images, image_size, margin)
    train = _from_arrays(images[train_idx], labels[train_idx])
    return Splits(
        train=train,
        val=_from_arrays(images[val_idx], labels[val_idx]),
        clean_train=_subset(train, len(train_idx), clean_samples),
        class_names=[str(d) for d in range(10)],
        image_shape=images.shape[1:],
        num_train=len(train_idx),
        fingerprint=_fingerprint(
            f"sklearn-digits:{train_samples}:{val_fraction}:{image_size}:{margin}",
            bunch.images,
            labels,
        ),
    )


def load_tf_flowers(
    name: str = "tf_flowers",
    image_size: int = 180,
    val_percent: int = 20,
    data_dir: str | None = None,
    cache: bool | str = True,
    *,
    seed: int = 0,
    clean_samples: int | None = None,
) -> Splits:
    """TensorFlow Flowers (3,670 photos, 5 classes) from TensorFlow Datasets.

    TFDS has only a ``train`` split: validation is its last ``val_percent`` percent, a
    fixed slice, the same for every run whatever the seed. The data is loaded as prepared
    in ``data_dir``; if it is not, it is downloaded and prepared, from
    ``<data_dir>/downloads/manual/flower_photos.tgz`` when that file is there. Offline,
    with neither, it fails at once with an error saying how to provide the photos.

    Args:
        name: The dataset's display name.
        image_size: Side of the square the photos are resized to.
        val_percent: Percentage of the photos held out for validation, 1-99.
        data_dir: TFDS data folder (relative to the launch directory); None uses TFDS's
            default (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        cache: True caches decoded images in memory, False not at all, a path in files.
        seed: Unused: the split is a fixed slice.
        clean_samples: Size of ``clean_train`` (the first training images); -1 for all,
            None for :data:`PHOTO_CLEAN_SAMPLES`.

    Returns:
        The run's :class:`Splits`.

    Raises:
        preflight.DatasetError: If the data is neither prepared nor downloadable.
    """
    if not 1 <= val_percent <= 99:
        raise ValueError(f"dataset.val_percent={val_percent}: must be in 1..99")
    cut = 100 - val_percent
    split = [f"train[:{cut}%]", f"train[{cut}%:]"]
    data_dir = str(resolve_path(data_dir)) if data_dir else None
    (train, val), info = _tfds_load("tf_flowers", split, data_dir)
    train, val = (
        ds.map(lambda image, label: (_resize(image, image_size), label), AUTOTUNE)
        for ds in (train, val)
    )
    num_train = _count(train)
    return Splits(
        train=train,
        val=val,
        clean_train=_subset(train, num_train, clean_samples, PHOTO_CLEAN_SAMPLES),
        class_names=list(info.features["label"].names),
        image_shape=(image_size, image_size, 3),
        num_train=num_train,
        fingerprint=_fingerprint(f"tfds:tf_flowers:{info.version}:{split}:{image_size}"),
        cache=_cache_setting(cache),
    )


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
            raise preflight.DatasetError(
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


def load_folder(
    name: str = "folder",
    path: str = "",
    image_size: int = 180,
    val_fraction: float = 0.2,
    on_bad_file: str = "fail",
    cache: bool | str = True,
    *,
    seed: int = 0,
    clean_samples: int | None = None,
) -> Splits:
    """A folder of images, one subfolder per class (``DIR/<class>/*.jpg``).

    If ``DIR`` holds ``train/`` and ``val/`` (or ``validation/``), those are the split;
    otherwise a stratified ``val_fraction`` of each class, chosen by ``seed``. Before
    anything else every image is decoded once (see :mod:`augsweep.preflight`). Grayscale,
    RGBA and palette images become RGB.

    Args:
        name: The dataset's display name.
        path: The folder; a relative path is relative to the launch directory.
        image_size: Side of the square the images are resized to.
        val_fraction: Share of each class held out for validation (without ``val/``).
        on_bad_file: ``fail``: one error listing every problem; ``skip``: train on the
            good images, list the rest in the ``skipped_files.txt`` artifact.
        cache: True caches decoded images in memory, False not at all, a path in files.
        seed: Seeds the split and the order of the training images.
        clean_samples: Size of ``clean_train`` (a fixed, seeded sample of the training
            images); -1 for all, None for :data:`PHOTO_CLEAN_SAMPLES`.

    Returns:
        The run's :class:`Splits`.

    Raises:
        preflight.DatasetError: For a missing folder, fewer than two classes, or (with
            ``on_bad_file=fail``) any bad file or empty class folder.
    """
    if on_bad_file not in ON_BAD_FILE:
        raise ValueError(
            f"dataset.on_bad_file={on_bad_file!r}: must be one of {', '.join(ON_BAD_FILE)}"
        )
    if not path:
        raise ValueError("dataset.path is required: the folder with one subfolder per class")
    scan = preflight.scan_folder(resolve_path(path), skip_bad=on_bad_file == "skip")
    if scan.skipped:
        log.warning(
            "%d files in %s are not used (artifact skipped_files.txt):\n%s",
            len(scan.skipped), scan.root, preflight.skipped_report(scan).rstrip(),
        )  # fmt: skip
    if scan.val is None:
        train_files, val_files = _stratified_split(scan.train, val_fraction, seed)
        split_rule = f"val_fraction={val_fraction}"
    else:
        train_files, val_files = scan.train, scan.val
        split_rule = "train/val folders"
    for part, files in (("training", train_files), ("validation", val_files)):
        if not files:
            raise preflight.DatasetError(f"dataset.path={scan.root}: no {part} images")
    order = np.random.default_rng(seed).permutation(len(train_files))
    train_files = [train_files[i] for i in order]
    train = _image_files(train_files, image_size)
    return Splits(
        train=train,
        val=_image_files(val_files, image_size),
        clean_train=_subset(train, len(train_files), clean_samples, PHOTO_CLEAN_SAMPLES),
        class_names=scan.class_names,
        image_shape=(image_size, image_size, 3),
        num_train=len(train_files),
        fingerprint=_files_fingerprint(scan, f"{image_size}:{split_rule}", scan.all_files),
        cache=_cache_setting(cache),
        cache_key=_files_fingerprint(scan, f"{image_size}:{seed}", train_files, val_files),
        artifacts={"skipped_files.txt": preflight.skipped_report(scan)} if scan.skipped else {},
    )


def _stratified_split(
    files: list[tuple[Path, int]], val_fraction: float, seed: int
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Hold out ``val_fraction`` of each class (at least one image stays for training)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in sorted({label for _, label in files}):
        members = [item for item in files if item[1] == label]
        members = [members[i] for i in rng.permutation(len(members))]
        held_out = min(round(len(members) * val_fraction), len(members) - 1)
        val += members[:held_out]
        train += members[held_out:]
    return train, val


def _image_files(files: list[tuple[Path, int]], image_size: int) -> tf.data.Dataset:
    """Decode (any format TensorFlow reads, as RGB) and resize in parallel, in order."""
    paths = tf.constant([str(path) for path, _ in files])
    labels = tf.constant([label for _, label in files], dtype=tf.int32)

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return _resize(image, image_size), label

    return tf.data.Dataset.from_tensor_slices((paths, labels)).map(
        load, num_parallel_calls=AUTOTUNE, deterministic=True
    )


def _files_fingerprint(scan, tag: str, *splits: list[tuple[Path, int]]) -> str:
    """Hash of ``tag`` and file lists (paths relative to the folder, sizes, labels)."""
    digest = hashlib.sha256(f"folder:{tag}:{scan.class_names}".encode())
    for files in splits:
        for path, label in sorted(files):
            relative = path.relative_to(scan.root)
            digest.update(f"{relative}|{path.stat().st_size}|{label}\n".encode())
        digest.update(b"--\n")
    return digest.hexdigest()[:16]


def _digits_images(images: np.ndarray, image_size: int, margin: float) -> np.ndarray:
    """Scale 0-16 digit intensities to 0-255 pixels, resize, and frame them in black."""
    pad = round(image_size * margin)
    inner = image_size - 2 * pad
    pixels = (images[..., None] * (255.0 / 16.0)).astype(np.float32)
    if inner != pixels.shape[1]:
        pixels = tf.image.resize(pixels, (inner, inner), method="bilinear").numpy()
    pixels = np.pad(pixels, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return np.clip(pixels, 0.0, 255.0)


def _from_arrays(images: np.ndarray, labels: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((images, labels))


def _subset(
    train: tf.data.Dataset, num_train: int, samples: int | None, default: int = -1
) -> tf.data.Dataset:
    """The first ``samples`` training examples (``default`` if None; all if -1 or more)."""
    samples = default if samples is None else samples
    if samples == -1 or samples >= num_train:
        return train
    return train.take(samples)


def _fingerprint(source: str, *arrays: np.ndarray) -> str:
    digest = hashlib.sha256(source.encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _resize(image: tf.Tensor, image_size: int) -> tf.Tensor:
    """A square ``image_size`` float32 0-255 image (antialiased, aspect ratio not kept)."""
    resized = tf.image.resize(image, (image_size, image_size), antialias=True)
    return tf.clip_by_value(resized, 0.0, 255.0)


def _cache_setting(cache: bool | str) -> bool | str:
    """``cache`` as :attr:`Splits.cache` wants it: a bool, or an absolute directory."""
    if isinstance(cache, bool):
        return cache
    if not isinstance(cache, str) or not cache:
        raise ValueError(
            f"dataset.cache={cache!r}: use true (in memory), false (no cache) or a directory"
        )
    return str(resolve_path(cache))


def batches(
    examples: tf.data.Dataset,
    batch_size: int,
    num_classes: int,
    *,
    shuffle_seed: int | None = None,
    cache: bool | str = True,
    augment_example: Callable | None = None,
    augment_batch: Callable | None = None,
) -> tf.data.Dataset:
    """Batch examples for Keras: one-hot float labels, optional seeded shuffle, prefetch.

    ``cache()`` comes before any shuffling or random augmentation, so every epoch sees new
    random draws. Augmentation in the input pipeline (training batches only) runs in
    parallel on the CPU: ``augment_example`` on single examples before batching,
    ``augment_batch`` on the batches (e.g. MixUp and CutMix, which mix labels too).

    Args:
        examples: Unbatched ``(image, label)`` examples.
        batch_size: Examples per batch.
        num_classes: Width of the one-hot labels.
        shuffle_seed: Shuffle every epoch with this seed; ``None`` keeps the order.
        cache: Cache the decoded examples after the first pass: True in memory, a path
            prefix for a file cache (see :meth:`Splits.cache_for`), False not at all.
        augment_example: Maps ``(image, one_hot)`` to an augmented pair, or None.
        augment_batch: Maps ``(images, one_hots)`` to an augmented pair, or None.

    Returns:
        Batched ``(images, one_hot_labels)``.
    """

    def one_hot(image, label):
        return image, tf.one_hot(label, num_classes, dtype=tf.float32)

    ds = examples.map(one_hot, num_parallel_calls=AUTOTUNE)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if shuffle_seed is not None:
        ds = ds.shuffle(4096, seed=shuffle_seed, reshuffle_each_iteration=True)
    if augment_example is not None:
        ds = ds.map(augment_example, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size)
    if augment_batch is not None:
        ds = ds.map(augment_batch, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
