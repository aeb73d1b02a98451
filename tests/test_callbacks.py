"""A run's callbacks on a tiny Keras model: validation and clean-train metrics in every
epoch's logs, the overfitting gap, the best epoch's weights, the epoch log, divergence."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from augsweep.callbacks import (
    BestWeights,
    CleanEvaluation,
    EpochLogger,
    EpochProgress,
    StopWhenHopeless,
    TrainingDiverged,
    Validation,
    check_diverged,
)
from augsweep.evaluation import ModelEvaluator


def tiny_classifier(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(keras.optimizers.SGD(0.5), "categorical_crossentropy", metrics=["accuracy"])
    return model


def one_hot_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    labels = (x[:, 0] > 0).astype(int)
    return x, np.eye(2, dtype="float32")[labels]


def batched(x, y) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


class Scores(keras.callbacks.Callback):
    """Puts the given ``val_accuracy`` in each epoch's logs and keeps each epoch's weights."""

    def __init__(self, scores):
        super().__init__()
        self.scores, self.snapshots = iter(scores), []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_accuracy"] = next(self.scores)
        self.snapshots.append(self.model.get_weights())


def test_validation_and_clean_metrics_are_in_every_epochs_logs_with_their_gap():
    model = tiny_classifier()
    train, val = one_hot_data(16, seed=0), one_hot_data(12, seed=1)
    evaluator = ModelEvaluator(model, {"val": batched(*val), "clean_train": batched(*train)})
    seen = []

    class Last(keras.callbacks.Callback):  # what a callback placed after them reads
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))

    model.fit(*train, epochs=2, batch_size=8, verbose=0,
              callbacks=[Validation(evaluator), CleanEvaluation(evaluator), Last()])  # fmt: skip
    assert len(seen) == 2
    last = seen[-1]
    # the model as it is after the epoch, in inference mode, on each split
    val_result = model.evaluate(*val, batch_size=8, verbose=0, return_dict=True)
    clean_result = model.evaluate(*train, batch_size=8, verbose=0, return_dict=True)
    assert last["val_loss"] == pytest.approx(val_result["loss"], rel=1e-5)
    assert last["val_accuracy"] == pytest.approx(val_result["accuracy"])
    assert last["clean_loss"] == pytest.approx(clean_result["loss"], rel=1e-5)
    assert last["clean_accuracy"] == pytest.approx(clean_result["accuracy"])
    assert last["gap"] == pytest.approx(last["clean_accuracy"] - last["val_accuracy"])


def test_best_weights_skip_a_nan_score_and_restore_nothing_before_a_scored_epoch():
    x, y = one_hot_data(16, seed=0)
    model = tiny_classifier()
    best = BestWeights()
    best.set_model(model)
    assert best.restore() is False  # no epoch yet: the weights are left as they are
    scores = Scores([0.4, math.nan, 0.3])
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[scores, best])
    assert best.best == 0.4
    assert best.restore() is True
    for restored, epoch_0 in zip(model.get_weights(), scores.snapshots[0], strict=True):
        np.testing.assert_array_equal(restored, epoch_0)


def test_a_resumed_run_without_saved_best_weights_takes_its_next_epoch_as_best():
    # Epochs done before, but no weights of them in the checkpoint: their score cannot be
    # restored, so it must not block the next epochs.
    model = tiny_classifier()
    best = BestWeights(done=[{"val_accuracy": 0.9}], weights=None)
    best.set_model(model)
    best.on_epoch_end(1, {"val_accuracy": 0.5})
    assert best.best == 0.5 and best.weights is not None
    kept = BestWeights(done=[{"val_accuracy": 0.9}], weights=model.get_weights())
    kept.set_model(model)
    kept.on_epoch_end(1, {"val_accuracy": 0.5})
    assert kept.best == 0.9


def test_the_epoch_logger_hands_over_each_epoch_as_floats_after_the_earlier_epochs():
    x, y = one_hot_data(16, seed=0)
    model = tiny_classifier()
    logged = []
    logger = EpochLogger(lambda metrics, epoch: logged.append((epoch, metrics)),
                         done=[{"loss": 9.0, "accuracy": 0.1}])  # fmt: skip
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert [epoch for epoch, _ in logged] == [0, 1]
    assert all(type(v) is float for _, metrics in logged for v in metrics.values())
    assert set(logged[0][1]) == {"loss", "accuracy"}
    assert logger.history["loss"] == [9.0, logged[0][1]["loss"], logged[1][1]["loss"]]
    assert len(logger.history["accuracy"]) == 3


@pytest.mark.parametrize("loss,shown", [(math.nan, "NaN"), (math.inf, "inf"), (-math.inf, "-inf")])
def test_a_loss_that_is_not_finite_stops_the_run_naming_the_epoch(loss, shown):
    with pytest.raises(TrainingDiverged) as error:
        check_diverged({"loss": [2.3, 1.9, loss]})
    assert error.value.epoch == 2
    assert error.value.tag == f"diverged: loss is {shown} at epoch 2"
    assert "lower trainer.learning_rate" in str(error.value)


@pytest.mark.parametrize("history", [{}, {"loss": []}, {"loss": [math.nan, 0.5]}])
def test_a_finite_last_loss_or_no_loss_is_no_divergence(history):
    check_diverged(history)  # only the last epoch counts: an earlier NaN was followed


def epoch_lines(epochs: int, done: int = 0, every_s: float = 0.0) -> list[str]:
    """What :class:`EpochProgress` prints over a whole (real-time) fit of ``epochs``."""
    lines: list[str] = []
    progress = EpochProgress("job 2/6 flip,seed=1", epochs, done, every_s, write=lines.append)
    progress.on_train_begin()
    for epoch in range(done, epochs):
        progress.on_epoch_begin(epoch)
        progress.on_epoch_end(epoch, {"loss": 0.912, "val_accuracy": 0.64, "gap": -0.121})
    return lines


def test_progress_says_every_epoch_with_its_eta():
    lines = epoch_lines(4)
    assert [line.split("  ")[0] for line in lines] == [
        f"job 2/6 flip,seed=1: epoch {k}/4" for k in range(1, 5)
    ]
    assert "loss 0.91  val 0.64  gap -0.12" in lines[0]
    assert all(" s/epoch  ETA " in line for line in lines)
    assert lines[-1].endswith("ETA 0 s")
    assert " ETA at most " in lines[0]  # the first epoch compiles too: an upper bound


def test_progress_of_short_epochs_says_the_first_and_the_last():
    shown = [line.split(": ")[1].split("  ")[0] for line in epoch_lines(20, every_s=3600)]
    assert shown == ["epoch 1/20", "epoch 20/20"]


def test_a_resumed_run_says_where_it_goes_on():
    lines = epoch_lines(5, done=3)
    assert "goes on from epoch 4/5 (3 done before)" in lines[0]
    assert lines[1].startswith("job 2/6 flip,seed=1: epoch 4/5")


def test_a_hopeless_trial_stops_after_its_epoch_but_never_counts_pruned_at_its_last():
    reported = []
    stop = StopWhenHopeless(lambda epoch, logs: reported.append(epoch) or True)
    stop.set_params({"epochs": 3})
    stop.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    stop.model.stop_training = False  # as fit sets it
    stop.on_epoch_end(2, {})  # the last epoch: nothing left to save
    assert stop.pruned_at is None and not stop.model.stop_training
    stop.on_epoch_end(1, {})
    assert stop.pruned_at == 2 and stop.model.stop_training
    assert reported == [2, 1]  # every epoch reported to the study
