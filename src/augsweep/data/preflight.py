"""Preflight of an image folder: every file checked once, before any training.

A folder dataset has one subfolder per class (``DIR/<class>/...``), or ``DIR/train/<class>``
plus ``DIR/val/<class>`` (or ``validation/``) and/or ``DIR/test/<class>``. Beside class
folders, a ``DIR/test/`` holding a folder named like a sibling class folder is the test
split too (a ``test/`` with no such folder is a class). :func:`scan_folder` decodes every
image once, with the same TensorFlow decoder the input pipeline uses, so a corrupt file is
found now and not in the middle of an epoch, and it collects every problem with its path:

- empty class folders;
- images TensorFlow cannot decode (corrupt, truncated, not an image at all);
- images in formats TensorFlow does not read (TIFF, HEIC, ...).

Files that are not images (``.txt``, ``.csv``, ...) are listed as skipped, never decoded.
The result of each decode is kept in a manifest keyed by path, size and modification time
(under :func:`augsweep.paths.user_cache_dir`), so the next run of the same folder only
decodes new or changed files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from augsweep.backend import uses_tensorflow
from augsweep.errors import EXIT_CONFIG_ERROR, InputError
from augsweep.paths import user_cache_dir

log = logging.getLogger(__name__)

# What TensorFlow's decode_image reads (checked against TF 2.21).
IMAGE_EXTENSIONS = frozenset({".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp"})
# Image formats it does not read: reported as problems, not silently skipped.
UNREADABLE_EXTENSIONS = frozenset(
    {".avif", ".cr2", ".dng", ".heic", ".heif", ".ico", ".jp2", ".nef", ".pbm", ".pgm",
     ".ppm", ".psd", ".raw", ".svg", ".tga", ".tif", ".tiff"}
)  # fmt: skip
SPLIT_DIRS = ("train", ("val", "validation"), "test")
MANIFEST_VERSION = 1


class DatasetError(InputError, ValueError):
    """The data cannot be used as it is; the message says what to change (exit code 2)."""

    exit_code = EXIT_CONFIG_ERROR

    def __repr__(self) -> str:
        # Hydra reports errors from a `_target_` by their repr: keep the lines readable.
        return f"{type(self).__name__}: {self}"


@dataclass(frozen=True)
class Issue:
    """A file or folder that is not used, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class FolderScan:
    """What a folder holds, after every image was decoded once.

    Attributes:
        root: The dataset folder.
        class_names: Class folder names, sorted; index = label.
        train: Good images ``(path, label)`` of ``train/``, or of the whole folder (but
            ``test/``) when it has no ``train/`` folder.
        val: Good images of ``val/`` (or ``validation/``); ``None`` without that split.
        problems: Bad files and empty class folders.
        skipped: Files that are not images, and (with ``skip_bad``) the problems.
        test: Good images of ``test/``; ``None`` without that split.
    """

    root: Path
    class_names: list[str]
    train: list[tuple[Path, int]]
    val: list[tuple[Path, int]] | None
    problems: list[Issue] = field(default_factory=list)
    skipped: list[Issue] = field(default_factory=list)
    test: list[tuple[Path, int]] | None = None

    @property
    def all_files(self) -> list[tuple[Path, int]]:
        """Every good image ``(path, label)``, of every split."""
        return self.train + (self.val or []) + (self.test or [])


def check_layout(root: Path, skip_bad: bool = False) -> None:
    """What the folder's structure alone tells, without decoding an image (no TensorFlow):
    the command line calls it before TensorFlow loads.

    Args:
        root: The dataset folder (absolute; checked to exist by the config).
        skip_bad: Empty class folders and unreadable formats are dropped, not refused.

    Raises:
        DatasetError: Unless ``skip_bad``, for any problem of the layout (an empty class
            folder, a class folder without a match, an image format TensorFlow does not
            read); and for fewer than two class folders holding image files.
    """
    class_names, images, problems, skipped = _index(root)
    if problems and not skip_bad:
        scan = FolderScan(root, class_names, images["train"], images.get("val"), problems,
                          skipped, images.get("test"))  # fmt: skip
        raise DatasetError(problem_report(scan))
    with_images = sorted({class_names[label] for _, label in images["train"]})
    if len(with_images) < 2:
        raise DatasetError(too_few_classes(root, with_images))


def scan_folder(root: Path, skip_bad: bool = False) -> FolderScan:
    """Index a class-per-subfolder dataset and decode every image once.

    Args:
        root: The dataset folder (absolute; checked to exist by the config).
        skip_bad: Keep going without the problems (bad files are skipped, empty classes
            dropped) instead of raising.

    Returns:
        The good images per split, their classes, and the lists of what was left out.

    Raises:
        DatasetError: If the folder has fewer than two classes, or, unless
            ``skip_bad``, listing every problem with its path.
    """
    class_names, images, problems, skipped = _index(root)
    errors = check_images([p for paths in images.values() for p, _ in paths], root)
    problems += [Issue(path, errors[path]) for path in sorted(errors)]
    good = {
        role: [(path, label) for path, label in paths if path not in errors]
        for role, paths in images.items()
    }
    scan = FolderScan(root, class_names, good["train"], good.get("val"), problems, skipped,
                      good.get("test"))  # fmt: skip
    if problems and not skip_bad:
        raise DatasetError(problem_report(scan))
    if problems:
        scan.skipped += problems
        _drop_empty_classes(scan)
    if len(scan.class_names) < 2:
        raise DatasetError(too_few_classes(root, scan.class_names))
    return scan


def _index(root: Path):
    """The folder's classes, candidate images ``(path, label)`` per split role, and its
    problems and skipped files found without decoding anything."""
    parts, skipped = _layout(root)
    split_dirs = set(parts.values())
    class_names = _class_names(parts["train"], split_dirs)
    images: dict[str, list[tuple[Path, int]]] = {}
    problems: list[Issue] = []
    for role, part in parts.items():
        part_images, part_problems, part_skipped = _index_part(
            part, class_names, parts["train"], split_dirs
        )
        images[role] = part_images
        problems += part_problems
        skipped += part_skipped
    return class_names, images, problems, skipped


def too_few_classes(root: Path, class_names: list[str]) -> str:
    """The message for a folder with fewer than two classes holding images."""
    return (
        f"dataset.path={root}: found {len(class_names)} class folder(s) with images "
        f"({', '.join(class_names) or 'none'}); a dataset needs at least 2, one "
        "subfolder of images per class"
    )


def problem_report(scan: FolderScan) -> str:
    """One message listing every problem, then every skipped file, each with its path."""
    good = len(scan.all_files)
    lines = [
        f"dataset.path={scan.root}: {len(scan.problems)} problem(s) found before training. "
        f"Fix or remove these files, or set dataset.on_bad_file=skip to train on the {good} "
        "good images:",
        *(f"  {issue}" for issue in scan.problems),
    ]
    if scan.skipped:
        lines += ["Skipped (not used, no error):", *(f"  {issue}" for issue in scan.skipped)]
    return "\n".join(lines)


def skipped_report(scan: FolderScan) -> str:
    """The text of the ``skipped_files.txt`` artifact: one ``path: reason`` a line."""
    return "".join(f"{issue}\n" for issue in scan.skipped)


def _layout(root: Path) -> tuple[dict[str, Path], list[Issue]]:
    """The split folders by role (``train``, and ``val`` and ``test`` when there are such
    folders) and the entries of ``root`` that are not used."""
    subdirs = {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    val_names = [name for name in SPLIT_DIRS[1] if name in subdirs]
    test = subdirs.get(SPLIT_DIRS[2])
    if SPLIT_DIRS[0] not in subdirs or not (val_names or test):
        if test is not None and _holds_sibling_classes(test, subdirs):
            return {"train": root, "test": test}, []
        return {"train": root}, []
    if len(val_names) > 1:
        raise DatasetError(
            f"dataset.path={root}: has both val/ and validation/; keep one of them as the "
            "validation split"
        )
    parts = {"train": subdirs[SPLIT_DIRS[0]]}
    if val_names:
        parts["val"] = subdirs[val_names[0]]
    if test is not None:
        parts["test"] = test
    unused = [
        Issue(path, "not used: only train/, val/ (or validation/) and test/ are read")
        for path in sorted(root.iterdir())
        if path not in parts.values() and not path.name.startswith(".")
    ]
    return parts, unused


def _holds_sibling_classes(test: Path, subdirs: dict[str, Path]) -> bool:
    """Whether ``test/`` beside class folders is a test split rather than a class: it holds
    a folder named like one of its sibling class folders (its other entries are then
    reported like those of any split folder, never trained on as a class ``test``)."""
    siblings = set(subdirs) - {test.name}
    return any(p.is_dir() and p.name in siblings for p in test.iterdir())


def _class_names(part: Path, split_dirs: Collection[Path] = ()) -> list[str]:
    """Class folder names of one split folder (not the split folders inside it)."""
    return sorted(
        p.name
        for p in part.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p not in split_dirs
    )


def _index_part(
    part: Path, class_names: list[str], train: Path, split_dirs: Collection[Path]
) -> tuple[list[tuple[Path, int]], list[Issue], list[Issue]]:
    """Candidate images ``(path, label)`` of one split folder, its problems and skips.

    Args:
        part: The split folder.
        class_names: The classes (those of ``train``).
        train: The training folder, named in problems.
        split_dirs: Every split folder (not class folders when inside ``part``).
    """
    images, problems, skipped = [], [], []
    for path in sorted(part.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            skipped.append(Issue(path, "not in a class folder"))
    present = set(_class_names(part, split_dirs))
    for name in sorted(present - set(class_names)):
        problems.append(Issue(part / name, f"class folder without a match in {train}"))
    for label, name in enumerate(class_names):
        if name not in present:
            continue
        files = _files(part / name)
        class_images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
        for path in files:
            suffix = path.suffix.lower()
            if suffix in UNREADABLE_EXTENSIONS:
                problems.append(
                    Issue(path, f"{suffix} images cannot be decoded by TensorFlow "
                          f"(it reads {_readable()}): convert it to JPEG or PNG")
                )  # fmt: skip
            elif suffix not in IMAGE_EXTENSIONS:
                skipped.append(Issue(path, "not an image"))
        if not class_images and not any(p.suffix.lower() in UNREADABLE_EXTENSIONS for p in files):
            problems.append(Issue(part / name, "empty class folder (no images)"))
        images += [(path, label) for path in class_images]
    return images, problems, skipped


def _files(folder: Path) -> list[Path]:
    """Every non-hidden file under ``folder``, subfolders included, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, f) for f in sorted(filenames) if not f.startswith(".")]
    return found


def _readable() -> str:
    return ", ".join(sorted(ext.lstrip(".").upper() for ext in IMAGE_EXTENSIONS - {".jpeg"}))


def _drop_empty_classes(scan: FolderScan) -> None:
    """Remove classes without a good training image; relabel the rest."""
    used = sorted({label for _, label in scan.train})
    if len(used) == len(scan.class_names):
        return
    listed = {issue.path for issue in scan.skipped}
    for label, name in enumerate(scan.class_names):
        if label not in used and scan.root / name not in listed:
            scan.skipped.append(Issue(scan.root / name, "class dropped: no usable images"))
    new_label = {old: new for new, old in enumerate(used)}
    scan.class_names = [scan.class_names[label] for label in used]
    scan.train = [(path, new_label[label]) for path, label in scan.train]
    if scan.val is not None:
        scan.val = [(path, new_label[label]) for path, label in scan.val if label in new_label]
    if scan.test is not None:
        scan.test = [(path, new_label[label]) for path, label in scan.test if label in new_label]


def check_images(paths: list[Path], root: Path) -> dict[Path, str]:
    """Decode each image once (or recall the result from the manifest); return the failures.

    Args:
        paths: Image files to check.
        root: The dataset folder; names the manifest.

    Returns:
        ``{path: reason}`` for every file that cannot be decoded.
    """
    manifest_path = _manifest_path(root)
    known = _read_manifest(manifest_path)
    entries, todo = {}, []
    for path in paths:
        try:
            stat = path.stat()
        except OSError as error:  # e.g. a broken link
            entries[str(path)] = [0, 0, f"cannot be read: {error.strerror}"]
            continue
        key = [stat.st_size, stat.st_mtime_ns]
        entry = known.get(str(path))
        if entry is not None and entry[:2] == key:
            entries[str(path)] = entry
        else:
            entries[str(path)] = key
            todo.append(path)
    if todo:
        log.info("preflight: decoding %d of %d images in %s", len(todo), len(paths), root)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for path, error in zip(todo, pool.map(decode_error, todo), strict=True):
                entries[str(path)] = [*entries[str(path)], error]
        _write_manifest(manifest_path, root, entries)
    return {Path(key): entry[2] for key, entry in entries.items() if entry[2] is not None}


def pillow_rgb(path: Path):
    """The image at ``path`` decoded by Pillow, as ``(H, W, 3)`` uint8 RGB (its first frame).

    Raises:
        OSError: If Pillow cannot decode it (``PIL.UnidentifiedImageError`` among them).
    """
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def decode_error(path: Path) -> str | None:
    """Why TensorFlow (Pillow, on another Keras backend) cannot decode the image at
    ``path``, or None if it can."""
    if not uses_tensorflow():
        try:
            image = pillow_rgb(path)
        except (OSError, ValueError) as error:
            return f"cannot be decoded (corrupt, truncated or not an image): {error}"
        if image.shape[0] == 0 or image.shape[1] == 0:
            return "cannot be decoded: the image has no pixels"
        return None
    import tensorflow as tf

    try:
        image = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    except tf.errors.OpError as error:
        return "cannot be decoded (corrupt, truncated or not an image): " + _tf_message(error)
    if image.shape[0] == 0 or image.shape[1] == 0:
        return "cannot be decoded: the image has no pixels"
    return None


def _tf_message(error) -> str:
    """TensorFlow's error message without its ``{{function_node ...}}`` and ``[Op:...]``."""
    text = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]|\bname:\s*$", "", error.message.strip())
    return " ".join(text.split()).rstrip(".")


def _manifest_path(root: Path) -> Path:
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return user_cache_dir() / "preflight" / f"{root.name}-{digest}.json"


def _decoder() -> str:
    """The decoder that judged the files: TensorFlow's version, or Pillow's."""
    if not uses_tensorflow():
        import PIL

        return f"pillow {PIL.__version__}"
    import tensorflow as tf

    return tf.__version__


def _read_manifest(path: Path) -> dict[str, list]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if data.get("version") != MANIFEST_VERSION or data.get("tensorflow") != _decoder():
        return {}  # another decoder may judge files differently
    return data.get("entries", {})


def _write_manifest(path: Path, root: Path, entries: dict[str, list]) -> None:
    """Write the manifest atomically; a read-only cache only costs the next run a decode."""
    data = {
        "version": MANIFEST_VERSION,
        "tensorflow": _decoder(),  # the decoder's version (the key predates Pillow's)
        "root": str(root),
        "entries": entries,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(data))
        partial.replace(path)
    except OSError as error:
        log.warning("preflight: cannot write the manifest %s (%s)", path, error)
