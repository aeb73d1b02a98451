"""Classifiers. A model is ``augment block -> body``: the body is built first, from the
run's seed, so that every policy of a sweep starts from the same initial weights.

The settings are checked with the config (:mod:`augsweep.config.checks`: sizes, pooling
depth, ``fine_tune_layers``); here only what needs the data (its number of channels)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import keras

from augsweep.downloads import reachable
from augsweep.errors import InputError
from augsweep.instantiate import build

MOBILENET_V2_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
)
MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)  # image sizes with their own ImageNet weights
# The name of a body's layer whose output is the features its head classifies.
FEATURES = "features"


class WeightsUnavailable(InputError, RuntimeError):
    """Pretrained weights are neither cached nor downloadable."""


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
    layers.append(_classifier(num_classes))
    return keras.Sequential(layers, name=name)


def mobilenet_v2(
    name: str = "mobilenet_v2",
    weights: str | None = "imagenet",
    fine_tune_layers: int = 0,
    dense_units: int = 256,
    dropout: float = 0.5,
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
) -> keras.Model:
    """MobileNetV2 without its top, frozen, then a new classifier, for 0-255 images.

    The body is: 1-channel images repeated to RGB, MobileNetV2's ``preprocess_input``
    (0-255 to [-1, 1], as a ``Rescaling`` layer), MobileNetV2 (``include_top=False``, in
    inference mode, so its BatchNormalization statistics stay as trained), then
    GlobalAveragePooling2D (the layer named :data:`FEATURES`), then the head:
    Dense(``dense_units``, relu), Dropout, Dense(classes, softmax). Frozen
    (``fine_tune_layers=0``), everything up to the features is a fixed function of the image,
    which :func:`feature_split` exposes to evaluate on cached features.

    Args:
        name: The model's name.
        weights: ``imagenet`` or None (random initial weights). ImageNet weights exist for
            96, 128, 160, 192 and 224 px; other sizes use those of 224 px.
        fine_tune_layers: Train this many of MobileNetV2's top layers too (0: frozen).
        dense_units: Width of the hidden Dense layer.
        dropout: Dropout rate before the output layer (0 for none).
        input_shape: ``(H, W, C)`` of the images, at least 32x32, with 1 or 3 channels.
        num_classes: Number of output classes.

    Returns:
        The uncompiled body, mapping 0-255 images to class probabilities.

    Raises:
        ValueError: For images with other than 1 or 3 channels.
        WeightsUnavailable: If ImageNet weights are needed, not cached and not
            downloadable.
    """
    height, width, channels = input_shape
    if channels not in (1, 3):
        raise ValueError(f"model={name} needs images with 1 or 3 channels, got {channels}")
    base = keras.applications.MobileNetV2(
        input_shape=(height, width, 3),
        include_top=False,
        weights=_mobilenet_v2_weights(weights, height, width),
    )
    _unfreeze_top(base, fine_tune_layers)
    inputs = keras.Input(shape=input_shape)
    x = inputs if channels == 3 else keras.layers.Concatenate(name="gray_to_rgb")([inputs] * 3)
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess_input")(x)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name=FEATURES)(x)
    x = keras.layers.Dense(dense_units, activation="relu")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout)(x)
    outputs = _classifier(num_classes)(x)
    return keras.Model(inputs, outputs, name=name)


def _classifier(num_classes: int) -> keras.layers.Dense:
    """The output layer: softmax in float32 even under mixed precision (float16 compute),
    so that probabilities and the loss keep their precision."""
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32")


def _unfreeze_top(base: keras.Model, layers: int) -> None:
    """Freeze ``base`` but for its top ``layers`` layers."""
    base.trainable = layers > 0
    for layer in base.layers[: len(base.layers) - layers]:
        layer.trainable = False


def _mobilenet_v2_weights(weights: str | None, height: int, width: int) -> str | None:
    """The local file of MobileNetV2's no-top ImageNet weights, downloaded if need be.

    Keras caches it in ``$KERAS_HOME/models`` (default ``~/.keras/models``). Offline, with
    no cached file, this fails at once instead of waiting on the network.
    """
    if weights is None:
        return None
    rows = height if height == width and height in MOBILENET_V2_SIZES else 224
    file_name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
    cache_dir = keras_cache_dir()
    cached = cache_dir / "models" / file_name
    if cached.exists():
        return str(cached)
    url = MOBILENET_V2_WEIGHTS_URL + file_name
    if not reachable(url):
        raise WeightsUnavailable(
            f"model.weights=imagenet: {file_name} is not in Keras's cache and {url} cannot "
            f"be reached (offline?). Either download it elsewhere and put it at {cached}, "
            "or train from random weights with model.weights=null"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)  # else get_file falls back to /tmp/.keras
    return keras.utils.get_file(file_name, url, cache_subdir="models", cache_dir=str(cache_dir))


def keras_cache_dir() -> Path:
    """Where Keras caches downloads: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras``
    when the home folder is not writable), as ``keras.utils.get_file`` decides."""
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = Path.home()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def build_classifier(
    model_cfg,
    augment_block: keras.layers.Layer,
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
) -> keras.Model:
    """The model of a run: the augmentation block, then the body from ``model_cfg``.

    The body is built first, so its initial weights depend on the seed alone, not on the
    policy.

    Args:
        model_cfg: A ``model`` config node with a ``_target_``.
        augment_block: The policy's in-model augmentation (``Policy.model_block()``),
            active only in training.
        input_shape: ``(H, W, C)`` of the images.
        num_classes: Number of output classes.

    Returns:
        The uncompiled model.
    """
    body = build(model_cfg, input_shape=tuple(input_shape), num_classes=num_classes)
    inputs = keras.Input(shape=input_shape, name="image")
    outputs = body(augment_block(inputs))
    return keras.Model(inputs, outputs, name="classifier")


def body_of(model: keras.Model) -> keras.Model:
    """The body of a classifier from :func:`build_classifier` (its last layer)."""
    return model.layers[-1]


def feature_split(model: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """The frozen backbone and the head of ``model``, if it has both.

    The backbone maps images to the output of the body's :data:`FEATURES` layer; the head
    maps those features to the model's output through the body's layers after it (a
    chain), the very layer objects of ``model``, so it shares their weights as they train.
    The in-model augmentation block is left out: it is the identity at inference.

    Args:
        model: A classifier from :func:`build_classifier` (or a body alone).

    Returns:
        ``(backbone, head)``, or None when no body has a :data:`FEATURES` layer, when the
        head is not a chain, or when the backbone has trainable weights (its features would
        change as it trains: ``fine_tune_layers > 0``).
    """
    body = next((m for m in [model, *model.layers] if _has_layer(m, FEATURES)), None)
    if body is None:
        return None
    features = body.get_layer(FEATURES)
    backbone = keras.Model(body.inputs, features.output, name="backbone")
    if backbone.trainable_weights:
        return None
    head_layers = body.layers[body.layers.index(features) + 1 :]
    chain = [features, *head_layers]
    if any(after.input is not before.output for before, after in itertools.pairwise(chain)):
        return None
    if chain[-1].output is not body.outputs[0]:
        return None
    inputs = keras.Input(shape=features.output.shape[1:], name="head_input")
    x = inputs
    for layer in head_layers:
        x = layer(x)
    return backbone, keras.Model(inputs, x, name="head")


def _has_layer(model: keras.layers.Layer, name: str) -> bool:
    return isinstance(model, keras.Model) and any(layer.name == name for layer in model.layers)
