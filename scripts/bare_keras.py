"""The baseline of scripts/bench.py: the same model on the same data, in plain Keras.

No Hydra, no MLflow, no clean-train evaluation, no plots: just load, build, compile, fit.
"""

import argparse

import keras

from augsweep.data.digits import load_digits
from augsweep.data.pipeline import batches
from augsweep.models import small_cnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-samples", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    splits = load_digits(train_samples=args.train_samples, seed=args.seed)
    model = small_cnn(input_shape=splits.image_shape, num_classes=splits.num_classes)
    steps = args.epochs * -(-splits.num_train // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(
        batches(splits.train, args.batch_size, splits.num_classes, shuffle_seed=args.seed),
        validation_data=batches(splits.val, 256, splits.num_classes),
        epochs=args.epochs,
        verbose=0,
    )


if __name__ == "__main__":
    main()
