"""Structured-config schemas, registered in Hydra's ConfigStore.

Every config group option in ``conf/`` is validated against one of these dataclasses, so a
typo (``trainer.epoch=3``) or a wrong type (``trainer.epochs=abc``) fails when Hydra composes
the config, before TensorFlow is imported and before any MLflow run exists.

Group options that are built into objects carry a ``_target_`` and are built through
:func:`augsweep.builders.build`, the single place that calls ``hydra.utils.instantiate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class DigitsConfig:
    """scikit-learn's embedded 8x8 ``digits``, upsampled to ``image_size``.

    Attributes:
        name: Display name, used as the ``dataset`` tag.
        train_samples: Training images used (stratified); ``-1`` uses all of them.
            The validation images are the same whatever this is.
        val_fraction: Share of the 1,797 images held out for validation.
        image_size: Square side of the images (pixels).
        margin: Share of the side left black on each side of the digit, as MNIST frames
            its digits (4 of 28 px); the 8x8 digit is resized (bilinear) into the rest.
            Rotations and zooms then move the digit instead of cropping it.
    """

    _target_: str = "augsweep.data.load_digits"
    name: str = "digits"
    train_samples: int = 100
    val_fraction: float = 0.3
    image_size: int = 32
    margin: float = 0.125


@dataclass
class SmallCNNConfig:
    """A small convolutional network trained from scratch.

    Attributes:
        filters: Filters of each Conv2D + MaxPooling block.
        dense_units: Width of the hidden Dense layer.
        dropout: Dropout rate before the classifier; 0 disables it.
    """

    _target_: str = "augsweep.models.small_cnn"
    name: str = "small_cnn"
    filters: list[int] = field(default_factory=lambda: [16, 32, 64])
    dense_units: int = 128
    dropout: float = 0.0


@dataclass
class AugmentConfig:
    """An augmentation policy: a named list of Keras layer specs.

    Attributes:
        name: Display name, used for the ``augment`` tag and in reports.
        layers: Layer specs (``_target_`` plus arguments), applied in order. The empty
            list is "no augmentation". Each layer gets ``seed = run seed + its index``.
        flip_mode: ``mode`` of RandomFlip.
        rotation: ``factor`` of RandomRotation (fraction of a full turn).
        zoom: ``height_factor`` of RandomZoom (fraction of the side).
    """

    name: str = MISSING
    layers: list[Any] = field(default_factory=list)
    flip_mode: str = "horizontal"
    rotation: float = 0.1
    zoom: float = 0.1


@dataclass
class TrainerConfig:
    """Optimisation settings.

    Attributes:
        epochs: Passes over the training images.
        batch_size: Images per gradient step.
        learning_rate: Adam's (initial) learning rate.
        lr_schedule: ``cosine`` decays the learning rate to 0 over the run, so the final
            epoch's metrics are those of a settled model rather than one epoch's noise;
            ``constant`` keeps it fixed.
        eval_batch_size: Batch size of the validation and clean-train evaluations
            (inference only: it changes speed, not results).
        clean_eval_samples: Training images evaluated without augmentation after each
            epoch (``clean_*`` metrics); ``-1`` uses all of them.
        verbose: Keras ``fit`` verbosity (0, 1 or 2).
    """

    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    eval_batch_size: int = 256
    clean_eval_samples: int = -1
    verbose: int = 0


@dataclass
class TrackingConfig:
    """Where runs are logged.

    Attributes:
        uri: MLflow tracking URI. A relative ``sqlite:///`` path is made absolute against
            the directory the command was launched from; artifacts go next to the database.
        experiment: MLflow experiment name.
        log_model: Log the trained model with MLflow's Keras flavor.
    """

    uri: str = "sqlite:///mlruns/mlflow.db"
    experiment: str = "augsweep"
    log_model: bool = True


@dataclass
class Config:
    """The root config composed from ``conf/config.yaml``."""

    seed: int = 0
    dataset: Any = MISSING
    model: Any = MISSING
    augment: AugmentConfig = MISSING
    trainer: TrainerConfig = MISSING
    tracking: TrackingConfig = MISSING


def register_configs() -> None:
    """Store the schemas; ``conf/`` files extend them through their defaults lists."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="schema/dataset", name="digits", node=DigitsConfig)
    cs.store(group="schema/model", name="small_cnn", node=SmallCNNConfig)
    cs.store(group="schema/augment", name="augment", node=AugmentConfig)
    cs.store(group="schema/trainer", name="trainer", node=TrainerConfig)
    cs.store(group="schema/tracking", name="tracking", node=TrackingConfig)


register_configs()
