"""One run: data -> policy -> model -> fit -> log, tracked in MLflow from start to end.

:func:`train` knows nothing of sweeps beyond the :class:`~augsweep.tracking.sweep.SweepInfo`
it may be handed to nest its run. Importing this module imports TensorFlow: the command line
(:mod:`augsweep.cli`) checks the config first.
"""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path

import keras
import mlflow
import numpy as np
from omegaconf import DictConfig, open_dict

from augsweep.augment.catalogue import used_catalogue
from augsweep.augment.policy import build_policy
from augsweep.augment.preview import PREVIEW_IMAGES, first_examples, save_preview
from augsweep.callbacks import CleanEvaluation, EpochLogger
from augsweep.config.checks import validate
from augsweep.data.pipeline import input_pipelines
from augsweep.instantiate import build
from augsweep.models import build_classifier
from augsweep.tracking import artifacts, store
from augsweep.tracking.sweep import SweepInfo
from augsweep.tracking.tags import Tag


def train(
    cfg: DictConfig, sweep: SweepInfo | None = None, run_name: str | None = None
) -> dict[str, float]:
    """Train one model as ``cfg`` says and log the run to MLflow.

    Args:
        cfg: The composed config (``conf/config.yaml``).
        sweep: The sweep this run belongs to; nests the run under the sweep's parent run.
        run_name: MLflow run name; defaults to ``augment=<policy>``.

    Returns:
        The run's summary: ``best_val_accuracy``, ``best_epoch``, ``final_gap``, ...

    Raises:
        augsweep.config.checks.ConfigError: For a bad config, before any run is created.
    """
    validate(cfg)
    cfg = cfg.copy()
    cfg.tracking.uri = sweep.tracking_uri if sweep else store.resolve_uri(cfg.tracking.uri)
    client = store.connect(cfg.tracking.uri)
    if sweep:
        experiment_id = sweep.experiment_id
    else:
        experiment_id = store.ensure_experiment(client, cfg.tracking.experiment)
    with store.tracked_run(
        client,
        experiment_id,
        run_name or f"augment={cfg.augment.name}",
        run_tags(cfg, sweep),
        parent_run_id=sweep.parent_run_id if sweep else None,
    ):
        return _fit_and_log(cfg)


def run_tags(cfg: DictConfig, sweep: SweepInfo | None) -> dict[str, str]:
    """The tags a run is created with: what it compares, and its sweep."""
    tags = {
        Tag.AUGMENT: cfg.augment.name,
        Tag.PLACEMENT: cfg.augment.placement,
        Tag.BACKEND: cfg.augment.backend,
        Tag.DATASET: cfg.dataset.name,
        Tag.MODEL: cfg.model.name,
    }
    if sweep:
        tags[Tag.SWEEP_ID] = sweep.sweep_id
    return tags


def _fit_and_log(cfg: DictConfig) -> dict[str, float]:
    """Inside the run: data, policy, model, training, then metrics, files and the model."""
    artifacts.log_params(logged_params(cfg))
    keras.utils.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    splits = build(cfg.dataset, seed=cfg.seed, clean_samples=cfg.trainer.clean_eval_samples)
    artifacts.log_data(splits)
    policy = build_policy(cfg.augment, cfg.seed)
    model = _compiled_model(cfg, splits, policy)
    train_batches, val_batches, clean_batches = input_pipelines(
        splits,
        cfg.trainer.batch_size,
        cfg.seed,
        cfg.trainer.eval_batch_size,
        augment_example=policy.example_stage(),
        augment_batch=policy.batch_stage(),
    )
    history = _fit(model, cfg, train_batches, val_batches, clean_batches)
    summary = summarize(history)
    mlflow.log_metrics(summary)
    images, labels = first_examples(splits.train, PREVIEW_IMAGES)
    with tempfile.TemporaryDirectory() as tmp:
        where = "albumentations" if cfg.augment.backend != "keras" else cfg.augment.placement
        save_preview(policy, images, labels, splits.class_names, Path(tmp, "augment_preview.png"),
                     where)  # fmt: skip
        artifacts.write_run_files(cfg, history, splits.class_names, Path(tmp))
        mlflow.log_artifacts(tmp)
    if cfg.tracking.log_model:
        artifacts.log_keras_model(model, images)
    return summary


def _compiled_model(cfg: DictConfig, splits, policy):
    """The run's model: the policy's in-model block + the body, compiled with Adam."""
    model = build_classifier(
        cfg.model,
        policy.model_block(),
        input_shape=splits.image_shape,
        num_classes=splits.num_classes,
    )
    steps_per_epoch = math.ceil(splits.num_train / cfg.trainer.batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(cfg.trainer, steps_per_epoch)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _fit(model, cfg: DictConfig, train, val, clean) -> dict[str, list[float]]:
    """Train on ``train`` batches; return the per-epoch history, clean-train included."""
    logger = EpochLogger(artifacts.log_epoch)
    model.fit(
        train,
        validation_data=val,
        epochs=cfg.trainer.epochs,
        callbacks=[CleanEvaluation(clean), logger],
        verbose=cfg.trainer.verbose,
        shuffle=False,  # the training batches are already shuffled, with the run's seed
    )
    return logger.history


def learning_rate(trainer, steps_per_epoch: int):
    """Adam's learning rate: a float, or a cosine decay to 0 over all training steps."""
    if trainer.lr_schedule == "constant":
        return trainer.learning_rate
    return keras.optimizers.schedules.CosineDecay(
        trainer.learning_rate, decay_steps=trainer.epochs * steps_per_epoch
    )


def logged_params(cfg: DictConfig) -> DictConfig:
    """The config as run parameters: of the technique catalogue, only what the run uses."""
    params = copy.deepcopy(cfg)
    with open_dict(params):
        params.augment.techniques = used_catalogue(cfg.augment)
    return params


def summarize(history: Mapping[str, list[float]]) -> dict[str, float]:
    """The run's end-of-training metrics from its per-epoch history."""
    val = np.asarray(history["val_accuracy"])
    best = int(np.argmax(val))
    return {
        "best_val_accuracy": float(val[best]),
        "best_epoch": float(best),
        "final_val_accuracy": float(val[-1]),
        "final_clean_accuracy": float(history["clean_accuracy"][-1]),
        "final_gap": float(history["gap"][-1]),
    }
