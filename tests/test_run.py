"""One run end to end, asserting on what MLflow holds."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from augsweep import tracking
from augsweep.data import batches, load_digits
from augsweep.train import train

from .conftest import SMALL, sigterm_after_first_epoch

pytestmark = pytest.mark.slow

EPOCH_METRICS = (
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "clean_loss",
    "clean_accuracy",
    "gap",
)


def only_run(uri: str):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("augsweep")
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run


def test_one_run_logs_params_tags_curves_artifacts_and_model(small_cfg, tracking_uri):
    cfg = small_cfg("augment=flip_rot_zoom", "trainer.epochs=3", "seed=7")
    summary = train(cfg)
    client, run = only_run(tracking_uri)

    assert run.info.status == "FINISHED" and run.info.run_name == "augment=flip_rot_zoom"
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert {k: tags[k] for k in ("augment", "dataset", "model")} == {
        "augment": "flip_rot_zoom",
        "dataset": "digits",
        "model": "small_cnn",
    }
    assert "sweep_id" not in tags and len(tags["data_fingerprint"]) == 16
    assert params["trainer.epochs"] == "3" and params["seed"] == "7"
    assert params["augment.techniques.keras.rotation._target_"] == "keras.layers.RandomRotation"
    assert params["augment.use.1"] == "rotation" and params["augment.rotation"] == "0.1"
    assert not any(key.startswith("augment.techniques.keras.mixup") for key in params)
    assert params["tracking.uri"].startswith("sqlite:////")  # made absolute

    for key in EPOCH_METRICS:
        history = client.get_metric_history(run.info.run_id, key)
        assert sorted(m.step for m in history) == [0, 1, 2], key
    gaps = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "gap")}
    clean = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "clean_accuracy")}
    val = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "val_accuracy")}
    assert all(abs(gaps[s] - (clean[s] - val[s])) < 1e-6 for s in range(3))
    assert metrics["best_val_accuracy"] == pytest.approx(max(val.values()))
    assert metrics["best_epoch"] == max(val, key=val.get)
    assert metrics["final_gap"] == pytest.approx(gaps[2])
    assert summary["best_val_accuracy"] == pytest.approx(metrics["best_val_accuracy"])

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "history.csv", "curves.png", "augment_preview.png"} <= artifacts
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, tracking_uri=tracking_uri)
    rows = list(csv.DictReader(io.StringIO(Path(local, "history.csv").read_text())))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(EPOCH_METRICS) <= set(rows[0])
    assert "RandomZoom" in Path(local, "config.yaml").read_text()


def test_logged_model_reloads_and_matches_the_logged_validation_accuracy(small_cfg, tracking_uri):
    cfg = small_cfg("augment=flip_rot_zoom", "trainer.epochs=2")
    train(cfg)
    _, run = only_run(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    (logged,) = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    assert logged.name == "model" and logged.source_run_id == run.info.run_id
    model = mlflow.keras.load_model(logged.model_uri)

    splits = load_digits(train_samples=cfg.dataset.train_samples, image_size=16, seed=cfg.seed)
    val = batches(splits.val, 64, 10)
    # Augmentation is off at inference: predictions are deterministic, and the reloaded
    # model's validation accuracy is the one logged for the last epoch.
    x, _ = next(iter(val))
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    _, accuracy = model.evaluate(val, verbose=0)
    assert accuracy == pytest.approx(run.data.metrics["final_val_accuracy"], abs=1e-6)


def test_a_run_that_raises_ends_failed_with_the_error(small_cfg, tracking_uri):
    # Six 2x2 poolings cannot shrink a 16 px image: Keras fails while building the model.
    cfg = small_cfg("model.filters=[8,8,8,8,8,8]")
    with pytest.raises(Exception):  # noqa: B017 - Keras's own error type is not ours to fix
        train(cfg)
    _, run = only_run(tracking_uri)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].split(":")[0] in {"ValueError", "InvalidArgumentError"}


def test_interrupt_ends_the_run_killed(tracking_uri):
    client = tracking.connect(tracking.resolve_uri(tracking_uri))
    experiment_id = tracking.ensure_experiment(client, "augsweep")
    with (
        pytest.raises(KeyboardInterrupt),
        tracking.tracked_run(client, experiment_id, "interrupted", {}),
    ):
        mlflow.log_metric("loss", 1.0, step=0)
        raise KeyboardInterrupt
    _, run = only_run(tracking_uri)
    assert run.info.status == "KILLED" and run.data.metrics["loss"] == 1.0


def test_sigterm_ends_a_running_job_killed(tmp_path):
    # A scheduler stopping a job sends SIGTERM: the run must not be left RUNNING.
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["train.py", *SMALL, "trainer.epochs=500", f"tracking.uri={uri}",
            f"hydra.run.dir={tmp_path}/run"]  # fmt: skip
    returncode, output = sigterm_after_first_epoch(args, uri)
    client = MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert (returncode != 0, run.info.status) == (True, "KILLED"), output[-3000:]
    assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) < 500
