"""A GPU pool on one machine: each job claims a slot (a GPU, shared by at most
``resources.jobs_per_gpu`` jobs) before TensorFlow is imported, and sees only that GPU.

A slot is an exclusive ``flock`` on ``<lock dir>/gpu<id>.slot<k>.lock``: every process of the
machine (jobs of one sweep, of several sweeps, single runs) sees the same slots, and the
kernel releases a slot when its holder dies, even by SIGKILL, so nothing stale is left to
clean. A job waits while every slot is taken.

TensorFlow reads ``CUDA_VISIBLE_DEVICES`` once, when it first looks for GPUs, and keeps
those devices for the life of the process; a process that runs several jobs (Hydra's basic
launcher, joblib's reused loky workers) therefore keeps the GPU of its first job and later
claims a slot of that GPU only. Stdlib only: no TensorFlow, no MLflow.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from augsweep.paths import resolve_path, user_cache_dir

log = logging.getLogger(__name__)

VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
GPU_TAG = "augsweep.gpu"
SLOT_TAG = "augsweep.gpu_slot"
POLL_S = 0.5

# The GPU whose CUDA_VISIBLE_DEVICES this process set last before TensorFlow was imported.
_bound_gpu: str | None = None


@dataclass
class Slot:
    """A claimed slot, or none (``gpu`` None: no pool, nothing claimed).

    Attributes:
        gpu: The GPU id, as ``CUDA_VISIBLE_DEVICES`` names it.
        index: The slot's number on its GPU (0 to ``jobs_per_gpu - 1``).
        path: The slot's lock file.
        previous_visible: ``CUDA_VISIBLE_DEVICES`` before the claim (None: unset).
    """

    gpu: str | None = None
    index: int = 0
    path: Path | None = None
    previous_visible: str | None = None
    handle: IO | None = field(default=None, repr=False)

    @property
    def tags(self) -> dict[str, str]:
        """The run's tags: its GPU and slot (none without a pool)."""
        if self.gpu is None:
            return {}
        return {GPU_TAG: self.gpu, SLOT_TAG: str(self.index)}


def pool_gpus(setting) -> list[str]:
    """The GPUs of the pool that ``resources.gpus`` describes.

    Args:
        setting: ``auto``, None, or a list of ids (taken as given: no device is queried, so
            tests can name GPUs a CPU machine lacks).

    Returns:
        The GPU ids as strings; empty for no pool.
    """
    if setting is None:
        return []
    if setting == "auto":
        return visible_gpus()
    return [str(gpu) for gpu in setting]


def visible_gpus() -> list[str]:
    """The GPUs this machine lets its jobs use, without importing TensorFlow.

    ``CUDA_VISIBLE_DEVICES`` if set (``""`` or ``-1``: none), else the GPUs listed by
    ``nvidia-smi -L`` (none if it is missing or fails). A job's slot narrows
    ``CUDA_VISIBLE_DEVICES`` only while the job runs (:func:`release` restores it), so the
    next job of the process sees the whole pool again.
    """
    listed = os.environ.get(VISIBLE_ENV)
    if listed is not None:
        ids = [item.strip() for item in listed.split(",") if item.strip()]
        # CUDA ignores every id from the first invalid one (-1 is the usual "none").
        valid = []
        for gpu in ids:
            if gpu.startswith("-"):
                break
            valid.append(gpu)
        return valid
    return nvidia_smi_gpus()


def nvidia_smi_gpus() -> list[str]:
    """The indices in ``nvidia-smi -L`` (``GPU 0: NVIDIA H100 ... (UUID: ...)``)."""
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return re.findall(r"^GPU (\d+):", listing, flags=re.MULTILINE)


def lock_dir(setting: str | None) -> Path:
    """``resources.lock_dir``, or ``gpu-slots`` in augsweep's cache folder."""
    return resolve_path(setting) if setting else user_cache_dir() / "gpu-slots"


def slot_path(folder: Path, gpu: str, index: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", gpu)
    return folder / f"gpu{safe}.slot{index}.lock"


def claim(
    gpus: Sequence[str],
    jobs_per_gpu: int,
    folder: Path,
    poll_s: float = POLL_S,
    on_wait: Callable[[str], None] | None = None,
) -> Slot:
    """Take a free slot, waiting while all are taken, and show only its GPU to TensorFlow.

    Slots are tried spreading jobs over the GPUs (slot 0 of every GPU, then slot 1, ...).
    In a process where TensorFlow already runs on a GPU, only that GPU's slots are tried.

    Args:
        gpus: The pool; empty: nothing is claimed and nothing changes.
        jobs_per_gpu: Slots per GPU.
        folder: Where the slot lock files are.
        poll_s: Seconds between two tries while every slot is taken.
        on_wait: Called once with a message if the job has to wait.

    Returns:
        The :class:`Slot`; keep it until :func:`release`.
    """
    global _bound_gpu
    if not gpus:
        return Slot()
    candidates = list(gpus)
    if "tensorflow" in sys.modules:
        if _bound_gpu is not None:
            candidates = [_bound_gpu]
        else:
            log.warning(
                "TensorFlow was imported before a GPU slot was claimed: this job may use "
                "every GPU it sees"
            )
    folder.mkdir(parents=True, exist_ok=True)
    order = [(gpu, k) for k in range(jobs_per_gpu) for gpu in candidates]
    waited = False
    while True:
        for gpu, index in order:
            slot = _try_lock(folder, gpu, index)
            if slot is not None:
                slot.previous_visible = os.environ.get(VISIBLE_ENV)
                os.environ[VISIBLE_ENV] = gpu
                if "tensorflow" not in sys.modules:
                    _bound_gpu = gpu
                return slot
        if not waited and on_wait is not None:
            on_wait(
                f"waiting for a GPU slot: {len(order)} of GPUs {', '.join(candidates)} "
                f"({jobs_per_gpu} job(s) per GPU) are taken"
            )
        waited = True
        time.sleep(poll_s)


def _try_lock(folder: Path, gpu: str, index: int) -> Slot | None:
    """The slot, locked, or None if another process holds it."""
    path = slot_path(folder, gpu, index)
    handle = open(path, "a+")  # noqa: SIM115  (held open for the life of the slot)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n")
    handle.flush()
    return Slot(gpu, index, path, handle=handle)


def release(slot: Slot) -> None:
    """Free the slot for the next job (this process may run it: a reused worker)."""
    if slot.handle is None:
        return
    if slot.previous_visible is None:
        os.environ.pop(VISIBLE_ENV, None)
    else:
        os.environ[VISIBLE_ENV] = slot.previous_visible
    fcntl.flock(slot.handle, fcntl.LOCK_UN)
    slot.handle.close()
    slot.handle = None


@contextmanager
def gpu_slot(resources, on_wait: Callable[[str], None] | None = None) -> Iterator[Slot]:
    """Hold a slot of the pool that ``resources`` (the config node) describes.

    Args:
        resources: ``cfg.resources``.
        on_wait: Called once with a message if the job has to wait for a slot.

    Yields:
        The :class:`Slot` (``gpu`` None when the machine has no pool).
    """
    gpus = pool_gpus(resources.gpus)
    slot = claim(gpus, resources.jobs_per_gpu, lock_dir(resources.lock_dir), on_wait=on_wait)
    try:
        yield slot
    finally:
        release(slot)
