"""MobileNetV2 transfer body (random weights, small images) and its offline failure."""

from __future__ import annotations

import socket
import time

import keras
import numpy as np
import pytest

from augsweep.models import WeightsUnavailable, build_classifier, mobilenet_v2, small_cnn

from .conftest import compose_config


def images(shape, n=4, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, *shape)).astype("float32")


@pytest.mark.parametrize("shape", [(32, 32, 3), (64, 64, 1), (48, 40, 3)])
def test_mobilenet_v2_maps_images_of_any_size_from_32_px_to_probabilities(shape):
    keras.utils.set_random_seed(0)
    model = mobilenet_v2(weights=None, input_shape=shape, num_classes=3)
    probabilities = model.predict(images(shape), verbose=0)
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
    with pytest.raises(ValueError, match="model.fine_tune_layers=1000: must be in 0..154"):
        mobilenet_v2(weights=None, fine_tune_layers=1000, input_shape=(32, 32, 3), num_classes=5)


def test_preprocessing_inside_the_model_is_mobilenet_v2s_preprocess_input():
    model = mobilenet_v2(weights=None, input_shape=(32, 32, 1), num_classes=2)
    x = images((32, 32, 1))
    gray_as_rgb = np.repeat(x, 3, axis=-1)
    expected = keras.applications.mobilenet_v2.preprocess_input(gray_as_rgb.copy())
    inner = keras.Model(model.input, model.get_layer("preprocess_input").output)
    np.testing.assert_allclose(inner.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)


def test_images_below_32_px_are_refused_with_the_setting_to_change():
    with pytest.raises(ValueError, match="at least 32x32 px.*dataset.image_size"):
        mobilenet_v2(weights=None, input_shape=(16, 16, 3), num_classes=2)


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
    model = build_classifier(cfg.model, [], input_shape=(32, 32, 3), num_classes=4)
    assert model.get_layer("mobilenet_v2").name == "mobilenet_v2"
    assert model.predict(images((32, 32, 3)), verbose=0).shape == (4, 4)


@pytest.mark.parametrize("size", [32, 45, 180])
def test_small_cnn_takes_any_image_size_from_32_px(size):
    model = small_cnn(dropout=0.2, input_shape=(size, size, 3), num_classes=2)
    assert model.predict(images((size, size, 3), n=2), verbose=0).shape == (2, 2)
