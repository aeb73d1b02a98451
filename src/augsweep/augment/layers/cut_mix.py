"""CutMix whose label weights are the pasted pixel area."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="augsweep")
class CutMix(keras.layers.CutMix):
    """``keras.layers.CutMix`` with label weights equal to the area actually pasted.

    Keras 3.15 weighs the labels by the area of the sampled box in continuous coordinates,
    while the pasted mask covers whole pixels: on 16-32 px images the two differ by up to
    6-12% of the image. Here the weight of the partner's label is the fraction of pixels
    taken from the partner image, so labels and pixels agree exactly.

    Takes ``{"images": (N, H, W, C), "labels": (N, classes) one-hot}`` and returns it
    mixed; identity when not training.

    Args:
        factor: As ``keras.layers.CutMix``: a float in (0, 1] (or a range); larger values
            give more varied patch sizes.
        seed: Seeds the patches and the pairing.
        **kwargs: Base layer arguments (``name``, ...).
    """

    def __init__(self, factor=1.0, seed=None, **kwargs):
        super().__init__(factor=factor, seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        transformation = super().get_random_transformation(data, training=training, seed=seed)
        if transformation is None:
            return None
        masks = self.backend.cast(transformation["batch_masks"], self.compute_dtype)
        pasted = self.backend.numpy.mean(masks, axis=(1, 2, 3))
        transformation["mix_weight"] = 1.0 - pasted
        return transformation
