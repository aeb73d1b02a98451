"""Benchmarks, measured side by side in one run, printed as ratios.

Overhead: ``python train.py`` (Hydra, MLflow on SQLite, clean-train evaluation, plots,
model logging) vs ``scripts/bare_keras.py`` (the same model on the same data in plain
Keras), both timed from process start to exit, alternating, median of ``--repeats``.

Data: images per second through the input pipeline of a run (decode, resize, cache,
shuffle, batch, prefetch) vs through the training step of the reference study's model, on
a folder of photos (default ``../shared/data/flower_photos``). The pipeline must not be the
bottleneck: after the first epoch it should deliver at least 3x what training consumes.

    python scripts/bench.py [--section all|overhead|data] [--epochs 20] [--repeats 3]
        [--data-path DIR] [--image-size 128]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def overhead(epochs: int, train_samples: int, repeats: int) -> dict[str, float]:
    """Median wall seconds of augsweep vs bare Keras, and their ratio."""
    framework, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            framework.append(timed([
                sys.executable, "train.py", f"trainer.epochs={epochs}",
                f"dataset.train_samples={train_samples}",
                f"tracking.uri=sqlite:///{tmp}/mlflow.db", f"hydra.run.dir={tmp}/run{i}",
            ]))  # fmt: skip
            bare.append(timed([
                sys.executable, "scripts/bare_keras.py", f"--epochs={epochs}",
                f"--train-samples={train_samples}",
            ]))  # fmt: skip
    f, b = statistics.median(framework), statistics.median(bare)
    return {"augsweep_s": f, "bare_keras_s": b, "ratio": f / b}


def pipeline_rate(examples, batch_size: int, num_classes: int, cache: bool) -> list[float]:
    """Images per second of two passes through :func:`augsweep.data.batches`."""
    from augsweep.data import batches

    pipeline = batches(examples, batch_size, num_classes, shuffle_seed=0, cache=cache)
    rates = []
    for _ in range(2):
        start, count = time.perf_counter(), 0
        for images, _ in pipeline:
            count += int(images.shape[0])
        rates.append(count / (time.perf_counter() - start))
    return rates


def training_rate(cfg, splits, steps: int) -> float:
    """Images per second of ``fit`` on one batch held in memory (no input pipeline)."""
    import keras
    import tensorflow as tf

    from augsweep.augment import build_layers
    from augsweep.data import batches
    from augsweep.models import build_classifier

    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    model = build_classifier(
        cfg.model,
        build_layers(cfg.augment.layers, 0),
        input_shape=splits.image_shape,
        num_classes=splits.num_classes,
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    batch = next(iter(batches(splits.train, cfg.trainer.batch_size, splits.num_classes)))
    data = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(data, steps_per_epoch=5, epochs=1, verbose=0, shuffle=False)  # build, trace
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps * int(batch[0].shape[0]) / (time.perf_counter() - start)


def data_section(data_path: Path, image_size: int, steps: int) -> None:
    """Print the input pipeline's throughput next to the training step's."""
    from hydra import compose, initialize_config_dir

    import augsweep.config  # noqa: F401  (registers the schemas)
    from augsweep.builders import build

    overrides = [
        "experiment=flowers_overfitting", "dataset=folder", f"dataset.path={data_path}",
        f"dataset.image_size={image_size}",
    ]  # fmt: skip
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
        policies = {
            name: compose("config", overrides=[*overrides, f"augment={name}"])
            for name in ("none", "flip_rot_zoom")
        }
    splits = build(cfg.dataset, seed=0, clean_samples=None)
    batch_size = cfg.trainer.batch_size
    cold, cached = pipeline_rate(splits.train, batch_size, splits.num_classes, cache=True)
    uncached = pipeline_rate(splits.train, batch_size, splits.num_classes, cache=False)[1]
    steps_rates = {name: training_rate(c, splits, steps) for name, c in policies.items()}
    print(
        f"\n## Data: input pipeline vs training step, {data_path.name} "
        f"({splits.num_train} training images) at {image_size} px, batch {batch_size}, "
        f"{cfg.model.name}"
    )
    print("| stage | images/s |\n|---|---|")
    print(f"| pipeline, 1st epoch (read, decode, resize, fill the cache) | {cold:,.0f} |")
    print(f"| pipeline, later epochs (from the in-memory cache) | {cached:,.0f} |")
    print(f"| pipeline, dataset.cache=false (decode every epoch) | {uncached:,.0f} |")
    for name, rate in steps_rates.items():
        print(f"| training step, augment={name} | {rate:,.0f} |")
    slowest_need = max(steps_rates.values())
    print(
        f"\nratio pipeline (after the 1st epoch) / fastest training step: "
        f"{cached / slowest_need:,.1f} (target >= 3); without the cache: "
        f"{uncached / slowest_need:,.1f}",
        flush=True,
    )


def overhead_section(epochs: int, repeats: int, train_samples: list[int]) -> None:
    """Print augsweep's wall time against bare Keras for each training-set size."""
    print(
        f"## Overhead: python train.py vs bare Keras, digits, {epochs} epochs, "
        f"median of {repeats}, from process start"
    )
    print("| train_samples | augsweep (s) | bare Keras (s) | ratio (target <= 1.15) |")
    print("|---|---|---|---|")
    for samples in train_samples:
        r = overhead(epochs, samples, repeats)
        print(
            f"| {samples} | {r['augsweep_s']:.2f} | {r['bare_keras_s']:.2f} | {r['ratio']:.3f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--section", choices=("all", "overhead", "data"), default="all")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--train-samples",
        type=int,
        nargs="+",
        default=[100, -1],
        help="digits training-set sizes to measure (-1: all 1,257)",
    )
    parser.add_argument(
        "--data-path",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "flower_photos",
        help="photo folder of the data section (default: %(default)s)",
    )
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument(
        "--train-steps", type=int, default=60, help="training steps timed per policy"
    )
    args = parser.parse_args()
    missing = f"--data-path {args.data_path}: no such directory (a folder of class folders)"
    if args.section == "data" and not args.data_path.is_dir():
        parser.error(missing)

    if args.section in ("all", "overhead"):
        overhead_section(args.epochs, args.repeats, args.train_samples)
    if args.section in ("all", "data"):
        if args.data_path.is_dir():
            data_section(args.data_path.resolve(), args.image_size, args.train_steps)
        else:
            print(f"\n## Data: skipped, {missing}")


if __name__ == "__main__":
    main()
