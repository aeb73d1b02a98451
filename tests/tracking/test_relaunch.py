"""Relaunching is safe: finished runs are skipped, killed ones resumed in the same run, dead
owners reaped; rerun=true, changed data and runs alive elsewhere each get what they need."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from augsweep.config.run_key import run_key
from augsweep.data.digits import load_digits
from augsweep.outcomes import Outcome
from augsweep.run import train
from augsweep.tracking import store
from augsweep.tracking.relaunch import owner_alive, plan_run
from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, compose_config, run_cli, signal_at_epoch

EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "clean_loss", "clean_accuracy",
                 "gap")  # fmt: skip
EPOCHS = 4
SWEEP = ["-m", *SMALL, f"trainer.epochs={EPOCHS}", "augment=none,flip,flip_rot_zoom"]


def sweep_args(tmp_path) -> tuple[list[str], str]:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    return [str(ROOT / "train.py"), *SWEEP, f"tracking.uri={uri}",
            f"hydra.sweep.dir={tmp_path}/sweep"], uri  # fmt: skip


def runs_by_name(uri: str) -> tuple[MlflowClient, list, dict]:
    """The client, the sweep parents, and the job runs by name."""
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep"]
    return client, parents, {r.info.run_name: r for r in runs if r not in parents}


def steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def assert_complete(client: MlflowClient, runs: dict) -> None:
    """Every run FINISHED with exactly one point per epoch of every metric, and one test
    accuracy and loss."""
    for name, run in runs.items():
        assert run.info.status == "FINISHED", name
        for key in EPOCH_METRICS:
            assert steps(client, run.info.run_id, key) == list(range(EPOCHS)), (name, key)
        best = int(run.data.metrics["best_epoch"])  # the tested weights' epoch
        for key in ("test_accuracy", "test_loss"):
            assert steps(client, run.info.run_id, key) == [best], (name, key)


@pytest.mark.slow
# SIGKILL only: the harder path (a RUNNING run of a dead owner, reaped, then resumed). A
# SIGTERMed job ends KILLED (tests/tracking/test_sweep.py) and resumes through the same plan.
@pytest.mark.parametrize("sig", [signal.SIGKILL], ids=["SIGKILL"])
def test_a_sweep_killed_in_its_second_job_resumes_it_in_the_same_run(tmp_path, sig):
    args, uri = sweep_args(tmp_path)
    code, output = signal_at_epoch(args, uri, sig, run=1, epochs=1)
    assert code == (-9 if sig == signal.SIGKILL else 130), output[-3000:]
    client, _, killed = runs_by_name(uri)
    cut = killed["augment=flip"]
    assert cut.info.status == ("RUNNING" if sig == signal.SIGKILL else "KILLED")
    done = len(steps(client, cut.info.run_id, "val_accuracy"))
    assert 1 <= done < EPOCHS

    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    if sig == signal.SIGKILL:  # reaped before anything resumes
        assert f"reaped run {cut.info.run_id} (augment=flip)" in again.stdout
    assert f"augment=flip: resumed from epoch {done}" in again.stdout
    assert "3 jobs: trained 1, resumed 1, skipped 1" in again.stdout
    client, parents, runs = runs_by_name(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(runs) == ["augment=flip", "augment=flip_rot_zoom", "augment=none"]
    assert runs["augment=flip"].info.run_id == cut.info.run_id  # the same run, resumed
    assert runs["augment=flip"].data.tags[Tag.RESUMED] == str(done)
    assert "error" not in runs["augment=flip"].data.tags
    assert_complete(client, runs)
    assert not list((tmp_path / "mlruns" / "checkpoints").iterdir())  # removed when done
    if sig == signal.SIGKILL:
        assert_relaunch_trains_nothing(tmp_path, args, uri, runs)
        assert_same_as_uninterrupted(tmp_path, client, cut.info.run_id)


def assert_relaunch_trains_nothing(tmp_path, args: list[str], uri: str, before: dict) -> None:
    """A third launch of the finished sweep: no new run, no new point, every run reported."""
    client = MlflowClient(uri)
    points = {n: len(client.get_metric_history(r.info.run_id, "loss")) for n, r in before.items()}
    third = run_cli(*args, cwd=tmp_path)
    assert third.returncode == 0, third.stderr[-3000:]
    _, parents, after = runs_by_name(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert {n: r.info.run_id for n, r in after.items()} == {
        n: r.info.run_id for n, r in before.items()
    }
    assert points == {
        n: len(client.get_metric_history(r.info.run_id, "loss")) for n, r in after.items()
    }
    for name, run in after.items():
        assert f"{name}: skipped (finished run {run.info.run_id})" in third.stdout
    assert "3 jobs: skipped 3" in third.stdout
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    for policy in ("none", "flip", "flip_rot_zoom"):
        assert f"| augment={policy} | {policy} | 0 | FINISHED |" in summary
        assert f"| augment={policy} | skipped |" in summary


def assert_same_as_uninterrupted(tmp_path, client: MlflowClient, run_id: str) -> None:
    """The resumed run ends where one never interrupted ends, up to float noise."""
    fresh = train(compose_config(*SMALL, f"trainer.epochs={EPOCHS}", "augment=flip",
                                 f"tracking.uri=sqlite:///{tmp_path}/fresh.db"))  # fmt: skip
    fresh_client = MlflowClient(f"sqlite:///{tmp_path}/fresh.db")
    for key in ("loss", "val_loss", "clean_loss"):
        resumed = dict(sorted((m.step, m.value) for m in client.get_metric_history(run_id, key)))
        for point in fresh_client.get_metric_history(fresh.run_id, key):
            assert resumed[point.step] == pytest.approx(point.value, abs=1e-5), (key, point.step)
    # The best epoch's weights survived the kill in the checkpoint: the same test result.
    resumed = client.get_run(run_id).data.metrics
    assert resumed["test_loss"] == pytest.approx(fresh.summary["test_loss"], abs=1e-5)
    assert resumed["test_accuracy"] == fresh.summary["test_accuracy"]


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


@pytest.mark.slow
def test_a_diverging_job_fails_at_once_and_stays_out_of_the_means(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    result = run_cli(str(ROOT / "train.py"), "-m", *SMALL, "trainer.epochs=3",
                     "trainer.learning_rate=1e6,0.001", f"tracking.uri={uri}",
                     f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]
    client, parents, runs = runs_by_name(uri)
    diverged, fine = runs["trainer.learning_rate=1000000.0"], runs["trainer.learning_rate=0.001"]
    assert diverged.info.status == "FAILED" and fine.info.status == "FINISHED"
    assert diverged.data.tags["error"] in (
        "diverged: loss is NaN at epoch 0",
        "diverged: loss is inf at epoch 0",
    )
    assert steps(client, diverged.info.run_id, "loss") == [0]  # stopped at once, kept
    assert parents[0].info.status == "FAILED"
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert "| trainer.learning_rate=0.001 | 1 |" in summary  # per group: finished runs only
    assert "| trainer.learning_rate=1000000.0 | 0 | - |" in summary
    assert f"- trainer.learning_rate=1000000.0 (FAILED: {diverged.data.tags['error']})" in summary


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
    assert plan.action == Outcome.SKIPPED and "rerun=true trains it again" in plan.reason
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
