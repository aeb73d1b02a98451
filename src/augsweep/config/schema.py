"""Structured-config schemas, registered in Hydra's ConfigStore.

Every config group option in ``conf/`` is validated against one of these dataclasses, so a
typo (``trainer.epoch=3``) or a wrong type (``trainer.epochs=abc``) fails when Hydra composes
the config, before TensorFlow is imported and before any MLflow run exists.

Each group has a typed base (:class:`DatasetConfig`, :class:`ModelConfig`), so the root
config is typed too: ``dataset.image_size`` exists whatever the dataset, and an option that
forgets a field of its base fails to compose. Group options that are built into objects carry
a ``_target_`` and are built through :func:`augsweep.instantiate.build`, the single place that
calls ``hydra.utils.instantiate``. Value ranges are checked by :mod:`augsweep.config.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from augsweep.tracking.uri import DEFAULT_EXPERIMENT, DEFAULT_URI


@dataclass
class DatasetConfig:
    """What every dataset option has.

    Attributes:
        _target_: The loader (``augsweep.data.<module>.load_<name>``), returning ``Splits``.
        name: Display name, used as the ``dataset`` tag.
        image_size: Side of the square images, in pixels.
    """

    _target_: str = MISSING
    name: str = MISSING
    image_size: int = MISSING


@dataclass
class ModelConfig:
    """What every model option has.

    Attributes:
        _target_: The builder (``augsweep.models.<name>``), returning the model's body.
        name: Display name, used as the ``model`` tag.
    """

    _target_: str = MISSING
    name: str = MISSING


@dataclass
class DigitsConfig(DatasetConfig):
    """scikit-learn's embedded 8x8 ``digits``, upsampled to ``image_size``.

    Attributes:
        train_samples: Training images used (stratified); ``-1`` uses all of them.
            The validation images are the same whatever this is.
        val_fraction: Share of the 1,797 images held out for validation, drawn by the seed.
        test_fraction: Share of the 1,797 images held out for the test: a fixed stratified
            slice, the same for every seed (every run of a sweep tests on the same images).
        image_size: Square side of the images (pixels).
        margin: Share of the side left black on each side of the digit, as MNIST frames
            its digits (4 of 28 px); the 8x8 digit is resized (bilinear) into the rest.
            Rotations and zooms then move the digit instead of cropping it.
    """

    _target_: str = "augsweep.data.digits.load_digits"
    name: str = "digits"
    train_samples: int = 100
    val_fraction: float = 0.3
    test_fraction: float = 0.2
    image_size: int = 32
    margin: float = 0.125


@dataclass
class TFFlowersConfig(DatasetConfig):
    """TensorFlow Flowers from TensorFlow Datasets (3,670 photos, 5 classes).

    Attributes:
        val_percent: The last ``val_percent`` percent of TFDS's only split are the
            validation images (a fixed slice, the same for every run).
        test_percent: The ``test_percent`` percent just before them are the test images
            (a fixed slice, the same for every run); training gets the rest.
        data_dir: TFDS data folder; null for TFDS's own (``~/tensorflow_datasets``).
            Offline, put ``flower_photos.tgz`` in ``<data_dir>/downloads/manual/``.
        cache: Decoded images are cached: ``true`` in memory, ``false`` not at all, or a
            directory for file caches (reused by later runs on the same data).
    """

    _target_: str = "augsweep.data.tfds.load_tf_flowers"
    name: str = "tf_flowers"
    image_size: int = 180
    val_percent: int = 20
    test_percent: int = 10
    data_dir: str | None = None
    cache: Any = True


@dataclass
class FolderConfig(DatasetConfig):
    """A folder of images with one subfolder per class, or ``train/`` + ``val/`` ones.

    Attributes:
        path: The folder (relative to the launch directory, or absolute). Required.
        val_fraction: Share of each class held out for validation, chosen by the run's
            seed; unused when the folder has ``train/`` and ``val/`` (or ``validation/``).
        test_fraction: Share of each class held out for the test: a fixed slice, the same
            for every seed; unused when the folder has a ``test/`` subfolder (same class
            folders), which is then the test split.
        on_bad_file: ``fail`` stops before training with one error listing every bad file
            and empty class folder; ``skip`` trains on the good images and logs the rest.
        cache: Decoded images are cached: ``true`` in memory, ``false`` not at all, or a
            directory for file caches (reused by later runs on the same data).
    """

    _target_: str = "augsweep.data.folder.load_folder"
    name: str = "folder"
    path: str = MISSING
    image_size: int = 180
    val_fraction: float = 0.2
    test_fraction: float = 0.1
    on_bad_file: str = "fail"
    cache: Any = True


@dataclass
class SmallCNNConfig(ModelConfig):
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
class MobileNetV2Config(ModelConfig):
    """A frozen MobileNetV2 (ImageNet weights) with a new classifier on top.

    Attributes:
        weights: ``imagenet`` (downloaded once into Keras's cache, ``~/.keras/models``) or
            null for random initial weights.
        fine_tune_layers: Unfreeze this many of MobileNetV2's top layers (0: all frozen).
        dense_units: Width of the hidden Dense layer of the classifier.
        dropout: Dropout rate before the output layer; 0 disables it.
    """

    _target_: str = "augsweep.models.mobilenet_v2"
    name: str = "mobilenet_v2"
    weights: str | None = "imagenet"
    fine_tune_layers: int = 0
    dense_units: int = 256
    dropout: float = 0.5


def magnitude(default: float, low: float, high: float | None, low_allowed: bool = True):
    """A magnitude knob of :class:`AugmentConfig` with its allowed range, which
    :mod:`augsweep.config.checks` enforces.

    Args:
        default: The value when no option or override sets it.
        low: The lower bound.
        high: The upper bound, allowed itself; None for none.
        low_allowed: Whether ``low`` itself is allowed.
    """
    return field(default=default, metadata={"bounds": (low, high, low_allowed)})


def magnitude_bounds() -> dict[str, tuple[float, float | None, bool]]:
    """Each magnitude knob of :class:`AugmentConfig` -> ``(low, high, low_allowed)``."""
    return {f.name: f.metadata["bounds"] for f in fields(AugmentConfig) if "bounds" in f.metadata}


@dataclass
class AugmentConfig:
    """An augmentation policy: a named list of layer specs.

    The specs are the catalogue entries named in ``use`` (``conf/techniques/<backend>.yaml``,
    merged into ``techniques``), then the specs of ``layers``. The empty policy is "no
    augmentation". Spec ``i`` gets ``seed = run seed + i`` unless it sets its own.

    Attributes:
        name: Display name, used for the ``augment`` tag, run names and reports.
        use: Technique names from the catalogue, applied in order (label-mixing ones,
            ``mixup`` and ``cutmix``, always run last, on batches).
        layers: Extra Keras layer specs (``_target_`` plus arguments), after ``use``.
        placement: ``model``: the per-image layers are the model's first block (on the
            accelerator, off at inference, saved with the model). ``dataset``: they are
            mapped over the training ``tf.data`` pipeline on the CPU.
        backend: ``keras`` or ``albumentations`` (always in the ``tf.data`` pipeline).
        techniques: The catalogue, one mapping per backend: technique name -> spec.
        flip_mode: ``flip``: horizontal, vertical or horizontal_and_vertical.
        rotation: ``rotation`` and ``affine``: largest angle, as a fraction of a full turn
            (0.1 = 36 deg).
        zoom: ``zoom`` and ``affine``: largest zoom in or out, as a fraction of the side.
        crop: ``crop``: padding on each side as a fraction of the side; a random crop of
            the padded image goes back to the input size.
        translation: ``translation`` and ``affine``: largest shift, as a fraction of the
            side.
        shear: ``affine``: largest shear factor on each axis, in [0, 1] (as
            ``keras.layers.RandomShear``'s ``x_factor`` and ``y_factor``).
        affine_flip: ``affine``: a flip folded into its transform (a ``flip_mode``, drawn as
            ``flip`` draws it), or null for none.
        brightness: ``brightness`` and ``color_jitter``: largest brightness change, as a
            fraction of the 0-255 range.
        contrast: ``contrast`` and ``color_jitter``: contrast factor in [1 - c, 1 + c].
        saturation: ``color_jitter``: saturation factor in [1 - s, 1 + s].
        hue: ``color_jitter``: largest hue rotation, as a fraction of the hue circle.
        grayscale: ``grayscale``: probability of turning an image gray.
        noise: ``noise``: standard deviation of the Gaussian noise, as a fraction of the
            0-255 range (0.05 is about 13 levels).
        blur: ``blur``: largest Gaussian sigma in pixels (3x3 kernel), at most 1.
        erasing: ``erasing``: largest erased area, as a fraction of the image.
        randaugment: ``randaugment``: magnitude of each operation, 0-1.
        randaugment_ops: ``randaugment``: operations per image.
        augmix: ``augmix``: severity of the operations, 0-1.
        mixup: ``mixup``: alpha of the Beta(alpha, alpha) mixing weights.
        cutmix: ``cutmix``: CutMix factor, 0-1 (larger: more varied patch sizes).
    """

    name: str = MISSING
    use: list[str] = field(default_factory=list)
    layers: list[Any] = field(default_factory=list)
    placement: str = "model"
    backend: str = "keras"
    techniques: dict[str, Any] = field(default_factory=dict)
    flip_mode: str = "horizontal"
    rotation: float = magnitude(0.1, 0.0, 1.0)
    zoom: float = magnitude(0.1, 0.0, 0.9)
    crop: float = magnitude(0.125, 0.0, 0.5)
    translation: float = magnitude(0.1, 0.0, 1.0)
    shear: float = magnitude(0.1, 0.0, 1.0)
    affine_flip: str | None = None
    brightness: float = magnitude(0.2, 0.0, 1.0)
    contrast: float = magnitude(0.2, 0.0, 1.0)
    saturation: float = magnitude(0.2, 0.0, 1.0)
    hue: float = magnitude(0.05, 0.0, 0.5)
    grayscale: float = magnitude(0.2, 0.0, 1.0)
    noise: float = magnitude(0.05, 0.0, 1.0)
    blur: float = magnitude(1.0, 0.0, 1.0, low_allowed=False)
    erasing: float = magnitude(0.33, 0.02, 1.0)
    randaugment: float = magnitude(0.5, 0.0, 1.0)
    randaugment_ops: int = 2
    augmix: float = magnitude(0.3, 0.0, 1.0)
    mixup: float = magnitude(0.2, 0.0, None, low_allowed=False)
    cutmix: float = magnitude(1.0, 0.0, 1.0, low_allowed=False)


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
        feature_cache: ``auto`` (default): with a frozen backbone (MobileNetV2 with
            ``fine_tune_layers=0``), evaluate the un-augmented splits on backbone features
            computed once per run and kept on disk for the next runs of the same data and
            backbone (the same metrics, much faster); off by itself otherwise. ``off``:
            always run the whole model. Speed only: not in the run key.
        clean_eval_samples: Training images evaluated without augmentation after each
            epoch (``clean_*`` metrics); ``-1`` uses all of them; null (default) lets the
            dataset choose: all for digits, a fixed 1,000 for photo datasets.
        verbose: Keras ``fit`` verbosity (0, 1 or 2).
        mixed_precision: ``false`` (float32), ``float16`` (Keras's ``mixed_float16``:
            float16 compute, float32 weights and softmax outputs, dynamic loss scaling) or
            ``bfloat16`` (``mixed_bfloat16``: no loss scaling; what Hopper GPUs prefer);
            ``true`` means ``float16`` (the same run key). Faster on GPUs with tensor cores,
            slower on a CPU; results differ slightly (part of the run key).
        keras_backend: Keras's backend: ``tensorflow`` (default) or ``jax`` (no
            TensorFlow needed: data in memory, batches from NumPy). Set at the job's
            start, before Keras loads; part of the run key (left out at its default).
        jit_compile: XLA for the training step: ``auto`` (on with a GPU, off on a CPU),
            true or false. With XLA on, the model's augmentation block runs outside the
            compiled step. Speed only (not in the run key).
        steps_per_execution: Training steps per call of the compiled training function;
            callbacks and logging stay per epoch. Speed only (not in the run key).
    """

    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    eval_batch_size: int = 256
    feature_cache: str = "auto"
    clean_eval_samples: int | None = None
    verbose: int = 0
    mixed_precision: Any = False
    jit_compile: Any = "auto"
    steps_per_execution: int = 1
    keras_backend: str = "tensorflow"


@dataclass
class TrackingConfig:
    """Where runs are logged.

    Attributes:
        uri: MLflow tracking URI. A relative ``sqlite:///`` path is made absolute against
            the directory the command was launched from; artifacts go next to the database.
        experiment: MLflow experiment name.
        log_model: Log the trained model with MLflow's Keras flavor.
        checkpoints: Folder of the per-epoch checkpoints that let a killed run resume
            (one subfolder per run key, removed when the run finishes); null: ``checkpoints/``
            beside a SQLite store, else ``$AUGSWEEP_CACHE_DIR/checkpoints``.
        stale_after_s: A RUNNING run of another host whose heartbeat (updated every epoch)
            is older than this many seconds is taken for dead, reaped and resumed. On the
            same host, a run is dead when its process is gone.
        reconnect_wait_s: A tracking server that went away during a run: how long the run
            waits for it at its end (its epochs are kept in a spool meanwhile) before
            leaving the rest to ``python -m augsweep.tracking.sync``.
    """

    uri: str = DEFAULT_URI
    experiment: str = DEFAULT_EXPERIMENT
    log_model: bool = True
    checkpoints: str | None = None
    stale_after_s: int = 900
    reconnect_wait_s: int = 120


@dataclass
class ReportConfig:
    """The sweep's report (not part of a run's key: it reads runs, never changes one).

    Attributes:
        baseline: The group every other group is compared with, seed by seed: a value of
            ``augment`` (``none``) or ``key=value`` of another swept key
            (``trainer.learning_rate=0.001``).
    """

    baseline: str = "none"


@dataclass
class SearchConfig:
    """A search over policies (``hydra/sweeper=search``; not part of a run's key).

    Attributes:
        trials: Trials in total, over every launch of the search (a relaunch continues).
        objective: ``accuracy`` (final validation accuracy, up), ``gap`` (final gap, down),
            or ``both`` (two objectives: the Pareto front).
        pruner: ``median``, ``halving`` (successive halving) or ``none``.
        storage: Where the study is kept: null for an Optuna journal file in the sweep
            folder, or a database URL Optuna takes (``sqlite:///...``, ``postgresql://...``).
        top_k: The best policies retrained with ``confirm_seeds`` seeds once the trials are
            spent (0: no confirmation).
        confirm_seeds: Seeds of the confirmation (0 .. confirm_seeds - 1).
        compare: The hand-written policy the winners are compared with, beside ``none``
            and ``trivialaugment``.
        startup_trials: Trials completed before the pruner prunes any.
        warmup_epochs: Epochs of a trial before it may be pruned.
        space: The search space: ``use`` (techniques, each on or off), ``always``
            (techniques always on), and one entry per magnitude knob of ``augment``
            (``rotation: interval(0,0.3)``, ``randaugment_ops: choice(1,2,3)``).
        trial: Set by the sweeper on each job: its trial number (-1: not a trial).
        role: Set by the sweeper: ``trial`` or ``confirm``.
        label: Set by the sweeper: the policy's name, ``flip+rotation(0.12)``.
    """

    trials: int = 20
    objective: str = "accuracy"
    pruner: str = "median"
    storage: str | None = None
    top_k: int = 3
    confirm_seeds: int = 5
    compare: str = "flip_rot_zoom"
    startup_trials: int = 4
    warmup_epochs: int = 1
    space: dict[str, Any] = field(default_factory=dict)
    trial: int = -1
    role: str = ""
    label: str = ""


@dataclass
class ResourcesConfig:
    """What a job may use of the machine it runs on (not part of a run's key).

    Attributes:
        gpus: The GPU pool of this machine: ``auto`` (every visible GPU: those in
            ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``; none: no pool, TensorFlow
            uses what it finds), a list of GPU ids as ``CUDA_VISIBLE_DEVICES`` names them
            (taken as given, not checked), or null / ``[]`` for no pool.
        jobs_per_gpu: Jobs that may share one GPU at once (slots per GPU).
        memory_growth: TensorFlow allocates GPU memory as it needs it instead of all of it
            at once, so that jobs can share a GPU.
        lock_dir: Folder of the slot lock files shared by every job of this machine; null:
            ``$AUGSWEEP_CACHE_DIR/gpu-slots`` (default ``~/.cache/augsweep/gpu-slots``).
    """

    gpus: Any = "auto"
    jobs_per_gpu: int = 1
    memory_growth: bool = True
    lock_dir: str | None = None


@dataclass
class Config:
    """The root config composed from ``conf/config.yaml``.

    Attributes:
        seed: Seeds the data split, the initial weights and every random layer.
        rerun: Train again even when a run of the same config already finished (a new
            run); by default a relaunch skips finished runs and resumes killed ones.
    """

    seed: int = 0
    rerun: bool = False
    dataset: DatasetConfig = MISSING
    model: ModelConfig = MISSING
    augment: AugmentConfig = MISSING
    trainer: TrainerConfig = MISSING
    tracking: TrackingConfig = MISSING
    resources: ResourcesConfig = MISSING
    report: ReportConfig = field(default_factory=ReportConfig)
    search: SearchConfig = field(default_factory=SearchConfig)


def register_configs() -> None:
    """Store the schemas; ``conf/`` files extend them through their defaults lists."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="schema/dataset", name="digits", node=DigitsConfig)
    cs.store(group="schema/dataset", name="tf_flowers", node=TFFlowersConfig)
    cs.store(group="schema/dataset", name="folder", node=FolderConfig)
    cs.store(group="schema/model", name="small_cnn", node=SmallCNNConfig)
    cs.store(group="schema/model", name="mobilenet_v2", node=MobileNetV2Config)
    cs.store(group="schema/augment", name="augment", node=AugmentConfig)
    cs.store(group="schema/trainer", name="trainer", node=TrainerConfig)
    cs.store(group="schema/tracking", name="tracking", node=TrackingConfig)
    cs.store(group="schema/resources", name="resources", node=ResourcesConfig)
    cs.store(group="schema/search", name="search", node=SearchConfig)


def policy_name(use) -> str:
    """The display name of a composition: ``flip+rotation+erasing``, or ``none`` if empty.

    Registered as the resolver ``${augsweep.policy_name:${augment.use}}``.
    """
    return "+".join(str(name) for name in use) or "none"


register_configs()
OmegaConf.register_new_resolver("augsweep.policy_name", policy_name, replace=True)
