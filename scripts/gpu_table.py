"""The GPU table on Keras's JAX backend, TensorFlow-free (``scripts/gpu_check.sh
--keras-backend jax``). Each row is appended to ``--out`` as soon as it is measured, so that
a run cut off still leaves the rows done; the whole table is printed at the end.

Rows: the device; training images/s (compiled, in-memory batches through
:class:`augsweep.data.arrays.ArrayBatches`) of the small CNN at 180 px and a frozen
MobileNetV2 (weights=null) at 224 px, with ``none`` and ``flip_rot_zoom`` in the model, in
float32 and bfloat16; the input path's rate against one batch held in memory; a 4-job sweep
with 1, 2 and 4 jobs on one GPU (``resources.jobs_per_gpu``, joblib's launcher); the
reference study (the photo folder, ``none`` and ``flip_rot_zoom``, 30 epochs, 180 px).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Table:
    """Rows written to ``path`` (and echoed) as they come."""

    def __init__(self, path: Path):
        self.path = path
        self.lines: list[str] = []

    def add(self, *cells) -> None:
        line = "| " + " | ".join(str(c) for c in cells) + " |"
        self.lines.append(line)
        with open(self.path, "a") as file:
            file.write(line + "\n")
        print(line, flush=True)


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import augsweep.config  # noqa: F401  (registers the schemas)

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


def training_rate(cfg, splits, epochs: int, same_batch: bool = False) -> float:
    """Images/s of ``fit`` over ``epochs`` epochs, after one epoch that compiles."""
    import keras
    import numpy as np

    from augsweep.augment.policy import build_policy
    from augsweep.data.arrays import ArrayBatches
    from augsweep.run import compiled_model

    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    policy = build_policy(cfg.augment, 0)
    model, _ = compiled_model(cfg.model, cfg.trainer, splits, policy)
    batch = cfg.trainer.batch_size
    data = ArrayBatches(splits.train, batch, splits.num_classes, shuffle_seed=0,
                        epochs=(0, epochs + 1))  # fmt: skip
    steps = data.steps
    if same_batch:  # the compute limit: one batch, already in memory, every step
        fixed, total = data[0], len(data)

        class Same(keras.utils.PyDataset):
            def __len__(self):
                return total

            def __getitem__(self, index):
                return fixed

        data = Same()
    times = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(data, epochs=epochs + 1, steps_per_epoch=steps, verbose=0, callbacks=[Clock()])
    return splits.num_train * epochs / float(np.sum(times[1:]))


def throughput_rows(table: Table, data: Path, quick: bool) -> None:
    from augsweep.instantiate import build

    epochs = 1 if quick else 3
    models = [("small_cnn", 32 if quick else 180), ("mobilenet_v2", 32 if quick else 224)]
    for model, size in models:
        base = [f"model={model}", "dataset=folder", f"dataset.path={data}",
                f"dataset.image_size={size}", "trainer.keras_backend=jax",
                "trainer.jit_compile=true", "trainer.batch_size=32"]  # fmt: skip
        if model == "mobilenet_v2":
            base += ["model.weights=null"]
        splits = build(compose(*base).dataset, seed=0, clean_samples=None)
        for augment in ("none", "flip_rot_zoom"):
            for precision in ("false", "bfloat16"):
                cfg = compose(*base, f"augment={augment}", f"trainer.mixed_precision={precision}")
                rate = training_rate(cfg, splits, epochs)
                dtype = "float32" if precision == "false" else precision
                table.add(f"train {model} {size} px", augment, dtype, "compiled", f"{rate:,.0f}")
        if model == "small_cnn":
            cfg = compose(*base, "augment=none")
            ratio = training_rate(cfg, splits, epochs) / training_rate(cfg, splits, epochs, True)
            table.add(f"input path {model} {size} px", "none", "float32",
                      "ArrayBatches / one batch in memory", f"{ratio:.2f}")  # fmt: skip


def wall(args: list[str], tmp: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=tmp,
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"gpu_table: train.py {' '.join(args)} failed")
    return time.perf_counter() - start


def sweep_rows(table: Table, data: Path, quick: bool) -> None:
    size, epochs = (32, 1) if quick else (180, 5)
    common = ["trainer.keras_backend=jax", "dataset=folder", f"dataset.path={data}",
              f"dataset.image_size={size}", f"trainer.epochs={epochs}",
              "tracking.log_model=false"]  # fmt: skip
    first = None
    for jobs in (1, 2, 4):
        with tempfile.TemporaryDirectory() as tmp:
            seconds = wall(["-m", *common, "seed=0,1,2,3", "hydra/launcher=joblib",
                            f"hydra.launcher.n_jobs={jobs}", f"resources.jobs_per_gpu={jobs}",
                            f"tracking.uri=sqlite:///{tmp}/mlflow.db",
                            f"hydra.sweep.dir={tmp}/sweep"], Path(tmp))  # fmt: skip
        first = first or seconds
        table.add(f"sweep: 4 jobs small_cnn {size} px, {epochs} epochs", f"{jobs} at a time",
                  "float32", f"{seconds:.0f} s", f"x{first / seconds:.2f} vs 1 job")  # fmt: skip


def study_row(table: Table, data: Path, quick: bool) -> None:
    extra = ["trainer.epochs=2", "dataset.image_size=32"] if quick else []
    with tempfile.TemporaryDirectory() as tmp:
        seconds = wall(["-m", "experiment=flowers_overfitting", "dataset=folder",
                        f"dataset.path={data}", "trainer.keras_backend=jax", *extra,
                        f"tracking.uri=sqlite:///{tmp}/mlflow.db",
                        f"hydra.sweep.dir={tmp}/sweep"], Path(tmp))  # fmt: skip
    table.add("reference study (2 policies, 30 epochs, 180 px)" if not quick else
              "reference study (quick: 2 epochs, 32 px)", "none, flip_rot_zoom", "float32",
              f"{seconds:.0f} s", "target <= 60 s on one H200")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the photo folder")
    parser.add_argument("--out", type=Path, required=True, help="the table's file")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves it works")
    args = parser.parse_args()
    from augsweep.backend import select

    select("jax")
    import jax
    import keras

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("| measure | augment | dtype | setting | value |\n|---|---|---|---|---|\n")
    table = Table(args.out)
    table.add("device", "", "", f"JAX {jax.__version__}, Keras {keras.__version__}",
              ", ".join(str(d) for d in jax.devices()))  # fmt: skip
    os.environ.setdefault("AUGSWEEP_CACHE_DIR", tempfile.mkdtemp(prefix="augsweep-cache-"))
    data = args.data.resolve()
    throughput_rows(table, data, args.quick)
    sweep_rows(table, data, args.quick)
    study_row(table, data, args.quick)
    print("\n" + args.out.read_text())


if __name__ == "__main__":
    main()
