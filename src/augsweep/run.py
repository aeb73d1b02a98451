"""One run: data -> relaunch plan -> policy -> model -> fit -> log, tracked in MLflow.

:func:`train` knows nothing of sweeps beyond the :class:`~augsweep.tracking.sweep.SweepInfo`
it may be handed to nest its run. It loads the data before any run exists (bad data fails
before a run is created), then looks up its run key: a finished run is skipped, a killed one
resumed from its last checkpoint (:mod:`augsweep.tracking.relaunch`). Importing this module
imports TensorFlow: the command line (:mod:`augsweep.cli`) checks the config first.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import keras
import mlflow
import numpy as np
from omegaconf import DictConfig, OmegaConf

from augsweep.augment.catalogue import unused_magnitudes, used_catalogue
from augsweep.augment.policy import build_policy
from augsweep.augment.preview import PREVIEW_IMAGES, first_examples, save_preview
from augsweep.callbacks import (
    BestWeights,
    CleanEvaluation,
    EpochLogger,
    Validation,
    check_diverged,
)
from augsweep.checkpoint import Checkpoint, EpochCheckpoint, state_objects
from augsweep.compute import compile_classifier, precision
from augsweep.config.checks import validate
from augsweep.config.run_key import run_key
from augsweep.data.pipeline import eval_batches, input_pipelines, steps_per_epoch
from augsweep.evaluation import make_evaluator
from augsweep.instantiate import build
from augsweep.models import build_classifier
from augsweep.paths import resolve_path, user_cache_dir
from augsweep.tracking import artifacts, relaunch, spool, store
from augsweep.tracking.sweep import SweepInfo
from augsweep.tracking.tags import Tag

PARENT_BEAT_S = 60
SUMMARY_KEYS = (
    "best_val_accuracy", "best_epoch", "final_val_accuracy", "final_clean_accuracy",
    "final_gap", "test_accuracy", "test_loss",
)  # fmt: skip


@dataclass
class Outcome:
    """What became of a job's run.

    Attributes:
        action: ``trained`` (a new run), ``resumed`` (a killed run, continued), ``skipped``
            (a finished run stands) or ``elsewhere`` (a live process trains it now).
        run_id: The run.
        summary: The run's end metrics (empty while it runs elsewhere).
        detail: For the console: ``finished run <id>``, ``from epoch 12``, ...
        seconds: Wall time of this job.
    """

    action: str
    run_id: str | None
    summary: dict[str, float] = field(default_factory=dict)
    detail: str = ""
    seconds: float = 0.0


def train(
    cfg: DictConfig,
    sweep: SweepInfo | None = None,
    run_name: str | None = None,
    job: int | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> Outcome:
    """Train one model as ``cfg`` says and log the run to MLflow, or skip or resume it.

    Args:
        cfg: The composed config (``conf/config.yaml``).
        sweep: The sweep this run belongs to; nests the run under the sweep's parent run.
        run_name: MLflow run name; defaults to ``augment=<policy>``.
        job: The job's number in its sweep (tag ``augsweep.job``).
        extra_tags: More tags of the run, e.g. its GPU (``augsweep.gpu``); set again when
            a run is resumed.

    Returns:
        The :class:`Outcome`; its ``summary`` has ``best_val_accuracy``, ``best_epoch``,
        ``final_gap``, ...

    Raises:
        augsweep.config.checks.ConfigError: For a bad config, before any run is created.
        augsweep.callbacks.TrainingDiverged: If the loss became NaN (the run is FAILED).
    """
    start = time.monotonic()
    validate(cfg)
    cfg = cfg.copy()
    cfg.tracking.uri = sweep.tracking_uri if sweep else store.resolve_uri(cfg.tracking.uri)
    client = store.connect(cfg.tracking.uri)
    if sweep:
        experiment_id = sweep.experiment_id
    else:
        experiment_id = store.ensure_experiment(client, cfg.tracking.experiment)
    if cfg.resources.memory_growth:
        gpu_memory_growth()
    keras.utils.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    splits = build(cfg.dataset, seed=cfg.seed, clean_samples=cfg.trainer.clean_eval_samples)
    key = run_key(cfg)
    plan = relaunch.plan_run(client, experiment_id, key, splits.fingerprint, rerun=cfg.rerun,
                             stale_after_s=cfg.tracking.stale_after_s)  # fmt: skip
    if plan.action in (relaunch.SKIP, relaunch.ELSEWHERE):
        summary = {k: plan.run.data.metrics[k] for k in SUMMARY_KEYS if k in plan.run.data.metrics}
        action = "skipped" if plan.action == relaunch.SKIP else "elsewhere"
        return Outcome(action, plan.run.info.run_id, summary, plan.reason,
                       time.monotonic() - start)  # fmt: skip
    resume_id = plan.run.info.run_id if plan.action == relaunch.RESUME else None
    if resume_id and plan.run.data.metrics and not _checkpoint(cfg, key, resume_id).state():
        # Epochs were logged but their checkpoint is gone: retraining in the same run would
        # log them twice.
        resume_id, plan = None, relaunch.Plan(relaunch.NEW, previous_run_id=resume_id)
    tags = {**run_tags(cfg, sweep, key, job), **(extra_tags or {})}
    if plan.previous_run_id:
        tags[Tag.PREVIOUS_RUN] = plan.previous_run_id
    with store.tracked_run(
        client,
        experiment_id,
        run_name or f"augment={cfg.augment.name}",
        tags,
        parent_run_id=sweep.parent_run_id if sweep else None,
        run_id=resume_id,
    ) as run:
        checkpoint = _checkpoint(cfg, key, run.info.run_id)
        parent_id = sweep.parent_run_id if sweep else None
        summary, done = _fit_and_log(cfg, splits, client, checkpoint, resume_id, parent_id)
    checkpoint.remove()  # the run FINISHED: nothing left to resume
    action, detail = ("resumed", f"from epoch {done}") if resume_id else ("trained", "")
    return Outcome(action, run.info.run_id, summary, detail, time.monotonic() - start)


def gpu_memory_growth() -> None:
    """Let TensorFlow take GPU memory as it needs it rather than all of it at once, so that
    several jobs can share a GPU (``resources.jobs_per_gpu > 1``); nothing on a CPU.

    Once TensorFlow has set up its GPUs (an earlier job of this process) the setting can no
    longer change, and stays what the first job made it.
    """
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # "Physical devices cannot be modified after being initialized"
            return


def run_tags(cfg: DictConfig, sweep: SweepInfo | None, key: str, job: int | None) -> dict:
    """The tags a run is created with: what it compares, its identity, and its sweep."""
    tags = {
        Tag.AUGMENT: cfg.augment.name,
        Tag.PLACEMENT: cfg.augment.placement,
        Tag.BACKEND: cfg.augment.backend,
        Tag.DATASET: cfg.dataset.name,
        Tag.MODEL: cfg.model.name,
        Tag.RUN_KEY: key,
    }
    if sweep:
        tags[Tag.SWEEP_ID] = sweep.sweep_id
        if job is not None:
            tags[Tag.JOB] = str(job)
    return tags


def _checkpoint(cfg: DictConfig, key: str, run_id: str) -> Checkpoint:
    return Checkpoint(checkpoint_root(cfg) / key, run_id)


def checkpoint_root(cfg: DictConfig) -> Path:
    """The folder of the checkpoints: ``tracking.checkpoints``, else ``checkpoints/``
    beside a SQLite store, else ``$AUGSWEEP_CACHE_DIR/checkpoints``."""
    if cfg.tracking.checkpoints:
        return resolve_path(cfg.tracking.checkpoints)
    if cfg.tracking.uri.startswith(store.SQLITE_PREFIX):
        return Path(cfg.tracking.uri.removeprefix(store.SQLITE_PREFIX)).parent / "checkpoints"
    return user_cache_dir() / "checkpoints"


def _fit_and_log(cfg: DictConfig, splits, client, checkpoint, resume_id, parent_id):
    """Inside the run: policy, model, training (resumed from the checkpoint if any), then
    metrics, files and the model. Returns the summary and the epochs done before."""
    if resume_id is None:
        artifacts.log_params(logged_params(cfg))
    artifacts.log_data(splits)
    spec = OmegaConf.to_container(cfg.dataset, resolve=True)
    artifacts.log_dataset(cfg.dataset.name, splits.fingerprint, split_sizes(splits), spec)
    policy = build_policy(cfg.augment, cfg.seed)
    model, compute_tags = _compiled_model(cfg, splits, policy)
    mlflow.set_tags(compute_tags)
    pipeline_layers = policy.pipeline_layers()
    done = checkpoint.restore(state_objects(model, pipeline_layers)) if resume_id else []
    if resume_id is None:
        checkpoint.remove()  # a folder of an older run of this key
    _send_missing_epochs(client, checkpoint.run_id, done)
    if done:
        client.set_tag(checkpoint.run_id, Tag.RESUMED, str(len(done)))
    train_batches, val_batches, clean_batches = input_pipelines(
        splits,
        cfg.trainer.batch_size,
        cfg.seed,
        cfg.trainer.eval_batch_size,
        epochs=(len(done), cfg.trainer.epochs),
        augment_example=policy.example_stage(),
        augment_batch=policy.batch_stage(),
    )
    test_batches = eval_batches(splits, "test", cfg.trainer.eval_batch_size)
    evaluator = _evaluator(
        cfg, splits, model, {"val": val_batches, "clean_train": clean_batches, "test": test_batches}
    )
    best = BestWeights(done, checkpoint.best_weights() if done else None)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        Validation(evaluator),  # val_* first: the callbacks after it read them
        CleanEvaluation(evaluator),
        best,
        EpochCheckpoint(checkpoint, pipeline_layers, done, best),
        EpochLogger(_epoch_logger(client, checkpoint.run_id, parent_id, cfg), done),
    ]
    artifacts.warm_up(model=cfg.tracking.log_model)  # once-per-process costs, meanwhile
    model.fit(
        train_batches,
        epochs=cfg.trainer.epochs,
        initial_epoch=len(done),
        steps_per_epoch=steps_per_epoch(splits.num_train, cfg.trainer.batch_size),
        callbacks=callbacks,
        verbose=cfg.trainer.verbose,
        shuffle=False,  # the training batches are already shuffled, with the run's seed
    )
    history = callbacks[-1].history
    spool.settle(checkpoint.run_id)  # a server that went away: wait for it, send what was kept
    check_diverged(history)
    summary = summarize(history) | held_out_metrics(best, evaluator)
    mlflow.set_tag(Tag.FEATURE_CACHE, evaluator.summary())
    # At the best epoch's step, before the model is logged: the logged model (the best
    # epoch's weights, the ones tested) carries the metrics of its step.
    mlflow.log_metrics(summary, step=int(summary["best_epoch"]))
    _log_files(cfg, splits, policy, history, model)
    return summary, len(done)


def _evaluator(cfg: DictConfig, splits, model, batches):
    """The run's evaluator of its un-augmented splits: on backbone features computed once
    (and kept in ``$AUGSWEEP_CACHE_DIR/features`` for the next runs) when the model's
    backbone is frozen and ``trainer.feature_cache=auto``, else the whole model.

    Args:
        cfg: The run's config.
        splits: The run's data (its fingerprint names the cached features).
        model: The compiled model.
        batches: ``{split name: batched (images, one_hot_labels)}``, never augmented.
    """
    # The seed: a seeded split (digits) has other examples under another seed; the clean
    # subset's size: its examples.
    data_key = (
        f"{splits.cache_key or splits.fingerprint}:seed={cfg.seed}"
        f":clean={cfg.trainer.clean_eval_samples}"
    )
    return make_evaluator(
        model,
        batches,
        feature_cache=cfg.trainer.feature_cache,
        data_key=data_key,
        directory=user_cache_dir() / "features",
        batch_size=cfg.trainer.eval_batch_size,
    )


def held_out_metrics(best: BestWeights, evaluator) -> dict[str, float]:
    """``test_accuracy`` and ``test_loss`` of the best validation epoch's weights, evaluated
    once on the test split. The model keeps those weights: the logged model is the one
    tested.

    Args:
        best: The callback that kept the best epoch's weights (False from ``restore`` only
            if no epoch had a ``val_accuracy``: then the last weights are tested).
        evaluator: The run's evaluator of its un-augmented splits (the one place a run
            evaluates a split: whole model, or the head on cached backbone features).
    """
    best.restore()
    result = evaluator.evaluate("test")
    return {"test_accuracy": result["accuracy"], "test_loss": result["loss"]}


def _epoch_logger(client, run_id: str, parent_id: str | None, cfg: DictConfig):
    """Log an epoch's metrics, then show the run alive, and the sweep's parent too (at most
    every :data:`PARENT_BEAT_S` seconds: it matters only to launches on other hosts, which
    wait ``tracking.stale_after_s``); through the run's outbox, which keeps them in a spool
    while a tracking server is away."""
    outbox = spool.Outbox.open(client, run_id, cfg.tracking.reconnect_wait_s)
    last_parent_beat = 0.0

    def log(metrics: Mapping[str, float], epoch: int) -> None:
        nonlocal last_parent_beat
        outbox.log_metrics(metrics, epoch, heartbeat=True)  # the run's beat in the same write
        if parent_id and time.time() - last_parent_beat >= PARENT_BEAT_S:
            outbox.heartbeat([parent_id])
            last_parent_beat = time.time()

    return log


def _send_missing_epochs(client, run_id: str, done: list[dict]) -> None:
    """Log the checkpointed epochs that MLflow lacks (a kill between checkpoint and log)."""
    if not done:
        return
    logged = {m.step for m in client.get_metric_history(run_id, "val_accuracy")}
    for epoch, logs in enumerate(done):
        if epoch not in logged:
            artifacts.log_epoch(logs, epoch)


def _log_files(cfg: DictConfig, splits, policy, history, model) -> None:
    """The run's files (preview, config, history, curves) and its model."""
    images, labels = first_examples(splits.train, PREVIEW_IMAGES)
    with tempfile.TemporaryDirectory() as tmp:
        where = "albumentations" if cfg.augment.backend != "keras" else cfg.augment.placement
        save_preview(policy, images, labels, splits.class_names, Path(tmp, "augment_preview.png"),
                     where)  # fmt: skip
        artifacts.write_run_files(cfg, history, splits.class_names, Path(tmp))
        mlflow.log_artifacts(tmp)
    if cfg.tracking.log_model:
        name = artifacts.model_name(mlflow.active_run().info.run_name)
        artifacts.log_keras_model(model, images, name, step=int(np.argmax(history["val_accuracy"])))


def _compiled_model(cfg: DictConfig, splits, policy):
    """The run's model: the policy's in-model block + the body, compiled with Adam as the
    trainer's speed knobs say (:mod:`augsweep.compute`); and tags saying how it computes.

    The augmentation block is built before the dtype policy is set: it stays float32 (pixel
    values, cheap next to the body), the body computes in float16 if
    ``trainer.mixed_precision``, its softmax in float32."""
    block = policy.model_block()
    with precision(cfg.trainer.mixed_precision) as dtype_policy:
        model = build_classifier(
            cfg.model, block, input_shape=splits.image_shape, num_classes=splits.num_classes
        )
        steps = steps_per_epoch(splits.num_train, cfg.trainer.batch_size)
        plan = compile_classifier(
            model,
            block,
            model.layers[-1],  # the body (build_classifier: input, block, body)
            optimizer=keras.optimizers.Adam(learning_rate(cfg.trainer, steps)),
            jit_compile=cfg.trainer.jit_compile,
            steps_per_execution=cfg.trainer.steps_per_execution,
        )
    compute_dtype = keras.DTypePolicy(dtype_policy).compute_dtype
    return model, {Tag.JIT_COMPILE: plan.tag, Tag.COMPUTE_DTYPE: compute_dtype}


def learning_rate(trainer, steps_per_epoch: int):
    """Adam's learning rate: a float, or a cosine decay to 0 over all training steps."""
    if trainer.lr_schedule == "constant":
        return trainer.learning_rate
    return keras.optimizers.schedules.CosineDecay(
        trainer.learning_rate, decay_steps=trainer.epochs * steps_per_epoch
    )


def logged_params(cfg: DictConfig) -> DictConfig:
    """The config as run parameters (resolved): of the technique catalogue and of the
    magnitudes (``augment.rotation``, ...), only what the run uses."""
    params = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))  # untyped: keys can go
    catalogue = params.augment.techniques
    params.augment.techniques = {
        backend: {name: catalogue[backend][name] for name in specs}
        for backend, specs in used_catalogue(cfg.augment).items()
    }
    for key in unused_magnitudes(cfg.augment):
        del params.augment[key]
    return params


def split_sizes(splits) -> dict[str, int]:
    """Examples per split, as the run's dataset input shows them."""
    return {"train": splits.num_train, "val": splits.num_val, "test": splits.num_test}


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
