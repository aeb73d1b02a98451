"""The model: augmentation as its first block, on in fit, off in evaluate and predict; the
small CNN and the MobileNetV2 transfer body (random weights, small images), and its offline
failure. Size and fine_tune_layers bounds are config checks: tests/config/test_checks.py."""

from __future__ import annotations

import socket
import time

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from augsweep.augment.policy import augmentation_block, build_layers, build_policy
from augsweep.config.checks import MOBILENET_V2_LAYERS
from augsweep.models import WeightsUnavailable, build_classifier, mobilenet_v2, small_cnn
from tests.helpers import compose_config

SHAPE = (16, 16, 1)


def classifier(augment: str, seed: int = 0, extra_layers=()):
    cfg = compose_config(f"augment={augment}")
    keras.utils.clear_session()
    keras.utils.set_random_seed(seed)
    layers = build_policy(cfg.augment, seed).model_layers + list(extra_layers)
    return build_classifier(
        cfg.model, augmentation_block(layers), input_shape=SHAPE, num_classes=10
    )


def images(n=8, seed=0, shape=SHAPE):
    return np.random.default_rng(seed).uniform(0, 255, (n, *shape)).astype("float32")


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
    assert [layer.seed for layer in block.layers] == [0]
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


@pytest.mark.parametrize("shape", [(32, 32, 3), (64, 64, 1), (48, 40, 3)])
def test_mobilenet_v2_maps_images_of_any_size_from_32_px_to_probabilities(shape):
    keras.utils.set_random_seed(0)
    model = mobilenet_v2(weights=None, input_shape=shape, num_classes=3)
    probabilities = model.predict(images(4, shape=shape), verbose=0)
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_only_the_new_classifier_trains_unless_top_layers_are_unfrozen():
    frozen = mobilenet_v2(weights=None, input_shape=(32, 32, 3), num_classes=5)
    # Dense(256) and Dense(classes): two kernels and two biases
    assert [tuple(w.shape) for w in frozen.trainable_weights] == [
        (1280, 256),
        (256,),
        (256, 5),
        (5,),
    ]
    tuned = mobilenet_v2(weights=None, fine_tune_layers=10, input_shape=(32, 32, 3), num_classes=5)
    assert len(tuned.trainable_weights) > len(frozen.trainable_weights)
    # The most the config check allows unfreezes every layer of MobileNetV2.
    everything = mobilenet_v2(
        weights=None,
        fine_tune_layers=MOBILENET_V2_LAYERS,
        input_shape=(32, 32, 3),
        num_classes=5,
    )
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert len(everything.trainable_weights) == len(base.trainable_weights) + 4


def test_preprocessing_inside_the_model_is_mobilenet_v2s_preprocess_input():
    model = mobilenet_v2(weights=None, input_shape=(32, 32, 1), num_classes=2)
    x = images(4, shape=(32, 32, 1))
    gray_as_rgb = np.repeat(x, 3, axis=-1)
    expected = keras.applications.mobilenet_v2.preprocess_input(gray_as_rgb.copy())
    inner = keras.Model(model.input, model.get_layer("preprocess_input").output)
    np.testing.assert_allclose(inner.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)


def test_offline_without_cached_weights_fails_at_once_naming_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as error:
        mobilenet_v2(weights="imagenet", input_shape=(128, 128, 3), num_classes=5)
    assert time.perf_counter() - start < 10
    message = str(error.value)
    assert "model.weights=null" in message
    cached = tmp_path / "keras" / "models"
    assert f"{cached}/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_128_no_top.h5" in message


def test_classifier_with_mobilenet_v2_from_the_config():
    cfg = compose_config("model=mobilenet_v2", "model.weights=null")
    model = build_classifier(
        cfg.model, augmentation_block([]), input_shape=(32, 32, 3), num_classes=4
    )
    body = model.get_layer("mobilenet_v2")
    (backbone,) = [layer for layer in body.layers if isinstance(layer, keras.Model)]
    # MobileNetV2 without its top, all frozen, under a new classifier that trains
    assert len(backbone.layers) == MOBILENET_V2_LAYERS and not backbone.trainable_weights
    assert [type(layer).__name__ for layer in body.layers][-3:] == ["Dense", "Dropout", "Dense"]
    assert len(model.trainable_weights) == 4  # the two Dense layers' kernels and biases
    assert model.predict(images(4, shape=(32, 32, 3)), verbose=0).shape == (4, 4)


@pytest.mark.parametrize("size", [32, 45, 180])
def test_small_cnn_takes_any_image_size_from_32_px(size):
    model = small_cnn(dropout=0.2, input_shape=(size, size, 3), num_classes=2)
    assert model.predict(images(2, shape=(size, size, 3)), verbose=0).shape == (2, 2)
