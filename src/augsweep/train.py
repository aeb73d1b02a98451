"""One run: build the data, the augmented model, train, and log it all to MLflow."""

from __future__ import annotations

import csv
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from augsweep import tracking
from augsweep.sweep import SweepInfo
from augsweep.validation import validate

PREVIEW_IMAGES = 8
PREVIEW_DRAWS = 4


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
        augsweep.validation.ConfigError: For a bad config, before any run is created.
    """
    validate(cfg)
    cfg = cfg.copy()
    cfg.tracking.uri = sweep.tracking_uri if sweep else tracking.resolve_uri(cfg.tracking.uri)
    client = tracking.connect(cfg.tracking.uri)
    if sweep:
        experiment_id = sweep.experiment_id
    else:
        experiment_id = tracking.ensure_experiment(client, cfg.tracking.experiment)
    tags = {"augment": cfg.augment.name, "dataset": cfg.dataset.name, "model": cfg.model.name}
    if sweep:
        tags["sweep_id"] = sweep.sweep_id
    with tracking.tracked_run(
        client,
        experiment_id,
        run_name or f"augment={cfg.augment.name}",
        tags,
        parent_run_id=sweep.parent_run_id if sweep else None,
    ):
        return _fit_and_log(cfg)


def _fit_and_log(cfg: DictConfig) -> dict[str, float]:
    """Inside the run: data, model, training, then metrics, artifacts and the model."""
    import keras
    import mlflow

    from augsweep.builders import build

    mlflow.log_params(tracking.flatten(cfg))
    keras.utils.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    splits = build(cfg.dataset, seed=cfg.seed, clean_samples=cfg.trainer.clean_eval_samples)
    _log_data(splits)
    model = _compiled_model(cfg, splits)
    history = _fit(model, cfg, splits)
    summary = summarize(history)
    mlflow.log_metrics(summary)
    preview_images, preview_labels = _first_examples(splits.train, PREVIEW_IMAGES)
    _log_artifacts(cfg, history, model, splits.class_names, preview_images, preview_labels)
    if cfg.tracking.log_model:
        tracking.log_keras_model(model, preview_images)
    return summary


def _compiled_model(cfg: DictConfig, splits):
    """The run's model: augmentation block + body, compiled with Adam and cross-entropy."""
    import keras

    from augsweep.augment import build_layers
    from augsweep.models import build_classifier

    model = build_classifier(
        cfg.model,
        build_layers(cfg.augment.layers, cfg.seed),
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


def _fit(model, cfg: DictConfig, splits) -> dict[str, list[float]]:
    """Train; return the per-epoch history, clean-train metrics included.

    Validation and clean-train batches are never augmented: the model's augmentation block
    is off outside training.
    """
    from augsweep.callbacks import CleanEvaluation, EpochLogger
    from augsweep.data import batches

    trainer = cfg.trainer

    def batched(part: str, batch_size: int, **options):
        examples = getattr(splits, part)
        return batches(examples, batch_size, splits.num_classes, cache=splits.cache_for(part),
                       **options)  # fmt: skip

    logger = EpochLogger(tracking.log_epoch)
    model.fit(
        batched("train", trainer.batch_size, shuffle_seed=cfg.seed),
        validation_data=batched("val", trainer.eval_batch_size),
        epochs=trainer.epochs,
        callbacks=[CleanEvaluation(batched("clean_train", trainer.eval_batch_size)), logger],
        verbose=trainer.verbose,
        shuffle=False,  # the training batches are already shuffled, with the run's seed
    )
    return logger.history


def learning_rate(trainer, steps_per_epoch: int):
    """Adam's learning rate: a float, or a cosine decay to 0 over all training steps."""
    import keras

    if trainer.lr_schedule == "constant":
        return trainer.learning_rate
    return keras.optimizers.schedules.CosineDecay(
        trainer.learning_rate, decay_steps=trainer.epochs * steps_per_epoch
    )


def _log_data(splits) -> None:
    """What the run trains on: fingerprint and classes (tags, param, ``classes.txt``), and
    the files a folder dataset skipped."""
    import mlflow

    mlflow.set_tags(
        {"data_fingerprint": splits.fingerprint, "classes": ",".join(splits.class_names)[:5000]}
    )
    mlflow.log_param("dataset.num_classes", splits.num_classes)
    mlflow.log_text("".join(f"{name}\n" for name in splits.class_names), "classes.txt")
    for file_name, text in splits.artifacts.items():
        mlflow.log_text(text, file_name)


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


def _log_artifacts(cfg, history, model, class_names, preview_images, preview_labels) -> None:
    import mlflow

    from augsweep import plots

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        write_history_csv(history, out / "history.csv")
        title = f"{cfg.augment.name} on {cfg.dataset.name} ({plots.class_list(class_names)})"
        plots.run_curves(history, title, out / "curves.png")
        preview = augment_preview(model.get_layer("augment"), preview_images)
        plots.image_grid(
            preview,
            out / "augment_preview.png",
            ["original"] + [f"draw {i + 1}" for i in range(PREVIEW_DRAWS)],
            title=f"augment={cfg.augment.name}",
            row_titles=[class_names[label] for label in preview_labels],
        )
        mlflow.log_artifacts(tmp)


def write_history_csv(history: Mapping[str, list[float]], path: Path) -> Path:
    """One row per epoch (0-based ``epoch`` column), one column per metric."""
    keys = sorted(history)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *keys])
        for epoch in range(len(history[keys[0]]) if keys else 0):
            writer.writerow([epoch, *(history[k][epoch] for k in keys)])
    return path


def _first_examples(examples, count: int) -> tuple[np.ndarray, list[int]]:
    """The first ``count`` images (stacked) and their labels."""
    pairs = list(examples.take(count).as_numpy_iterator())
    return np.stack([image for image, _ in pairs]), [int(label) for _, label in pairs]


def augment_preview(block, images: np.ndarray, draws: int = PREVIEW_DRAWS) -> np.ndarray:
    """The same images, original then under ``draws`` draws of the policy.

    Args:
        block: The model's augmentation block.
        images: Array ``(N, H, W, C)`` of 0-255 pixels.
        draws: How many augmented versions of each image.

    Returns:
        Array ``(N, 1 + draws, H, W, C)``.
    """
    columns = [images] + [np.asarray(block(images, training=True)) for _ in range(draws)]
    return np.stack(columns, axis=1)
