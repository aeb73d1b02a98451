"""Fixtures only; the helpers they use are in :mod:`tests.helpers`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import SMALL, compose_config


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path, monkeypatch) -> Path:
    """Preflight manifests go under tmp_path, never into the user's ~/.cache."""
    cache = tmp_path / "augsweep-cache"
    monkeypatch.setenv("AUGSWEEP_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def mlflow_http_settings(monkeypatch):
    """``check_store`` sets MLflow's HTTP retry limits in os.environ: unset for the test,
    restored after it."""
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tracking_uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/mlruns/mlflow.db"


@pytest.fixture
def small_cfg(tracking_uri):
    """Compose the real config, shrunk for tests, logging to a store under tmp_path."""

    def make(*overrides: str):
        return compose_config(*SMALL, f"tracking.uri={tracking_uri}", *overrides)

    return make
