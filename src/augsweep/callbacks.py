"""Keras callbacks of a run: honest training accuracy, and per-epoch logging."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import keras


class CleanEvaluation(keras.callbacks.Callback):
    """After each epoch, evaluate training images without augmentation.

    Keras's ``accuracy`` during ``fit`` is measured on augmented (or mixed) batches while
    the weights change, so it is no honest training accuracy. This callback adds to the
    epoch's logs ``clean_loss`` and ``clean_accuracy`` (the same training images in
    inference mode, where augmentation layers are off) and ``gap`` =
    ``clean_accuracy - val_accuracy``, the overfitting gap.

    Args:
        clean_batches: Batched training images with one-hot labels, never augmented.
    """

    def __init__(self, clean_batches):
        super().__init__()
        self.clean_batches = clean_batches

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        result = self.model.evaluate(self.clean_batches, verbose=0, return_dict=True)
        logs["clean_loss"] = float(result["loss"])
        logs["clean_accuracy"] = float(result["accuracy"])
        if "val_accuracy" in logs:
            logs["gap"] = logs["clean_accuracy"] - float(logs["val_accuracy"])


class EpochLogger(keras.callbacks.Callback):
    """Keep every epoch's logs and hand them to ``log`` (e.g. MLflow) as they come.

    Place it after the callbacks that add metrics to the logs.

    Args:
        log: Called as ``log(metrics, epoch)`` once per epoch.
    """

    def __init__(self, log: Callable[[Mapping[str, float], int], None]):
        super().__init__()
        self.log = log
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch, logs=None):
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        for key, value in metrics.items():
            self.history.setdefault(key, []).append(value)
        self.log(metrics, epoch)
