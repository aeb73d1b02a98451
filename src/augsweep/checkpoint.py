"""Per-epoch checkpoints, so that a killed run resumes from its last completed epoch.

Written by hand rather than with ``keras.callbacks.BackupAndRestore``, which (Keras 3.15)
saves neither the random layers' seed-generator states (so a resumed run would draw other
augmentations and dropout masks than an uninterrupted one) nor the epoch logs that were
not yet sent to MLflow, writes the weights and the epoch number as two files without
making the pair atomic, and resumes through a private model attribute.

A checkpoint folder holds, after epoch ``k`` (0-based):

- ``epoch-<k+1>.npz``: every variable of the model, its optimizer (slots and step count)
  and the input pipeline's random layers, by position; and the model's weights of the best
  validation epoch so far (``best/<i>``), tested at the end of the run;
- ``state.json``: the run id, the number of epochs done, and every epoch's logs; replaced
  atomically once the ``.npz`` is complete, so a kill at any moment leaves the previous
  checkpoint whole.

The callback runs before the one that logs the epoch to MLflow: an epoch is in MLflow only
once it is in the checkpoint, and a resumed run sends MLflow the epochs it lacks.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import keras
import numpy as np

from augsweep.errors import DiskFull, no_space

STATE_FILE = "state.json"
BEST_PREFIX = "best/"  # the best epoch's weights in the .npz (variables are "<i>/<j>")


class Checkpoint:
    """The checkpoint folder of one run.

    Args:
        directory: The folder (one per run key); created when first written.
        run_id: The MLflow run it belongs to; a folder of another run is not restored.
    """

    def __init__(self, directory: Path, run_id: str):
        self.directory = Path(directory)
        self.run_id = run_id

    def state(self) -> dict | None:
        """The saved state of this run (``epochs``, ``logs``, ``variables`` file), if any."""
        path = self.directory / STATE_FILE
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        return state if state.get("run_id") == self.run_id else None

    def save(
        self,
        objects: Sequence,
        logs: list[dict[str, float]],
        best: Sequence[np.ndarray] | None = None,
    ) -> None:
        """Save the variables of ``objects`` after ``len(logs)`` epochs, then the state.

        Args:
            objects: The model, its optimizer, the pipeline's random layers.
            logs: Every epoch's logs so far.
            best: The model's weights of the best validation epoch so far, if any.

        Raises:
            augsweep.errors.DiskFull: The disk is full (the previous checkpoint stands).
        """
        name = f"epoch-{len(logs):04d}.npz"
        best_arrays = {f"{BEST_PREFIX}{i}": np.asarray(w) for i, w in enumerate(best or [])}
        state = {"run_id": self.run_id, "epochs": len(logs), "logs": logs, "variables": name}
        temporary = self.directory / f"{STATE_FILE}.tmp"
        path = self.directory / name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            np.savez(path, **_by_position(objects), **best_arrays)
            path = temporary
            temporary.write_text(json.dumps(state))
        except OSError as error:
            if not no_space(error):
                raise
            for partial in (self.directory / name, temporary):  # their room back
                partial.unlink(missing_ok=True)
            raise DiskFull(path) from error  # the previous checkpoint stands
        os.replace(temporary, self.directory / STATE_FILE)
        for old in self.directory.glob("epoch-*.npz"):
            if old.name != name:
                old.unlink()

    def restore(self, objects: Sequence) -> list[dict[str, float]]:
        """Load the saved variables into ``objects``; return the logs of the epochs done.

        Returns:
            The logs of the completed epochs (empty when there is no checkpoint of this run).

        Raises:
            ValueError: If the checkpoint holds variables the objects do not have (another
                model).
        """
        state = self.state()
        if state is None:
            return []
        with np.load(self.directory / state["variables"]) as saved:
            variables = _variables(objects)
            keys = [key for key in saved.files if not key.startswith(BEST_PREFIX)]
            if sorted(keys) != sorted(variables) or any(
                saved[key].shape != tuple(variables[key].shape) for key in keys
            ):
                raise ValueError(
                    f"checkpoint {self.directory} does not fit this model: its "
                    f"{len(saved.files)} variables are not the model's {len(variables)}"
                )
            for key in keys:
                variables[key].assign(saved[key])
        return list(state["logs"])

    def best_weights(self) -> list[np.ndarray] | None:
        """The model's weights of the best validation epoch saved with the state, if any."""
        state = self.state()
        if state is None:
            return None
        with np.load(self.directory / state["variables"]) as saved:
            count = sum(key.startswith(BEST_PREFIX) for key in saved.files)
            return [saved[f"{BEST_PREFIX}{i}"] for i in range(count)] or None

    def remove(self) -> None:
        """Delete the folder (the run finished: nothing left to resume)."""
        shutil.rmtree(self.directory, ignore_errors=True)

    def size_bytes(self) -> int:
        """Disk space the folder takes now."""
        if not self.directory.exists():
            return 0
        return sum(f.stat().st_size for f in self.directory.iterdir() if f.is_file())


class EpochCheckpoint(keras.callbacks.Callback):
    """Save a :class:`Checkpoint` at the end of every epoch.

    Place it after the callbacks that add metrics to the logs and before the one that
    logs them to MLflow.

    Args:
        checkpoint: Where to save.
        extra: Objects whose variables are saved too (the input pipeline's random layers).
        done: The logs of the epochs completed before this ``fit`` (a resumed run).
        best: Has the best validation epoch's weights as ``best.weights`` (a
            :class:`augsweep.callbacks.BestWeights`, placed before this callback); saved too.
    """

    def __init__(
        self, checkpoint: Checkpoint, extra: Sequence = (), done: Iterable = (), best=None
    ):
        super().__init__()
        self.checkpoint = checkpoint
        self.extra = list(extra)
        self.logs = list(done)
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append({k: float(v) for k, v in (logs or {}).items()})
        best = self.best.weights if self.best is not None else None
        self.checkpoint.save(state_objects(self.model, self.extra), self.logs, best)


def state_objects(model: keras.Model, extra: Sequence = ()) -> list:
    """What a checkpoint holds: the model, its optimizer (built, so its slots exist) and
    ``extra`` objects with variables."""
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    return [model, *([optimizer] if optimizer is not None else []), *extra]


def _variables(objects: Sequence) -> dict[str, keras.Variable]:
    """Every variable of ``objects`` by position (``<object>/<variable>``): Keras numbers
    layer names per session (``dense_1``), so paths differ between two builds of one model,
    while the order of its variables does not."""
    return {
        f"{index}/{position}": variable
        for index, obj in enumerate(objects)
        for position, variable in enumerate(obj.variables)
    }


def _by_position(objects: Sequence) -> dict[str, np.ndarray]:
    return {key: np.asarray(v.numpy()) for key, v in _variables(objects).items()}
