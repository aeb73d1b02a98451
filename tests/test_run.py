"""One run end to end, asserting on what MLflow holds; and what a run derives from its config."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from augsweep import run
from augsweep.augment.policy import LayerSpecError, build_policy
from augsweep.callbacks import TrainingDiverged
from augsweep.config.checks import ConfigError
from augsweep.config.run_key import EXCLUDED
from augsweep.data.digits import load_digits
from augsweep.data.pipeline import batches, eval_batches
from augsweep.evaluation import ModelEvaluator
from augsweep.instantiate import build
from augsweep.metrics import SUMMARY
from augsweep.run import compiled_model, learning_rate, logged_params, run_tags, summarize, train
from augsweep.tracking.report import load_records
from augsweep.tracking.sweep import SweepInfo
from tests.helpers import SMALL, arrays, compose_config, sigterm_after_first_epoch, stored_runs

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


@pytest.mark.slow
def test_one_run_logs_params_tags_curves_artifacts_and_model(small_cfg, tracking_uri):
    cfg = small_cfg("augment=flip_rot_zoom", "trainer.epochs=3", "seed=7")
    summary = train(cfg).summary
    client, run = only_run(tracking_uri)

    assert run.info.status == "FINISHED" and run.info.run_name == "flip_rot_zoom"
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert {k: tags[k] for k in ("augment", "dataset", "model")} == {
        "augment": "flip_rot_zoom",
        "dataset": "digits",
        "model": "small_cnn",
    }
    assert "sweep_id" not in tags and len(tags["data_fingerprint"]) == 16
    assert params["trainer.epochs"] == "3" and params["seed"] == "7"
    assert params["augment.use"] == "[affine]"
    assert not any(key.startswith("augment.use.") for key in params)
    # Each setting once: the short magnitude keys, not the catalogue's specs that read them
    # (in config.yaml); a magnitude the policy does not apply is 0.
    assert params["augment.rotation"] == "0.1" and params["augment.crop"] == "0"
    assert not any(key.startswith("augment.techniques") for key in params)
    # Only the experiment: no key the run key leaves out (where it is logged, how fast).
    assert not [k for k in params for out in EXCLUDED if k == out or k.startswith(out + ".")]
    (data,) = run.inputs.dataset_inputs  # the UI's Dataset column
    assert (data.dataset.name, data.dataset.digest) == ("digits", tags["data_fingerprint"])
    assert json.loads(data.dataset.profile) == {"num_train": 60, "num_val": 540, "num_test": 360}

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
    # The held-out test split, evaluated once (the best epoch's weights): a value each
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["test_loss"] > 0
    assert summary["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    # Every summary metric once, at the same step in every run (MLflow charts it as bars).
    for key in SUMMARY:
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [0], key

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "history.csv", "curves.png", "augment_preview.png"} <= artifacts
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, tracking_uri=tracking_uri)
    rows = list(csv.DictReader(io.StringIO(Path(local, "history.csv").read_text())))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(EPOCH_METRICS) <= set(rows[0])
    config = Path(local, "config.yaml").read_text()
    assert "RandomAffine" in config and "uri: sqlite:////" in config  # made absolute
    # float32 values at their shortest (0.9, not 0.89999997)
    assert all(v == str(np.float32(v)) for row in rows for k, v in row.items() if k != "epoch")


@pytest.mark.slow
def test_logged_model_reloads_and_matches_the_logged_validation_accuracy(small_cfg, tracking_uri):
    cfg = small_cfg("augment=flip_rot_zoom", "trainer.epochs=2", "tracking.log_model=true")
    train(cfg)
    client, run = only_run(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    (logged,) = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    assert logged.name == "flip_rot_zoom" and logged.source_run_id == run.info.run_id
    # The model is the best validation epoch's (the one tested) and carries that epoch's
    # metrics and the run's summary, not epoch 0's.
    carried = {m.key: m for m in logged.metrics}
    best = int(run.data.metrics["best_epoch"])
    assert carried["val_accuracy"].step == best
    assert carried["val_accuracy"].value == run.data.metrics["best_val_accuracy"]
    assert carried["test_accuracy"].value == run.data.metrics["test_accuracy"]
    assert carried["test_accuracy"].step == 0  # the summary's step, the same in every run
    assert carried["test_accuracy"].dataset_name == "digits"  # the model's "Datasets used"
    (record,) = load_records(client, [run])  # the model's copies are no extra epoch
    assert len(record.history["val_accuracy"]) == 2
    model = mlflow.keras.load_model(logged.model_uri)

    splits = load_digits(train_samples=cfg.dataset.train_samples, image_size=16, seed=cfg.seed)
    val = batches(splits.val, 64, 10)
    # Augmentation is off at inference: predictions are deterministic, and the reloaded
    # model's accuracies are the best epoch's on validation and the run's on the test split.
    x, _ = next(iter(val))
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    _, accuracy = model.evaluate(val, verbose=0)
    assert accuracy == pytest.approx(run.data.metrics["best_val_accuracy"], abs=1e-6)
    _, accuracy = model.evaluate(batches(splits.test, 64, 10), verbose=0)
    assert accuracy == pytest.approx(run.data.metrics["test_accuracy"], abs=1e-6)


def test_the_test_split_is_evaluated_on_its_images_as_they_are():
    # A policy that changes every image while training (pixel noise, in the model)...
    cfg = compose_config(*SMALL, "augment=noise", "augment.noise=0.5")
    splits = load_digits(train_samples=60, image_size=16, seed=0)
    policy = build_policy(cfg.augment, cfg.seed)
    images, labels = arrays(splits.test)
    noisy = np.asarray(policy.model_block()(images, training=True))
    assert np.all(np.abs(noisy - images).max(axis=(1, 2, 3)) > 1)
    # ...leaves the test evaluation alone: its loss is that of the images as they are.
    model, _ = compiled_model(cfg.model, cfg.trainer, splits, policy)
    result = ModelEvaluator(model, {"test": eval_batches(splits, "test", 64)}).evaluate("test")
    probabilities = model.predict(images, verbose=0)
    picked = probabilities[np.arange(len(labels)), labels]
    assert result["loss"] == pytest.approx(-np.log(picked).mean(), rel=1e-5)
    assert result["accuracy"] == pytest.approx((probabilities.argmax(axis=1) == labels).mean())


@pytest.mark.slow
def test_a_layer_spec_that_cannot_be_built_is_refused_before_any_run(small_cfg, tracking_uri):
    # The config checks only that a custom layer names a _target_: RandomRotation without
    # its required factor, or a class that does not exist, is found when the policy is
    # built, before the run is created (until then: a FAILED run with a traceback).
    for layer, why in [
        ("keras.layers.RandomRotation", "TypeError: RandomRotation.__init__() missing 1 "
         "required positional argument: 'factor'"),
        ("keras.layers.RandomRotate", "ImportError: Error loading 'keras.layers.RandomRotate'"),
    ]:  # fmt: skip
        cfg = small_cfg(f"augment.layers=[{{_target_:{layer}}}]")
        with pytest.raises(LayerSpecError) as error:
            train(cfg)
        assert str(error.value).startswith(
            f"augment layer {{'_target_': '{layer}'}}: cannot be built: "
        )
        assert why in str(error.value) and "\n" not in str(error.value)
        assert error.value.exit_code == 2
        assert stored_runs(Path(tracking_uri.removeprefix("sqlite:///"))) == 0


def test_a_refused_config_creates_no_run(small_cfg, tracking_uri):
    # Six 2x2 poolings cannot shrink a 16 px image: refused before the store is touched.
    cfg = small_cfg("model.filters=[8,8,8,8,8,8]")
    with pytest.raises(ConfigError, match=r"dataset.image_size=16 with model.filters="):
        train(cfg)
    assert not Path(tracking_uri.removeprefix("sqlite:///")).parent.exists()


@pytest.mark.slow
def test_sigterm_ends_a_running_job_killed(tmp_path):
    # A scheduler stopping a job sends SIGTERM: the run must not be left RUNNING.
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["train.py", *SMALL, "trainer.epochs=500", f"tracking.uri={uri}",
            f"hydra.run.dir={tmp_path}/run"]  # fmt: skip
    returncode, output = sigterm_after_first_epoch(args, uri)
    client = MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert (returncode, run.info.status) == (130, "KILLED"), output[-3000:]
    assert "Traceback" not in output
    assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) < 500


def test_logged_params_hold_each_setting_once_and_only_the_experiment():
    cfg = compose_config("augment=compose", "augment.use=[flip,rotation]")
    params = logged_params(cfg)
    # The techniques by name, their magnitudes by the short keys (the specs are config.yaml's)
    assert params["augment"]["use"] == ["flip", "rotation"]
    assert "techniques" not in params["augment"]
    assert params["augment"]["rotation"] == 0.1 and params["augment"]["flip_mode"] == "horizontal"
    # A magnitude the policy does not apply is 0: every run has every magnitude to compare.
    assert params["augment"]["zoom"] == 0 and params["augment"]["mixup"] == 0
    # Where it is logged and runs, how fast, the console: not the experiment.
    assert not {"tracking", "resources", "report", "rerun"} & set(params)
    assert not {"verbose", "eval_batch_size", "feature_cache", "jit_compile",
                "steps_per_execution"} & set(params["trainer"])  # fmt: skip
    assert "cache" not in params["dataset"]
    assert "mixup" in cfg.augment.techniques.keras  # the run's own config is untouched


def test_summary_takes_the_best_epoch_by_validation_and_the_last_for_the_rest():
    history = {
        "val_accuracy": [0.5, 0.8, 0.7],
        "clean_accuracy": [0.6, 0.9, 0.95],
        "gap": [0.1, 0.1, 0.25],
    }
    assert summarize(history) == {
        "best_val_accuracy": 0.8,
        "best_epoch": 1.0,
        "final_val_accuracy": 0.7,
        "final_clean_accuracy": 0.95,
        "final_gap": 0.25,
    }


def test_learning_rate_is_constant_or_a_cosine_decay_over_every_step():
    trainer = compose_config("trainer.lr_schedule=constant", "trainer.learning_rate=0.01").trainer
    assert learning_rate(trainer, steps_per_epoch=5) == 0.01
    trainer = compose_config("trainer.learning_rate=0.01", "trainer.epochs=4").trainer
    schedule = learning_rate(trainer, steps_per_epoch=5)
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(10)) == pytest.approx(0.005, rel=1e-4)  # halfway
    assert float(schedule(20)) == pytest.approx(0.0, abs=1e-9)


def test_run_tags_name_what_the_run_compares_its_key_and_its_sweep():
    cfg = compose_config("augment=flip", "augment.placement=dataset")
    tags = run_tags(cfg, None, "0123456789abcdef", None)
    assert tags == {
        "augment": "flip",
        "augment_placement": "dataset",
        "augment_backend": "keras",
        "dataset": "digits",
        "model": "small_cnn",
        "run_key": "0123456789abcdef",
        "augsweep.keras_backend": "tensorflow",  # the report's backend column reads it
    }
    sweep = SweepInfo("20260101-000000-abcdef", "parent", "1", "sqlite:////x/mlflow.db")
    in_sweep = run_tags(cfg, sweep, "0123456789abcdef", 4)
    assert in_sweep == {
        **tags,
        "sweep_id": "20260101-000000-abcdef",
        "augsweep.sweeps": "20260101-000000-abcdef",
        "augsweep.job": "4",
    }


@pytest.mark.slow
def test_a_diverged_run_leaves_no_checkpoint(small_cfg, tracking_uri):
    cfg = small_cfg("trainer.learning_rate=1e6", "trainer.epochs=3")
    with pytest.raises(TrainingDiverged):
        train(cfg)
    client, run = only_run(tracking_uri)
    assert run.info.status == "FAILED" and run.data.tags["error"].startswith("diverged:")
    checkpoints = Path(tracking_uri.removeprefix("sqlite:///")).parent / "checkpoints"
    assert not (checkpoints / run.data.tags["run_key"]).exists()


def initial_body_weights(cfg) -> list[np.ndarray]:
    """The body's weights as a run of ``cfg`` builds them: seeded by the run (its fresh
    start, then its data, policy and compiled model), whatever the process drew before."""
    keras.utils.set_random_seed(12345)  # another job of this process drew other numbers
    run._start_afresh(cfg)
    splits = build(cfg.dataset, seed=cfg.seed, clean_samples=cfg.trainer.clean_eval_samples)
    model, _ = compiled_model(cfg.model, cfg.trainer, splits, build_policy(cfg.augment, cfg.seed))
    return model.get_layer("small_cnn").get_weights()


def test_every_policy_of_a_run_starts_from_the_same_weights(small_cfg):
    first = initial_body_weights(small_cfg("augment=none"))
    for policy in ("flip_rot_zoom", "cutmix"):
        for a, b in zip(first, initial_body_weights(small_cfg(f"augment={policy}")), strict=True):
            np.testing.assert_array_equal(a, b)
    other_seed = initial_body_weights(small_cfg("augment=none", "seed=1"))
    assert not np.array_equal(first[0], other_seed[0])


@pytest.mark.slow
def test_a_rerun_of_a_config_learns_the_same_curves(small_cfg, tracking_uri):
    cfg = small_cfg("augment=flip", "rerun=true")
    keras.utils.set_random_seed(1)
    first = train(cfg).run_id
    keras.utils.set_random_seed(2)  # the process drew other numbers in between
    second = train(cfg).run_id
    assert first != second
    client = MlflowClient(tracking_uri)
    for key in ("loss", "val_loss", "clean_loss"):
        curves = [[m.value for m in client.get_metric_history(r, key)] for r in (first, second)]
        assert len(curves[0]) == 2
        np.testing.assert_allclose(curves[0], curves[1], rtol=1e-5, err_msg=key)


def test_memory_growth_is_asked_for_every_gpu_and_left_as_it_was_once_set_up(monkeypatch):
    # No GPU here: TensorFlow's device list and setting stand in for a 2-GPU machine's.
    import tensorflow as tf

    asked = []
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu0", "gpu1"])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth",
                        lambda gpu, on: asked.append((gpu, on)))  # fmt: skip
    run.gpu_memory_growth()
    assert asked == [("gpu0", True), ("gpu1", True)]

    def initialized(gpu, on):
        raise RuntimeError("Physical devices cannot be modified after being initialized")

    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", initialized)
    run.gpu_memory_growth()  # an earlier job of this process set them up: no error
