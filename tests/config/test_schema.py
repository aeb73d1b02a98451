"""Composition of every option, and bad configs failing before anything runs."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from augsweep.techniques import policy_specs
from augsweep.validation import ConfigError, validate

from .conftest import CONF_DIR, compose_config, run_cli

GROUPS = ("dataset", "model", "augment", "trainer", "tracking")
# What an option needs from the user to be complete.
REQUIRED = {"folder": ["dataset.path={tmp_path}"]}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize(
    "group,option", [(g, o) for g in GROUPS for o in options(g)]
)  # fmt: skip
def test_every_option_composes_and_validates(group, option, tmp_path):
    required = [o.format(tmp_path=tmp_path) for o in REQUIRED.get(option, [])]
    cfg = compose_config(f"{group}={option}", *required)
    OmegaConf.resolve(cfg)
    validate(cfg)
    if (group, option) == ("augment", "compose"):  # named after its techniques; none yet
        assert cfg.augment.name == "none"
    else:
        assert cfg[group].get("name", option) == option or group in ("trainer", "tracking")


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_sweeps_both_policies_on_tf_flowers_or_a_folder(experiment, tmp_path):
    for data in ([], ["dataset=folder", f"dataset.path={tmp_path}"]):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", [f"experiment={experiment}", *data], return_hydra_config=True)
        validate(cfg)
        assert cfg.hydra.sweeper.params == {"augment": "none,flip_rot_zoom"}
        assert cfg.dataset.name == ("folder" if data else "tf_flowers")
        assert cfg.trainer.epochs == 30


def test_reference_presets_match_the_study():
    overfitting = compose_config("experiment=flowers_overfitting")
    assert (overfitting.model.name, overfitting.dataset.image_size) == ("small_cnn", 180)
    transfer = compose_config("experiment=flowers_transfer", "dataset.image_size=160")
    assert (transfer.model.name, transfer.model.weights) == ("mobilenet_v2", "imagenet")
    assert transfer.dataset.image_size == 160  # the command line wins over the preset


def test_defaults_hold_the_keys_users_rely_on():
    cfg = compose_config()
    for key in (
        "seed",
        "trainer.epochs",
        "trainer.batch_size",
        "trainer.learning_rate",
        "dataset.train_samples",
        "tracking.uri",
        "tracking.experiment",
    ):
        assert OmegaConf.select(cfg, key) is not None, key
    assert cfg.augment.name == "none" and list(cfg.augment.layers) == []


def test_augment_options_are_lists_of_layer_specs():
    cfg = compose_config("augment=flip_rot_zoom", "augment.rotation=0.2")
    specs = policy_specs(cfg.augment)
    targets = [spec["_target_"] for spec in specs]
    assert targets == [
        "keras.layers.RandomFlip",
        "keras.layers.RandomRotation",
        "keras.layers.RandomZoom",
    ]
    assert specs[1].factor == 0.2
    # Custom layer specs follow the named techniques.
    custom = "augment.layers=[{_target_:keras.layers.RandomInvert,value_range:[0,255]}]"
    cfg = compose_config("augment=flip", custom)
    assert [spec["_target_"] for spec in policy_specs(cfg.augment)] == [
        "keras.layers.RandomFlip",
        "keras.layers.RandomInvert",
    ]


@pytest.mark.parametrize(
    "override,expected",
    [
        ("trainer.epoch=3", "trainer.epoch"),
        ("trainer.epochs=abc", "trainer.epochs"),
        ("augment=flipp", "flip_rot_zoom"),  # the message lists the valid options
        ("dataset.train_sampels=10", "dataset.train_sampels"),
        ("experiment=flowers", "flowers_overfitting"),
        ("model=mobilenet_v2 model.fine_tune_layers=all", "model.fine_tune_layers"),
    ],
)
def test_bad_override_fails_at_compose_time(override, expected):
    with pytest.raises(ConfigCompositionException) as error:
        compose_config(*override.split())
    message = str(error.value) + str(error.value.__cause__ or "")
    assert expected in message


@pytest.mark.parametrize(
    "override,expected",
    [
        ("trainer.epochs=0", "trainer.epochs=0: must be >= 1"),
        ("trainer.learning_rate=-1", "trainer.learning_rate=-1.0: must be > 0"),
        ("dataset.val_fraction=1.5", "dataset.val_fraction=1.5: must be in (0, 1)"),
        ("dataset.train_samples=0", "dataset.train_samples=0"),
        ("trainer.verbose=5", "must be one of 0, 1, 2"),
        ("trainer.clean_eval_samples=0", "trainer.clean_eval_samples=0: must be null"),
        ("dataset=tf_flowers dataset.val_percent=100", "dataset.val_percent=100: must be in"),
        ("dataset=tf_flowers dataset.cache=[1]", "dataset.cache=[1]: must be true"),
        ("dataset=folder", "dataset.path is required"),
        ("dataset=folder dataset.path=/no/such/dir", "dataset.path=/no/such/dir: no such"),
        ("dataset=folder dataset.path=. dataset.on_bad_file=ignore", "must be one of fail, skip"),
        ("model=mobilenet_v2 model.weights=coco", "model.weights=coco: must be imagenet or null"),
        ("model=mobilenet_v2 model.dropout=1.5", "model.dropout=1.5: must be in [0, 1)"),
    ],
)
def test_out_of_range_values_are_named(override, expected):
    with pytest.raises(ConfigError) as error:
        validate(compose_config(*override.split()))
    assert expected in str(error.value)


def test_bad_config_from_cli_creates_no_run_and_never_imports_tensorflow(tmp_path):
    db = tmp_path / "mlflow.db"
    for override in (
        "trainer.epoch=3",
        "augment=flipp",
        "trainer.epochs=abc",
        "augment.use=[rotaton]",
    ):
        result = run_cli("-X", "importtime", "train.py", override, f"tracking.uri=sqlite:///{db}")
        assert result.returncode == 1, result.stderr
        assert override.split("=")[0] in result.stderr
        imported = {
            line.split("|")[-1].strip()
            for line in result.stderr.splitlines()
            if line.startswith("import time:")
        }
        assert "tensorflow" not in imported
    assert not db.exists()
