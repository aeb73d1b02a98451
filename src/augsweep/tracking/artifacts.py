"""What a run logs while it lives: params, per-epoch metrics, its data, files, the model.

Every function logs into the active MLflow run (see :func:`augsweep.tracking.store.tracked_run`).
"""

from __future__ import annotations

import csv
import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.meta_dataset import MetaDataset
from omegaconf import DictConfig, OmegaConf

from augsweep import plots
from augsweep.metrics import SUMMARY_STEP
from augsweep.tracking.tags import Tag


def flatten(cfg: DictConfig | Mapping, prefix: str = "") -> dict[str, Any]:
    """Flatten a resolved config to dotted keys; a list is one value (:func:`list_value`),
    so that a key has the same form in every run, whatever the list's length."""
    node = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    flat: dict[str, Any] = {}
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        elif isinstance(value, (list, tuple)):
            flat[dotted] = list_value(value)
        else:
            flat[dotted] = value
    return flat


def list_value(items: list | tuple) -> str:
    """A list as one param: ``[flip, rotation]`` as on Hydra's command line; JSON when it
    holds mappings or lists (``augment.layers``)."""
    if any(isinstance(item, (Mapping, list, tuple)) for item in items):
        return json.dumps(items)
    return "[" + ", ".join(str(item) for item in items) + "]"


def log_params(cfg: DictConfig | Mapping) -> None:
    """Log a config as the run's params, flattened to dotted keys."""
    mlflow.log_params(flatten(cfg))


def log_epoch(metrics: Mapping[str, float], epoch: int) -> None:
    """Log one epoch's metrics in a single call, ``step`` = the 0-based epoch.

    Synchronous on purpose: one batch write costs ~10 ms on SQLite, while MLflow's async
    logging costs a second at the end of every run (its queue shuts down when the run ends).
    A run's live epochs go through its outbox (:mod:`augsweep.tracking.spool`); this sends
    the checkpointed epochs a resumed run finds missing.
    """
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=epoch)


def log_data(splits) -> None:
    """What the run trains on: fingerprint and classes (tags, param, ``classes.txt``), and
    the files a folder dataset skipped.

    Args:
        splits: The run's :class:`augsweep.data.splits.Splits`.
    """
    mlflow.set_tags(
        {Tag.DATA_FINGERPRINT: splits.fingerprint, Tag.CLASSES: ",".join(splits.class_names)[:5000]}
    )
    mlflow.log_param("dataset.num_classes", splits.num_classes)
    mlflow.log_text("".join(f"{name}\n" for name in splits.class_names), "classes.txt")
    for file_name, text in splits.artifacts.items():
        mlflow.log_text(text, file_name)


def run_dataset(name: str, digest: str, sizes: Mapping[str, int], spec: Mapping) -> SplitDataset:
    """The run's data as an MLflow dataset.

    Args:
        name: The dataset's name (``digits``, ``tf_flowers``, ...).
        digest: The data fingerprint (tag ``data_fingerprint``): runs on the same data show
            the same dataset.
        sizes: Examples per split, ``{"train": 60, "val": 30, ...}``: the dataset's profile.
        spec: The dataset's config (loader and arguments): the dataset's source.
    """
    return SplitDataset(CodeDatasetSource(dict(spec)), name, digest, sizes)


def log_dataset(dataset: SplitDataset) -> None:
    """Log the run's data (:func:`run_dataset`) as its dataset input (the UI's "Dataset"
    column)."""
    mlflow.log_input(dataset, context="training")


def log_summary(
    summary: Mapping[str, float], model_id: str | None, dataset: SplitDataset | None
) -> None:
    """Log the end-of-run metrics at :data:`augsweep.metrics.SUMMARY_STEP`, the same step in
    every run, linked to the logged model and the run's dataset.

    MLflow 3.17's Chart view draws a metric as a bar per run (or per group) only when no
    run has it at a step above 0, and as a line over steps otherwise: at the best epoch's
    step the summary drew zig-zag lines across runs. The logged model still carries the best
    epoch's per-epoch metrics (``log_model(step=best epoch)``) and gets the summary through
    ``model_id``; the dataset fills the model's "Datasets used".

    Args:
        summary: Metric -> value.
        model_id: The run's logged model (None: no model logged).
        dataset: The run's dataset (:func:`run_dataset`).
    """
    mlflow.log_metrics(dict(summary), step=SUMMARY_STEP, model_id=model_id, dataset=dataset)


class SplitDataset(MetaDataset):
    """A dataset known by its digest and source, with its split sizes as its profile
    (``num_train``, ``num_val``, ...; MLflow's MetaDataset has no profile)."""

    def __init__(self, source, name: str, digest: str, sizes: Mapping[str, int]):
        super().__init__(source, name=name, digest=digest)
        self._sizes = {f"num_{split}": int(n) for split, n in sizes.items()}

    @property
    def profile(self) -> dict[str, int]:
        return self._sizes

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self.profile)}


def write_run_files(
    cfg: DictConfig, history: Mapping[str, list[float]], class_names, out: Path
) -> None:
    """Write ``config.yaml``, ``history.csv`` and ``curves.png`` of a run into ``out``."""
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    write_history_csv(history, out / "history.csv")
    title = f"{cfg.augment.name} on {cfg.dataset.name} ({plots.class_list(class_names)})"
    plots.run_curves(history, title, out / "curves.png")


def write_history_csv(history: Mapping[str, list[float]], path: Path) -> Path:
    """One row per epoch (0-based ``epoch`` column), one column per metric."""
    keys = sorted(history)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *keys])
        for epoch in range(len(history[keys[0]]) if keys else 0):
            writer.writerow([epoch, *(_shortest(history[k][epoch]) for k in keys)])
    return path


def _shortest(value) -> str:
    """A float32 metric as its shortest exact text (``0.9``, not ``0.89999997``)."""
    return str(np.float32(value)) if isinstance(value, (float, np.floating)) else str(value)


_warm_up: threading.Thread | None = None


def warm_up(model: bool = True) -> None:
    """Pay :func:`log_keras_model`'s once-per-process costs in a background thread, while
    the model trains (call it just before ``fit``; later calls do nothing).

    The first ``mlflow.keras.log_model`` of a process imports MLflow's model and Keras
    flavor modules and maps every installed distribution to its modules (MLflow checks the
    pinned requirements against the installed versions: ``packages_distributions()`` reads
    the file list of each of the venv's ~60 distributions that lack a ``top_level.txt``,
    TensorFlow's 16,000 files among them): about 1 s, as long as the rest of ``log_model``.
    MLflow offers no public way to skip that check, so its module-level cache is filled
    here, ahead of time; should a later MLflow rename the private function, only the
    warm-up is lost. (matplotlib needs no warming: Keras imports it.)

    Nothing is logged or written in the thread: the files and the model are still logged
    by the run's own thread, before the run ends, so "nothing lost" holds as before (a
    crash during training loses only warm caches). Python's import locks keep a
    concurrent import whole; :func:`log_keras_model` waits for the thread rather than
    doing its work twice.

    Args:
        model: Whether the run logs its model (if not, nothing is warmed).
    """
    global _warm_up
    if model and _warm_up is None:
        _warm_up = threading.Thread(target=_warm_up_imports, name="augsweep-warm-up", daemon=True)
        _warm_up.start()


def _warm_up_imports() -> None:
    import mlflow.keras  # noqa: F401
    import mlflow.models  # noqa: F401
    from mlflow.utils import requirements_utils

    init = getattr(requirements_utils, "_init_modules_to_packages_map", None)
    if init is not None:
        init()


def model_name(run_name: str) -> str:
    """A logged model's name after its run's (``flip,seed=1``), so that a sweep's
    models can be told apart; MLflow refuses ``/ : . % " '`` in it (``_`` instead)."""
    name = re.sub(r"""[/:.%"']""", "_", run_name or "")
    return name or "model"


def _backend_requirement() -> str:
    """The pip requirement of the Keras backend the model was trained on."""
    import keras

    name = keras.backend.backend()
    module = __import__(name)
    return f"{name}=={module.__version__}"


def log_keras_model(model, sample_images, name: str = "model", step: int = 0) -> str:
    """Log a Keras model with MLflow's Keras flavor; return its ``model_id``.

    Requirements are given explicitly: inferring them would load the model again in a
    subprocess, which costs seconds per run. Waits for :func:`warm_up`'s thread if one
    runs.

    Args:
        model: The trained Keras model.
        sample_images: A few input images; the signature is inferred from them.
        name: The logged model's name (:func:`model_name`).
        step: The step whose metrics the model carries (MLflow links the run's metrics of
            that step to it): the best validation epoch's (its weights are the ones
            logged), with the run's summary.
    """
    import keras
    import mlflow.keras
    from mlflow.models import infer_signature

    if _warm_up is not None:
        _warm_up.join()
    # A direct call, not predict(): predict traces a function of its own (~0.3 s) for 8 images.
    outputs = np.asarray(model(sample_images, training=False))
    signature = infer_signature(sample_images, outputs)
    info = mlflow.keras.log_model(
        model,
        name=name,
        step=step,
        signature=signature,
        pip_requirements=[f"keras=={keras.__version__}", _backend_requirement()],
    )
    return info.model_id
