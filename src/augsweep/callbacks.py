"""Keras callbacks of a run: validation, honest training accuracy, best weights, per-epoch
logging, divergence."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping

import keras
import numpy as np

from augsweep.console import duration
from augsweep.errors import DIVERGED_PREFIX, InputError

# At most one epoch line every this many seconds (the first and last epochs always have one).
PROGRESS_EVERY_S = float(os.environ.get("AUGSWEEP_PROGRESS_EVERY_S", "3"))


class Validation(keras.callbacks.Callback):
    """After each epoch, add ``val_loss`` and ``val_accuracy`` to the epoch's logs.

    In place of ``fit``'s ``validation_data`` (the same numbers), so that an evaluator on
    cached backbone features can do it. Place it before every callback that reads them.

    Args:
        evaluator: Has ``evaluate(part) -> {"loss", "accuracy"}`` (``augsweep.evaluation``).
    """

    part, prefix = "val", "val"

    def __init__(self, evaluator):
        super().__init__()
        self.evaluator = evaluator

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        result = self.evaluator.evaluate(self.part)
        logs[f"{self.prefix}_loss"] = result["loss"]
        logs[f"{self.prefix}_accuracy"] = result["accuracy"]


class CleanEvaluation(Validation):
    """After each epoch, evaluate training images without augmentation.

    Keras's ``accuracy`` during ``fit`` is measured on augmented (or mixed) batches while
    the weights change, so it is no honest training accuracy. This callback adds to the
    epoch's logs ``clean_loss`` and ``clean_accuracy`` (the same training images in
    inference mode, where augmentation layers are off) and ``gap`` =
    ``clean_accuracy - val_accuracy``, the overfitting gap. Place it after
    :class:`Validation`.

    Args:
        evaluator: Has ``evaluate(part) -> {"loss", "accuracy"}`` (``augsweep.evaluation``);
            evaluates split ``clean_train``.
    """

    part, prefix = "clean_train", "clean"

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if logs is not None and "val_accuracy" in logs:
            logs["gap"] = logs["clean_accuracy"] - float(logs["val_accuracy"])


class BestWeights(keras.callbacks.Callback):
    """Keep the model's weights of the epoch with the highest ``val_accuracy`` (the first of
    equals, as the ``best_epoch`` metric), to evaluate them on the test split at the end.

    Written by hand rather than with ``keras.callbacks.EarlyStopping(restore_best_weights=
    True)``, which (Keras 3.15) forgets its best weights and value at every ``fit`` start
    (a resumed run would lose the best epoch before the kill), or ``ModelCheckpoint(
    save_best_only=True)``, whose file is written apart from the run's checkpoint (a kill
    between the two leaves them out of step). Here the best weights travel in the run's
    checkpoint (:class:`augsweep.checkpoint.EpochCheckpoint` saves :attr:`weights`).

    Args:
        done: The logs of the epochs completed before (a resumed run).
        weights: The best weights among those epochs, from the checkpoint; None if none.
    """

    monitor = "val_accuracy"

    def __init__(self, done: Iterable[Mapping] = (), weights: list[np.ndarray] | None = None):
        super().__init__()
        scores = [float(logs.get(self.monitor, -math.inf)) for logs in done]
        self.weights = weights
        self.best = max(scores) if scores and weights is not None else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = float((logs or {}).get(self.monitor, math.nan))
        if value > self.best:  # False for NaN
            self.best = value
            self.weights = [np.array(w) for w in self.model.get_weights()]

    def restore(self) -> bool:
        """Set the model's weights to the best epoch's; False if no epoch was scored."""
        if self.weights is None:
            return False
        self.model.set_weights(self.weights)
        return True


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


class EpochProgress(keras.callbacks.Callback):
    """Say how training goes, one line per epoch (at most one every ``every_s`` seconds
    when epochs are short): ``job 5/6 flip_rot_zoom,seed=1: epoch 7/15  loss 0.91  val
    0.64  gap 0.12  4.3 s/epoch  ETA 34 s``. A resumed run says from which epoch it goes on.

    It reads the epoch's logs and prints; it changes nothing of the training. Place it after
    the callbacks that add ``val_accuracy`` and ``gap``.

    Args:
        label: Names the job (``job 5/6 flip,seed=1``, ``run flip``): lines of parallel jobs
            stay readable.
        epochs: The run's epochs in all.
        done: Epochs completed before (a resumed run).
        every_s: The least time between two lines.
        write: Where a line goes (default: printed, flushed).
    """

    def __init__(self, label: str, epochs: int, done: int = 0, every_s: float = PROGRESS_EVERY_S,
                 write: Callable[[str], None] | None = None):  # fmt: skip
        super().__init__()
        self.label, self.epochs, self.done, self.every_s = label, epochs, done, every_s
        self.write = write or (lambda line: print(line, flush=True))
        self.times: list[float] = []
        self.last_line = -math.inf
        self.began = 0.0

    def on_train_begin(self, logs=None):
        if self.done:
            self.write(f"{self.label}: resumed from its checkpoint, goes on from epoch "
                       f"{self.done + 1}/{self.epochs} ({self.done} done before)")  # fmt: skip

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        self.times.append(now - self.began)
        first, last = len(self.times) == 1, epoch + 1 >= self.epochs
        if first or last or now - self.last_line >= self.every_s:
            self.last_line = now
            self.write(f"{self.label}: {self.line(epoch, logs or {})}")

    def seconds_per_epoch(self) -> float:
        """The mean epoch's time; the first epoch (tracing, compiling) left out once there
        are others."""
        times = self.times[1:] or self.times
        return sum(times) / len(times)

    def line(self, epoch: int, logs: Mapping) -> str:
        """``epoch 7/15  loss 0.91  val 0.64  gap 0.12  4.3 s/epoch  ETA 34 s`` (after the
        first epoch: ``ETA at most ...``)."""
        shown = [f"epoch {epoch + 1}/{self.epochs}"]
        for key, name in (("loss", "loss"), ("val_accuracy", "val"), ("gap", "gap")):
            if key in logs:
                shown.append(f"{name} {float(logs[key]):.2f}")
        per_epoch = self.seconds_per_epoch()
        shown.append(f"{per_epoch:.1f} s/epoch")
        left = per_epoch * (self.epochs - epoch - 1)
        # The first epoch also traces and compiles: an ETA from it alone is an upper bound.
        bound = "at most " if len(self.times) == 1 and left else ""
        shown.append(f"ETA {bound}{duration(left)}")
        return "  ".join(shown)


class StopWhenHopeless(keras.callbacks.Callback):
    """Report each epoch to a search's trial and stop training when its pruner says so.

    Place it last (the epoch is logged before it may stop).

    Args:
        report: Called as ``report(epoch, logs)``; True when the trial should stop.

    Attributes:
        pruned_at: The epoch (1-based) after which training stopped, or None. Never the
            last epoch: a trial that ran all its epochs saved nothing, it is complete.
    """

    def __init__(self, report: Callable[[int, Mapping[str, float]], bool]):
        super().__init__()
        self.report = report
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        hopeless = self.report(epoch, logs or {})  # every epoch reported, the last one too
        last = epoch + 1 >= self.params.get("epochs", math.inf)
        if self.pruned_at is None and hopeless and not last:
            self.pruned_at = epoch + 1
            self.model.stop_training = True


class TrainingDiverged(InputError, ArithmeticError):
    """The loss became NaN or infinite: the run stops at once and ends FAILED.

    Its ``tag`` (the run's ``error`` tag) reads ``diverged: loss is NaN at epoch 3``.

    Args:
        epoch: The 0-based epoch in which the loss stopped being finite.
        loss: That loss value.
    """

    def __init__(self, epoch: int, loss: float):
        self.epoch = epoch
        shown = "NaN" if math.isnan(loss) else ("inf" if loss > 0 else "-inf")
        self.tag = f"{DIVERGED_PREFIX} loss is {shown} at epoch {epoch}"
        super().__init__(
            f"{self.tag}; lower trainer.learning_rate (now the run's metrics stop there)"
        )


def check_diverged(history: Mapping[str, list[float]]) -> None:
    """Raise :class:`TrainingDiverged` if the last epoch's loss is not finite.

    ``keras.callbacks.TerminateOnNaN`` stops ``fit`` at the first such batch; the epoch's
    logs then hold the NaN loss.
    """
    losses = history.get("loss") or []
    if losses and not math.isfinite(losses[-1]):
        raise TrainingDiverged(len(losses) - 1, losses[-1])
