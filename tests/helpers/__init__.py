"""Shared test helpers: the project's config (composed once per override tuple), the command
line as a user runs it, and sample images. Fixtures live in ``tests/conftest.py``."""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

import augsweep.config  # noqa: F401  (registers the schemas)

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"

# Small enough for a few seconds per run on a 2-core CPU (digits: the default dataset).
# Logging the model costs a second per run: only the tests of the model turn it on.
SMALL = [
    "trainer.epochs=2",
    "trainer.batch_size=32",
    "dataset.train_samples=60",
    "dataset.image_size=16",
    "tracking.log_model=false",
]

# The Keras technique catalogue, by name (conf/techniques/keras.yaml).
TECHNIQUES = list(OmegaConf.load(CONF_DIR / "techniques" / "keras.yaml"))


def compose_config(*overrides: str) -> DictConfig:
    """The project's config with ``overrides``, as Hydra composes it.

    Hydra composes each distinct tuple of overrides once per session; every caller gets its
    own deep copy, free to change.
    """
    return copy.deepcopy(_composed(tuple(overrides)))


@functools.cache
def _composed(overrides: tuple[str, ...]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def photos(n: int = 16, size: int = 24, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth random images spanning the 0-255 range, like small photos."""
    import tensorflow as tf

    coarse = np.random.default_rng(seed).uniform(0, 1, (n, 4, 4, channels)).astype("float32")
    smooth = tf.image.resize(coarse, (size, size), method="bicubic").numpy()
    low = smooth.min(axis=(1, 2, 3), keepdims=True)
    high = smooth.max(axis=(1, 2, 3), keepdims=True)
    return np.clip(255.0 * (smooth - low) / (high - low), 0, 255).astype("float32")


def arrays(examples) -> tuple[np.ndarray, np.ndarray]:
    """The images (stacked) and labels of an unbatched ``tf.data`` dataset."""
    images, labels = zip(*examples.as_numpy_iterator(), strict=True)
    return np.stack(images), np.array(labels)


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python train.py ARGS`` (or another module) as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_RUN_ID", None)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def sigterm_after_first_epoch(args: list[str], uri: str, timeout: float = 120) -> tuple[int, str]:
    """Run ``python ARGS``, send SIGTERM once a run has logged an epoch, and wait for it.

    Returns:
        The exit code and the process's output (stdout and stderr).
    """
    return signal_at_epoch(args, uri, signal.SIGTERM, run=0, epochs=1, timeout=timeout)


def signal_at_epoch(
    args: list[str],
    uri: str,
    sig: int,
    run: int = 0,
    epochs: int = 1,
    timeout: float = 120,
    again_after_s: float | None = None,
) -> tuple[int, str]:
    """Run ``python ARGS``; once its ``run``-th run (0-based, by start) has logged
    ``epochs`` epochs, send ``sig`` (SIGTERM, SIGKILL, ...) and wait for the process;
    with ``again_after_s``, send it a second time that many seconds after the first (a
    double Ctrl-C).

    The store is polled read-only with sqlite3: an MLflow client here could race the
    subprocess while it creates the database's tables.

    Returns:
        The exit code (``-9`` after SIGKILL) and the process's output.
    """
    db = Path(uri.removeprefix("sqlite:///"))
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            logged = epochs_per_run(db)
            if len(logged) > run and logged[run] >= epochs:
                break
            time.sleep(0.1)
        process.send_signal(sig)
        if again_after_s is not None:
            time.sleep(again_after_s)
            process.send_signal(sig)
        output, _ = process.communicate(timeout=timeout)
    finally:
        process.kill()
    return process.returncode, output


def epochs_per_run(db: Path) -> list[int]:
    """How many epochs (``val_accuracy`` values) each run of a SQLite store has logged, in
    the order the runs started; empty while the store is being created."""
    if not db.exists():
        return []
    query = (
        "SELECT COUNT(m.step) FROM runs r LEFT JOIN metrics m ON m.run_uuid = r.run_uuid "
        "AND m.key = 'val_accuracy' WHERE r.run_uuid NOT IN (SELECT run_uuid FROM tags "
        "WHERE key = 'augsweep.role') GROUP BY r.run_uuid ORDER BY r.start_time"
    )
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            return [count for (count,) in con.execute(query).fetchall()]
    except sqlite3.OperationalError:  # no such table yet, or locked for a moment
        return []


def stored_runs(db: Path) -> int:
    """How many runs a SQLite store holds (0 if it does not exist or has no tables)."""
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # no such table
        return 0


def owner_pid(db: Path, run_name: str) -> int | None:
    """The pid of the process that trains ``run_name`` (its owner tag) once the run has
    logged an epoch; None before."""
    from augsweep.tracking.tags import Tag

    query = (
        "SELECT t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = ? "
        "WHERE r.name = ? AND EXISTS (SELECT 1 FROM metrics m WHERE m.run_uuid = r.run_uuid "
        "AND m.key = 'val_accuracy')"
    )
    if not db.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            row = con.execute(query, (Tag.OWNER, run_name)).fetchone()
    except sqlite3.OperationalError:  # no such table yet, or locked for a moment
        return None
    return int(row[0].rpartition(":")[2]) if row else None
