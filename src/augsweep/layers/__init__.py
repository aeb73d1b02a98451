"""Augmentation layers that Keras 3.15 lacks or gets wrong, one per file.

Each is seeded, identity when not training, usable in the model and in ``tf.data``, and
registered with ``keras.saving`` (package ``augsweep``), so a saved model holding one reloads
once ``augsweep.layers`` is imported.
"""

from augsweep.layers.aug_mix import AugMix
from augsweep.layers.color_jitter import ColorJitter
from augsweep.layers.cut_mix import CutMix
from augsweep.layers.gaussian_noise import RandomGaussianNoise

__all__ = ["AugMix", "ColorJitter", "CutMix", "RandomGaussianNoise"]
