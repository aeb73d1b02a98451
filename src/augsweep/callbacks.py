"""Keras callbacks of a run: honest training accuracy, per-epoch logging, divergence."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

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
        done: The logs of epochs completed before (a resumed run), in the history first.
    """

    def __init__(
        self, log: Callable[[Mapping[str, float], int], None], done: Iterable[Mapping] = ()
    ):
        super().__init__()
        self.log = log
        self.history: dict[str, list[float]] = {}
        for logs in done:
            self._keep(logs)

    def on_epoch_end(self, epoch, logs=None):
        self.log(self._keep(logs or {}), epoch)

    def _keep(self, logs: Mapping) -> dict[str, float]:
        metrics = {k: float(v) for k, v in logs.items()}
        for key, value in metrics.items():
            self.history.setdefault(key, []).append(value)
        return metrics


class TrainingDiverged(ArithmeticError):
    """The loss became NaN or infinite: the run stops at once and ends FAILED.

    Its ``error_tag`` (the run's ``error`` tag) reads ``diverged: loss is NaN at epoch 3``.

    Args:
        epoch: The 0-based epoch in which the loss stopped being finite.
        loss: That loss value.
    """

    def __init__(self, epoch: int, loss: float):
        self.epoch = epoch
        shown = "NaN" if math.isnan(loss) else ("inf" if loss > 0 else "-inf")
        self.error_tag = f"diverged: loss is {shown} at epoch {epoch}"
        super().__init__(
            f"{self.error_tag}; lower trainer.learning_rate (now the run's metrics stop there)"
        )


def check_diverged(history: Mapping[str, list[float]]) -> None:
    """Raise :class:`TrainingDiverged` if the last epoch's loss is not finite.

    ``keras.callbacks.TerminateOnNaN`` stops ``fit`` at the first such batch; the epoch's
    logs then hold the NaN loss.
    """
    losses = history.get("loss") or []
    if losses and not math.isfinite(losses[-1]):
        raise TrainingDiverged(len(losses) - 1, losses[-1])
