"""A night on a box with parallel jobs (``hydra/launcher=joblib``): one job's process killed
(the kernel's OOM killer sends SIGKILL) costs only that job, and a killed sweep leaves no
worker behind. Real processes of ``train.py -m`` and real ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, owner_pid, run_cli

JOBLIB = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
REPORT_FILES = ("summary.md", "summary.csv")
OOM = "its process died: signal 9 (SIGKILL), likely out of memory"


def sweep_args(tmp_path: Path, *overrides: str) -> tuple[list[str], Path]:
    """``train.py -m`` under joblib with 2 workers, on a new store under ``tmp_path``."""
    db = tmp_path / "mlruns" / "mlflow.db"
    args = [str(ROOT / "train.py"), "-m", *JOBLIB, *SMALL, *overrides,
            f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp_path}/sweep"]  # fmt: skip
    return args, db


def start(args: list[str], log: Path) -> subprocess.Popen:
    """Start ``python ARGS``, its output (and its workers') into ``log``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, *args], cwd=log.parent, env=env, text=True,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def pids_once_training(process: subprocess.Popen, db: Path, names: list[str]) -> list[int]:
    """The pids of the processes training ``names``, once each has logged an epoch."""
    deadline = time.monotonic() + 180
    while None in (pids := [owner_pid(db, name) for name in names]):
        assert time.monotonic() < deadline and process.poll() is None, "no epoch logged"
        time.sleep(0.1)
    return pids


def runs_by_name(db: Path) -> tuple[dict, dict]:
    """The sweep's parent run and its jobs' runs by name."""
    client = MlflowClient(f"sqlite:///{db}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    (parent,) = [r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep"]
    return parent, {r.info.run_name: r for r in runs if r is not parent}


@pytest.mark.slow
def test_a_killed_worker_costs_only_its_job_and_a_relaunch_resumes_it(tmp_path):
    # Jobs 1 and 2 start together; job 1's process is killed mid-training while job 2 trains
    # on; job 3 then starts in a worker of its own. Before, loky's broken pool killed job 2
    # and the sweep ended at once (TerminatedWorkerError), job 3 never started.
    args, db = sweep_args(tmp_path, "trainer.epochs=12", "seed=0,1,2")
    process = start(args, tmp_path / "sweep.log")
    try:
        (killed,) = pids_once_training(process, db, ["none,seed=0"])
        os.kill(killed, signal.SIGKILL)
        killed_at = time.time()
        assert process.wait(timeout=180) == 1
    finally:
        process.kill()
    output = (tmp_path / "sweep.log").read_text()
    parent, runs = runs_by_name(db)
    expected = {"none,seed=0": "KILLED", "none,seed=1": "FINISHED", "none,seed=2": "FINISHED"}
    assert {name: run.info.status for name, run in runs.items()} == expected, output[-3000:]
    assert runs["none,seed=1"].info.end_time / 1000 > killed_at  # it was in flight, and went on
    assert not runs["none,seed=1"].data.tags[Tag.OWNER].endswith(f":{killed}")  # another worker
    assert parent.info.status == "KILLED"
    assert f"job 1/3 none,seed=0: killed: {OOM}" in output
    assert "3 jobs: trained 2, killed 1" in output
    assert f"  job 1 none,seed=0: killed: {OOM}" in output
    cut = runs["none,seed=0"].info.run_id
    for name in REPORT_FILES:
        assert (tmp_path / "sweep" / name).exists(), name
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert f"| 1 | none,seed=0 | killed | {cut} | {OOM} |" in summary

    again = run_cli(*args, cwd=tmp_path, timeout=300)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert "none,seed=0: resumed from epoch" in again.stdout
    assert "3 jobs: resumed 1, skipped 2" in again.stdout
    parent, runs = runs_by_name(db)
    assert runs["none,seed=0"].info.run_id == cut and runs["none,seed=0"].info.status == "FINISHED"
    assert parent.info.status == "FINISHED"


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, dead but not yet waited for, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    """The pids of process ``pid``'s children (its loky workers and resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes in /proc")
def test_workers_of_a_sweep_killed_with_sigkill_end_their_runs_and_exit(tmp_path):
    # Before, the workers trained on (about 1.1 GB each) and their runs stayed RUNNING.
    args, db = sweep_args(tmp_path, "trainer.epochs=300", "seed=0,1")
    process = start(args, tmp_path / "sweep.log")
    started = []
    try:
        workers = pids_once_training(process, db, ["none,seed=0", "none,seed=1"])
        started = children(process.pid)
        assert set(workers) <= set(started)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = [pid for pid in started if alive(pid)]
        assert not left, f"processes left after 30 s: {left}"
    finally:
        process.kill()
        for pid in started:  # an orphan left by a failed test would train on
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    _, runs = runs_by_name(db)
    assert {name: run.info.status for name, run in runs.items()} == {
        "none,seed=0": "KILLED",
        "none,seed=1": "KILLED",
    }, (tmp_path / "sweep.log").read_text()[-3000:]
