"""Benchmarks, measured side by side in one run, printed as ratios.

Overhead: ``python train.py`` (Hydra, MLflow on SQLite, clean-train evaluation, plots,
model logging) vs ``scripts/bare_keras.py`` (the same model on the same data in plain
Keras), both timed from process start to exit, alternating, median of ``--repeats``.

    python scripts/bench.py [--epochs 20] [--repeats 3]
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--train-samples",
        type=int,
        nargs="+",
        default=[100, -1],
        help="digits training-set sizes to measure (-1: all 1,257)",
    )
    args = parser.parse_args()

    print(
        f"## Overhead: python train.py vs bare Keras, digits, {args.epochs} epochs, "
        f"median of {args.repeats}, from process start"
    )
    print("| train_samples | augsweep (s) | bare Keras (s) | ratio (target <= 1.15) |")
    print("|---|---|---|---|")
    for samples in args.train_samples:
        r = overhead(args.epochs, samples, args.repeats)
        print(
            f"| {samples} | {r['augsweep_s']:.2f} | {r['bare_keras_s']:.2f} | {r['ratio']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
