"""Keras's backend per job (``trainer.keras_backend``): set before Keras loads; a process that
loaded another one refuses the job, naming the way out; JAX's GPU allocator for shared GPUs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from augsweep import backend
from hydra_plugins.augsweep_launchers.surviving_joblib import keras_backend_of
from tests.helpers import ROOT


def test_a_process_that_loaded_keras_on_tensorflow_refuses_a_jax_job():
    import keras

    assert keras.backend.backend() == "tensorflow"
    backend.select("tensorflow")  # the same backend: fine
    with pytest.raises(backend.BackendMismatch) as error:
        backend.select("jax")
    assert error.value.exit_code == 2
    assert "already loaded Keras on tensorflow" in str(error.value)
    assert "hydra/launcher=joblib" in str(error.value)


def run_python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("XLA_PYTHON_CLIENT_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**environ, **env}, cwd=ROOT, check=True)  # fmt: skip
    return result.stdout.strip()


SELECT_THEN_LOAD = (
    "import os, sys; from augsweep.backend import select; select('jax', {jobs}); "
    "import keras; print(keras.backend.backend(), "
    "os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE'))"
)


def test_jax_is_loaded_as_chosen_whatever_the_environment_says():
    out = run_python(SELECT_THEN_LOAD.format(jobs=1), KERAS_BACKEND="tensorflow")
    assert out == "jax None"  # one job per GPU: JAX's own allocator


def test_jobs_sharing_a_gpu_on_jax_allocate_as_they_need():
    assert run_python(SELECT_THEN_LOAD.format(jobs=2)) == "jax false"


def test_a_joblib_worker_is_replaced_when_the_backend_changes():
    assert keras_backend_of(["augment=flip", "trainer.keras_backend=jax"]) == "jax"
    assert keras_backend_of(["augment=flip"]) is None
