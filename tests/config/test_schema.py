"""Composition: every option composes, the root config is typed, and typos and wrong types
fail when Hydra composes the config."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError

from augsweep.config.catalogue import policy_specs
from augsweep.config.checks import validate
from augsweep.config.schema import DatasetConfig, ModelConfig, TrainerConfig
from tests.helpers import CONF_DIR, compose_config

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
    elif group == "tracking":  # a store, not a name: local SQLite or a server
        assert cfg.tracking.uri.startswith({"local": "sqlite:///", "server": "http://"}[option])
    elif group == "trainer":
        assert OmegaConf.get_type(cfg.trainer) is TrainerConfig
    else:
        assert cfg[group].name == option


@pytest.mark.parametrize(
    "group,base", [("dataset", DatasetConfig), ("model", ModelConfig)]
)  # fmt: skip
def test_every_dataset_and_model_option_is_typed_by_its_group_base(group, base, tmp_path):
    for option in options(group):
        required = [o.format(tmp_path=tmp_path) for o in REQUIRED.get(option, [])]
        node = compose_config(f"{group}={option}", *required)[group]
        assert issubclass(OmegaConf.get_type(node), base), option
        assert node._target_.startswith("augsweep.") and node.name == option
        if group == "dataset":  # the base's fields exist whatever the option
            assert node.image_size >= 8, option


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
    assert targets == ["augsweep.augment.layers.RandomAffine"]
    assert specs[0].rotation == 0.2 and specs[0].flip == "horizontal"
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


def test_short_keys_are_typed_at_compose_time():
    with pytest.raises(ConfigCompositionException, match="augment.rotation"):
        compose_config("augment.rotation=large")
    with pytest.raises(ConfigCompositionException, match="augment.rotaton"):
        compose_config("augment.rotaton=0.2")


def test_each_caller_gets_its_own_copy_of_a_composed_config():
    first = compose_config("seed=3")
    first.seed = 99
    first.trainer.epochs = 1000
    again = compose_config("seed=3")
    assert (again.seed, again.trainer.epochs) == (3, compose_config().trainer.epochs)
    # A copy is still typed and strict, like a freshly composed config.
    assert issubclass(OmegaConf.get_type(again.dataset), DatasetConfig)
    with pytest.raises(ConfigAttributeError):
        again.trainer.epoch = 3
