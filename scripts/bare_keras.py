"""The baseline of scripts/bench.py: the same model on the same data, in plain Keras.

No Hydra, no MLflow, no clean-train evaluation, no checkpoints, no plots: just load, build,
compile, fit. ``--augment none flip flip_rot_zoom`` trains one model per policy, one after
the other in this process (as a sweep's jobs run in the basic launcher's one process), with
the layers of ``conf/augment/<policy>.yaml`` (their default values) in front of the model.

``--same-work`` adds, still in plain Keras, the per-epoch work a run does on top of
training: the clean-train evaluation, a checkpoint of the model and optimizer (``.npz``),
and the test split evaluated once at the end. ``scripts/bench.py`` times both: what is left
between this and ``train.py`` is the framework's own cost (Hydra, MLflow, files, the model).
"""

import argparse
import tempfile
from pathlib import Path

import keras
import numpy as np

from augsweep.data.digits import load_digits
from augsweep.data.pipeline import batches
from augsweep.models import small_cnn


def augmentation(policy: str, seed: int) -> list[keras.layers.Layer]:
    """The in-model layers of ``conf/augment/<policy>.yaml`` with its default values."""
    flip = keras.layers.RandomFlip("horizontal", seed=seed)
    if policy == "none":
        return []
    if policy == "flip":
        return [flip]
    if policy == "flip_rot_zoom":
        return [
            flip,
            keras.layers.RandomRotation(0.1, fill_mode="constant", seed=seed + 1),
            keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 2),
        ]
    raise ValueError(f"--augment {policy!r}: use none, flip or flip_rot_zoom")


class SameWork(keras.callbacks.Callback):
    """After each epoch, what a run does beside training: evaluate the clean-train images and
    save the model's and optimizer's variables.

    Args:
        clean: The clean-train batches.
        directory: Where the checkpoint file is written (overwritten each epoch).
    """

    def __init__(self, clean, directory: Path):
        super().__init__()
        self.clean = clean
        self.path = directory / "checkpoint.npz"

    def on_epoch_end(self, epoch, logs=None):
        self.model.evaluate(self.clean, verbose=0)
        variables = [*self.model.variables, *self.model.optimizer.variables]
        np.savez(self.path, *[np.asarray(v.numpy()) for v in variables])


def train_once(
    splits, policy: str, epochs: int, batch_size: int, seed: int, same_work: bool = False
) -> None:
    """One training, as ``python train.py augment=<policy>`` does it (without the framework).

    With ``same_work``, also the clean-train evaluation and a checkpoint at each epoch, and
    the test split at the end (:class:`SameWork`)."""
    keras.utils.clear_session()
    keras.utils.set_random_seed(seed)
    body = small_cnn(input_shape=splits.image_shape, num_classes=splits.num_classes)
    inputs = keras.Input(shape=splits.image_shape)
    block = augmentation(policy, seed) or [keras.layers.Identity()]  # Sequential needs a layer
    outputs = body(keras.Sequential(block)(inputs))
    model = keras.Model(inputs, outputs)
    steps = epochs * -(-splits.num_train // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        # Built only with same_work: the plain baseline does nothing a bare script would not.
        clean = batches(splits.clean_train, 256, splits.num_classes) if same_work else None
        model.fit(
            batches(splits.train, batch_size, splits.num_classes, shuffle_seed=seed),
            validation_data=batches(splits.val, 256, splits.num_classes),
            epochs=epochs,
            verbose=0,
            callbacks=[SameWork(clean, Path(tmp))] if same_work else [],
        )
    if same_work:
        model.evaluate(batches(splits.test, 256, splits.num_classes), verbose=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-samples", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--augment", nargs="+", default=["none"], help="policies, one training each, in order"
    )
    parser.add_argument(
        "--same-work",
        action="store_true",
        help="also a run's per-epoch clean-train evaluation and checkpoint, and the test split",
    )
    args = parser.parse_args()

    splits = load_digits(train_samples=args.train_samples, seed=args.seed)
    for policy in args.augment:
        train_once(splits, policy, args.epochs, args.batch_size, args.seed, args.same_work)


if __name__ == "__main__":
    main()
