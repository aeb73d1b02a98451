"""The model: augmentation as its first block, on in fit, off in evaluate and predict."""

from __future__ import annotations

import keras
import numpy as np
from omegaconf import OmegaConf

from augsweep.augment import build_layers, build_policy
from augsweep.models import build_classifier

from .conftest import compose_config

SHAPE = (16, 16, 1)


def classifier(augment: str, seed: int = 0, extra_layers=()):
    cfg = compose_config(f"augment={augment}")
    keras.utils.clear_session()
    keras.utils.set_random_seed(seed)
    layers = build_policy(cfg.augment, seed).model_layers + list(extra_layers)
    return build_classifier(cfg.model, layers, input_shape=SHAPE, num_classes=10)


def images(n=8, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, *SHAPE)).astype("float32")


def test_every_policy_starts_from_the_same_weights():
    weights = [
        classifier(p).get_layer("small_cnn").get_weights()
        for p in ("none", "flip", "flip_rot_zoom", "heavy", "augmix", "noise", "cutmix")
    ]
    for other in weights[1:]:
        for a, b in zip(weights[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_no_augmentation_is_an_empty_pipeline():
    model = classifier("none")
    x = images()
    np.testing.assert_array_equal(model.get_layer("augment")(x, training=True), x)


def test_policy_layers_are_seeded_and_change_images_only_in_training():
    model = classifier("flip_rot_zoom")
    block = model.get_layer("augment")
    assert [layer.seed for layer in block.layers] == [0, 1, 2]
    x = images()
    assert not np.allclose(block(x, training=True), x)
    np.testing.assert_array_equal(block(x, training=False), x)
    np.testing.assert_allclose(
        model.predict(x, verbose=0),
        model.get_layer("small_cnn").predict(x, verbose=0),
        rtol=1e-6,
    )


def test_validation_is_never_augmented_during_fit():
    # An augmentation that inverts every image (255 - x) it touches. In fit it is on for
    # the training batches; the validation loss Keras reports must equal the loss of the
    # un-augmented body on the validation images, not on inverted ones.
    invert = keras.layers.RandomInvert(factor=1.0, value_range=(0, 255), seed=0)
    model = classifier("none", extra_layers=[invert])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x, x_val = images(64, seed=1), images(32, seed=2)
    y = keras.utils.to_categorical(np.arange(64) % 10, 10)
    y_val = keras.utils.to_categorical(np.arange(32) % 10, 10)
    history = model.fit(x, y, validation_data=(x_val, y_val), epochs=1, batch_size=16, verbose=0)
    body = model.get_layer("small_cnn")
    body.compile(loss="categorical_crossentropy")
    clean_val_loss = body.evaluate(x_val, y_val, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][0], clean_val_loss, rtol=1e-5)
    inverted = body.evaluate(255.0 - x_val, y_val, verbose=0)
    assert abs(inverted - clean_val_loss) > 1e-3  # an augmented validation would show


def test_layer_specs_may_set_their_own_seed():
    spec = OmegaConf.create([{"_target_": "keras.layers.RandomFlip", "seed": 42}])
    assert build_layers(spec, seed=0)[0].seed == 42
