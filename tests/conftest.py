"""Fixtures only; the helpers they use are in :mod:`tests.helpers`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import SMALL, compose_config

# `make test` runs 4 workers, and their subprocesses, on 2 cores: TensorFlow's default thread
# pools (a thread per core each, spinning while they wait) would oversubscribe the cores and
# burn CPU time in the spin. One intra-op thread per process (two inter-op, so that no op
# waits on another for a thread). Set before any test imports TensorFlow; the subprocesses
# the tests start inherit it.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "2")


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
