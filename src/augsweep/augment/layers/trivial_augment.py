"""TrivialAugment (Müller & Hutter, 2021): one operation per image, drawn uniformly among
RandAugment's, at a strength drawn uniformly in [0, 1]; nothing to tune.

Keras 3.15 has ``RandAugment`` and ``AugMix`` but no TrivialAugment, and
``keras.layers.RandAugment(num_ops=1, factor=1.0)`` is not one: it draws its operation once
per batch (every image of a batch gets the same one). This layer keeps RandAugment's
operations and their per-image strengths (``factor=(0, 1)``: each operation's sub-layer
draws its magnitude per image, uniformly) and draws the operation per image. It reads
RandAugment's list of operations (``_AUGMENT_LAYERS``, a class attribute of its sub-layers'
names) and its seed generator: a later Keras that renames them breaks this layer's test.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="augsweep")
class TrivialAugment(keras.layers.RandAugment):
    """One random operation per image at a uniformly random strength.

    Args:
        value_range: The range of the pixels (augsweep feeds 0-255).
        interpolation: ``nearest`` or ``bilinear``, for the geometric operations.
        seed: Seed of the random draws.
    """

    def __init__(self, value_range=(0, 255), interpolation="bilinear", seed=None, **kwargs):
        kwargs.pop("num_ops", None)
        kwargs.pop("factor", None)
        super().__init__(value_range=value_range, num_ops=1, factor=1.0,
                         interpolation=interpolation, seed=seed, **kwargs)  # fmt: skip

    def get_random_transformation(self, data, training=True, seed=None):
        transformation = super().get_random_transformation(data, training, seed)
        if transformation is None:
            return None
        images = data["images"] if isinstance(data, dict) else data
        batch = ops.shape(images)[0] if len(images.shape) == 4 else 1
        transformation["layer_idxes"] = self.backend.random.randint(
            (batch,), 0, len(self._AUGMENT_LAYERS),
            seed=self._get_seed_generator(self.backend._backend),
        )  # fmt: skip
        return transformation

    def transform_images(self, images, transformation, training=True):
        images = self.backend.cast(images, self.compute_dtype)
        if not training or transformation is None:
            return images
        chosen = transformation["layer_idxes"]
        for index, (name, value) in enumerate(transformation["transforms"].items()):
            mine = self.backend.numpy.reshape(chosen == index, (-1, 1, 1, 1))
            done = getattr(self, name).transform_images(images, value)
            images = self.backend.numpy.where(mine, self.backend.cast(done, images.dtype), images)
        return self.backend.cast(images, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.pop("num_ops", None)
        config.pop("factor", None)
        return config
