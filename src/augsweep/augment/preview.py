"""A policy seen, not assumed: the same images under several training-time draws."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from augsweep import plots
from augsweep.augment.policy import Policy

if TYPE_CHECKING:
    import tensorflow as tf

PREVIEW_IMAGES = 8
PREVIEW_DRAWS = 4


def first_examples(examples: tf.data.Dataset, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` images (stacked) and their integer labels."""
    if hasattr(examples, "images"):  # examples in memory (data/splits.Examples)
        return np.asarray(examples.images[:count], np.float32), np.asarray(examples.labels[:count])
    pairs = list(examples.take(count).as_numpy_iterator())
    return np.stack([image for image, _ in pairs]), np.array([label for _, label in pairs])


def save_preview(
    policy: Policy, images: np.ndarray, labels: np.ndarray, class_names, path: Path, where: str
) -> Path:
    """Draw ``augment_preview.png``: each image, labelled with its class, under the draws.

    Args:
        policy: The run's policy.
        images: Array ``(N, H, W, C)`` of 0-255 pixels.
        labels: Their integer labels ``(N,)``.
        class_names: Class names, index = label.
        path: Where to write the PNG.
        where: Where the policy runs (``model``, ``dataset``, ``albumentations``), for the
            title.

    Returns:
        ``path``.
    """
    one_hot = np.eye(len(class_names), dtype=np.float32)[np.asarray(labels)]
    rows, row_labels = augment_preview(policy, images, one_hot)
    return plots.image_grid(
        rows,
        path,
        ["original"] + [f"draw {i + 1}" for i in range(rows.shape[1] - 1)],
        title=f"augment={policy.name} ({where})",
        row_titles=[class_names[int(label)] for label in labels],
        captions=label_captions(row_labels, class_names) if policy.mixes_labels else None,
    )


def augment_preview(
    policy: Policy, images: np.ndarray, labels: np.ndarray, draws: int = PREVIEW_DRAWS
) -> tuple[np.ndarray, np.ndarray]:
    """The same images, original then under ``draws`` training-time draws of the policy.

    Each draw runs the whole policy as training does, wherever it is placed: albumentations
    and dataset-placed layers, MixUp/CutMix (which mix the images with one another and
    their labels too) and the model's augmentation block.

    Args:
        policy: The run's policy.
        images: Array ``(N, H, W, C)`` of 0-255 pixels.
        labels: Array ``(N, classes)`` of their one-hot labels.
        draws: How many augmented versions of each image.

    Returns:
        Images ``(N, 1 + draws, H, W, C)`` and their labels ``(N, 1 + draws, classes)``.
    """
    image_columns, label_columns = [np.asarray(images)], [np.asarray(labels, dtype=np.float32)]
    for _ in range(draws):
        drawn_images, drawn_labels = policy.draw(images, labels)
        image_columns.append(drawn_images)
        label_columns.append(drawn_labels)
    return np.stack(image_columns, axis=1), np.stack(label_columns, axis=1)


def label_captions(labels: np.ndarray, class_names, top: int = 2) -> np.ndarray:
    """Captions of (mixed) labels: the largest weights, e.g. ``"3: 0.62, 7: 0.38"``.

    Args:
        labels: Array ``(..., classes)`` of label weights.
        class_names: Class names, index = class.
        top: At most this many classes per caption (weights below 0.005 left out).

    Returns:
        An array of strings of shape ``labels.shape[:-1]``.
    """
    flat = labels.reshape(-1, labels.shape[-1])
    captions = []
    for weights in flat:
        order = np.argsort(-weights)[:top]
        parts = [f"{class_names[i]}: {weights[i]:.2f}" for i in order if weights[i] >= 0.005]
        captions.append(", ".join(parts))
    return np.array(captions, dtype=object).reshape(labels.shape[:-1])
