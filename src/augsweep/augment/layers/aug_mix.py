"""AugMix that draws each chain's operations at every call, from its seed.

``keras.layers.AugMix`` (Keras 3.15) picks the operations of every chain with Python's global
``random`` while the layer is traced. In ``fit`` and in ``tf.data`` the graph is traced once,
so every batch of the whole training gets the same operations, and ``seed`` does not make
the choice reproducible. This layer draws the choice as a tensor from its own seed generator
at every call, and runs only the chosen operation (or none) at each step.

It is built from Keras's public API only (public augmentation layers as its operations,
``keras.ops``, ``keras.random``), so a new Keras minor release cannot break it by renaming
a private member.
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real

import keras
from keras import ops

# Keras AugMix's operations, in its order; the first seven are its ``all_ops=False`` set.
BASIC_OPERATIONS = (
    "random_shear",
    "random_translation",
    "random_rotation",
    "random_posterization",
    "solarization",
    "auto_contrast",
    "equalization",
)
ALL_OPERATIONS = BASIC_OPERATIONS + (
    "random_brightness",
    "random_color_degeneration",
    "random_contrast",
    "random_sharpness",
)
INTERPOLATIONS = ("nearest", "bilinear")


@keras.saving.register_keras_serializable(package="augsweep")
class AugMix(keras.layers.Layer):
    """Mix ``num_chains`` chains of random operations with the image (AugMix).

    As ``keras.layers.AugMix``: each chain applies ``chain_depth`` steps, each one operation
    of the set or none; the chains are mixed with Dirichlet(``alpha``) weights, and the mix
    with the image with a Beta(``alpha``, ``alpha``) weight; the result is clipped to
    ``value_range``. The choice of operations and the weights are per batch, the
    operations' own parameters (angle, shift, ...) per image. Identity when not training.

    Args:
        value_range: ``(low, high)`` of the pixels.
        num_chains: Number of chains mixed, at least 1.
        chain_depth: Steps per chain, at least 1; each step may pick "no operation".
        factor: Severity of the operations in [0, 1]: a number ``f`` (range [0, f]) or a
            ``(low, high)`` pair.
        alpha: Concentration of the Dirichlet and Beta weights, > 0.
        all_ops: Also use brightness, color degeneration, contrast and sharpness.
        interpolation: Resampling of the geometric operations, one of ``INTERPOLATIONS``.
        seed: Seeds the choices, the weights and each operation (operation ``i`` gets
            ``seed + 1 + i``); None draws a seed.
        **kwargs: Base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(
        self,
        value_range=(0, 255),
        num_chains=3,
        chain_depth=3,
        factor=0.3,
        alpha=1.0,
        all_ops=True,
        interpolation="bilinear",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.value_range = _value_range(value_range)
        self.num_chains = _at_least_one("num_chains", num_chains)
        self.chain_depth = _at_least_one("chain_depth", chain_depth)
        self.factor = _factor_range(factor)
        if not (isinstance(alpha, Real) and alpha > 0):
            raise ValueError(f"alpha={alpha!r}: must be a number > 0")
        self.alpha = float(alpha)
        self.all_ops = bool(all_ops)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation={interpolation!r}: must be one of {INTERPOLATIONS}")
        self.interpolation = interpolation
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        names = ALL_OPERATIONS if self.all_ops else BASIC_OPERATIONS
        self.operations = [
            _operation(
                name,
                self.factor,
                self.value_range,
                self.interpolation,
                seed=None if seed is None else seed + 1 + index,
                dtype=self.dtype_policy,
            )
            for index, name in enumerate(names)
        ]

    def build(self, input_shape):
        for operation in self.operations:
            operation.build(input_shape)
        super().build(input_shape)

    def get_random_transformation(self, images, training=True):
        """One call's draws, from the layer's seed generator (tensors, also in a graph).

        Args:
            images: The batch (unused: the draws are per batch).
            training: None is returned when False.

        Returns:
            ``choices``: ``(num_chains, chain_depth)`` int32 operation indices, where
            ``len(self.operations)`` is "no operation"; ``chain_weights``: the chains'
            Dirichlet weights; ``mix_weight``: the image's Beta weight in the mix.
        """
        del images
        if not training:
            return None
        gamma = keras.random.gamma((self.num_chains,), self.alpha, seed=self.generator)
        mix_weight = keras.random.beta((), self.alpha, self.alpha, seed=self.generator)
        choices = keras.random.randint(
            (self.num_chains, self.chain_depth),
            0,
            len(self.operations) + 1,
            dtype="int32",
            seed=self.generator,
        )
        return {
            "choices": choices,
            "chain_weights": ops.cast(gamma / ops.sum(gamma), self.compute_dtype),
            "mix_weight": ops.cast(mix_weight, self.compute_dtype),
        }

    def call(self, images, training=True):
        if not training:
            return images
        draws = self.get_random_transformation(images)
        images = ops.cast(images, self.compute_dtype)
        branches = [self._branch(operation) for operation in self.operations] + [_identity]
        mixed = ops.zeros_like(images)
        for chain in range(self.num_chains):
            augmented = images
            for step in range(self.chain_depth):
                augmented = ops.switch(draws["choices"][chain, step], branches, augmented)
            mixed = mixed + draws["chain_weights"][chain] * augmented
        weight = draws["mix_weight"]
        low, high = self.value_range
        return ops.clip(weight * images + (1 - weight) * mixed, low, high)

    def _branch(self, operation: keras.layers.Layer):
        def apply(images):
            return ops.cast(operation(images, training=True), self.compute_dtype)

        return apply

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": list(self.value_range),
            "num_chains": self.num_chains,
            "chain_depth": self.chain_depth,
            "factor": list(self.factor),
            "alpha": self.alpha,
            "all_ops": self.all_ops,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }


def _operation(name, factor, value_range, interpolation, seed, dtype) -> keras.layers.Layer:
    """The public Keras layer for operation ``name``, with Keras AugMix's severity mapping."""
    layers = keras.layers
    seeded = {"seed": seed, "dtype": dtype}
    ranged = {**seeded, "value_range": value_range}
    geometric = {**seeded, "interpolation": interpolation}
    builders = {
        "random_shear": lambda: layers.RandomShear(x_factor=factor, y_factor=factor, **geometric),
        "random_translation": lambda: layers.RandomTranslation(
            height_factor=factor, width_factor=factor, **geometric
        ),
        "random_rotation": lambda: layers.RandomRotation(factor=factor, **geometric),
        "random_posterization": lambda: layers.RandomPosterization(
            factor=max(1, int(8 * factor[1])), **ranged
        ),
        "solarization": lambda: layers.Solarization(
            addition_factor=factor, threshold_factor=factor, **ranged
        ),
        "auto_contrast": lambda: layers.AutoContrast(value_range=value_range, dtype=dtype),
        "equalization": lambda: layers.Equalization(value_range=value_range, dtype=dtype),
        "random_brightness": lambda: layers.RandomBrightness(factor=factor, **ranged),
        "random_color_degeneration": lambda: layers.RandomColorDegeneration(
            factor=factor, **ranged
        ),
        "random_contrast": lambda: layers.RandomContrast(factor=factor, **ranged),
        "random_sharpness": lambda: layers.RandomSharpness(factor=factor, **ranged),
    }
    if name not in builders:
        raise ValueError(f"operation {name!r}: must be one of {ALL_OPERATIONS}")
    return builders[name]()


def _identity(images):
    return images


def _value_range(value_range) -> tuple[float, float]:
    pair = tuple(value_range) if isinstance(value_range, Iterable) else ()
    if len(pair) != 2 or not all(isinstance(x, Real) for x in pair) or pair[0] >= pair[1]:
        raise ValueError(f"value_range={value_range!r}: must be a pair (low, high), low < high")
    return pair


def _at_least_one(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name}={value!r}: must be an integer >= 1")
    return int(value)


def _factor_range(factor) -> tuple[float, float]:
    """Keras AugMix's reading of ``factor``: ``f`` is [0, f], a pair is sorted; all in [0, 1]."""
    if isinstance(factor, Real):
        pair = (0.0, factor)
    else:
        pair = tuple(factor) if isinstance(factor, Iterable) and not isinstance(factor, str) else ()
    if (
        len(pair) != 2
        or not all(isinstance(x, Real) and not isinstance(x, bool) for x in pair)
        or not all(0 <= x <= 1 for x in pair)
    ):
        raise ValueError(
            f"factor={factor!r}: must be a number in [0, 1] or a pair (low, high) in [0, 1]"
        )
    low, high = sorted(float(x) for x in pair)
    return low, high
