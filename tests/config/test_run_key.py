"""Run and sweep keys: what decides a result is in the key, what does not is left out."""

from __future__ import annotations

import pytest

from augsweep.config.run_key import EXCLUDED, run_key, sweep_key
from tests.helpers import compose_config

BASE = ("augment=flip_rot_zoom",)


def key(*overrides: str) -> str:
    return run_key(compose_config(*BASE, *overrides))


@pytest.mark.parametrize(
    "override",
    [
        "tracking.uri=sqlite:////elsewhere/mlflow.db",
        "tracking.experiment=other",
        "tracking.log_model=false",
        "trainer.verbose=2",
        "trainer.eval_batch_size=64",
        "trainer.feature_cache=off",
        "rerun=true",
        "report.baseline=flip",
        "resources.gpus=[0,1]",
        "resources.jobs_per_gpu=2",
        "augment.techniques.keras.mixup.alpha=0.7",  # a technique the policy does not use
        "trainer.jit_compile=true",  # XLA: speed, float rounding apart
        "trainer.steps_per_execution=4",
        "trainer.keras_backend=tensorflow",  # the default, said out loud
    ],
)
def test_what_cannot_change_the_result_keeps_the_key(override):
    assert key(override) == key()


@pytest.mark.parametrize(
    "override",
    [
        "seed=1",
        "augment=flip",
        "augment.rotation=0.2",
        "augment.techniques.keras.affine.fill_mode=reflect",  # a technique it uses
        "augment.shear=0.2",  # a knob added later, which its technique interpolates
        "augment.flip_mode=vertical",  # the fused flip follows the flip's knob
        "trainer.learning_rate=0.01",
        "trainer.epochs=5",
        "dataset.train_samples=200",
        "model.dropout=0.2",
        "trainer.mixed_precision=true",  # float16 compute changes the numbers
        "trainer.mixed_precision=bfloat16",
        "trainer.keras_backend=jax",  # another backend, another result
    ],
)
def test_what_changes_the_result_changes_the_key(override):
    assert key(override) != key()


# Golden keys: the keys these configs had when this test was written. A run's key must not
# change from one version of augsweep to the next: a relaunch would then find none of the
# finished runs and train every one of them again. Change one only on purpose, with the
# README saying what a user's relaunch then does (README, "Relaunching").
GOLDEN_KEYS = {
    (): "052308abbbd1d9ee",  # the default digits run (trainer.mixed_precision left out)
    ("augment=flip_rot_zoom",): "ddff8c24aa70b37f",
    ("augment=affine", "augment.shear=0.3"): "d89712ebd1cd10bc",  # a knob added later
    ("trainer.mixed_precision=true",): "a78a05a5cf292989",
    ("model=mobilenet_v2", "model.weights=null", "augment=heavy", "seed=3"): "da68442c5d081f49",
    ("experiment=flowers_overfitting",): "3da8f2dbb70411de",
}


@pytest.mark.parametrize("overrides", list(GOLDEN_KEYS), ids=lambda o: " ".join(o) or "default")
def test_a_run_keeps_its_key_across_versions(overrides):
    assert run_key(compose_config(*overrides)) == GOLDEN_KEYS[overrides]


def test_a_sweep_keeps_its_key_across_versions():
    # The default study's sweep: a changed key would give its relaunch a new parent run.
    overrides = ["augment=none,flip,flip_rot_zoom", "seed=range(5)"]
    assert sweep_key(compose_config(), overrides, {}) == "a3d5155cae643f1e"


def test_a_knob_added_later_counts_only_where_a_technique_uses_it():
    # augment.shear came with the affine technique: policies without it kept their keys.
    flip = run_key(compose_config("augment=flip"))
    assert run_key(compose_config("augment=flip", "augment.shear=0.3")) == flip
    affine = run_key(compose_config("augment=affine"))
    assert run_key(compose_config("augment=affine", "augment.shear=0.3")) != affine


def test_the_key_is_short_hex_and_stable():
    assert key() == key() and len(key()) == 16 and int(key(), 16) >= 0
    assert "tracking" in EXCLUDED and "trainer.verbose" in EXCLUDED


def test_sweep_key_ignores_the_order_of_overrides_but_not_their_values():
    base = compose_config()
    one = sweep_key(base, ["augment=none,flip", "seed=0,1"], {})
    assert one == sweep_key(base, ["seed=0,1", "augment=none,flip"], {})
    assert one != sweep_key(base, ["augment=none,flip", "seed=0,1,2"], {})
    assert one != sweep_key(base, ["augment=none,flip"], {"seed": "0,1"})
    preset = sweep_key(base, [], {"seed": "0,1"})  # a preset's hydra.sweeper.params
    assert preset != sweep_key(base, [], {"seed": "0,1,2"})
    assert one == sweep_key(compose_config("tracking.experiment=x"), ["seed=0,1",
                            "augment=none,flip"], {})  # fmt: skip


def test_a_relaunch_on_other_gpus_or_with_another_baseline_is_the_same_sweep():
    base = compose_config()
    one = sweep_key(base, ["augment=none,flip"], {})
    assert one == sweep_key(base, ["augment=none,flip", "resources.gpus=[0,1]"], {})
    assert one == sweep_key(base, ["resources.jobs_per_gpu=2", "augment=none,flip"], {})
    assert one == sweep_key(base, ["augment=none,flip", "report.baseline=flip"], {})


def test_float16_is_the_run_that_true_was():
    assert key("trainer.mixed_precision=float16") == key("trainer.mixed_precision=true")
    assert key("trainer.mixed_precision=bfloat16") != key("trainer.mixed_precision=true")


def test_a_searchs_key_leaves_out_its_budget_so_a_larger_one_continues_it():
    base = compose_config()
    search = ["search.space.rotation=interval(0,0.3)", "search.trials=12"]
    assert sweep_key(base, search, {}) == sweep_key(base, [search[0], "search.trials=40"], {})
    assert sweep_key(base, search, {}) != sweep_key(base, [search[1]], {})
