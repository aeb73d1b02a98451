"""One random affine transform per image (rotation, zoom, translation, shear), one resampling."""

from __future__ import annotations

import math

import keras

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")
FLIPS = ("horizontal", "vertical", "horizontal_and_vertical")


@keras.saving.register_keras_serializable(package="augsweep")
class RandomAffine(keras.layers.Layer):
    """Flip, rotate, zoom, shift and shear each image by one random affine map, resampled once.

    Chaining ``RandomRotation``, ``RandomZoom``, ``RandomTranslation`` and ``RandomShear``
    resamples the image once per layer: slower, and each bilinear resampling blurs it again.
    This layer draws the same parameters, with the same meanings and distributions as those
    layers, composes them into one matrix about the image centre and applies it with one
    ``keras.ops.image.affine_transform`` over the whole batch. Its result equals the chain
    flip -> translation -> rotation -> zoom -> shear (each about the centre), except that
    content the chain cropped at an intermediate step (and filled) stays visible here. A
    flip is an affine map too: folded in, it costs nothing (``RandomFlip`` copies the batch
    twice).

    Per image: a flip with probability 0.5 (as ``RandomFlip``: ``horizontal_and_vertical``
    flips both axes or neither); an angle uniform in ``rotation * 360`` degrees; one zoom
    factor for both axes, uniform in ``1 + zoom`` (as ``RandomZoom`` with only
    ``height_factor``: above 1 zooms out); a shift uniform in ``translation`` times the
    height and, independently, times the width; shear factors ``x`` and ``y`` uniform in
    ``shear`` with one random sign for both (as ``RandomShear``, but about the centre rather
    than the top-left corner, so a shear does not also shift the image).

    Channels-last images, batched ``(N, H, W, C)`` or one ``(H, W, C)``, any value range
    (resampling stays within it); identity when not training, or when every magnitude is 0.

    Args:
        rotation: Largest rotation as a fraction of a full turn, a float in [0, 1] for
            ``[-rotation, rotation]``, or a ``(low, high)`` pair in [-1, 1].
        zoom: Largest zoom as a fraction of the side, a float in [0, 1) for
            ``[1 - zoom, 1 + zoom]``, or a ``(low, high)`` pair in (-1, 1].
        translation: Largest shift as a fraction of the side, a float in [0, 1], or a
            ``(low, high)`` pair in [-1, 1].
        shear: Largest shear factor, a float in [0, 1] for ``[-shear, shear]`` on each
            axis, or a ``(low, high)`` pair in [-1, 1], times a random sign shared by both axes
            (as ``RandomShear``'s ``x_factor`` and ``y_factor``).
        flip: None (no flip), or the ``RandomFlip`` mode: one of ``horizontal``,
            ``vertical``, ``horizontal_and_vertical``.
        fill_mode: How points outside the image are filled: one of ``reflect``, ``wrap``,
            ``constant`` (``fill_value``), ``nearest``.
        interpolation: ``bilinear`` or ``nearest``.
        fill_value: The value of ``fill_mode="constant"``.
        seed: Seeds the draws.
        **kwargs: Base layer arguments (``name``, ...).

    Raises:
        ValueError: For a magnitude, fill mode or interpolation outside its allowed set,
            naming the value.
    """

    def __init__(
        self,
        rotation=0.0,
        zoom=0.0,
        translation=0.0,
        shear=0.0,
        flip=None,
        fill_mode="reflect",
        interpolation="bilinear",
        fill_value=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rotation = _factor_range("rotation", rotation, (-1.0, 1.0), magnitude_max=1.0)
        self.zoom = _factor_range("zoom", zoom, (-1.0, 1.0), magnitude_max=1.0, open_low=True)
        self.translation = _factor_range("translation", translation, (-1.0, 1.0), 1.0)
        self.shear = _factor_range("shear", shear, (-1.0, 1.0), magnitude_max=1.0)
        if flip is not None and flip not in FLIPS:
            raise ValueError(f"flip={flip!r}: must be None or one of {', '.join(FLIPS)}")
        if fill_mode not in FILL_MODES:
            raise ValueError(f"fill_mode={fill_mode!r}: must be one of {', '.join(FILL_MODES)}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation={interpolation!r}: must be one of {', '.join(INTERPOLATIONS)}"
            )
        self.flip = flip
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = float(fill_value)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        # On TensorFlow its resampling op (ImageProjectiveTransformV3) has no XLA kernel: as
        # Keras's RandomRotation, the layer tells a model with jit_compile="auto" not to
        # compile it. On JAX it compiles (keras.ops only), with the rest of the step.
        self.supports_jit = keras.backend.backend() != "tensorflow"

    @property
    def is_identity(self) -> bool:
        """Whether there is no flip and every magnitude is zero (the layer then returns its
        input)."""
        ranges = (self.rotation, self.zoom, self.translation, self.shear)
        return self.flip is None and all(low == high == 0 for low, high in ranges)

    def call(self, images, training=True):
        if not training or self.is_identity:
            return images
        images = keras.ops.cast(images, self.compute_dtype)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = keras.ops.expand_dims(images, 0)
        shape = keras.ops.shape(images)
        matrices = self.random_matrices(shape[0], shape[1], shape[2])
        out = keras.ops.image.affine_transform(
            images,
            matrices,  # float32 even under mixed precision: offsets of many pixels
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
        )
        return keras.ops.squeeze(out, 0) if unbatched else out

    def random_matrices(self, batch_size, height, width):
        """Draw one transform per image, as ``affine_transform`` takes it.

        Args:
            batch_size: Number of images.
            height: Image height in pixels.
            width: Image width in pixels.

        Returns:
            ``(batch_size, 8)`` float32: ``[a0, a1, a2, b0, b1, b2, 0, 0]``, mapping each
            output pixel ``(x, y)`` to the input point ``(a0 x + a1 y + a2, b0 x + b1 y +
            b2)``.
        """
        ops = keras.ops
        # One draw of all parameters: columns are angle, zoom, shift y, shift x, shear x,
        # shear y, shear sign, flip.
        u = keras.random.uniform((batch_size, 8), seed=self.generator, dtype="float32")
        angle = _scaled(u[:, 0], self.rotation) * (2.0 * math.pi)
        zoom = 1.0 + _scaled(u[:, 1], self.zoom)
        height = ops.cast(height, "float32")
        width = ops.cast(width, "float32")
        shift_y = _scaled(u[:, 2], self.translation) * height
        shift_x = _scaled(u[:, 3], self.translation) * width
        sign = ops.where(u[:, 6] > 0.5, -1.0, 1.0)
        shear_x = _scaled(u[:, 4], self.shear) * sign
        shear_y = _scaled(u[:, 5], self.shear) * sign
        cos, sin = ops.cos(angle), ops.sin(angle)
        # Output -> input about the centre: zoom * rotation @ shear (the inverse map of the
        # chain translation -> rotation -> zoom -> shear), then the shift, as the Keras
        # layers write theirs.
        a0 = zoom * (cos - sin * shear_y)
        a1 = zoom * (cos * shear_x - sin)
        b0 = zoom * (sin + cos * shear_y)
        b1 = zoom * (sin * shear_x + cos)
        # The flip comes first in the chain, so it mirrors the input side: rows times -1.
        flip_x, flip_y = self._flip_signs(u[:, 7])
        a0, a1, shift_x = a0 * flip_x, a1 * flip_x, shift_x * flip_x
        b0, b1, shift_y = b0 * flip_y, b1 * flip_y, shift_y * flip_y
        cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
        a2 = cx - a0 * cx - a1 * cy - shift_x
        b2 = cy - b0 * cx - b1 * cy - shift_y
        zeros = ops.zeros_like(a0)
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def _flip_signs(self, uniform):
        """-1 where an image is flipped on x (then y), else 1; one draw for both axes."""
        flipped = keras.ops.where(uniform <= 0.5, -1.0, 1.0)
        unflipped = keras.ops.ones_like(uniform)
        horizontal = self.flip in ("horizontal", "horizontal_and_vertical")
        vertical = self.flip in ("vertical", "horizontal_and_vertical")
        return (flipped if horizontal else unflipped), (flipped if vertical else unflipped)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rotation": self.rotation,
            "zoom": self.zoom,
            "translation": self.translation,
            "shear": self.shear,
            "flip": self.flip,
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
            "seed": self.seed,
        }


def _scaled(uniform, bounds):
    """A [0, 1) uniform draw mapped onto ``bounds = (low, high)``."""
    low, high = bounds
    return low + (high - low) * uniform


def _factor_range(name, value, bounds, magnitude_max, open_low=False):
    """``(low, high)`` of a magnitude given as a float (symmetric) or a pair.

    Args:
        name: The argument's name, for the error.
        value: A float ``m`` (for ``[-m, m]``) or a ``(low, high)`` pair.
        bounds: The allowed ``(low, high)`` of a pair.
        magnitude_max: The largest allowed float.
        open_low: Whether ``bounds[0]`` itself is excluded.

    Returns:
        The range, as floats, low first.

    Raises:
        ValueError: If the value is neither form or out of its bounds.
    """
    low_bracket = "(" if open_low else "["
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        top = f"{magnitude_max})" if open_low else f"{magnitude_max}]"
        too_big = value >= magnitude_max if open_low else value > magnitude_max
        if value < 0 or too_big:
            raise ValueError(f"{name}={value}: a magnitude must be in [0, {top}")
        return (-float(value), float(value))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        low, high = sorted(float(v) for v in value)
        below = low <= bounds[0] if open_low else low < bounds[0]
        if not below and high <= bounds[1]:
            return (low, high)
    allowed = f"{low_bracket}{bounds[0]}, {bounds[1]}]"
    raise ValueError(
        f"{name}={value!r}: must be a float magnitude or a (low, high) pair in {allowed}"
    )
