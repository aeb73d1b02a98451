"""The default digits study shows what augsweep is about, for every seed."""

from __future__ import annotations

import pytest

from augsweep.run import train
from tests.helpers import compose_config

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", range(5))
def test_default_digits_study_none_overfits_and_flip_rot_zoom_narrows_the_gap(seed, tmp_path):
    # The defaults as `make sweep` uses them; only the store and model logging differ.
    results = {
        policy: train(compose_config(
            f"augment={policy}", f"seed={seed}", "tracking.log_model=false",
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        )).summary
        for policy in ("none", "flip_rot_zoom")
    }  # fmt: skip
    none, augmented = results["none"], results["flip_rot_zoom"]
    assert none["final_clean_accuracy"] >= 0.98, none
    assert none["final_gap"] >= 0.05, none
    assert augmented["final_gap"] < none["final_gap"], results
