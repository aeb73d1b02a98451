"""One run: data -> relaunch plan -> policy -> model -> fit -> log, tracked in MLflow.

:func:`train` knows nothing of sweeps beyond the :class:`~augsweep.tracking.sweep.SweepInfo`
it may be handed to nest its run. It loads the data before any run exists (bad data fails
before a run is created), then looks up its run key: a finished run is skipped, a killed one
resumed from its last checkpoint (:mod:`augsweep.tracking.relaunch`). Inside the run, the
run's parts are assembled (:func:`assemble`: policy, model, input pipelines, evaluator,
callbacks), trained, and recorded (:func:`_record_result`). Importing this module imports
TensorFlow: the command line (:mod:`augsweep.cli`) checks the config first.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import keras
import mlflow
import numpy as np
from omegaconf import DictConfig, OmegaConf

from augsweep import metrics, search
from augsweep.augment.policy import Policy, build_policy
from augsweep.augment.preview import PREVIEW_IMAGES, first_examples, save_preview
from augsweep.callbacks import (
    BestWeights,
    CleanEvaluation,
    EpochLogger,
    EpochProgress,
    StopWhenHopeless,
    TrainingDiverged,
    Validation,
    check_diverged,
)
from augsweep.checkpoint import Checkpoint, EpochCheckpoint, state_objects
from augsweep.compute import compile_classifier, precision
from augsweep.config.catalogue import knobs, used_augment_config
from augsweep.config.checks import validate
from augsweep.config.run_key import experiment_part, run_key
from augsweep.data.pipeline import eval_batches, input_pipelines, steps_per_epoch
from augsweep.data.splits import Splits
from augsweep.errors import DiskFull, no_space
from augsweep.evaluation import make_evaluator
from augsweep.instantiate import build
from augsweep.models import body_of, build_classifier
from augsweep.outcomes import Outcome
from augsweep.paths import resolve_path, user_cache_dir
from augsweep.tracking import artifacts, relaunch, store
from augsweep.tracking import uri as uris
from augsweep.tracking.spool import Outbox
from augsweep.tracking.sweep import SweepInfo, sweeps_with
from augsweep.tracking.tags import Tag

PARENT_BEAT_S = 60


@dataclass
class RunResult:
    """What became of a job's run.

    Attributes:
        outcome: ``TRAINED`` (a new run), ``RESUMED`` (a killed run, continued),
            ``SKIPPED`` (a finished run stands) or ``ELSEWHERE`` (a live process trains it
            now).
        run_id: The run.
        summary: The run's end metrics (empty while it runs elsewhere).
        detail: For the console: ``finished run <id>``, ``from epoch 12``, ...
        seconds: Wall time of this job.
    """

    outcome: Outcome
    run_id: str | None
    summary: dict[str, float] = field(default_factory=dict)
    detail: str = ""
    seconds: float = 0.0


@dataclass
class RunParts:
    """What a run trains with, assembled before ``fit`` (:func:`assemble`).

    Attributes:
        policy: The augmentation policy (in-model block, input-pipeline stages).
        model: The compiled classifier.
        compute_tags: How it computes (XLA, dtype), as run tags.
        done: The logs of the epochs completed before (a resumed run), from its checkpoint.
        train_batches: The training batches of the epochs still to run.
        evaluator: The evaluator of the un-augmented splits (``val``, ``clean_train``,
            ``test``).
        best: The callback keeping the best validation epoch's weights.
        logger: The callback that logs each epoch and keeps the run's history.
        callbacks: Every callback of ``fit``, in the order they must run.
    """

    policy: Policy
    model: keras.Model
    compute_tags: dict[str, str]
    done: list[dict]
    train_batches: object
    evaluator: object
    best: BestWeights
    logger: EpochLogger
    callbacks: list[keras.callbacks.Callback]


def train(
    cfg: DictConfig,
    sweep: SweepInfo | None = None,
    run_name: str | None = None,
    job: int | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> RunResult:
    """Train one model as ``cfg`` says and log the run to MLflow, or skip or resume it.

    Args:
        cfg: The composed config (``conf/config.yaml``).
        sweep: The sweep this run belongs to; nests the run under the sweep's parent run.
        run_name: MLflow run name; defaults to the policy's name.
        job: The job's number in its sweep (tag ``augsweep.job``).
        extra_tags: More tags of the run, e.g. its GPU (``augsweep.gpu``); set again when
            a run is resumed.

    Returns:
        The :class:`RunResult`; its ``summary`` has ``best_val_accuracy``, ``best_epoch``,
        ``final_gap``, ...

    Raises:
        augsweep.config.checks.ConfigError: For a bad config, before any run is created.
        augsweep.callbacks.TrainingDiverged: If the loss became NaN (the run is FAILED).
        augsweep.tracking.relaunch.DivergedBefore: If the run of this config diverged
            before (not trained again unless ``cfg.rerun``).
    """
    validate(cfg)
    return train_checked(cfg, sweep, run_name, job, extra_tags)


def train_checked(
    cfg: DictConfig,
    sweep: SweepInfo | None = None,
    run_name: str | None = None,
    job: int | None = None,
    extra_tags: Mapping[str, str] | None = None,
    label: str | None = None,
) -> RunResult:
    """:func:`train` for a config already validated (the command line checks it before
    TensorFlow is imported); ``label`` names the job in its epoch lines (``job 2/6
    flip,seed=1``; default ``run <run name>``)."""
    start = time.monotonic()
    cfg = cfg.copy()
    cfg.tracking.uri = sweep.tracking_uri if sweep else store.resolve_uri(cfg.tracking.uri)
    client = store.connect(cfg.tracking.uri)
    experiment_id = (
        sweep.experiment_id if sweep else store.ensure_experiment(client, cfg.tracking.experiment)
    )
    _start_afresh(cfg)
    splits = build(cfg.dataset, seed=cfg.seed, clean_samples=cfg.trainer.clean_eval_samples)
    key = run_key(cfg)
    with relaunch.key_lock(key_lock_path(cfg.tracking, key)) as holder:
        if holder is not None:  # a job of another launch on this host trains the key now
            return RunResult(Outcome.ELSEWHERE, None, detail=f"running elsewhere ({holder})",
                             seconds=time.monotonic() - start)  # fmt: skip
        plan = _plan(client, experiment_id, key, splits, cfg)
        if plan.action == Outcome.FAILED:  # diverged before: not trained again, still a failure
            raise relaunch.DivergedBefore(plan.reason, plan.run.info.run_id)
        if plan.action in (Outcome.SKIPPED, Outcome.ELSEWHERE, Outcome.PRUNED):
            return _reused(client, plan, sweep, time.monotonic() - start)
        resume_id = plan.run.info.run_id if plan.action == Outcome.RESUMED else None
        tags = {**run_tags(cfg, sweep, key, job), **(extra_tags or {})}
        if sweep and resume_id:  # a run of another sweep, resumed here: of both
            tags[Tag.SWEEPS] = sweeps_with(plan.run, sweep.sweep_id)
        if plan.previous_run_id:
            tags[Tag.PREVIOUS_RUN] = plan.previous_run_id
        parent_id = sweep.parent_run_id if sweep else None
        policy = build_policy(cfg.augment, cfg.seed)  # a bad layer spec: before any run
        with (
            store.tracked_run(
                client,
                experiment_id,
                run_name or cfg.augment.name,
                tags,
                parent_run_id=parent_id,
                run_id=resume_id,
                reconnect_wait_s=cfg.tracking.reconnect_wait_s,
            ) as (run, outbox),
            _disk_full_in_one_line(),
        ):
            checkpoint = _checkpoint(cfg, key, run.info.run_id)
            progress = label or f"run {run_name or cfg.augment.name}"
            summary, done = _train_in_run(cfg, splits, checkpoint, outbox, resume_id, parent_id,
                                          policy, progress, sweep)  # fmt: skip
        checkpoint.remove()  # the run FINISHED: nothing left to resume
    outcome, detail = (
        (Outcome.RESUMED, f"from epoch {done}") if resume_id else (Outcome.TRAINED, "")
    )
    if metrics.PRUNED_AT in summary:  # a search's trial, stopped by its pruner
        outcome, detail = Outcome.PRUNED, f"after epoch {int(summary[metrics.PRUNED_AT])}"
    return RunResult(outcome, run.info.run_id, summary, detail, time.monotonic() - start)


@contextmanager
def _disk_full_in_one_line() -> Iterator[None]:
    """A full disk met by any write of the run (MLflow's files, the model) as
    :class:`~augsweep.errors.DiskFull`: one line naming the path, not a page of tracebacks."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as error:
        if not no_space(error):
            raise
        raise DiskFull(getattr(error, "filename", None) or "the run's files") from error


def _reused(client, plan, sweep: SweepInfo | None, seconds: float) -> RunResult:
    """A run that stands (finished) or trains elsewhere: its summary; in a sweep, it is one
    of the sweep's runs too (``augsweep.sweeps``)."""
    run = plan.run
    if sweep:
        client.set_tag(run.info.run_id, Tag.SWEEPS, sweeps_with(run, sweep.sweep_id))
    summary = {k: run.data.metrics[k] for k in metrics.SUMMARY if k in run.data.metrics}
    return RunResult(plan.action, run.info.run_id, summary, plan.reason, seconds)


def _start_afresh(cfg: DictConfig) -> None:
    """A clean Keras state for this run, whatever the process ran before, seeded with the
    run's seed (the split, the initial weights, every random layer)."""
    if cfg.resources.memory_growth and keras.backend.backend() == "tensorflow":
        gpu_memory_growth()  # JAX's allocator: set before JAX loads (augsweep.backend)
    keras.utils.clear_session()
    keras.utils.set_random_seed(cfg.seed)


def _plan(client, experiment_id: str, key: str, splits: Splits, cfg: DictConfig):
    """What to do about the run key (:func:`augsweep.tracking.relaunch.plan_run`); a killed
    run whose checkpoint is gone after it logged epochs is trained anew (retraining in the
    same run would log its epochs twice)."""
    plan = relaunch.plan_run(client, experiment_id, key, splits.fingerprint, rerun=cfg.rerun,
                             stale_after_s=cfg.tracking.stale_after_s)  # fmt: skip
    if plan.action == Outcome.RESUMED and plan.run.data.metrics:
        run_id = plan.run.info.run_id
        if not _checkpoint(cfg, key, run_id).state():
            return relaunch.Plan(Outcome.TRAINED, previous_run_id=run_id)
    return plan


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
        Tag.KERAS_BACKEND: cfg.trainer.keras_backend,
    }
    if sweep:
        tags[Tag.SWEEP_ID] = sweep.sweep_id
        tags[Tag.SWEEPS] = sweep.sweep_id
        if job is not None:
            tags[Tag.JOB] = str(job)
    if sweep and cfg.search.role:  # a job of hydra/sweeper=search
        tags[Tag.SEARCH_ROLE] = cfg.search.role
        tags[Tag.SEARCH_STUDY] = search.study_name(sweep.sweep_key)
        if cfg.search.trial >= 0:
            tags[Tag.SEARCH_TRIAL] = str(cfg.search.trial)
    return tags


def _checkpoint(cfg: DictConfig, key: str, run_id: str) -> Checkpoint:
    return Checkpoint(checkpoint_root(cfg.tracking) / key, run_id)


def key_lock_path(tracking, key: str) -> Path:
    """The lock file of run key ``key`` on this host: ``<checkpoint root>/<key>.lock``
    (:func:`augsweep.tracking.relaunch.key_lock`), beside the key's checkpoint folder."""
    return checkpoint_root(tracking) / f"{key}.lock"


def checkpoint_root(tracking) -> Path:
    """The folder of the checkpoints: ``tracking.checkpoints``, else ``checkpoints/``
    beside a SQLite store, else ``$AUGSWEEP_CACHE_DIR/checkpoints``.

    Args:
        tracking: The ``tracking`` config node, its ``uri`` resolved.
    """
    if tracking.checkpoints:
        return resolve_path(tracking.checkpoints)
    if uris.is_sqlite(tracking.uri):
        return uris.sqlite_file(tracking.uri).parent / "checkpoints"
    return user_cache_dir() / "checkpoints"


def _train_in_run(
    cfg: DictConfig,
    splits: Splits,
    checkpoint: Checkpoint,
    outbox: Outbox,
    resume_id: str | None,
    parent_id: str | None,
    policy: Policy | None = None,
    label: str = "run",
    sweep: SweepInfo | None = None,
) -> tuple[dict[str, float], int]:
    """Inside the run: its inputs recorded, its parts assembled, training (resumed from the
    checkpoint if any; a line per epoch named ``label``), then its results recorded. Returns
    the summary (with :data:`metrics.PRUNED_AT` when a search's pruner stopped it) and the
    number of epochs done before."""
    _record_inputs(cfg, splits, resumed=resume_id is not None)
    parts = assemble(cfg, splits, checkpoint, outbox, resume_id is not None, parent_id, policy)
    hopeless = None
    if sweep and cfg.search.role == "trial":  # its epochs reported to the study (pruning)
        hopeless = StopWhenHopeless(search.epoch_reporter(cfg.search, sweep.sweep_key))
        parts.callbacks.append(hopeless)
    mlflow.set_tags(parts.compute_tags)
    _record_restored(outbox, parts.done)
    artifacts.warm_up(model=cfg.tracking.log_model)  # once-per-process costs, meanwhile
    parts.model.fit(
        parts.train_batches,
        epochs=cfg.trainer.epochs,
        initial_epoch=len(parts.done),
        steps_per_epoch=steps_per_epoch(splits.num_train, cfg.trainer.batch_size),
        callbacks=[*parts.callbacks, EpochProgress(label, cfg.trainer.epochs, len(parts.done))],
        verbose=cfg.trainer.verbose,
        shuffle=False,  # the training batches are already shuffled, with the run's seed
    )
    outbox.settle()  # a server that went away: wait for it, send what was kept
    try:
        check_diverged(parts.logger.history)
    except TrainingDiverged:
        checkpoint.remove()  # never resumed: a relaunch skips it, rerun=true trains anew
        raise
    summary = _record_result(cfg, splits, parts)
    if hopeless is not None and hopeless.pruned_at is not None:
        mlflow.set_tag(Tag.PRUNED_AT, str(hopeless.pruned_at))
        summary = {**summary, metrics.PRUNED_AT: hopeless.pruned_at}
    return summary, len(parts.done)


def assemble(
    cfg: DictConfig,
    splits: Splits,
    checkpoint: Checkpoint,
    outbox: Outbox,
    resumed: bool,
    parent_id: str | None,
    policy: Policy | None = None,
) -> RunParts:
    """The run's parts: policy, compiled model (its state restored from the checkpoint of
    a resumed run), input pipelines, evaluator and the callbacks of ``fit``.

    Args:
        cfg: The run's config.
        splits: The run's data.
        checkpoint: The run's checkpoint (restored if ``resumed``, else cleared).
        outbox: The run's outbox (per-epoch metrics and heartbeats go through it).
        resumed: Whether the run continues from its checkpoint.
        parent_id: The sweep's parent run, which the run shows alive too.
        policy: The run's policy, built before the run was created (else built here).
    """
    trainer = cfg.trainer
    policy = policy or build_policy(cfg.augment, cfg.seed)
    model, compute_tags = compiled_model(cfg.model, trainer, splits, policy)
    pipeline_layers = policy.pipeline_layers()
    done = checkpoint.restore(state_objects(model, pipeline_layers)) if resumed else []
    if not resumed:
        checkpoint.remove()  # a folder of an older run of this key
    train_batches, val_batches, clean_batches = input_pipelines(
        splits,
        trainer.batch_size,
        cfg.seed,
        trainer.eval_batch_size,
        epochs=(len(done), trainer.epochs),
        augment_example=policy.example_stage(),
        augment_batch=policy.batch_stage(),
    )
    test_batches = eval_batches(splits, "test", trainer.eval_batch_size)
    batches = {"val": val_batches, "clean_train": clean_batches, "test": test_batches}
    evaluator = _evaluator(trainer, cfg.seed, splits, model, batches)
    best = BestWeights(done, checkpoint.best_weights() if done else None)
    logger = EpochLogger(_epoch_logger(outbox, parent_id), done)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        Validation(evaluator),  # val_* first: the callbacks after it read them
        CleanEvaluation(evaluator),
        best,
        EpochCheckpoint(checkpoint, pipeline_layers, done, best),
        logger,  # last: it logs what the others added
    ]
    return RunParts(policy, model, compute_tags, done, train_batches, evaluator, best, logger,
                    callbacks)  # fmt: skip


def _record_inputs(cfg: DictConfig, splits: Splits, resumed: bool) -> None:
    """What the run is: its params (once, when created), its data and dataset input."""
    if not resumed:
        artifacts.log_params(logged_params(cfg))
    artifacts.log_data(splits)
    spec = OmegaConf.to_container(cfg.dataset, resolve=True)
    artifacts.log_dataset(artifacts.run_dataset(cfg.dataset.name, splits.fingerprint,
                                                split_sizes(splits), spec))  # fmt: skip


def _record_restored(outbox: Outbox, done: list[dict]) -> None:
    """A resumed run: the checkpointed epochs that MLflow lacks (a kill between checkpoint
    and log), and how many epochs it resumed after."""
    if not done:
        return
    logged = {m.step for m in outbox.client.get_metric_history(outbox.run_id, "val_accuracy")}
    for epoch, logs in enumerate(done):
        if epoch not in logged:
            artifacts.log_epoch(logs, epoch)
    outbox.client.set_tag(outbox.run_id, Tag.RESUMED, str(len(done)))


def _record_result(cfg: DictConfig, splits: Splits, parts: RunParts) -> dict[str, float]:
    """The run's end: the best epoch's weights tested once, the summary metrics, the files
    and the model. Returns the summary."""
    history = parts.logger.history
    summary = summarize(history) | held_out_metrics(parts.best, parts.evaluator)
    mlflow.set_tag(Tag.FEATURE_CACHE, parts.evaluator.summary())
    images, labels = first_examples(splits.train, PREVIEW_IMAGES)
    with tempfile.TemporaryDirectory() as tmp:
        save_preview(parts.policy, images, labels, splits.class_names,
                     Path(tmp, "augment_preview.png"), parts.policy.where)  # fmt: skip
        artifacts.write_run_files(cfg, history, splits.class_names, Path(tmp))
        mlflow.log_artifacts(tmp)
    model_id = None
    if cfg.tracking.log_model:
        name = artifacts.model_name(mlflow.active_run().info.run_name)
        step = int(np.argmax(history[metrics.VAL_ACCURACY]))
        model_id = artifacts.log_keras_model(parts.model, images, name, step=step)
    dataset = artifacts.run_dataset(cfg.dataset.name, splits.fingerprint, split_sizes(splits),
                                    OmegaConf.to_container(cfg.dataset, resolve=True))  # fmt: skip
    artifacts.log_summary(summary, model_id, dataset)
    return summary


def _evaluator(trainer, seed: int, splits: Splits, model, batches):
    """The run's evaluator of its un-augmented splits: on backbone features computed once
    (and kept in ``$AUGSWEEP_CACHE_DIR/features`` for the next runs) when the model's
    backbone is frozen and ``trainer.feature_cache=auto``, else the whole model.

    Args:
        trainer: The ``trainer`` config node.
        seed: The run's seed.
        splits: The run's data (its fingerprint names the cached features).
        model: The compiled model.
        batches: ``{split name: batched (images, one_hot_labels)}``, never augmented.
    """
    # The seed: a seeded split (digits) has other examples under another seed; the clean
    # subset's size: its examples.
    data_key = (
        f"{splits.cache_key or splits.fingerprint}:seed={seed}:clean={trainer.clean_eval_samples}"
    )
    return make_evaluator(
        model,
        batches,
        feature_cache=trainer.feature_cache,
        data_key=data_key,
        directory=user_cache_dir() / "features",
        batch_size=trainer.eval_batch_size,
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
    return {metrics.TEST_ACCURACY: result["accuracy"], metrics.TEST_LOSS: result["loss"]}


def _epoch_logger(outbox: Outbox, parent_id: str | None):
    """Log an epoch's metrics, then show the run alive, and the sweep's parent too (at most
    every :data:`PARENT_BEAT_S` seconds: it matters only to launches on other hosts, which
    wait ``tracking.stale_after_s``); through the run's outbox, which keeps them in a spool
    while a tracking server is away."""
    last_parent_beat = 0.0

    def log(values: Mapping[str, float], epoch: int) -> None:
        nonlocal last_parent_beat
        outbox.log_metrics(values, epoch, heartbeat=True)  # the run's beat in the same write
        if parent_id and time.time() - last_parent_beat >= PARENT_BEAT_S:
            outbox.heartbeat([parent_id])
            last_parent_beat = time.time()

    return log


def compiled_model(model_cfg, trainer, splits: Splits, policy: Policy):
    """The run's model: the policy's in-model block + the body, compiled with Adam as the
    trainer's speed knobs say (:mod:`augsweep.compute`); and tags saying how it computes.

    The augmentation block is built before the dtype policy is set: it stays float32 (pixel
    values, cheap next to the body), the body computes in float16 if
    ``trainer.mixed_precision``, its softmax in float32.

    Args:
        model_cfg: The ``model`` config node.
        trainer: The ``trainer`` config node.
        splits: The run's data (image shape, classes, training size).
        policy: The run's augmentation policy.
    """
    block = policy.model_block()
    with precision(trainer.mixed_precision) as dtype_policy:
        model = build_classifier(
            model_cfg, block, input_shape=splits.image_shape, num_classes=splits.num_classes
        )
        steps = steps_per_epoch(splits.num_train, trainer.batch_size)
        plan = compile_classifier(
            model,
            block,
            body_of(model),
            optimizer=keras.optimizers.Adam(learning_rate(trainer, steps)),
            jit_compile=trainer.jit_compile,
            steps_per_execution=trainer.steps_per_execution,
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


def logged_params(cfg: DictConfig) -> dict:
    """The experiment as run parameters, each once (resolved).

    Left out: what the run key leaves out (:data:`augsweep.config.run_key.EXCLUDED`: where
    a run is logged and runs, how fast, console output; all in its ``config.yaml``), and the
    catalogue's specs of the techniques used (``augment.use`` names them, the knobs give
    their magnitudes, ``config.yaml`` holds them). Of the augment node only the knobs the
    policy reads (:func:`augsweep.config.catalogue.used_augment_config`); a numeric knob it
    does not read is 0, no such transform, so that every run has every magnitude (MLflow's
    compare view shows "unknown" for a missing one).
    """
    params = experiment_part(OmegaConf.to_container(cfg, resolve=True))
    augment = used_augment_config(cfg.augment)
    del augment["techniques"]
    for key in knobs(cfg.augment):
        value = cfg.augment[key]
        if key not in augment and isinstance(value, (int, float)) and not isinstance(value, bool):
            augment[key] = 0
    params["augment"] = augment
    return params


def split_sizes(splits: Splits) -> dict[str, int]:
    """Examples per split, as the run's dataset input shows them."""
    return {"train": splits.num_train, "val": splits.num_val, "test": splits.num_test}


def summarize(history: Mapping[str, list[float]]) -> dict[str, float]:
    """The run's end-of-training metrics from its per-epoch history."""
    val = np.asarray(history[metrics.VAL_ACCURACY])
    best = int(np.argmax(val))
    return {
        metrics.BEST_VAL_ACCURACY: float(val[best]),
        metrics.BEST_EPOCH: float(best),
        metrics.FINAL_VAL_ACCURACY: float(val[-1]),
        metrics.FINAL_CLEAN_ACCURACY: float(history[metrics.CLEAN_ACCURACY][-1]),
        metrics.FINAL_GAP: float(history[metrics.GAP][-1]),
    }
