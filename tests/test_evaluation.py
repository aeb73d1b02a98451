"""Evaluation on cached backbone features: a run logs the same metrics as with the whole
model, the backbone runs once per split, the cache is off by itself when the backbone trains,
and the next run of the same data and backbone reads the features from disk."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from mlflow.tracking import MlflowClient

from augsweep.augment.policy import augmentation_block, build_policy
from augsweep.data.pipeline import batches
from augsweep.evaluation import make_evaluator
from augsweep.models import build_classifier
from augsweep.run import train
from augsweep.tracking.tags import Tag
from tests.helpers import SMALL, compose_config, photos

SIZE = 32
CLASSES = 3


def split_batches(seed: int = 0) -> dict[str, tf.data.Dataset]:
    """Validation and clean-train batches of small random photos."""
    images = photos(24, size=SIZE, seed=seed)
    labels = np.arange(24) % CLASSES
    examples = {
        "val": (images[12:], labels[12:]),
        "clean_train": (images[:12], labels[:12]),
    }
    return {
        part: batches(tf.data.Dataset.from_tensor_slices(pair), 5, CLASSES)
        for part, pair in examples.items()
    }


def classifier(*overrides: str) -> keras.Model:
    """A compiled MobileNetV2 classifier (random weights, seed 0) as a run builds it."""
    cfg = compose_config("model=mobilenet_v2", "model.weights=null", *overrides)
    keras.utils.set_random_seed(0)
    model = build_classifier(
        cfg.model,
        build_policy(cfg.augment, 0).model_block(),
        input_shape=(SIZE, SIZE, 3),
        num_classes=CLASSES,
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_the_cache_is_off_when_the_backbone_trains_or_is_turned_off(tmp_path):
    data = split_batches()
    tuned = classifier("model.fine_tune_layers=5")
    evaluator = make_evaluator(tuned, data, directory=tmp_path)
    assert not evaluator.uses_features and evaluator.summary() == "off: no frozen backbone"
    frozen = classifier()
    assert make_evaluator(frozen, data).uses_features
    evaluator = make_evaluator(frozen, data, feature_cache="off")
    assert not evaluator.uses_features
    assert evaluator.summary() == "off: trainer.feature_cache=off"
    cnn = build_classifier(compose_config().model, augmentation_block([]),
                           input_shape=(SIZE, SIZE, 3), num_classes=CLASSES)  # fmt: skip
    cnn.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    assert not make_evaluator(cnn, data).uses_features
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_the_next_run_reads_the_features_from_disk_unless_its_data_differs(tmp_path):
    data = split_batches()
    first = make_evaluator(classifier(), data, data_key="photos", directory=tmp_path)
    expected = first.evaluate("val")
    assert first.evaluate("val") == expected  # every epoch: the backbone ran once
    assert first.cache.backbone_passes == 1
    assert first.summary() == "on: 1 splits through the backbone, 0 read from disk"
    (entry,) = tmp_path.glob("val-*.npz")
    written = entry.stat().st_mtime_ns

    model = classifier()  # the next run: the same backbone, rebuilt
    again = make_evaluator(model, data, data_key="photos", directory=tmp_path)
    assert again.evaluate("val") == pytest.approx(expected)
    assert again.cache.backbone_passes == 0
    assert again.summary() == "on: 0 splits through the backbone, 1 read from disk"
    assert entry.stat().st_mtime_ns == written

    other = make_evaluator(model, split_batches(seed=1), data_key="other", directory=tmp_path)
    other.evaluate("val")
    assert other.cache.backbone_passes == 1
    assert len(list(tmp_path.glob("val-*.npz"))) == 2

    entry.write_bytes(entry.read_bytes()[:100])  # a partial file: ignored, computed again
    after_damage = make_evaluator(model, data, data_key="photos", directory=tmp_path)
    assert after_damage.evaluate("val") == pytest.approx(expected)
    assert after_damage.cache.backbone_passes == 1


@pytest.mark.slow
def test_a_backbone_with_other_weights_never_reads_another_backbones_features(tmp_path):
    data = split_batches()
    first = make_evaluator(classifier(), data, data_key="photos", directory=tmp_path)
    first.evaluate("val")
    (entry,) = tmp_path.glob("val-*.npz")

    # The next run: the same data and architecture, other backbone weights (other ImageNet
    # weights, a fine-tuned backbone reused frozen).
    other = make_evaluator(classifier(), data, data_key="photos", directory=tmp_path)
    weight = other.cache.backbone.weights[0]
    weight.assign(weight.numpy() + 0.5)
    other.evaluate("val")
    assert (other.cache.backbone_passes, other.cache.disk_reads) == (1, 0)
    assert other.summary() == "on: 1 splits through the backbone, 0 read from disk"
    assert len(list(tmp_path.glob("val-*.npz"))) == 2 and entry.exists()


@pytest.mark.slow
def test_a_run_logs_the_same_metrics_with_the_cache_as_without(tmp_path, private_cache_dir):
    logged, tags = {}, {}
    for mode in ("auto", "off"):
        uri = f"sqlite:///{tmp_path}/{mode}/mlflow.db"
        small = [o for o in SMALL if not o.startswith("dataset.image_size")]
        cfg = compose_config(*small, "dataset.image_size=32", "model=mobilenet_v2",
                             "model.weights=null", "model.dropout=0.5", "augment=flip",
                             f"trainer.feature_cache={mode}", f"tracking.uri={uri}")  # fmt: skip
        run_id = train(cfg).run_id
        client = MlflowClient(uri)
        tags[mode] = client.get_run(run_id).data.tags[Tag.FEATURE_CACHE]
        logged[mode] = {
            key: [
                m.value
                for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
            ]  # fmt: skip
            for key in (
                "loss",
                "val_loss",
                "val_accuracy",
                "clean_loss",
                "clean_accuracy",
                "gap",
                "test_loss",
                "test_accuracy",
            )  # fmt: skip
        }
        assert len(logged[mode]["val_accuracy"]) == 2
    for key, values in logged["off"].items():
        assert logged["auto"][key] == pytest.approx(values, abs=1e-4), key
    assert tags == {
        "auto": "on: 3 splits through the backbone, 0 read from disk",
        "off": "off: trainer.feature_cache=off",
    }
    # The features of the three evaluated splits (val, clean_train, test), kept for the next run.
    assert len(list((private_cache_dir / "features").glob("*.npz"))) == 3
