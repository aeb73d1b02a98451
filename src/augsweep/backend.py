"""Keras's backend for a job (``trainer.keras_backend``), chosen before Keras loads.

Keras reads its backend once, when it is first imported (``KERAS_BACKEND``), and cannot
change it in a running process. So a job sets it at its clean start, before the heavy
imports (:func:`select`), and a process that already loaded Keras on another backend
refuses the job: Hydra's basic launcher runs every job of a sweep in one process, so a sweep
over backends needs a process per job (``hydra/launcher=joblib``, whose workers are
replaced when the backend changes) or one launch per backend. JAX's GPU allocator is set
here too, before JAX loads. Stdlib only.
"""

from __future__ import annotations

import os
import sys

from augsweep.errors import EXIT_CONFIG_ERROR, InputError

TENSORFLOW = "tensorflow"
JAX = "jax"
# JAX takes 75% of a GPU's memory per process by default: with several jobs on a GPU, each
# job allocates as it needs instead (as resources.memory_growth does for TensorFlow).
JAX_ALLOCATOR = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
# JAX keeps compiled steps on disk: the next run of the same model and policy (another seed,
# another job, a resumed run) skips the compile, which costs more than a small run's epochs.
JAX_CACHE = "JAX_COMPILATION_CACHE_DIR"


class BackendMismatch(InputError, RuntimeError):
    """Keras is loaded on another backend in this process: a job of another backend needs
    its own process. Exit code 2 (a single run cannot meet it; in a sweep its job fails)."""

    exit_code = EXIT_CONFIG_ERROR


def select(keras_backend: str, jobs_per_gpu: int = 1) -> None:
    """Make Keras load on ``keras_backend`` in this process.

    Args:
        keras_backend: ``trainer.keras_backend`` (checked by the config).
        jobs_per_gpu: ``resources.jobs_per_gpu``: above 1 on JAX, JAX's GPU memory is
            allocated as needed rather than preallocated (unless the environment already
            says how, e.g. ``XLA_PYTHON_CLIENT_MEM_FRACTION``).

    Raises:
        BackendMismatch: Keras is loaded on another backend in this process.
    """
    loaded = loaded_backend()
    if loaded is not None and loaded != keras_backend:
        raise BackendMismatch(
            f"trainer.keras_backend={keras_backend}: this process already loaded Keras on "
            f"{loaded} (Hydra's basic launcher runs every job of a sweep in one process); "
            "sweep over backends with hydra/launcher=joblib (a process per backend), or "
            "launch once per backend"
        )
    os.environ["KERAS_BACKEND"] = keras_backend
    if keras_backend == JAX:
        from augsweep.paths import user_cache_dir

        os.environ.setdefault(JAX_CACHE, str(user_cache_dir() / "jax"))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    told = any(name.startswith("XLA_PYTHON_CLIENT_") for name in os.environ)
    if keras_backend == JAX and jobs_per_gpu > 1 and "jax" not in sys.modules and not told:
        os.environ.update(JAX_ALLOCATOR)


def loaded_backend() -> str | None:
    """The backend of the Keras loaded in this process, or None before Keras loads."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    return keras.backend.backend()


def uses_tensorflow() -> bool:
    """Whether Keras runs (or will run) on TensorFlow: the data and input path follow it."""
    loaded = loaded_backend()
    if loaded is not None:
        return loaded == TENSORFLOW
    return os.environ.get("KERAS_BACKEND", TENSORFLOW) == TENSORFLOW
