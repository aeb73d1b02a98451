"""The albumentations backend: the named techniques as albumentations transforms.

Each function below is the ``_target_`` of one entry of ``conf/techniques/albumentations.yaml``
and gives its magnitude the meaning it has with the keras backend (``rotation=0.1`` is up to
36 degrees either way, ``brightness=0.2`` up to 20% of the range, ...). :class:`ImageTransform`
applies the chosen transforms to one 0-255 image, in the ``tf.data`` pipeline.

albumentations is an optional extra: ``pip install -e ".[albumentations]"``. It is imported
only when a transform is built, and its absence raises an ImportError that says how to
install it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

INSTALL_HINT = (
    "augment.backend=albumentations needs the albumentations package, an optional extra of "
    'augsweep: pip install -e ".[albumentations]"'
)


def require():
    """Import albumentations and OpenCV.

    Returns:
        The ``albumentations`` and ``cv2`` modules.

    Raises:
        ImportError: If albumentations is not installed, saying how to install it.
    """
    try:
        import albumentations
        import cv2
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return albumentations, cv2


def flip(mode: str = "horizontal"):
    """Random flips: ``horizontal``, ``vertical`` or ``horizontal_and_vertical``."""
    A, _ = require()
    flips = {
        "horizontal": [A.HorizontalFlip(p=0.5)],
        "vertical": [A.VerticalFlip(p=0.5)],
        "horizontal_and_vertical": [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)],
    }
    if mode not in flips:
        raise ValueError(f"mode={mode!r}: must be one of {', '.join(flips)}")
    return A.Sequential(flips[mode], p=1.0)


def rotation(factor: float = 0.1):
    """Rotation by up to ``factor`` of a full turn either way, black corners."""
    A, cv2 = require()
    return A.Rotate(limit=360 * factor, border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0)


def zoom(factor: float = 0.1):
    """Zoom in or out by up to ``factor`` of the side, black borders."""
    A, cv2 = require()
    return A.Affine(scale=(1 - factor, 1 + factor), border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0)


def crop(padding: float = 0.125):
    """Random crop of the image zero-padded by ``padding`` of the side: a whole-pixel shift."""
    A, cv2 = require()
    return A.Affine(
        translate_percent=(-padding, padding),
        interpolation=cv2.INTER_NEAREST,
        border_mode=cv2.BORDER_CONSTANT,
        fill=0,
        p=1.0,
    )


def translation(factor: float = 0.1):
    """Shift by up to ``factor`` of the side in each direction, black borders."""
    A, cv2 = require()
    return A.Affine(
        translate_percent=(-factor, factor), border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0
    )


def affine(
    rotation=0.1, zoom=0.1, translation=0.1, shear=0.1, flip_mode=None, interpolation="bilinear"
):
    """A flip (``flip_mode``, or None for none), then rotation, zoom, shift and shear as one
    affine transform (one resampling), black fill.

    The magnitudes mean what they mean for the keras ``affine``; the shear factor (a slope)
    becomes albumentations' shear angle, ``atan(shear)``.
    """
    import math

    A, cv2 = require()
    shear_degrees = math.degrees(math.atan(shear))
    transform = A.Affine(
        rotate=(-360 * rotation, 360 * rotation),
        scale=(1 - zoom, 1 + zoom),
        translate_percent=(-translation, translation),
        shear={"x": (-shear_degrees, shear_degrees), "y": (-shear_degrees, shear_degrees)},
        interpolation=cv2.INTER_NEAREST if interpolation == "nearest" else cv2.INTER_LINEAR,
        border_mode=cv2.BORDER_CONSTANT,
        fill=0,
        p=1.0,
    )
    return transform if flip_mode is None else A.Sequential([flip(flip_mode), transform], p=1.0)


def brightness(factor: float = 0.2):
    """Add up to ``factor`` of the value range, either way."""
    A, _ = require()
    return A.RandomBrightnessContrast(
        brightness_limit=factor, contrast_limit=0, brightness_by_max=True, p=1.0
    )


def contrast(factor: float = 0.2):
    """Contrast factor in [1 - factor, 1 + factor]."""
    A, _ = require()
    return A.RandomBrightnessContrast(brightness_limit=0, contrast_limit=factor, p=1.0)


def color_jitter(
    brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2, hue: float = 0.05
):
    """albumentations' ColorJitter: note its brightness is a factor in [1 - b, 1 + b]."""
    A, _ = require()
    return A.ColorJitter(
        brightness=brightness, contrast=contrast, saturation=saturation, hue=hue, p=1.0
    )


def grayscale(probability: float = 0.2):
    """Turn the image gray (keeping its channels) with this probability."""
    A, _ = require()
    return A.ToGray(p=probability)


def noise(stddev: float = 0.05):
    """Gaussian noise with this standard deviation, as a fraction of the value range."""
    A, _ = require()
    return A.GaussNoise(std_range=(stddev, stddev), mean_range=(0, 0), per_channel=True, p=1.0)


def blur(sigma: float = 1.0):
    """Gaussian blur (3x3 kernel) with sigma up to ``sigma`` pixels, on half of the images."""
    A, _ = require()
    return A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.1, max(sigma, 0.1)), p=0.5)


def erasing(max_area: float = 0.33):
    """Random erasing: a rectangle of 2% up to ``max_area`` of the image, noise-filled,
    on half of the images."""
    A, _ = require()
    return A.Erasing(scale=(0.02, max_area), fill="random", p=0.5)


class ImageTransform:
    """Apply albumentations transforms to one image of 0-255 float pixels.

    The image is rounded to uint8 (the type albumentations and OpenCV are fastest on),
    transformed, and returned as float32 of the same shape.

    Args:
        transforms: albumentations transforms, applied in order.
        seed: Seeds albumentations' random draws.
    """

    def __init__(self, transforms: Sequence[Any], seed: int):
        A, _ = require()
        self.transforms = list(transforms)
        self.compose = A.Compose(self.transforms, seed=seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        out = self.compose(image=pixels)["image"]
        return out.astype(np.float32).reshape(image.shape)

    def on_tensor(self, image, label):
        """The same, as a ``tf.data`` map function on ``(image, label)``."""
        import tensorflow as tf

        out = tf.numpy_function(self, [image], tf.float32, stateful=True)
        out.set_shape(image.shape)
        return out, label
