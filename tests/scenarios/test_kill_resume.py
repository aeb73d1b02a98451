"""A sweep killed mid-job and relaunched resumes the job in the same run, with curves equal
to an uninterrupted run's; a diverging job fails at once and stays out of the means. Real
subprocesses of `train.py -m`."""

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
from mlflow.tracking import MlflowClient

from augsweep.metrics import SUMMARY_STEP
from augsweep.run import train
from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, compose_config, epochs_per_run, run_cli, signal_at_epoch

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
        for key in ("test_accuracy", "test_loss"):  # once, at every run's summary step
            assert steps(client, run.info.run_id, key) == [SUMMARY_STEP], (name, key)


@pytest.mark.slow
# SIGKILL only: the harder path (a RUNNING run of a dead owner, reaped, then resumed). A
# SIGTERMed job ends KILLED (tests/tracking/test_sweep.py) and resumes through the same plan.
@pytest.mark.parametrize("sig", [signal.SIGKILL], ids=["SIGKILL"])
def test_a_sweep_killed_in_its_second_job_resumes_it_in_the_same_run(tmp_path, sig):
    args, uri = sweep_args(tmp_path)
    code, output = signal_at_epoch(args, uri, sig, run=1, epochs=1)
    assert code == (-9 if sig == signal.SIGKILL else 130), output[-3000:]
    client, _, killed = runs_by_name(uri)
    cut = killed["flip"]
    assert cut.info.status == ("RUNNING" if sig == signal.SIGKILL else "KILLED")
    done = len(steps(client, cut.info.run_id, "val_accuracy"))
    assert 1 <= done < EPOCHS

    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    if sig == signal.SIGKILL:  # reaped before anything resumes
        assert f"reaped run {cut.info.run_id} (flip)" in again.stdout
    assert f"flip: resumed from epoch {done}" in again.stdout
    assert "3 jobs: trained 1, resumed 1, skipped 1" in again.stdout
    client, parents, runs = runs_by_name(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(runs) == ["flip", "flip_rot_zoom", "none"]
    assert runs["flip"].info.run_id == cut.info.run_id  # the same run, resumed
    assert runs["flip"].data.tags[Tag.RESUMED] == str(done)
    assert "error" not in runs["flip"].data.tags
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
        assert f"| {policy} | {policy} | 0 | FINISHED |" in summary
        assert f"| {policy} | skipped |" in summary


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
def test_a_diverging_job_fails_at_once_and_stays_out_of_the_means(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    args = [str(ROOT / "train.py"), "-m", *SMALL, "trainer.epochs=3",
            "trainer.learning_rate=1e6,0.001", f"tracking.uri={uri}",
            f"hydra.sweep.dir={tmp_path}/sweep"]  # fmt: skip
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    client, parents, runs = runs_by_name(uri)
    high, low = "none,trainer.learning_rate=1000000.0", "none,trainer.learning_rate=0.001"
    diverged, fine = runs[high], runs[low]
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
    assert (
        f"- none,trainer.learning_rate=1000000.0 (FAILED: {diverged.data.tags['error']})" in summary
    )

    # A relaunch does not train the diverged run again, and does not hide it either (a
    # nightly cron must keep flagging the sweep): the job fails with the run's error.
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 1, again.stdout[-3000:]
    error = f"{diverged.data.tags['error']} in run {diverged.info.run_id}: not trained again"
    (line,) = [line for line in again.stdout.splitlines() if line.startswith("job 1/2 ")][-1:]
    assert line.startswith(f"job 1/2 {high}: failed after ")
    assert line.endswith(f" s: {error} (it would diverge again; rerun=true trains it again)")
    assert "2 jobs: skipped 1, failed 1" in again.stdout
    client, parents, runs = runs_by_name(uri)
    assert len(parents) == 1 and parents[0].info.status == "FAILED"
    assert len(runs) == 2 and runs[high].info.status == "FAILED"
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert (
        f"| none,trainer.learning_rate=1000000.0 | failed | {diverged.info.run_id} | {error}"
        in summary
    )
    assert (
        f"- none,trainer.learning_rate=1000000.0 (FAILED: {diverged.data.tags['error']})" in summary
    )


@pytest.mark.slow
def test_a_scheduled_sweep_killed_outright_is_reaped_and_said_at_the_top_of_the_next_log(tmp_path):
    # The launcher and its sweep SIGKILLed mid-job (an OOM kill of the box, systemd's last
    # resort): the log ends mid-sentence, the parent stays RUNNING, job 1's record says
    # `started`. The next scheduled launch says, before any job, what it found and does.
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    db = Path(uri.removeprefix("sqlite:///"))
    schedule = [sys.executable, "-m", "augsweep.schedule", "--quiet", "--log-dir",
                str(tmp_path / "logs"), "--command", f"{sys.executable} {ROOT / 'train.py'} -m",
                "--", *SMALL, "trainer.epochs=500", "augment=none,flip", f"tracking.uri={uri}",
                f"hydra.sweep.dir={tmp_path}/sweep"]  # fmt: skip
    first = subprocess.Popen(schedule, cwd=tmp_path)
    try:
        wait_until(lambda: epochs_per_run(db)[:1] >= [1])
        sweep_pid = int(tag_values(db, Tag.OWNER)[0].rpartition(":")[2])
        os.kill(sweep_pid, signal.SIGKILL)
        first.kill()
        wait_until(lambda: not pid_exists(sweep_pid))
    finally:
        first.kill()
        first.wait()
    client, parents, runs = runs_by_name(uri)
    (parent,) = parents
    assert parent.info.status == "RUNNING" and runs["none"].info.status == "RUNNING"
    sweep_id = parent.data.tags[Tag.SWEEP_ID]

    second = subprocess.Popen(schedule, cwd=tmp_path)
    try:
        wait_until(lambda: log_text(tmp_path).count("job 1/2 none: started") == 2)
        second.send_signal(signal.SIGTERM)  # forwarded: the sweep stops, KILLED, reported
        assert second.wait(timeout=120) == 130
    finally:
        second.kill()
    log = log_text(tmp_path)
    top = log[log.rindex("augsweep.schedule: start pid") : log.rindex("job 1/2 none: st")]
    assert f"the previous launch, pid {first.pid} on " in top
    job_run = runs["none"].info.run_id
    assert f"reaped run {job_run} (none): left RUNNING by a dead process" in top
    assert f"reaped run {parent.info.run_id} (sweep {sweep_id}): left RUNNING" in top
    assert f"reaped job 1 none of sweep {sweep_id}: left started by a dead process" in top
    assert f"relaunch of sweep {sweep_id}: finished runs are skipped, killed ones resumed" in top
    assert "  resumes job 1 none (killed in its last launch: its process died" in top
    assert "  starts job 2 flip (not started in its last launch)" in top
    _, _, runs = runs_by_name(uri)
    assert runs["none"].info.run_id == job_run  # resumed in the same run
    assert {run.info.status for run in runs.values()} == {"KILLED"}


def wait_until(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def tag_values(db: Path, key: str) -> list[str]:
    """The values of tag ``key`` in a SQLite store, read-only (the sweep writes it)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        return [value for (value,) in con.execute("SELECT value FROM tags WHERE key = ?", (key,))]


def pid_exists(pid: int) -> bool:
    """Whether process ``pid`` lives (a zombie, dead but not yet waited for, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def log_text(tmp_path: Path) -> str:
    return "".join(path.read_text() for path in sorted((tmp_path / "logs").glob("*.log")))
