"""The baseline of scripts/bench.py: the same model on the same data, in plain Keras.

No Hydra, no MLflow, no clean-train evaluation, no checkpoints, no plots: just load, build,
compile, fit. ``--augment none flip flip_rot_zoom`` trains one model per policy, one after
the other in this process (as a sweep's jobs run in the basic launcher's one process), with
the layers of ``conf/augment/<policy>.yaml`` (their default values) in front of the model.
"""

import argparse

import keras

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


def train_once(splits, policy: str, epochs: int, batch_size: int, seed: int) -> None:
    """One training, as ``python train.py augment=<policy>`` does it (without the framework)."""
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
    model.fit(
        batches(splits.train, batch_size, splits.num_classes, shuffle_seed=seed),
        validation_data=batches(splits.val, 256, splits.num_classes),
        epochs=epochs,
        verbose=0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-samples", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--augment", nargs="+", default=["none"], help="policies, one training each, in order"
    )
    args = parser.parse_args()

    splits = load_digits(train_samples=args.train_samples, seed=args.seed)
    for policy in args.augment:
        train_once(splits, policy, args.epochs, args.batch_size, args.seed)


if __name__ == "__main__":
    main()
