"""``augsweep status``: a sweep's progress from MLflow alone (running, finished, killed), and
what a sweep's console shows meanwhile (an epoch line per epoch, no native chatter)."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augsweep.commands import main
from augsweep.outcomes import Outcome
from augsweep.tracking.status import JobCounts
from tests.helpers import ROOT, SMALL, epochs_per_run, run_cli

TF_START_UP = ("oneDNN", "cuda_platform", "cpu_feature_guard", "cudart_stub", "absl::")


def test_counts_say_what_became_of_each_job_and_how_long_is_left():
    records = {
        0: {"outcome": Outcome.TRAINED, "seconds": 10.0},
        1: {"outcome": Outcome.SKIPPED, "seconds": 1.0},
        2: {"outcome": Outcome.FAILED, "seconds": 3.0},
        3: {"outcome": Outcome.STARTED},
    }
    counts = JobCounts.of(records, planned=6)
    assert counts.text() == (
        "2 finished (1 trained, 1 skipped), 1 running, 1 failed, 2 not started"
    )
    assert counts.left == 3
    assert counts.eta_s([4.0]) == 4.0 + 2 * 10.0  # the running job's rest, then 2 trained ones
    nothing_timed = JobCounts.of({0: {"outcome": Outcome.STARTED}}, 2)
    assert nothing_timed.eta_s() is None
    assert nothing_timed.eta_s([3.0], per_job_guess=5.0) == 3.0 + 5.0  # the running job's guess


def status(capsys, uri: str, *args: str) -> str:
    """``augsweep status`` as its program runs it, in this process (MLflow already loaded:
    the store is the real one, the sweep a real subprocess)."""
    capsys.readouterr()
    assert main(["status", "--tracking-uri", uri, *args]) == 0
    return capsys.readouterr().out


def test_status_of_a_store_that_is_not_there_creates_nothing(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path}/nothing/mlflow.db"
    with pytest.raises(SystemExit) as exit_:
        main(["status", "--tracking-uri", uri])
    assert exit_.value.code == 2
    assert f"no store at {tmp_path}/nothing/mlflow.db" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


def sweep_args(tmp_path: Path, uri: str, *overrides: str) -> list[str]:
    return ["train.py", "-m", "augment=none,flip", *SMALL, f"tracking.uri={uri}",
            f"hydra.sweep.dir={tmp_path}/multirun", *overrides]  # fmt: skip


@pytest.mark.slow
def test_a_finished_sweep_its_console_and_its_status(tmp_path, tracking_uri, monkeypatch, capsys):
    monkeypatch.setenv("AUGSWEEP_PROGRESS_EVERY_S", "0")  # a line for every (short) epoch
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    done = run_cli(*sweep_args(tmp_path, tracking_uri, "trainer.epochs=3"))
    assert done.returncode == 0, done.stderr
    for job in ("job 1/2 none", "job 2/2 flip"):
        for k in (1, 2, 3):
            line = rf"^{job}: epoch {k}/3  loss .* s/epoch  ETA (at most )?\d"
            assert re.search(line, done.stdout, re.M)
    assert re.search(r"^sweep \S+: 1/2 jobs ended: 1 finished, .*; ETA \d.* s$", done.stdout, re.M)
    assert not re.search(r"#\d+ : ", done.stdout)  # Hydra's job lines: augsweep's say it
    for noise in (*TF_START_UP, "Creating initial MLflow database tables"):
        assert noise not in done.stderr
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    shown = status(capsys, tracking_uri)
    assert re.search(r"^sweep \S+: FINISHED", shown, re.M)
    assert "  2 jobs: 2 finished, 0 running, 0 failed, 0 not started" in shown
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # status never writes
    assert sorted(p.name for p in db.parent.iterdir()) == sorted(
        ["mlflow.db", "mlflow.db.lock", "artifacts", "checkpoints"]
    )


@pytest.mark.slow
def test_status_of_a_running_sweep_then_of_the_same_sweep_killed(tmp_path, tracking_uri, capsys):
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    args = sweep_args(tmp_path, tracking_uri, "trainer.epochs=1000")
    sweep = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(epochs_per_run(db)) < 3:
            assert sweep.poll() is None
            time.sleep(0.2)
        running = status(capsys, tracking_uri)
        assert re.search(r"^sweep \S+: RUNNING", running, re.M)
        assert "  2 jobs: 0 finished, 1 running, 0 failed, 1 not started; ETA" in running
        epoch = re.search(r"^  job 1 none: epoch (\d+)/1000, .*last heartbeat", running, re.M)
        assert epoch and int(epoch.group(1)) >= 3, running
        assert "probably dead" not in running
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=30)
    finally:
        sweep.kill()
    killed = status(capsys, tracking_uri)
    assert re.search(r"^sweep \S+: RUNNING, .*: probably dead", killed, re.M)
    assert re.search(r"^  job 1 none: epoch \d+/1000, .*: probably dead", killed, re.M)
