"""Augmentation layers that Keras 3.15 lacks or gets wrong, one per file.

Each is seeded, identity when not training, usable in the model and in ``tf.data``, and
registered with ``keras.saving`` (package ``augsweep``), so a saved model holding one reloads
once ``augsweep.augment.layers`` is imported.
"""

from augsweep.augment.layers.aug_mix import AugMix
from augsweep.augment.layers.color_jitter import ColorJitter
from augsweep.augment.layers.cut_mix import CutMix
from augsweep.augment.layers.gaussian_noise import RandomGaussianNoise
from augsweep.augment.layers.random_affine import RandomAffine
from augsweep.augment.layers.trivial_augment import TrivialAugment

__all__ = [
    "AugMix",
    "ColorJitter",
    "CutMix",
    "RandomAffine",
    "RandomGaussianNoise",
    "TrivialAugment",
]
