"""Backbone features of images that are never augmented, computed once.

A frozen backbone (MobileNetV2 with ``fine_tune_layers=0``) maps each validation, test or
clean-train image to the same features at every epoch of a run, and in every run of a sweep
that shares the data and the backbone: :class:`FeatureCache` runs the backbone over a split
once, keeps the features in memory for the run and, given a folder, on disk for the next
runs. A disk entry is named by a hash of the data key (the split's examples), the split and
the backbone's identity (:func:`backbone_identity`: its layers' settings, preprocessing and
image size included, and its weights), so other data or another backbone never reads it.

Files are written to a temporary name and renamed (atomic), so processes that compute the
same entry at once (joblib jobs) each leave a whole file; a file that cannot be read (a
partial copy, a disk error) is ignored and computed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

log = logging.getLogger(__name__)


def backbone_identity(backbone: keras.Model) -> str:
    """A 16-hex-digit hash of what decides a backbone's features: every layer's class and
    settings (without its name, which Keras numbers per session), nested models included,
    and every weight.

    Args:
        backbone: The model that maps images to features.
    """
    digest = hashlib.sha256(json.dumps(_architecture(backbone), default=str).encode())
    for weight in backbone.weights:
        value = np.ascontiguousarray(weight.numpy())
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]


def _architecture(layer: keras.layers.Layer) -> list:
    if isinstance(layer, keras.Model):
        return [type(layer).__name__, [_architecture(inner) for inner in layer.layers]]
    settings = {k: v for k, v in layer.get_config().items() if k != "name"}
    return [type(layer).__name__, settings]


class FeatureCache:
    """The features of a frozen backbone over un-augmented splits, in memory and on disk.

    Args:
        backbone: Maps a batch of images to a batch of feature vectors; never trained while
            the cache lives.
        data_key: Changes whenever the examples of any split do (the data fingerprint, the
            seed of the split, the size of the clean subset).
        directory: Where to keep features between runs; None: in memory only.

    Attributes:
        backbone_passes: How many splits the backbone ran over (0: all came from disk).
        disk_reads: How many splits were read from disk.
    """

    def __init__(self, backbone: keras.Model, data_key: str, directory: Path | None = None):
        self.backbone = backbone
        self.data_key = data_key
        self.directory = Path(directory) if directory is not None else None
        self.backbone_passes = 0
        self.disk_reads = 0
        self._identity: str | None = None
        self._memory: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def features(self, part: str, batches: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
        """The features and one-hot labels of a split, from memory, disk, or the backbone.

        Args:
            part: The split's name (``val``, ``clean_train``, ``test``).
            batches: Its batched ``(images, one_hot_labels)``, never augmented; read only
                when neither memory nor disk holds the split.

        Returns:
            ``(features, labels)``: float32 arrays, one row per example.
        """
        if part not in self._memory:
            path = self.path(part)
            stored = _load(path) if path is not None else None
            if stored is None:
                stored = self._compute(batches)
                if path is not None:
                    _save(path, *stored)
            else:
                self.disk_reads += 1
            self._memory[part] = stored
        return self._memory[part]

    def path(self, part: str) -> Path | None:
        """The disk entry of a split (whether it exists or not), or None without a folder."""
        if self.directory is None:
            return None
        if self._identity is None:
            self._identity = backbone_identity(self.backbone)
        key = hashlib.sha256(f"{self.data_key}|{part}|{self._identity}".encode()).hexdigest()
        return self.directory / f"{part}-{key[:24]}.npz"

    def _compute(self, batches: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
        self.backbone_passes += 1
        # predict() reads the images of (images, labels) batches and traces the backbone
        # once; the labels come from a second pass, over the pipeline's cache.
        features = self.backbone.predict(batches, verbose=0).astype(np.float32)
        if hasattr(batches, "one_hot_labels"):  # batches of arrays (data/arrays.py)
            labels = batches.one_hot_labels()
        else:
            labels = np.concatenate([y.numpy() for y in batches.map(lambda x, y: y)])
        return features, labels.astype(np.float32)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """A stored entry, or None if there is none or it cannot be read whole."""
    try:
        with np.load(path) as stored:
            features, labels = stored["features"], stored["labels"]
    except (FileNotFoundError, NotADirectoryError):  # no entry (or no folder) yet
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        log.warning("feature cache %s unreadable (%s): computing the features again", path, error)
        return None
    if features.ndim != 2 or labels.ndim != 2 or len(features) != len(labels):
        log.warning("feature cache %s malformed: computing the features again", path)
        return None
    return features, labels


def _save(path: Path, features: np.ndarray, labels: np.ndarray) -> None:
    """Write an entry atomically; a cache that cannot be written is only a slower run."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as file:
            np.savez(file, features=features, labels=labels)
        os.replace(temporary, path)
    except OSError as error:
        log.warning("feature cache %s not written (%s)", path, error)
        with contextlib.suppress(OSError):  # ENOTDIR too: the folder may lie under a file
            temporary.unlink(missing_ok=True)
