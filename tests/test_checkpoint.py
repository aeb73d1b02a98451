"""Per-epoch checkpoints: the whole training state back, only for the run that wrote it."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from augsweep.callbacks import BestWeights
from augsweep.checkpoint import Checkpoint, EpochCheckpoint, state_objects
from augsweep.compute import precision


def tiny_model(seed: int = 0, mixed: bool = False) -> keras.Model:
    keras.utils.set_random_seed(seed)
    with precision(mixed):  # mixed: float16 compute, compile wraps Adam in loss scaling
        inputs = keras.Input((4, 4, 1))
        x = keras.layers.RandomFlip(seed=3)(inputs)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dropout(0.5, seed=4)(x)
        model = keras.Model(inputs, keras.layers.Dense(2, dtype="float32")(x))
        model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


def data():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (8, 4, 4, 1)).astype("float32"), rng.uniform(0, 1, (8, 2))


def values(objects) -> list[np.ndarray]:
    return [np.asarray(v.numpy()) for obj in objects for v in obj.variables]


@pytest.mark.parametrize("mixed", [False, True], ids=["float32", "mixed_precision"])
def test_restore_brings_back_weights_optimizer_and_seed_states(tmp_path, mixed):
    x, y = data()
    trained = tiny_model(mixed=mixed)
    assert isinstance(trained.optimizer, keras.optimizers.LossScaleOptimizer) == mixed
    checkpoint = Checkpoint(tmp_path / "ckpt", "run-1")
    trained.fit(x, y, epochs=2, verbose=0,
                callbacks=[EpochCheckpoint(checkpoint, done=[{"loss": 9.0}])])  # fmt: skip
    saved = values(state_objects(trained))
    assert any("seed_generator_state" in v.path for v in trained.variables)

    fresh = tiny_model(seed=1, mixed=mixed)
    logs = Checkpoint(tmp_path / "ckpt", "run-1").restore(state_objects(fresh))
    assert [set(entry) for entry in logs] == [{"loss"}] * 3 and logs[0] == {"loss": 9.0}
    for before, after in zip(saved, values(state_objects(fresh)), strict=True):
        np.testing.assert_array_equal(before, after)
    assert int(fresh.optimizer.iterations.numpy()) == int(trained.optimizer.iterations.numpy())
    # The same state trains on identically: weights, Adam's moments, the random layers.
    trained.fit(x, y, epochs=1, verbose=0, shuffle=False)
    fresh.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(trained.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_one_file_per_checkpoint_and_the_state_names_the_run(tmp_path):
    x, y = data()
    model = tiny_model()
    checkpoint = Checkpoint(tmp_path / "ckpt", "run-1")
    model.fit(x, y, epochs=3, verbose=0, callbacks=[EpochCheckpoint(checkpoint)])
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["epoch-0003.npz", "state.json"]
    state = json.loads((tmp_path / "ckpt" / "state.json").read_text())
    assert (state["run_id"], state["epochs"], len(state["logs"])) == ("run-1", 3, 3)
    assert checkpoint.size_bytes() > 0
    checkpoint.remove()
    assert not (tmp_path / "ckpt").exists()


def test_a_checkpoint_of_another_run_is_not_restored(tmp_path):
    x, y = data()
    model = tiny_model()
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[EpochCheckpoint(Checkpoint(tmp_path / "ckpt", "run-1"))])  # fmt: skip
    fresh = tiny_model(seed=1)
    before = values(state_objects(fresh))
    assert Checkpoint(tmp_path / "ckpt", "run-2").restore(state_objects(fresh)) == []
    for a, b in zip(before, values(state_objects(fresh)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    x, y = data()
    model = tiny_model()
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[EpochCheckpoint(Checkpoint(tmp_path / "ckpt", "run-1"))])  # fmt: skip
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    other.compile("adam", "mse")
    with pytest.raises(ValueError, match="does not fit this model"):
        Checkpoint(tmp_path / "ckpt", "run-1").restore(state_objects(other))


def test_the_best_validation_epoch_is_kept_and_survives_in_the_checkpoint(tmp_path):
    x, y = data()
    model = tiny_model()
    scores = iter([0.5, 0.9, 0.9, 0.7])  # epoch 1 is the best: the first of equals
    snapshots = []

    class Scored(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_accuracy"] = next(scores)
            snapshots.append(self.model.get_weights())

    best = BestWeights()
    checkpoint = Checkpoint(tmp_path / "ckpt", "run-1")
    callbacks = [Scored(), best, EpochCheckpoint(checkpoint, best=best)]
    model.fit(x, y, epochs=4, verbose=0, callbacks=callbacks)
    assert not np.array_equal(snapshots[1][-1], snapshots[3][-1])  # it trained on
    for kept, epoch_1 in zip(best.weights, snapshots[1], strict=True):
        np.testing.assert_array_equal(kept, epoch_1)

    # A resumed run (another process) gets them back from the checkpoint, and its later
    # epochs must beat 0.9 to replace them.
    fresh = tiny_model(seed=1)
    reopened = Checkpoint(tmp_path / "ckpt", "run-1")
    done = reopened.restore(state_objects(fresh))  # the best weights are no variables
    resumed = BestWeights(done, reopened.best_weights())
    resumed.set_model(fresh)
    resumed.on_epoch_end(4, {"val_accuracy": 0.85})
    assert resumed.best == 0.9 and resumed.restore()
    for restored, epoch_1 in zip(fresh.get_weights(), snapshots[1], strict=True):
        np.testing.assert_array_equal(restored, epoch_1)
