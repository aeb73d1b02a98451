"""Color jitter with symmetric saturation that also takes grayscale images."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="augsweep")
class ColorJitter(keras.layers.RandomColorJitter):
    """Random brightness, contrast, saturation and hue, each around "no change".

    ``keras.layers.RandomColorJitter`` passes ``saturation_factor`` to
    ``RandomSaturation``, where a single float ``f`` draws from [0, f] and 0.5 means "no
    change": ``saturation_factor=0.2`` always desaturates. Here every magnitude is a
    symmetric jitter. Grayscale images (one channel) have no saturation or hue: they get
    the brightness and contrast jitter only, and stay one channel.

    Args:
        brightness: Largest brightness change, as a fraction of the value range (0: none).
        contrast: Contrast factor drawn from [1 - contrast, 1 + contrast] (0: none).
        saturation: Saturation factor drawn from [1 - saturation, 1 + saturation] (0: none).
        hue: Largest hue rotation, as a fraction of the hue circle, at most 0.5 (0: none).
        value_range: ``(low, high)`` of the pixels.
        seed: Seeds the draws.
        **kwargs: Base layer arguments (``name``, ...).
    """

    def __init__(
        self,
        brightness=0.2,
        contrast=0.2,
        saturation=0.2,
        hue=0.05,
        value_range=(0, 255),
        seed=None,
        **kwargs,
    ):
        for key, value, high in (
            ("brightness", brightness, 1),
            ("contrast", contrast, 1),
            ("saturation", saturation, 1),
            ("hue", hue, 0.5),
        ):
            if not 0 <= value <= high:
                raise ValueError(f"{key}={value}: must be in [0, {high}]")
        super().__init__(
            value_range=tuple(value_range),
            brightness_factor=brightness or None,
            contrast_factor=contrast or None,
            saturation_factor=_saturation_range(saturation) if saturation else None,
            hue_factor=2 * hue or None,  # RandomHue rotates by up to factor / 2
            seed=seed,
            **kwargs,
        )
        self.jitter = {
            "brightness": brightness,
            "contrast": contrast,
            "saturation": saturation,
            "hue": hue,
        }

    def transform_images(self, images, transformation, training=True):
        if images.shape[-1] != 1:
            return super().transform_images(images, transformation, training=training)
        # A gray image repeated to RGB has no saturation: saturation and hue leave it gray.
        rgb = self.backend.numpy.concatenate([images] * 3, axis=-1)
        return super().transform_images(rgb, transformation, training=training)[..., :1]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        for key in ("brightness_factor", "contrast_factor", "saturation_factor", "hue_factor"):
            config.pop(key)
        return {**config, **self.jitter}


def _saturation_range(jitter: float) -> tuple[float, float]:
    """RandomSaturation's factor range for a multiplier in [1 - jitter, 1 + jitter].

    RandomSaturation draws ``f`` and multiplies the saturation by ``f / (1 - f)``.
    """
    low, high = 1 - jitter, 1 + jitter
    return low / (1 + low), high / (1 + high)
