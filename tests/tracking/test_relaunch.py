"""Relaunching is safe: finished runs are skipped, killed ones resumed in the same run, dead
owners reaped; rerun=true, changed data and runs alive elsewhere each get what they need."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from augsweep.config.run_key import run_key
from augsweep.data.digits import load_digits
from augsweep.outcomes import Outcome
from augsweep.run import train
from augsweep.tracking import store
from augsweep.tracking.relaunch import key_lock, owner_alive, plan_run
from augsweep.tracking.tags import Tag
from tests.helpers import compose_config, run_cli


@pytest.mark.slow
def test_rerun_makes_a_new_run_of_the_same_key(small_cfg, tracking_uri):
    first = train(small_cfg("trainer.epochs=1"))
    assert first.outcome == "trained"
    skipped = train(small_cfg("trainer.epochs=1"))
    assert (skipped.outcome, skipped.run_id) == ("skipped", first.run_id)
    assert skipped.summary == pytest.approx(first.summary)
    again = train(small_cfg("trainer.epochs=1", "rerun=true"))
    assert again.outcome == "trained" and again.run_id != first.run_id
    client = MlflowClient(tracking_uri)
    runs = client.search_runs(["1"])
    assert len(runs) == 2 and len({r.data.tags[Tag.RUN_KEY] for r in runs}) == 1


@pytest.mark.slow
def test_changed_data_trains_a_new_run_and_keeps_the_old_one(tmp_path, tracking_uri):
    from tests.helpers.imagefiles import class_folder

    root = tmp_path / "photos"
    class_folder(root, "blue", 4)
    class_folder(root, "red", 4)
    overrides = ("dataset=folder", f"dataset.path={root}", "dataset.image_size=16",
                 "trainer.epochs=1", f"tracking.uri={tracking_uri}")  # fmt: skip
    first = train(compose_config(*overrides))
    class_folder(root, "green", 4)  # new photos under the same path: other data
    second = train(compose_config(*overrides))
    assert second.outcome == "trained" and second.run_id != first.run_id
    client = MlflowClient(tracking_uri)
    new, old = client.get_run(second.run_id), client.get_run(first.run_id)
    assert new.data.tags[Tag.PREVIOUS_RUN] == first.run_id
    assert new.data.tags[Tag.RUN_KEY] == old.data.tags[Tag.RUN_KEY]
    assert new.data.tags[Tag.DATA_FINGERPRINT] != old.data.tags[Tag.DATA_FINGERPRINT]
    assert old.info.status == "FINISHED"


def make_running_run(uri: str, cfg, owner: dict[str, str]) -> str:
    """A RUNNING run of ``cfg``'s key and data, owned as ``owner`` says."""
    client = store.connect(store.resolve_uri(uri))
    experiment_id = store.ensure_experiment(client, "augsweep")
    splits = load_digits(**{k: v for k, v in cfg.dataset.items() if k != "_target_"})
    tags = {Tag.RUN_KEY: run_key(cfg), Tag.DATA_FINGERPRINT: splits.fingerprint, **owner}
    return client.create_run(experiment_id, run_name="elsewhere", tags=tags).info.run_id


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_run_alive_elsewhere_is_not_trained_twice(small_cfg, tracking_uri):
    cfg = small_cfg("trainer.epochs=1")
    run_id = make_running_run(tracking_uri, cfg, store.owner_tags())  # this process: alive
    outcome = train(cfg)
    assert (outcome.outcome, outcome.run_id) == ("elsewhere", run_id)
    assert f"running as run {run_id}" in outcome.detail
    client = MlflowClient(tracking_uri)
    assert len(client.search_runs(["1"])) == 1
    assert client.get_run(run_id).info.status == "RUNNING"


@pytest.mark.slow
def test_a_run_whose_owner_died_is_reaped_and_resumed(small_cfg, tracking_uri):
    cfg = small_cfg("trainer.epochs=1")
    owner = {**store.owner_tags(), Tag.OWNER: f"{store.boot_id()}:{dead_pid()}"}
    run_id = make_running_run(tracking_uri, cfg, owner)
    outcome = train(cfg)
    assert (outcome.outcome, outcome.run_id) == ("resumed", run_id)
    run = MlflowClient(tracking_uri).get_run(run_id)
    assert run.info.status == "FINISHED" and "its process died" not in run.data.tags.get(
        "error", ""
    )
    assert "its owner died" in run.data.tags[Tag.REAPED]


def test_owner_liveness_by_pid_on_this_host_and_by_heartbeat_elsewhere(small_cfg, tracking_uri):
    cfg = small_cfg()
    client = MlflowClient(store.resolve_uri(tracking_uri))
    here = client.get_run(make_running_run(tracking_uri, cfg, store.owner_tags()))
    assert owner_alive(here, stale_after_s=900)
    gone = {**store.owner_tags(), Tag.OWNER: f"{store.boot_id()}:{dead_pid()}"}
    assert not owner_alive(client.get_run(make_running_run(tracking_uri, cfg, gone)), 900)
    rebooted = {**store.owner_tags(), Tag.OWNER: f"another-boot:{os.getpid()}"}
    assert not owner_alive(client.get_run(make_running_run(tracking_uri, cfg, rebooted)), 900)
    remote = {Tag.HOST: "gpu-box-2", Tag.OWNER: "b:42", Tag.HEARTBEAT: "1000"}
    run = client.get_run(make_running_run(tracking_uri, cfg, remote))
    assert owner_alive(run, stale_after_s=900, now=1000 + 899)
    assert not owner_alive(run, stale_after_s=900, now=1000 + 901)


def test_a_diverged_run_is_not_retried_unless_rerun(small_cfg, tracking_uri):
    cfg = small_cfg()
    client = store.connect(store.resolve_uri(tracking_uri))
    run_id = make_running_run(tracking_uri, cfg, store.owner_tags())
    client.set_tag(run_id, Tag.ERROR, "diverged: loss is NaN at epoch 3")
    client.set_terminated(run_id, "FAILED")
    fingerprint = client.get_run(run_id).data.tags[Tag.DATA_FINGERPRINT]
    plan = plan_run(client, "1", run_key(cfg), fingerprint)
    assert plan.action == Outcome.FAILED and plan.run.info.run_id == run_id
    assert plan.reason.startswith(f"diverged: loss is NaN at epoch 3 in run {run_id}: not trained")
    assert "rerun=true trains it again" in plan.reason
    assert plan_run(client, "1", run_key(cfg), fingerprint, rerun=True).action == Outcome.TRAINED


@pytest.mark.slow
def test_reap_command_closes_dead_runs(small_cfg, tracking_uri, tmp_path):
    cfg = small_cfg()
    owner = {**store.owner_tags(), Tag.OWNER: f"{store.boot_id()}:{dead_pid()}"}
    dead = make_running_run(tracking_uri, cfg, owner)
    alive = make_running_run(tracking_uri, cfg, store.owner_tags())
    result = run_cli("-m", "augsweep.tracking.reap", "--tracking-uri", tracking_uri)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"reaped {dead}" in result.stdout and "1 run(s) reaped" in result.stdout
    client = MlflowClient(tracking_uri)
    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(dead).data.tags[Tag.REAPED]
    assert client.get_run(alive).info.status == "RUNNING"


HOLD_KEY = """
import sys, time
from pathlib import Path
from augsweep.tracking.relaunch import key_lock
with key_lock(Path(sys.argv[1])) as holder:
    print(holder, flush=True)
    time.sleep(60)
"""


def test_a_run_keys_lock_names_its_holder_and_dies_with_it(tmp_path):
    lock = tmp_path / "checkpoints" / "abc123.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_KEY, str(lock)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "None"  # it holds the lock
        with key_lock(lock) as other:
            assert other == f"host {os.uname().nodename}, pid {holder.pid}"
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock
        holder.wait()
    with key_lock(lock) as other:
        assert other is None


def test_a_run_keys_lock_file_goes_with_its_holder_and_a_late_opener_takes_the_new_one(tmp_path):
    lock = tmp_path / "checkpoints" / "abc123.lock"
    with key_lock(lock) as holder:
        assert holder is None and lock.exists()
        late = open(lock, "a+")  # noqa: SIM115 - another job opened it as the holder let go
    assert not lock.exists()  # a finished key leaves nothing behind
    with late:
        fcntl.flock(late, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the removed file: locked, yet...
        with key_lock(lock) as first, key_lock(lock) as second:
            assert first is None  # ...the file at the path is free: one holder
            assert second == f"host {os.uname().nodename}, pid {os.getpid()}"


def test_a_requeued_slurm_job_takes_its_earlier_attempts_run_as_its_own(
    small_cfg, tracking_uri, monkeypatch
):
    # Attempt 0 of SLURM job 812 ran on node-a and died there without closing its run
    # (node lost, SIGKILL past the time limit): RUNNING, a fresh heartbeat, another host.
    cfg = small_cfg("trainer.epochs=1")
    client = store.connect(store.resolve_uri(tracking_uri))
    splits = load_digits(**{k: v for k, v in cfg.dataset.items() if k != "_target_"})
    attempt0 = {Tag.HOST: "node-a", Tag.OWNER: "b:42", Tag.HEARTBEAT: str(int(time.time())),
                Tag.ATTEMPT: "slurm:812/0"}  # fmt: skip
    run_id = make_running_run(tracking_uri, cfg, attempt0)
    plan = lambda: plan_run(client, "1", run_key(cfg), splits.fingerprint)  # noqa: E731
    # Another SLURM job (another job of the sweep, another launch) must not take it.
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "813")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert plan().action == Outcome.ELSEWHERE
    # The requeued attempt of job 812 (on node-b): its own run, reaped and resumed.
    monkeypatch.setenv("SLURM_JOB_ID", "812")
    outcome = plan()
    assert (outcome.action, outcome.run.info.run_id) == (Outcome.RESUMED, run_id)
    assert client.get_run(run_id).info.status == "KILLED"  # reaped, then resumed
    assert store.owner_tags()[Tag.ATTEMPT] == "slurm:812/1"  # who owns it from now on


def test_a_pruned_trials_run_is_planned_pruned_never_resumed_nor_retrained(small_cfg, tracking_uri):
    cfg = small_cfg()
    client = store.connect(store.resolve_uri(tracking_uri))
    run_id = make_running_run(tracking_uri, cfg, store.owner_tags())
    client.set_tag(run_id, Tag.PRUNED_AT, "1")
    client.set_terminated(run_id, "FINISHED")
    fingerprint = client.get_run(run_id).data.tags[Tag.DATA_FINGERPRINT]
    plan = plan_run(client, "1", run_key(cfg), fingerprint)
    assert plan.action == Outcome.PRUNED and plan.run.info.run_id == run_id
    assert plan.reason == f"run {run_id} pruned after epoch 1"
