"""``trainer.keras_backend=jax`` where TensorFlow cannot be imported (as on the GPU box):
sweeps on digits and on a folder of photos, their report, a SIGKILLed run resumed in the
same run, and what stays TensorFlow-only refused. Real subprocesses of ``train.py``, with
``import tensorflow`` shadowed by ``tests/helpers/no_tensorflow``."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, signal_at_epoch
from tests.helpers.imagefiles import class_folder

NO_TENSORFLOW = ROOT / "tests" / "helpers" / "no_tensorflow"
JAX = ["trainer.keras_backend=jax"]
SWEEP = ["-m", *JAX, "augment=none,flip_rot_zoom", "seed=0,1"]


@pytest.fixture
def without_tensorflow(monkeypatch):
    """``import tensorflow`` fails in the subprocesses this test starts."""
    paths = [str(NO_TENSORFLOW), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")


def train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def job_runs(uri: str) -> list:
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return [r for r in runs if r.data.tags.get(Tag.ROLE) != "sweep"]


def test_the_shadow_really_hides_tensorflow(without_tensorflow, tmp_path):
    result = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True,
                            text=True, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1 and "ImportError" in result.stderr


@pytest.mark.parametrize(
    "override",
    ["augment.placement=dataset", "dataset=tf_flowers", "augment.backend=albumentations"],
)
def test_what_needs_tensorflow_is_refused_on_jax_before_anything(
    without_tensorflow, tmp_path, override
):
    result = train(*JAX, override, f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "trainer.keras_backend=jax" in result.stderr
    assert "or use trainer.keras_backend=tensorflow" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists()  # no store, no run


def assert_sweep_done(result: subprocess.CompletedProcess, uri: str, sweep_dir: Path) -> None:
    """4 runs FINISHED on JAX, compiled, and the sweep's report with its verdict."""
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    runs = job_runs(uri)
    assert sorted((r.data.tags[Tag.AUGMENT], r.data.params["seed"]) for r in runs) == [
        ("flip_rot_zoom", "0"), ("flip_rot_zoom", "1"), ("none", "0"), ("none", "1")
    ]  # fmt: skip
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags[Tag.KERAS_BACKEND] == "jax"
        assert run.data.tags[Tag.JIT_COMPILE].startswith("on:")
        assert "test_accuracy" in run.data.metrics
    summary = (sweep_dir / "summary.md").read_text()
    assert "flip_rot_zoom" in summary and "verdict" in summary
    with open(sweep_dir / "summary.csv", newline="") as file:  # the runs table
        assert {row["keras_backend"] for row in csv.DictReader(file)} == {"jax"}


@pytest.mark.slow
def test_a_jax_sweep_on_digits_without_tensorflow(without_tensorflow, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    result = train(*SWEEP, *SMALL, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/sweep",
                   cwd=tmp_path)  # fmt: skip
    assert_sweep_done(result, uri, tmp_path / "sweep")


@pytest.mark.slow
def test_a_jax_sweep_on_a_folder_without_tensorflow(without_tensorflow, tmp_path):
    for name in ("red", "green", "blue"):
        class_folder(tmp_path / "photos", name, 8)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    small = [o for o in SMALL if not o.startswith("dataset.")]  # digits' sizes
    result = train(*SWEEP, *small, "dataset=folder", f"dataset.path={tmp_path}/photos",
                   "dataset.image_size=24", f"tracking.uri={uri}",
                   f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)  # fmt: skip
    assert_sweep_done(result, uri, tmp_path / "sweep")


def curve(uri: str, run_id: str) -> list[float]:
    history = MlflowClient(uri).get_metric_history(run_id, "val_loss")
    return [m.value for m in sorted(history, key=lambda m: m.step)]


@pytest.mark.slow
def test_a_sigkilled_jax_run_resumes_in_the_same_run_as_if_never_cut(without_tensorflow, tmp_path):
    run_args = [*JAX, *SMALL, "trainer.epochs=4", "augment=flip_rot_zoom", "trainer.batch_size=16"]
    uri = f"sqlite:///{tmp_path}/cut/mlflow.db"
    args = [str(ROOT / "train.py"), *run_args, f"tracking.uri={uri}"]
    code, output = signal_at_epoch(args, uri, signal.SIGKILL, epochs=2, timeout=300)
    assert code == -9, output[-3000:]
    (cut,) = job_runs(uri)
    assert cut.info.status == "RUNNING"
    again = train(*run_args, f"tracking.uri={uri}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from epoch" in again.stdout
    (resumed,) = job_runs(uri)
    assert resumed.info.run_id == cut.info.run_id and resumed.info.status == "FINISHED"

    whole_uri = f"sqlite:///{tmp_path}/whole/mlflow.db"
    whole = train(*run_args, f"tracking.uri={whole_uri}", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]
    (uncut,) = job_runs(whole_uri)
    assert curve(uri, resumed.info.run_id) == pytest.approx(curve(whole_uri, uncut.info.run_id))
