"""Sweeps on a real SLURM (one node on this machine: ``scripts/local_slurm.sh``) with
``hydra/launcher=slurm`` and CPU-only settings: every job a task of a SLURM job array; a job
cancelled mid-sweep is listed killed and resumed by a relaunch; a job warned of its time
limit or preempted is requeued and resumes its run by itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL
from tests.helpers.slurm import CPU_ONLY, local_slurm, slurm_job_of, slurm_missing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def slurm_conf():
    """A running single-node SLURM for the session (``SLURM_CONF`` set); skipped, saying
    why, only where SLURM is not installed outside CI (in CI the packages must be there)."""
    reason = slurm_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"SLURM is needed in CI: {reason}")
        pytest.skip(reason)
    with local_slurm() as conf:
        before = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = conf  # sbatch, squeue, scancel of the tests and submitit
        try:
            yield conf
        finally:
            if before is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = before


def sweep_command(tmp_path, *overrides: str) -> list[str]:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    return [sys.executable, str(ROOT / "train.py"), "-m", *CPU_ONLY, *SMALL,
            f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/sweep", *overrides]  # fmt: skip


def start_sweep(tmp_path, *overrides: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_RUN_ID", None)
    command = sweep_command(tmp_path, *overrides)
    return subprocess.Popen(command, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip


def when_logged(process, tmp_path, epochs: int, min_logged: int = 1, timeout: float = 180):
    """The SLURM job id of the sweep's job of ``trainer.epochs=EPOCHS`` once its run has
    logged ``min_logged`` epochs."""
    deadline = time.monotonic() + timeout
    db = tmp_path / "mlruns" / "mlflow.db"
    while (job := slurm_job_of(db, epochs, min_logged)) is None:
        assert time.monotonic() < deadline and process.poll() is None, "no epoch logged"
        time.sleep(0.2)
    return job


def runs_by_epochs(tmp_path):
    """The store's client and its job runs, by their ``trainer.epochs`` param."""
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep"]
    children = {int(r.data.params["trainer.epochs"]): r for r in runs if r not in parents}
    return client, parents, children


def logs(tmp_path) -> str:
    """Every SLURM job's output, as submitit keeps it (``.submitit/<array>_<task>/``)."""
    files = sorted((tmp_path / "sweep").glob(".submitit/*/*_log.*"))
    return "\n".join(path.read_text() for path in files)


def test_a_slurm_sweep_runs_every_job_as_a_slurm_job_nested_with_its_report(slurm_conf, tmp_path):
    process = start_sweep(tmp_path, "trainer.epochs=2,3")
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:] + logs(tmp_path)[-3000:]
    client, parents, children = runs_by_epochs(tmp_path)
    assert [p.info.status for p in parents] == ["FINISHED"]
    assert {k: r.info.status for k, r in children.items()} == {2: "FINISHED", 3: "FINISHED"}
    for run in children.values():
        assert run.data.tags[Tag.PARENT] == parents[0].info.run_id
        assert run.data.tags[Tag.ATTEMPT].startswith("slurm:")
        assert run.data.tags[Tag.ATTEMPT].endswith("/0")  # a SLURM job, its first attempt
    assert (tmp_path / "sweep" / "summary.md").is_file()
    assert "report.html" in {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert "jobs: trained 2" in output
    # SLURM keeps no accounting here: said once, not a sacct warning at every poll.
    assert "Bypassing sacct error" not in output
    assert output.count("job states from squeue instead") == 1


def test_a_cancelled_slurm_job_is_listed_killed_and_a_relaunch_resumes_it(slurm_conf, tmp_path):
    process = start_sweep(tmp_path, "trainer.epochs=60,3")
    try:
        job = when_logged(process, tmp_path, 60)
        subprocess.run(["scancel", job], check=True)
        output, _ = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 1, output[-3000:]
    _, parents, children = runs_by_epochs(tmp_path)
    assert parents[0].info.status == "KILLED"
    assert (children[60].info.status, children[3].info.status) == ("KILLED", "FINISHED")
    assert "jobs: trained 1, killed 1" in output, output[-3000:]

    again = start_sweep(tmp_path, "trainer.epochs=60,3")
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output[-3000:]
    client, _, resumed = runs_by_epochs(tmp_path)
    assert resumed[60].info.run_id == children[60].info.run_id  # the same run, resumed
    assert resumed[60].info.status == "FINISHED"
    history = client.get_metric_history(resumed[60].info.run_id, "val_accuracy")
    assert sorted(m.step for m in history) == list(range(60))  # each epoch once
    assert "resumed 1, skipped 1" in output or "skipped 1, resumed 1" in output, output[-2000:]


def test_a_warned_and_a_requeued_slurm_job_resume_their_runs_by_themselves(slurm_conf, tmp_path):
    # Job 40 gets SLURM's warning before its time limit (submitit's USR2, as
    # `--signal=USR2@120` sends it); job 41 is requeued by an admin (as a preemption with
    # PreemptMode=REQUEUE). Each job's next attempt continues the same run from its last
    # epoch, and the sweep ends well, with no relaunch.
    process = start_sweep(tmp_path, "trainer.epochs=40,41")
    try:
        warned = when_logged(process, tmp_path, 40, min_logged=2)
        subprocess.run(["scancel", "--signal=USR2", warned], check=True)
        requeued = when_logged(process, tmp_path, 41, min_logged=2)
        subprocess.run(["scontrol", "requeue", requeued], check=True)
        output, _ = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, output[-3000:] + logs(tmp_path)[-4000:]
    client, parents, children = runs_by_epochs(tmp_path)
    assert parents[0].info.status == "FINISHED"
    for epochs, job in ((40, warned), (41, requeued)):
        run = children[epochs]
        assert run.info.status == "FINISHED"
        assert run.data.tags[Tag.ATTEMPT] == f"slurm:{job}/1"  # its second attempt closed it
        assert int(run.data.tags[Tag.RESUMED]) >= 2
        for key in ("val_accuracy", "accuracy", "clean_accuracy", "val_loss"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert sorted(steps) == list(range(epochs)), (key, steps)
    assert "jobs: resumed 2" in output, output[-2000:]
    assert "SLURM's warning signal (SIGUSR2)" in logs(tmp_path)
    # The warned attempt's job line says why it stopped, not "Ctrl-C" (the requeued job's
    # does say SIGTERM: `scontrol requeue` sends one).
    assert re.search(r"killed after [^:]+: SLURM's warning signal \(SIGUSR2\): requeued, to resume",
                     logs(tmp_path))  # fmt: skip
