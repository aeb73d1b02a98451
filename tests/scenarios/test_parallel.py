"""Parallel jobs on one machine: joblib's launcher (loky workers, reused from job to job),
many processes opening a new SQLite store at once, and the GPU slot pool.

Real processes throughout. The four-processes race runs twice here, marked slow: one
repetition (4 TensorFlow starts at once) took 90-110 s on the 2-core development machine;
``scripts/bench.py --section parallel`` repeats it 5 times (20 of 20 FINISHED, 92 s each).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from augsweep.config.run_key import run_key
from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, compose_config, run_cli
from tests.tracking.test_relaunch import HOLD_KEY

EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "clean_loss", "clean_accuracy",
                 "gap")  # fmt: skip
# What a race on the store looks like: a schema migration run twice, or a write given up.
STORE_ERRORS = re.compile(r"database is locked|alembic|already exists|duplicate column|schema",
                          re.IGNORECASE)  # fmt: skip
JOBLIB = ["hydra/launcher=joblib"]


def sweep(tmp_path: Path, *overrides: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``python train.py -m`` on a new store under ``tmp_path``."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    result = run_cli(str(ROOT / "train.py"), "-m", *SMALL, *overrides, f"tracking.uri={uri}",
                     f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)  # fmt: skip
    return result, uri


def parent_and_jobs(uri: str):
    """The client, the sweep's parent run (there must be one) and its jobs' runs."""
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    (parent,) = [r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep"]
    return client, parent, [r for r in runs if r.info.run_id != parent.info.run_id]


def store_errors(tmp_path: Path, output: str) -> list[str]:
    """Lines of the output and of every job's log that tell of a race on the store."""
    texts = [output] + [log.read_text() for log in tmp_path.glob("sweep/*/*.log")]
    return [line for text in texts for line in text.splitlines() if STORE_ERRORS.search(line)]


@pytest.mark.slow
def test_eight_joblib_jobs_on_a_new_sqlite_store(tmp_path):
    result, uri = sweep(tmp_path, *JOBLIB, "hydra.launcher.n_jobs=4", "seed=range(8)")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert not store_errors(tmp_path, output)
    client, parent, jobs = parent_and_jobs(uri)
    assert parent.info.status == "FINISHED"
    assert len(jobs) == 8 and {r.info.status for r in jobs} == {"FINISHED"}
    assert {r.data.tags[Tag.PARENT] for r in jobs} == {parent.info.run_id}
    assert sorted(r.info.run_name for r in jobs) == [f"none,seed={n}" for n in range(8)]
    for run in jobs:
        for key in EPOCH_METRICS:  # nothing lost, nothing twice
            steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
            assert steps == [0, 1], (run.info.run_name, key)
    assert "8 jobs: trained 8" in result.stdout
    assert (tmp_path / "sweep" / "summary.md").exists()
    workers = {r.data.tags[Tag.OWNER] for r in jobs}
    assert 1 < len(workers) <= 4  # jobs ran in several worker processes, at most n_jobs


@pytest.mark.slow
def test_a_failed_joblib_job_fails_the_sweep_after_the_others_and_the_report(tmp_path):
    args = (*JOBLIB, "hydra.launcher.n_jobs=2", "trainer.epochs=1",
            "trainer.learning_rate=1e6,0.001")  # fmt: skip
    result, uri = sweep(tmp_path, *args)
    assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
    _, parent, jobs = parent_and_jobs(uri)
    runs = {r.info.run_name: r for r in jobs}
    assert runs["none,trainer.learning_rate=0.001"].info.status == "FINISHED"
    assert runs["none,trainer.learning_rate=1000000.0"].info.status == "FAILED"
    assert parent.info.status == "FAILED"
    assert "2 jobs: trained 1, failed 1" in result.stdout
    assert "trainer.learning_rate=1000000.0" in (tmp_path / "sweep" / "summary.md").read_text()

    # A relaunch under joblib trains neither; the diverged run's job still fails (exit 1).
    again, _ = sweep(tmp_path, *args)
    assert again.returncode == 1, (again.stdout + again.stderr)[-3000:]
    assert "2 jobs: skipped 1, failed 1" in again.stdout, (again.stdout + again.stderr)[-3000:]
    _, parent_again, jobs_again = parent_and_jobs(uri)
    assert parent_again.info.run_id == parent.info.run_id
    assert {r.info.run_id for r in jobs_again} == {r.info.run_id for r in jobs}


def start_together(tmp_path: Path, seeds: range) -> list[subprocess.Popen]:
    """``python train.py seed=N`` for each seed, all started at once on one new store."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    args = [*SMALL, "trainer.epochs=1", f"tracking.uri={uri}"]
    return [start_train(tmp_path, *args, f"seed={seed}", f"hydra.run.dir={tmp_path}/run{seed}")
            for seed in seeds]  # fmt: skip


def start_train(tmp_path: Path, *args: str) -> subprocess.Popen:
    """``python train.py ARGS`` started in ``tmp_path``, its output (both streams) piped."""
    command = [sys.executable, str(ROOT / "train.py"), *args]
    return subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.slow
def test_four_processes_started_together_on_a_new_store_all_finish(tmp_path):
    processes = start_together(tmp_path, range(4))
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
        assert not STORE_ERRORS.search(output), output[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    (experiment,) = [e for e in client.search_experiments() if e.name == "augsweep"]
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["seed"] for r in runs) == ["0", "1", "2", "3"]
    assert {r.info.status for r in runs} == {"FINISHED"}


OPEN_STORE = """
import sys
from augsweep.tracking import store
client = store.connect(sys.argv[1])
experiment_id = store.ensure_experiment(client, "augsweep")
with store.tracked_run(client, experiment_id, sys.argv[2], {}):
    import mlflow
    for step in range(3):
        mlflow.log_metrics({"loss": 1.0 / (step + 1), "accuracy": step / 3}, step=step)
"""


@pytest.mark.slow
def test_six_processes_create_one_store_at_once(tmp_path):
    """The lock alone, without TensorFlow: every process opens the new store, finds one
    experiment, and logs all its points. (Without the lock, every one of 6 processes failed
    here: ``table _alembic_tmp_latest_metrics already exists``, ``database is locked``.)"""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_STORE, uri, f"p{n}"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for n in range(6)
    ]
    for process in processes:
        output = process.communicate(timeout=120)[0]
        assert process.returncode == 0, output[-3000:]
        assert not STORE_ERRORS.search(output), output[-3000:]
    client = MlflowClient(uri)
    assert [e.name for e in client.search_experiments()] == ["augsweep", "Default"]
    runs = client.search_runs(["1"])
    assert sorted(r.info.run_name for r in runs) == [f"p{n}" for n in range(6)]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "loss")) == 3


@pytest.mark.slow
def test_a_gpu_pool_never_gives_one_slot_to_two_jobs(tmp_path):
    """Fake GPU ids (explicit lists are taken as given): 4 jobs, 4 workers, 2 slots."""
    result, uri = sweep(tmp_path, *JOBLIB, "hydra.launcher.n_jobs=4", "trainer.epochs=1",
                        "seed=0,1,2,3", "resources.gpus=[0,1]", "resources.jobs_per_gpu=1",
                        f"resources.lock_dir={tmp_path}/slots")  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    _, _, jobs = parent_and_jobs(uri)
    assert len(jobs) == 4
    by_slot: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for run in jobs:
        slot = (run.data.tags["augsweep.gpu"], run.data.tags["augsweep.gpu_slot"])
        by_slot.setdefault(slot, []).append((run.info.start_time, run.info.end_time))
    assert set(by_slot) <= {("0", "0"), ("1", "0")}
    for slot, spans in by_slot.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"slot {slot} held by two jobs at once: {spans}"
    assert "waiting for a GPU slot" in result.stdout  # 4 workers, 2 slots: some waited


@pytest.mark.slow
def test_two_overlapping_sweeps_at_once_train_each_run_key_once(tmp_path):
    """Two launches of the same sweep at once on one store (no compare-and-set in MLflow):
    both looked the first key up before either created its run, and both trained it (4 of
    4 launches before the run key's lock; with 5 epochs one crashed on the other's
    checkpoint). Now the second finds the key locked and says where it runs."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    processes = [
        start_train(tmp_path, "-m", *SMALL, "seed=0,1", "trainer.epochs=1",
                    f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/sweep{n}")
        for n in range(2)
    ]  # fmt: skip
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    jobs = [r for r in runs if r.data.tags.get(Tag.ROLE) != "sweep"]
    assert sorted(r.data.params["seed"] for r in jobs) == ["0", "1"]  # one run per key
    assert {r.info.status for r in jobs} == {"FINISHED"}
    both = "".join(outputs)
    assert both.count(": trained in") == 2, both[-3000:]
    # The other launch's job of each key: running elsewhere (the first still trains it) or
    # skipped as finished (it was done), as the two launches' timing has it.
    others = len(re.findall(r"skipped: running elsewhere \(host \S+, pid \d+\)", both))
    assert others + both.count(": skipped (finished run") == 2, both[-3000:]


@pytest.mark.slow
def test_a_key_that_another_process_holds_is_skipped_as_running_elsewhere(tmp_path):
    # Deterministic: the key's lock is held while the launch looks its key up.
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    overrides = [*SMALL, "trainer.epochs=1", f"tracking.uri={uri}"]
    lock = tmp_path / "mlruns" / "checkpoints" / f"{run_key(compose_config(*overrides))}.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_KEY, str(lock)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "None"  # it holds the lock
        result = run_cli(str(ROOT / "train.py"), *overrides, f"hydra.run.dir={tmp_path}/run",
                         cwd=tmp_path)  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"skipped: running elsewhere (host {os.uname().nodename}, pid {holder.pid})" in (
        result.stdout
    ), result.stdout[-3000:]
    client = MlflowClient(uri)
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []
