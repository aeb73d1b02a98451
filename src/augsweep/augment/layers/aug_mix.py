"""AugMix with its operations drawn per call from its seed."""

from __future__ import annotations

import keras
from keras.src.utils import backend_utils


@keras.saving.register_keras_serializable(package="augsweep")
class AugMix(keras.layers.AugMix):
    """``keras.layers.AugMix`` that draws each chain's operations at run time, seeded.

    Keras 3.15 picks the operations of every chain with Python's global ``random`` while
    the layer is traced: in ``fit`` and in ``tf.data`` (graphs traced once) every batch then
    gets the same operations for the whole training, and ``seed`` does not make the choice
    reproducible. Here the choice is a tensor drawn from the layer's seed generator at
    every call, and ``switch`` runs only the chosen operation (or none, as upstream can
    pick "no operation" at each step).

    Args:
        **kwargs: As ``keras.layers.AugMix`` (``value_range``, ``num_chains``,
            ``chain_depth``, ``factor``, ``alpha``, ``all_ops``, ``seed``, ...).
    """

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        if backend_utils.in_tf_graph():
            self.backend.set_backend("tensorflow")
            for name in self._augment_layers:
                getattr(self, name).backend.set_backend("tensorflow")
        seed = seed or self._get_seed_generator(self.backend._backend)
        chain_weights = self._sample_from_dirichlet([self.num_chains], self.alpha, seed)
        weight_sample = self.backend.random.beta(
            shape=(), alpha=self.alpha, beta=self.alpha, seed=seed
        )
        # Index len(ops) is "no operation" at that step.
        choices = self.backend.random.randint(
            (self.num_chains, self.chain_depth), 0, len(self._augment_layers) + 1, seed=seed
        )
        steps = [
            [self._step_transformations(data) for _ in range(self.chain_depth)]
            for _ in range(self.num_chains)
        ]
        return {
            "chain_mixing_weights": chain_weights,
            "weight_sample": weight_sample,
            "choices": choices,
            "steps": steps,
        }

    def _step_transformations(self, data):
        return {
            name: getattr(self, name).get_random_transformation(
                data, seed=self._get_seed_generator(self.backend._backend)
            )
            for name in self._augment_layers
        }

    def transform_images(self, images, transformation, training=True):
        images = self.backend.cast(images, self.compute_dtype)
        if not training or transformation is None:
            return images
        chain_weights = self.backend.cast(
            transformation["chain_mixing_weights"], self.compute_dtype
        )
        weight_sample = self.backend.cast(transformation["weight_sample"], self.compute_dtype)
        mixed = self.backend.numpy.zeros_like(images)
        for chain in range(self.num_chains):
            augmented = images
            for depth in range(self.chain_depth):
                branches = [
                    self._branch(name, transformation["steps"][chain][depth][name])
                    for name in self._augment_layers
                ] + [lambda x: x]
                choice = transformation["choices"][chain, depth]
                augmented = self.backend.core.switch(choice, branches, augmented)
            mixed += augmented * chain_weights[chain]
        images = weight_sample * images + (1 - weight_sample) * mixed
        low, high = self.value_range
        return self.backend.cast(self.backend.numpy.clip(images, low, high), self.compute_dtype)

    def _branch(self, name, step_transformation):
        layer = getattr(self, name)

        def apply(images):
            out = layer.transform_images(images, step_transformation)
            return self.backend.cast(out, self.compute_dtype)

        return apply
