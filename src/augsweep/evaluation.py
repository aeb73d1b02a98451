"""How a run evaluates its splits that are never augmented (validation, clean-train, test).

An evaluator's ``evaluate(part)`` returns ``{"loss": ..., "accuracy": ...}`` of the model as
it is now, in inference mode, over one split; :func:`make_evaluator` picks one of two:

- :class:`ModelEvaluator`: ``model.evaluate`` over the split's batches (the whole model:
  augmentation block, off at inference, then the body);
- :class:`FeatureEvaluator`: for a body with a frozen backbone (:func:`augsweep.models.
  feature_split`), the head alone on the backbone's features of the split, computed once
  (:class:`augsweep.data.features.FeatureCache`). The same numbers, without running the
  backbone again at every epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from augsweep.data.features import FeatureCache
from augsweep.models import feature_split

if TYPE_CHECKING:
    import tensorflow as tf


class ModelEvaluator:
    """Evaluate the whole model over a split's batches.

    Args:
        model: The compiled model, with an ``accuracy`` metric.
        batches: Each split's batched ``(images, one_hot_labels)``, never augmented.
        why: Why no feature cache (for :meth:`summary`).
    """

    uses_features = False

    def __init__(self, model: keras.Model, batches: Mapping[str, tf.data.Dataset], why: str = ""):
        self.model = model
        self.batches = dict(batches)
        self.why = why

    def summary(self) -> str:
        """Tag ``augsweep.feature_cache``: ``off``, and why."""
        return f"off: {self.why}" if self.why else "off"

    def evaluate(self, part: str) -> dict[str, float]:
        """The model's mean loss and accuracy over split ``part``."""
        result = self.model.evaluate(self.batches[part], verbose=0, return_dict=True)
        return {"loss": float(result["loss"]), "accuracy": float(result["accuracy"])}


class FeatureEvaluator:
    """Evaluate a model's head on its frozen backbone's cached features.

    The loss is the model's compiled loss, the accuracy categorical accuracy (what Keras's
    ``accuracy`` is for one-hot labels), both averaged over every example as
    ``model.evaluate`` does.

    Args:
        model: The compiled model whose head this evaluates.
        head: Maps features to the model's output, sharing the model's layers
            (:func:`augsweep.models.feature_split`).
        cache: The backbone's features of each split.
        batches: Each split's batched ``(images, one_hot_labels)``, never augmented; read
            once, when the cache lacks the split.
        batch_size: Feature vectors per call of the head.
    """

    uses_features = True

    def __init__(
        self,
        model: keras.Model,
        head: keras.Model,
        cache: FeatureCache,
        batches: Mapping[str, tf.data.Dataset],
        batch_size: int = 256,
    ):
        self.loss = keras.losses.get(model.loss)
        self.head = head
        self.cache = cache
        self.batches = dict(batches)
        self.batch_size = batch_size

    def summary(self) -> str:
        """Tag ``augsweep.feature_cache``: how many splits' features were computed (the
        backbone ran over them once) and how many were read from disk."""
        return (
            f"on: {self.cache.backbone_passes} splits through the backbone, "
            f"{self.cache.disk_reads} read from disk"
        )

    def evaluate(self, part: str) -> dict[str, float]:
        """The model's mean loss and accuracy over split ``part``, from its features."""
        features, labels = self.cache.features(part, self.batches[part])
        # The head is three small layers: called directly, in chunks, it needs no tracing,
        # which would cost more than the call itself.
        outputs = [
            keras.ops.convert_to_numpy(
                self.head(features[start : start + self.batch_size], training=False)
            )
            for start in range(0, len(features), self.batch_size)
        ]
        probabilities = np.concatenate(outputs).astype(np.float32)
        loss = keras.ops.convert_to_numpy(self.loss(labels, probabilities))
        hits = np.argmax(probabilities, axis=1) == np.argmax(labels, axis=1)
        return {"loss": float(np.mean(loss)), "accuracy": float(np.mean(hits))}


def make_evaluator(
    model: keras.Model,
    batches: Mapping[str, tf.data.Dataset],
    *,
    feature_cache: str = "auto",
    data_key: str = "",
    directory: Path | None = None,
    batch_size: int = 256,
) -> ModelEvaluator | FeatureEvaluator:
    """The evaluator of a run: on cached features when the model has a frozen backbone and
    ``feature_cache`` is ``auto``, else the whole model.

    Args:
        model: The compiled model.
        batches: Each split's batched ``(images, one_hot_labels)``, never augmented.
        feature_cache: ``auto`` or ``off`` (``trainer.feature_cache``).
        data_key: Changes whenever the examples of a split do (names disk entries).
        directory: Where features are kept between runs; None: in memory only.
        batch_size: Feature vectors per call of the head.

    Returns:
        A :class:`FeatureEvaluator` or a :class:`ModelEvaluator`.
    """
    if feature_cache != "auto":
        return ModelEvaluator(model, batches, f"trainer.feature_cache={feature_cache}")
    parts = feature_split(model)
    if parts is None:
        return ModelEvaluator(model, batches, "no frozen backbone")
    backbone, head = parts
    cache = FeatureCache(backbone, data_key, directory)
    return FeatureEvaluator(model, head, cache, batches, batch_size)
