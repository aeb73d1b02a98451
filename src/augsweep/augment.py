"""Augmentation policies: a list of Keras preprocessing layers, the model's first block.

A policy is a list of layer specs (``_target_: keras.layers.RandomFlip`` plus arguments).
"No augmentation" is the empty list, which builds an empty block: nothing here special-cases
it. Keras's random layers are active only when called with ``training=True`` (``fit``) and
pass images through unchanged in ``evaluate`` and ``predict``.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import keras

from augsweep.builders import build


def build_layers(specs: Sequence[Any], seed: int) -> list[keras.layers.Layer]:
    """Build the layers of a policy, each seeded with ``seed + its index``.

    Args:
        specs: Layer specs, each with a ``_target_`` naming a Keras layer class.
        seed: The run's seed; layer ``i`` gets ``seed + i`` unless its spec sets one.

    Returns:
        The layers, in order.

    Raises:
        TypeError: If a spec builds something that is not a Keras layer.
    """
    layers = []
    for index, spec in enumerate(specs):
        extra = {}
        if "seed" not in spec and _accepts_seed(spec["_target_"]):
            extra["seed"] = seed + index
        layer = build(spec, **extra)
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


def _accepts_seed(target: str) -> bool:
    from hydra.utils import get_object

    obj = get_object(target)
    try:
        return "seed" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False
