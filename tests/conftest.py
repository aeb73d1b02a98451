"""Shared fixtures: compose the real config from ``conf/`` and shrink it."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import augsweep.config  # noqa: F401  (registers the schemas)

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

# Small enough for a few seconds per run on a 2-core CPU.
SMALL = [
    "trainer.epochs=2",
    "trainer.batch_size=32",
    "dataset.train_samples=60",
    "dataset.image_size=16",
]


def compose_config(*overrides: str):
    """The project's config with ``overrides``, as Hydra composes it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path, monkeypatch) -> Path:
    """Preflight manifests go under tmp_path, never into the user's ~/.cache."""
    cache = tmp_path / "augsweep-cache"
    monkeypatch.setenv("AUGSWEEP_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def tracking_uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/mlruns/mlflow.db"


@pytest.fixture
def small_cfg(tracking_uri):
    """Compose the real config, shrunk for tests, logging to a store under tmp_path."""

    def make(*overrides: str):
        return compose_config(*SMALL, f"tracking.uri={tracking_uri}", *overrides)

    return make


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

    The store is polled read-only with sqlite3: an MLflow client here could race the
    subprocess while it creates the database's tables.

    Returns:
        The exit code and the process's output (stdout and stderr).
    """
    db = Path(uri.removeprefix("sqlite:///"))
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _epochs_logged(db):
                break
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=timeout)
    finally:
        process.kill()
    return process.returncode, output


def _epochs_logged(db: Path) -> int:
    """How many ``val_accuracy`` values the store holds (0 while it is being created)."""
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            query = "SELECT COUNT(*) FROM metrics WHERE key = 'val_accuracy'"
            return con.execute(query).fetchone()[0]
    except sqlite3.OperationalError:  # no such table yet, or locked for a moment
        return 0
