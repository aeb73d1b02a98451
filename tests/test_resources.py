"""The GPU pool: which GPUs it has, its checks, and slots held by one process at a time
(file locks that other processes see and that die with their holder)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from augsweep import resources
from augsweep.config.checks import ConfigError, validate
from tests.helpers import compose_config


@pytest.fixture(autouse=True)
def own_visible_devices(monkeypatch):
    """Each test sees the environment's CUDA_VISIBLE_DEVICES back when it ends, and starts in
    a process bound to no GPU."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(resources, "_bound_gpu", None)


@pytest.mark.parametrize(
    "visible,expected",
    [("0,1", ["0", "1"]), ("2", ["2"]), ("", []), ("-1", []), ("1,-1,2", ["1"]),
     ("GPU-1a2b,GPU-3c4d", ["GPU-1a2b", "GPU-3c4d"])],
)  # fmt: skip
def test_auto_takes_the_gpus_of_cuda_visible_devices(monkeypatch, visible, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert resources.pool_gpus("auto") == expected


def test_auto_without_nvidia_smi_is_no_pool(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi here
    assert resources.pool_gpus("auto") == []


def test_auto_reads_nvidia_smi(monkeypatch, tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        # GPU 0's line as nvidia-smi -L printed it on an H200 box (driver 580)
        "#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-e4ae9235-900e-c9ab-9b24-51205181b86f)'\n"
        "echo '  MIG 1g.10gb Device 0: (UUID: MIG-bb)'\n"
        "echo 'GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-cc)'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert resources.pool_gpus("auto") == ["0", "1"]


@pytest.mark.parametrize("setting,expected", [(None, []), ([], []), ([1, 3], ["1", "3"])])
def test_explicit_lists_are_taken_as_given(setting, expected):
    assert resources.pool_gpus(setting) == expected


@pytest.mark.parametrize(
    "override,expected",
    [
        ("resources.gpus=2", "resources.gpus=2: must be auto (every visible GPU), null or []"),
        ("resources.gpus=all", "resources.gpus='all': must be auto"),
        ("resources.gpus=[0,-1]", "resources.gpus=[0, -1]: -1 is not a GPU id"),
        ("resources.gpus=[0,0]", "resources.gpus=[0, 0]: each GPU may be listed once"),
        ("resources.jobs_per_gpu=0", "resources.jobs_per_gpu=0: must be >= 1"),
    ],
)
def test_bad_pools_are_named_with_what_is_allowed(override, expected):
    with pytest.raises(ConfigError, match="invalid config") as error:
        validate(compose_config(override))
    assert expected in str(error.value)


@pytest.mark.parametrize(
    "override,pool",
    [
        ("resources.gpus=null", []),
        ("resources.gpus=[]", []),
        ("resources.gpus=[0,1]", ["0", "1"]),
        ("resources.gpus=[GPU-aa]", ["GPU-aa"]),
    ],
)
def test_good_pools_pass(override, pool):
    cfg = compose_config(override)
    validate(cfg)
    assert resources.pool_gpus(cfg.resources.gpus) == pool


def test_a_slot_sets_and_restores_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    first = resources.claim(["0", "1"], 1, tmp_path)
    second = resources.claim(["0", "1"], 1, tmp_path)
    assert (first.gpu, second.gpu) == ("0", "1")  # spread over the GPUs
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert first.tags == {"augsweep.gpu": "0", "augsweep.gpu_slot": "0"}
    resources.release(second)
    resources.release(first)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert resources.claim([], 1, tmp_path).tags == {}  # no pool: nothing claimed


def test_once_tensorflow_runs_a_process_keeps_its_gpu(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.setattr(resources, "_bound_gpu", None)  # a fresh process
    other = resources.claim(["0", "1"], 1, tmp_path)  # another job holds GPU 0
    first = resources.claim(["0", "1"], 2, tmp_path)
    assert (first.gpu, first.index) == ("1", 0)
    resources.release(first)
    resources.release(other)  # GPU 0 is free again: only the binding keeps the job off it
    monkeypatch.setitem(sys.modules, "tensorflow", object())  # the job imported TensorFlow
    again = resources.claim(["0", "1"], 2, tmp_path)
    assert (again.gpu, again.index) == ("1", 0)  # not GPU 0's free slot 0
    resources.release(again)


class Waited(Exception):
    """Raised by ``on_wait`` to stop a claim that would wait."""


def stop_waiting(message: str) -> None:
    raise Waited(message)


def test_a_process_bound_to_a_gpu_waits_for_it_while_other_gpus_are_free(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "_bound_gpu", "1")  # TensorFlow runs on GPU 1
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    held = [resources._try_lock(tmp_path, "1", k) for k in range(2)]  # both of GPU 1's slots
    with pytest.raises(Waited) as waited:
        resources.claim(["0", "1"], 2, tmp_path, on_wait=stop_waiting)
    assert str(waited.value) == "waiting for a GPU slot: 2 of GPUs 1 (2 job(s) per GPU) are taken"
    for slot in held:
        resources.release(slot)


def test_a_full_pool_names_every_gpu_while_waiting(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    folder = tmp_path / "new" / "slots"  # made on the first claim, parents included
    held = [resources.claim(["0", "1"], 1, folder) for _ in range(2)]
    with pytest.raises(Waited) as waited:
        resources.claim(["0", "1"], 1, folder, on_wait=stop_waiting)
    assert (
        str(waited.value) == "waiting for a GPU slot: 2 of GPUs 0, 1 (1 job(s) per GPU) are taken"
    )
    for slot in held:
        resources.release(slot)
        resources.release(slot)  # twice: nothing more happens


def test_tensorflow_imported_before_any_claim_is_warned_and_takes_any_gpu(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(resources, "_bound_gpu", None)
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    other = resources.claim(["0", "1"], 1, tmp_path)
    with caplog.at_level("WARNING", logger="augsweep.resources"):
        slot = resources.claim(["0", "1"], 1, tmp_path)
    assert (other.gpu, slot.gpu) == ("0", "1")
    assert caplog.messages[-1] == (
        "TensorFlow was imported before a GPU slot was claimed: this job may use every GPU it sees"
    )
    assert resources._bound_gpu is None  # TensorFlow saw every GPU: nothing to keep
    resources.release(slot)
    resources.release(other)


HOLD = """
import sys, time
from pathlib import Path
from augsweep import resources
slot = resources.claim(["0"], 1, Path(sys.argv[1]))
print("holding", flush=True)
time.sleep(60)
"""


def test_a_slot_is_free_again_when_its_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "holding"
        messages = []
        start = time.monotonic()
        holder_killer = subprocess.Popen(["sh", "-c", f"sleep 1; kill -9 {holder.pid}"])
        slot = resources.claim(["0"], 1, tmp_path, poll_s=0.1, on_wait=messages.append)
        waited = time.monotonic() - start
        holder_killer.wait()
    finally:
        holder.kill()
        holder.wait()
    assert slot.gpu == "0" and waited >= 0.9
    assert messages == ["waiting for a GPU slot: 1 of GPUs 0 (1 job(s) per GPU) are taken"]
    resources.release(slot)
