"""One run: build the data, the augmented model, train, and log it all to MLflow."""

from __future__ import annotations

import copy
import csv
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

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
    tags = {
        "augment": cfg.augment.name,
        "augment_placement": cfg.augment.placement,
        "augment_backend": cfg.augment.backend,
        "dataset": cfg.dataset.name,
        "model": cfg.model.name,
    }
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

    from augsweep.augment import build_policy
    from augsweep.builders import build

    mlflow.log_params(tracking.flatten(logged_params(cfg)))
    keras.utils.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    splits = build(cfg.dataset, seed=cfg.seed, clean_samples=cfg.trainer.clean_eval_samples)
    _log_data(splits)
    policy = build_policy(cfg.augment, cfg.seed)
    model = _compiled_model(cfg, splits, policy)
    pipelines = input_pipelines(
        splits, policy, cfg.trainer.batch_size, cfg.seed, cfg.trainer.eval_batch_size
    )
    history = _fit(model, cfg, *pipelines)
    summary = summarize(history)
    mlflow.log_metrics(summary)
    preview_images, preview_labels = _first_examples(splits.train, PREVIEW_IMAGES)
    preview = augment_preview(
        policy, preview_images, keras.utils.to_categorical(preview_labels, splits.num_classes)
    )
    _log_artifacts(cfg, history, preview, splits.class_names, policy.mixes_labels)
    if cfg.tracking.log_model:
        tracking.log_keras_model(model, preview_images)
    return summary


def _compiled_model(cfg: DictConfig, splits, policy):
    """The run's model: the policy's in-model layers + the body, compiled with Adam."""
    import keras

    from augsweep.models import build_classifier

    model = build_classifier(
        cfg.model,
        policy.model_layers,
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
    from augsweep.callbacks import CleanEvaluation, EpochLogger

    logger = EpochLogger(tracking.log_epoch)
    model.fit(
        train,
        validation_data=val,
        epochs=cfg.trainer.epochs,
        callbacks=[CleanEvaluation(clean), logger],
        verbose=cfg.trainer.verbose,
        shuffle=False,  # the training batches are already shuffled, with the run's seed
    )
    return logger.history


def input_pipelines(splits, policy, batch_size: int, seed: int, eval_batch_size: int = 256):
    """The run's batches: training (augmented in the pipeline as the policy says),
    validation and clean-train (never augmented or mixed: hard one-hot labels).

    Args:
        splits: The run's :class:`augsweep.data.Splits`.
        policy: The run's :class:`augsweep.augment.Policy`.
        batch_size: Training examples per batch.
        seed: Seeds the shuffling of the training examples.
        eval_batch_size: Examples per validation and clean-train batch.

    Returns:
        ``(train, val, clean_train)`` batched datasets.
    """
    from augsweep.data import batches

    def batched(part: str, batch_size: int, **options):
        examples = getattr(splits, part)
        return batches(examples, batch_size, splits.num_classes, cache=splits.cache_for(part),
                       **options)  # fmt: skip

    train = batched(
        "train",
        batch_size,
        shuffle_seed=seed,
        augment_example=policy.example_stage(),
        augment_batch=policy.batch_stage(),
    )
    return train, batched("val", eval_batch_size), batched("clean_train", eval_batch_size)


def learning_rate(trainer, steps_per_epoch: int):
    """Adam's learning rate: a float, or a cosine decay to 0 over all training steps."""
    import keras

    if trainer.lr_schedule == "constant":
        return trainer.learning_rate
    return keras.optimizers.schedules.CosineDecay(
        trainer.learning_rate, decay_steps=trainer.epochs * steps_per_epoch
    )


def logged_params(cfg: DictConfig) -> DictConfig:
    """The config as run parameters: of the technique catalogue, only what the run uses."""
    from augsweep.techniques import used_catalogue

    params = copy.deepcopy(cfg)
    with open_dict(params):
        params.augment.techniques = used_catalogue(cfg.augment)
    return params


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


def _log_artifacts(cfg, history, preview, class_names, mixed: bool) -> None:
    import mlflow

    from augsweep import plots

    images, labels = preview
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        write_history_csv(history, out / "history.csv")
        title = f"{cfg.augment.name} on {cfg.dataset.name} ({plots.class_list(class_names)})"
        plots.run_curves(history, title, out / "curves.png")
        where = "albumentations" if cfg.augment.backend != "keras" else cfg.augment.placement
        plots.image_grid(
            images,
            out / "augment_preview.png",
            ["original"] + [f"draw {i + 1}" for i in range(images.shape[1] - 1)],
            title=f"augment={cfg.augment.name} ({where})",
            row_titles=[class_names[int(np.argmax(label))] for label in labels[:, 0]],
            captions=label_captions(labels, class_names) if mixed else None,
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


def _first_examples(examples, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` images (stacked) and their integer labels."""
    pairs = list(examples.take(count).as_numpy_iterator())
    return np.stack([image for image, _ in pairs]), np.array([label for _, label in pairs])


def augment_preview(
    policy, images: np.ndarray, labels: np.ndarray, draws: int = PREVIEW_DRAWS
) -> tuple[np.ndarray, np.ndarray]:
    """The same images, original then under ``draws`` training-time draws of the policy.

    Each draw runs the whole policy as training does, wherever it is placed: albumentations
    and dataset-placed layers, MixUp/CutMix (which mix the images with one another and
    their labels too) and the model's augmentation block.

    Args:
        policy: The run's :class:`augsweep.augment.Policy`.
        images: Array ``(N, H, W, C)`` of 0-255 pixels.
        labels: Array ``(N, classes)`` of their one-hot labels.
        draws: How many augmented versions of each image.

    Returns:
        Images ``(N, 1 + draws, H, W, C)`` and their labels ``(N, 1 + draws, classes)``.
    """
    image_columns, label_columns = [np.asarray(images)], [np.asarray(labels, dtype=np.float32)]
    for _ in range(draws):
        drawn_images, drawn_labels = policy.draw(images, labels)
        image_columns.append(drawn_images)
        label_columns.append(drawn_labels)
    return np.stack(image_columns, axis=1), np.stack(label_columns, axis=1)


def label_captions(labels: np.ndarray, class_names, top: int = 2) -> np.ndarray:
    """Captions of (mixed) labels: the largest weights, e.g. ``"3: 0.62, 7: 0.38"``.

    Args:
        labels: Array ``(..., classes)`` of label weights.
        class_names: Class names, index = class.
        top: At most this many classes per caption (weights below 0.005 left out).

    Returns:
        An array of strings of shape ``labels.shape[:-1]``.
    """
    flat = labels.reshape(-1, labels.shape[-1])
    captions = []
    for weights in flat:
        order = np.argsort(-weights)[:top]
        parts = [f"{class_names[i]}: {weights[i]:.2f}" for i in order if weights[i] >= 0.005]
        captions.append(", ".join(parts))
    return np.array(captions, dtype=object).reshape(labels.shape[:-1])
