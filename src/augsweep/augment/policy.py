"""Augmentation policies: the layers of a policy, and where each of them runs.

A policy is a list of layer specs (``_target_: keras.layers.RandomFlip`` plus arguments): the
catalogue entries named in ``augment.use``, then ``augment.layers``. "No augmentation" is the
empty list, which builds an empty block: nothing here special-cases it. Keras's random layers
are active only when called with ``training=True`` (``fit``) and pass images through
unchanged in ``evaluate`` and ``predict``.

Where the layers run (:class:`Policy`):

- per-image Keras layers: the model's first block (``placement=model``), or mapped over the
  training batches in ``tf.data`` (``placement=dataset``);
- albumentations transforms (``backend=albumentations``): per image in ``tf.data``;
- label-mixing layers (MixUp, CutMix): always on the training batches in ``tf.data``, after
  the per-image ones there, since they need the labels.

Validation and clean-train batches get none of them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from omegaconf import DictConfig, OmegaConf

from augsweep.config.catalogue import policy_specs
from augsweep.errors import EXIT_CONFIG_ERROR, InputError, first_line
from augsweep.instantiate import build

if TYPE_CHECKING:
    from augsweep.augment.albumentations import ImageTransform

LABEL_MIXING = (keras.layers.MixUp, keras.layers.CutMix)


class LayerSpecError(InputError, ValueError):
    """A layer spec cannot be built (an unknown ``_target_``, a missing or wrong argument):
    a value to change, exit code 2."""

    exit_code = EXIT_CONFIG_ERROR


def build_layers(specs: Sequence[Any], seed: int) -> list[keras.layers.Layer]:
    """Build the layers of a policy, each seeded with ``seed + its index``.

    Args:
        specs: Layer specs, each with a ``_target_`` naming a Keras layer class.
        seed: The run's seed; layer ``i`` gets ``seed + i`` unless its spec sets one.

    Returns:
        The layers, in order.

    Raises:
        LayerSpecError: If a spec cannot be built, naming it and why.
        TypeError: If a spec builds something that is not a Keras layer.
    """
    layers = []
    for index, spec in enumerate(specs):
        layer = build_spec(spec, seed + index)
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(
                f"augment layer {spec['_target_']!r} built {type(layer).__name__}, "
                "not a keras.layers.Layer"
            )
        layers.append(layer)
    return layers


def augmentation_block(layers: Sequence[keras.layers.Layer], name: str = "augment"):
    """Chain layers into one block for the model's front: ``keras.Sequential``.

    Args:
        layers: Augmentation layers, applied in order; may be empty.
        name: The block's layer name in the model.

    Returns:
        A Keras ``Sequential``; for an empty policy it holds one ``Identity`` layer, since
        Keras cannot build an empty ``Sequential``.
    """
    return keras.Sequential(list(layers) or [keras.layers.Identity()], name=name)


def is_label_mixing(layer) -> bool:
    """Whether a layer mixes images and labels of a batch (MixUp, CutMix)."""
    return isinstance(layer, LABEL_MIXING)


@dataclass
class Policy:
    """A built policy, split by where each part runs during training.

    Attributes:
        name: The policy's display name.
        placement: ``model`` or ``dataset``: where ``image_layers`` run.
        image_layers: Per-image Keras layers, in order.
        mix_layers: Label-mixing Keras layers (MixUp, CutMix), in order.
        image_transform: The albumentations transforms, per image (backend
            albumentations), or None.
        backend: ``keras`` or ``albumentations``: the library of its per-image part.
    """

    name: str
    placement: str = "model"
    image_layers: list[keras.layers.Layer] = field(default_factory=list)
    mix_layers: list[keras.layers.Layer] = field(default_factory=list)
    image_transform: ImageTransform | None = None
    backend: str = "keras"

    @property
    def where(self) -> str:
        """Where its per-image part runs, as the preview's title says it: ``model``,
        ``dataset`` or ``albumentations`` (always in the input pipeline)."""
        return self.placement if self.backend == "keras" else self.backend

    @property
    def model_layers(self) -> list[keras.layers.Layer]:
        """The layers of the model's augmentation block (empty unless placement=model)."""
        return list(self.image_layers) if self.placement == "model" else []

    def model_block(self) -> keras.Sequential:
        """The model's augmentation block (:func:`augmentation_block` of ``model_layers``)."""
        return augmentation_block(self.model_layers)

    def pipeline_layers(self) -> list[keras.layers.Layer]:
        """The Keras layers that run in the ``tf.data`` pipeline (their seed states are
        checkpointed with the model)."""
        placed = [] if self.placement == "model" else list(self.image_layers)
        return placed + list(self.mix_layers)

    @property
    def mixes_labels(self) -> bool:
        return bool(self.mix_layers)

    def example_stage(self) -> Callable | None:
        """``tf.data`` map function for single ``(image, one_hot)`` examples, or None."""
        if self.image_transform is None:
            return None
        return self.image_transform.on_tensor

    def batch_stage(self) -> Callable | None:
        """``tf.data`` map function for ``(images, one_hot)`` training batches, or None."""
        layers = [] if self.placement == "model" else list(self.image_layers)
        if not layers and not self.mix_layers:
            return None
        pipeline = keras.layers.Pipeline(layers) if layers else None

        def augment(images, labels):
            if pipeline is not None:
                images = pipeline(images, training=True)
            return _mix(self.mix_layers, images, labels)

        return augment

    def draw(self, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One training-time draw of the policy on a batch, in the order training runs it.

        Input pipeline (albumentations per image, then dataset-placed layers, then label
        mixing), then the model's augmentation block.

        Args:
            images: ``(N, H, W, C)`` 0-255 pixels.
            labels: ``(N, classes)`` one-hot labels.

        Returns:
            The augmented images and their (possibly mixed) labels, as numpy arrays.
        """
        images = np.asarray(images, dtype=np.float32)
        labels = np.asarray(labels, dtype=np.float32)
        if self.image_transform is not None:
            images = np.stack([self.image_transform(image) for image in images])
        stage = self.batch_stage()
        if stage is not None:
            images, labels = stage(images, labels)
        for layer in self.model_layers:
            images = layer(images, training=True)
        return np.asarray(images), np.asarray(labels)


def build_policy(augment_cfg, seed: int) -> Policy:
    """Build a policy from the ``augment`` config; spec ``i`` is seeded with ``seed + i``.

    Args:
        augment_cfg: The composed, validated ``augment`` config node.
        seed: The run's seed.

    Returns:
        The :class:`Policy`.

    Raises:
        TypeError: If a keras-backend spec builds something that is not a Keras layer.
        ImportError: For the albumentations backend without albumentations installed.
    """
    specs = policy_specs(augment_cfg)
    if augment_cfg.backend == "keras":
        built = build_layers(specs, seed)
    else:
        from augsweep.augment.albumentations import require

        require()  # the install hint, rather than Hydra's wrapping of the ImportError
        built = [build_spec(spec, seed + index) for index, spec in enumerate(specs)]
    mixing = [obj for obj in built if is_label_mixing(obj)]
    layers = [obj for obj in built if isinstance(obj, keras.layers.Layer)]
    transforms = [obj for obj in built if not isinstance(obj, keras.layers.Layer)]
    image_transform = None
    if transforms:
        from augsweep.augment.albumentations import ImageTransform

        image_transform = ImageTransform(transforms, seed)
    return Policy(
        name=augment_cfg.name,
        placement=augment_cfg.placement,
        image_layers=[layer for layer in layers if not is_label_mixing(layer)],
        mix_layers=mixing,
        image_transform=image_transform,
        backend=augment_cfg.backend,
    )


def _mix(layers, images, labels):
    for layer in layers:
        mixed = layer({"images": images, "labels": labels}, training=True)
        images, labels = mixed["images"], mixed["labels"]
    return images, labels


def build_spec(spec, seed: int):
    """Build one layer spec (seeded with ``seed`` if it takes one and sets none).

    Raises:
        LayerSpecError: If it cannot be built: the spec and the error's first line.
    """
    try:
        return _build_seeded(spec, seed)
    except Exception as error:  # Hydra's wrapping of an ImportError, TypeError, ValueError
        shown = OmegaConf.to_container(spec) if isinstance(spec, DictConfig) else spec
        raise LayerSpecError(
            f"augment layer {shown}: cannot be built: {first_line(error)}; a layer spec "
            "names a layer class in _target_ (e.g. keras.layers.RandomRotation) and gives "
            "its required arguments (factor: 0.1)"
        ) from error


def _build_seeded(spec, seed: int):
    extra = {}
    if "seed" not in spec and _accepts_seed(spec["_target_"]):
        extra["seed"] = seed
    return build(spec, **extra)


def _accepts_seed(target: str) -> bool:
    from hydra.utils import get_object

    obj = get_object(target)
    try:
        return "seed" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False
