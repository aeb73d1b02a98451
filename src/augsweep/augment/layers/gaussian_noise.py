"""Gaussian pixel noise scaled to the images' value range."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="augsweep")
class RandomGaussianNoise(keras.layers.Layer):
    """Add zero-mean Gaussian noise, a fraction of the value range, then clip to the range.

    ``keras.layers.GaussianNoise`` takes an absolute ``stddev`` in [0, 1], which is nothing
    on 0-255 pixels; this layer scales it by the width of ``value_range``.

    Args:
        stddev: Standard deviation of the noise as a fraction of the value range, in [0, 1]
            (0.05 on 0-255 pixels is about 13 levels).
        value_range: ``(low, high)`` of the pixels; the output is clipped to it.
        seed: Seeds the noise.
        **kwargs: Base layer arguments (``name``, ...).
    """

    def __init__(self, stddev=0.05, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= stddev <= 1:
            raise ValueError(f"stddev={stddev}: must be in [0, 1] (a fraction of the range)")
        self.stddev = float(stddev)
        self.value_range = tuple(value_range)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training or self.stddev == 0:
            return images
        low, high = self.value_range
        noise = keras.random.normal(
            keras.ops.shape(images),
            stddev=self.stddev * (high - low),
            dtype=self.compute_dtype,
            seed=self.generator,
        )
        return keras.ops.clip(keras.ops.cast(images, self.compute_dtype) + noise, low, high)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "stddev": self.stddev,
            "value_range": self.value_range,
            "seed": self.seed,
        }
