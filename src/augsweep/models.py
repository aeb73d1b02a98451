"""Classifiers. A model is ``augment block -> body``: the body is built first, from the
run's seed, so that every policy of a sweep starts from the same initial weights."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from augsweep.augment import augmentation_block
from augsweep.builders import build


def small_cnn(
    name: str = "small_cnn",
    filters: Sequence[int] = (16, 32, 64),
    dense_units: int = 128,
    dropout: float = 0.0,
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
) -> keras.Model:
    """A small CNN for 0-255 images: rescaling, Conv2D/MaxPooling blocks, Dense, softmax.

    Args:
        name: The model's name.
        filters: Filters of each 3x3 Conv2D (ReLU) + 2x2 MaxPooling block.
        dense_units: Width of the hidden Dense layer.
        dropout: Dropout rate before the classifier (0 for none).
        input_shape: ``(H, W, C)`` of the images.
        num_classes: Number of output classes.

    Returns:
        The uncompiled body, mapping 0-255 images to class probabilities.
    """
    layers = [keras.Input(shape=input_shape), keras.layers.Rescaling(1.0 / 255)]
    for width in filters:
        layers += [
            keras.layers.Conv2D(width, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
        ]
    layers += [keras.layers.Flatten(), keras.layers.Dense(dense_units, activation="relu")]
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(num_classes, activation="softmax"))
    return keras.Sequential(layers, name=name)


def build_classifier(
    model_cfg,
    augment_layers: Sequence[keras.layers.Layer],
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
) -> keras.Model:
    """The model of a run: the augmentation block, then the body from ``model_cfg``.

    Args:
        model_cfg: A ``model`` config node with a ``_target_``.
        augment_layers: Augmentation layers; active only in training.
        input_shape: ``(H, W, C)`` of the images.
        num_classes: Number of output classes.

    Returns:
        The uncompiled model.
    """
    body = build(model_cfg, input_shape=tuple(input_shape), num_classes=num_classes)
    inputs = keras.Input(shape=input_shape, name="image")
    outputs = body(augmentation_block(augment_layers)(inputs))
    return keras.Model(inputs, outputs, name="classifier")
