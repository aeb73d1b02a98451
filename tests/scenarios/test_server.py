"""Tracking through a real ``mlflow server`` on 127.0.0.1: a store that is not there fails
at once; eight jobs through ``make server``; a server lost mid-run and back 60 s later
(its epochs spooled, then sent exactly once); the spool replayed by
``python -m augsweep.tracking.sync``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from augsweep.metrics import SUMMARY as SUMMARY_KEYS
from augsweep.tracking import probe, spool
from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, epochs_per_run, run_cli
from tests.helpers.server import Server, free_port, mlflow_server

TRAIN = str(ROOT / "train.py")


def assert_every_epoch_once(client: MlflowClient, run, epochs: int) -> None:
    """Every per-epoch metric of ``run`` has exactly steps 0..epochs-1, once each."""
    keys = [key for key in run.data.metrics if key not in SUMMARY_KEYS]
    assert {"val_accuracy", "clean_accuracy", "gap", "loss"} <= set(keys)
    for key in keys:
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert steps == list(range(epochs)), (run.info.run_name, key, steps)


# --- a store that is not there: seconds, one message, nothing created ---------------------


def test_an_unreachable_server_fails_at_once_naming_it(tmp_path, private_cache_dir):
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    result = run_cli(
        TRAIN,
        *SMALL,
        "tracking=server",
        f"tracking.uri={uri}",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
    )
    seconds = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert seconds < 30
    assert f"augsweep: no MLflow tracking server answers at tracking.uri={uri}" in result.stderr
    assert "make server" in result.stderr and "Traceback" not in output
    assert not (tmp_path / "mlruns").exists() and not private_cache_dir.exists()


def test_a_sweep_against_an_unreachable_server_starts_no_job(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    result = run_cli(
        TRAIN,
        "-m",
        *SMALL,
        "tracking=server",
        f"tracking.uri={uri}",
        "seed=0,1",
        f"hydra.sweep.dir={tmp_path}/sweep",
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"tracking.uri={uri}" in result.stderr and "make server" in result.stderr
    assert "job 1/" not in output and "Traceback" not in output
    assert not (tmp_path / "sweep" / "sweep.json").exists()


def test_a_sqlite_store_under_a_file_fails_at_once(tmp_path):
    # Root writes anywhere, whatever the folder's mode: a path below a regular file can be
    # created by nobody. (The read-only folder itself: the next test, as a non-root user.)
    (tmp_path / "afile").write_text("")
    uri = f"sqlite:///{tmp_path}/afile/mlruns/mlflow.db"
    result = run_cli(
        TRAIN, *SMALL, f"tracking.uri={uri}", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot write the SQLite store of tracking.uri={uri}" in result.stderr
    assert f"{tmp_path}/afile is a file, not a folder" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def as_non_root() -> list[str]:
    """The command prefix that runs this Python as a non-root user: none when not root,
    else ``runuser -u nobody --``. Skips where that cannot work: root writes into any
    folder, so the check rightly passes for root (the file-as-folder test covers root)."""
    if os.geteuid() != 0:
        return []
    prefix = ["runuser", "-u", "nobody", "--"]
    if not shutil.which("runuser"):
        pytest.skip("running as root without runuser: no non-root user to test with")
    probe_run = subprocess.run(
        [*prefix, sys.executable, "-c", "import augsweep"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    if probe_run.returncode != 0:
        pytest.skip(
            f"user nobody cannot run {sys.executable} (e.g. under root's 0700 home): "
            f"{probe_run.stderr.strip()[:200]}"
        )
    return prefix


def test_a_sqlite_store_in_a_read_only_folder_fails_at_once():
    prefix = as_non_root()
    base = Path(tempfile.mkdtemp(prefix="augsweep-ro-"))  # pytest's tmp_path is root-only
    try:
        base.chmod(0o755)
        (base / "readonly").mkdir(mode=0o555)
        (base / "work").mkdir(mode=0o777)
        (base / "work").chmod(0o777)
        uri = f"sqlite:///{base}/readonly/mlruns/mlflow.db"
        env = {
            **os.environ,
            "AUGSWEEP_CACHE_DIR": str(base / "work" / "cache"),
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
        result = subprocess.run(
            [
                *prefix,
                sys.executable,
                TRAIN,
                *SMALL,
                f"tracking.uri={uri}",
                f"hydra.run.dir={base}/work/run",
            ],
            cwd=base / "work",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"the folder {base}/readonly is not writable" in result.stderr
        assert not (base / "readonly" / "mlruns").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_check_store_creates_nothing_and_bounds_mlflow_retries(tmp_path, monkeypatch):
    for name in probe.HTTP_RETRY_LIMITS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "7")  # the user's own choice stays
    probe.check_store(f"sqlite:///{tmp_path}/a/b/mlflow.db")
    assert not (tmp_path / "a").exists()
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"


# --- through a real server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("server")) as started:
        yield started


@pytest.mark.slow
def test_eight_jobs_through_make_server(server, tmp_path):
    # Four writers at once (joblib), as a team's jobs would be.
    seeds = ",".join(str(seed) for seed in range(8))
    result = run_cli(
        TRAIN,
        "-m",
        *SMALL,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=4",
        "tracking=server",
        f"tracking.uri={server.uri}",
        "tracking.experiment=eight",
        f"seed={seeds}",
        f"hydra.sweep.dir={tmp_path}/sweep",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("eight")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep")
    jobs = [r for r in runs if r.data.tags.get(Tag.PARENT) == parent.info.run_id]
    assert len(runs) == 9 and len(jobs) == 8
    assert {r.info.status for r in runs} == {"FINISHED"}
    for run in jobs:
        assert_every_epoch_once(client, run, epochs=2)
    # Artifacts go through the server, into the store's artifacts/ folder.
    assert {f.path for f in client.list_artifacts(jobs[0].info.run_id)} >= {"history.csv"}
    assert list((server.store / "artifacts").rglob("history.csv"))


@pytest.mark.slow
def test_the_spool_is_sent_exactly_once_by_sync(server, private_cache_dir):
    client = MlflowClient(server.uri)
    experiment_id = client.create_experiment("spooled")
    run_id = client.create_run(experiment_id, run_name="lost").info.run_id
    client.log_metric(run_id, "val_accuracy", 0.5, step=0)  # sent before the server went
    folder = spool.spool_dir()
    folder.mkdir(parents=True)
    records = [{"kind": "run", "uri": server.uri, "run_id": run_id}]
    for step in range(3):  # step 0 reached the server, though its answer was lost
        records.append(
            {
                "kind": "metrics",
                "run_id": run_id,
                "step": step,
                "timestamp": 1000 + step,
                "values": {"val_accuracy": 0.5 + step / 10},
            }
        )
    records.append(
        {"kind": "end", "run_id": run_id, "status": "FINISHED", "error": None, "end_time": 2000}
    )
    (folder / f"{run_id}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run_cli("-m", "augsweep.tracking.sync")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"run {run_id} ({server.uri}): sent" in result.stdout
    steps = [m.step for m in client.get_metric_history(run_id, "val_accuracy")]
    assert sorted(steps) == [0, 1, 2]
    assert client.get_run(run_id).info.status == "FINISHED"
    assert not list(folder.glob("*.jsonl"))
    again = run_cli("-m", "augsweep.tracking.sync")
    assert again.returncode == 0 and "0 sent, 0 left" in again.stdout


@pytest.mark.slow
def test_a_server_lost_mid_run_for_60_s(tmp_path, private_cache_dir):
    """The server is killed after epoch 2 and started again 60 s later (same port, same
    store): training goes on, the run ends FINISHED with every epoch once."""
    epochs = 12
    server = Server(tmp_path / "store", free_port())
    server.start()
    process = None
    try:
        args = [
            TRAIN,
            *SMALL,
            f"trainer.epochs={epochs}",
            "tracking=server",
            f"tracking.uri={server.uri}",
            f"hydra.run.dir={tmp_path}/run",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        db = server.store / "mlflow.db"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if (epochs_per_run(db) or [0])[0] >= 2:
                break
            time.sleep(0.05)
        server.stop(signal.SIGKILL)  # a crash, mid-run
        killed_at = epochs_per_run(db)[0]
        assert killed_at < epochs
        time.sleep(60)
        server.start()
        output, _ = process.communicate(timeout=300)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
        server.stop()
    assert process.returncode == 0, output
    assert "does not answer: training goes on" in output
    server.start()  # to read what it stored
    try:
        client = MlflowClient(server.uri)
        [run] = client.search_runs([client.get_experiment_by_name("augsweep").experiment_id])
        assert run.info.status == "FINISHED"
        assert_every_epoch_once(client, run, epochs)
        assert set(SUMMARY_KEYS) <= set(run.data.metrics)
    finally:
        server.stop()
    assert not list((private_cache_dir / "spool").glob("*.jsonl"))


@pytest.mark.slow
def test_a_server_away_past_the_wait_leaves_a_spool_the_relaunch_sends(tmp_path):
    """The server does not come back within tracking.reconnect_wait_s: the job exits 1
    saying where its spool is; the relaunch (server back) sends it and resumes the run from
    its checkpoint to its end: FINISHED, every epoch once."""
    epochs = 8
    server = Server(tmp_path / "store", free_port())
    server.start()
    args = [TRAIN, *SMALL, f"trainer.epochs={epochs}", "tracking=server",
            f"tracking.uri={server.uri}", "tracking.reconnect_wait_s=3",
            f"hydra.run.dir={tmp_path}/run"]  # fmt: skip
    try:
        process = subprocess.Popen([sys.executable, *args], cwd=tmp_path, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        while process.poll() is None and (epochs_per_run(server.store / "mlflow.db") or [0])[0] < 2:
            time.sleep(0.05)
        server.stop(signal.SIGKILL)
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 1, output
        assert "augsweep: the tracking server" in output and "augsweep.tracking.sync" in output
        assert "Traceback" not in output
        server.start()
        again = run_cli(*args, cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "sent the spool of run" in again.stdout and f"from epoch {epochs}" in again.stdout
        client = MlflowClient(server.uri)
        [run] = client.search_runs([client.get_experiment_by_name("augsweep").experiment_id])
        assert run.info.status == "FINISHED"
        assert_every_epoch_once(client, run, epochs)
    finally:
        server.stop()


@pytest.mark.slow
def test_a_server_blip_between_jobs_costs_no_job(tmp_path, private_cache_dir):
    """The server stops right after job 1 of a 3-job sweep and is back 10-20 s later (same
    port, same store): the sweep's start reached it, so job 2's start waits for it as a
    running job would; every job FINISHED, the report written, the parent FINISHED."""
    server = Server(tmp_path / "store", free_port())
    server.start()
    args = [TRAIN, "-m", *SMALL, "augment=none,flip,flip_rot_zoom", "tracking=server",
            f"tracking.uri={server.uri}", "tracking.reconnect_wait_s=90",
            f"hydra.sweep.dir={tmp_path}/sweep"]  # fmt: skip
    process = subprocess.Popen([sys.executable, *args], cwd=tmp_path, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("job 1/3 none: trained"):
                # Between jobs: held there while the server goes away, so that job 2
                # starts against no server.
                process.send_signal(signal.SIGSTOP)
                break
        server.stop()
        process.send_signal(signal.SIGCONT)
        time.sleep(5)
        server.start()
        output = "".join(lines) + process.communicate(timeout=300)[0]
    finally:
        process.kill()
        server.stop()
    assert process.returncode == 0, output[-5000:]
    waiting = f"job 2/3 flip: the tracking server {server.uri} does not answer: waiting"
    assert waiting in output and "3 jobs: trained 3" in output, output[-5000:]
    assert (tmp_path / "sweep" / "summary.md").exists()
    # What the server stored, read from its store (no third start of the server).
    with contextlib.closing(sqlite3.connect(server.store / "mlflow.db")) as con:
        runs = dict(con.execute("SELECT name, status FROM runs").fetchall())
        (parent,) = con.execute("SELECT run_uuid FROM runs WHERE name LIKE 'sweep %'").fetchone()
    assert sorted(runs)[:3] == ["flip", "flip_rot_zoom", "none"]
    assert list(runs.values()) == ["FINISHED"] * 4, runs  # the parent too
    logged = {path.name for path in server.store.glob(f"artifacts/*/{parent}/artifacts/*")}
    assert {"report.html", "summary.md"} <= logged
    assert not list((private_cache_dir / "spool").glob("*.jsonl"))
