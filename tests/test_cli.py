"""The command line's own logic: run names. (A bad config's exit code 2 and message:
tests/config/test_checks.py; whole runs and sweeps: tests/test_run*.py, tests/tracking/.)"""

from __future__ import annotations

import pytest

from augsweep.cli import run_name
from augsweep.overrides import run_label
from augsweep.tracking.sweep import SweepInfo
from tests.helpers import compose_config


@pytest.mark.parametrize(
    ("overrides", "shown", "name"),
    [
        # The policy first, without its key, whatever the order on the command line.
        (["seed=1", "augment=flip_rot_zoom"], None, "flip_rot_zoom,seed=1"),
        # A composition by its techniques, not "compose".
        (
            ["augment=compose", "augment.use=[flip,rotation]", "seed=1"],
            None,
            "flip+rotation,seed=1",
        ),
        (["+augment.use=[flip, 'rotation']"], None, "flip+rotation"),
        # In a sweep only the swept keys follow the policy, which is shown even when fixed.
        (["augment=flip", "seed=2", "trainer.epochs=3"], ["seed=2"], "flip,seed=2"),
        ([], None, "defaults"),
    ],
)
def test_run_names_put_the_policy_first_and_stay_short(overrides, shown, name):
    assert run_label(overrides, shown) == name


def test_a_single_runs_name_leaves_out_where_it_is_logged_and_run():
    overrides = ["seed=3", "tracking.uri=sqlite:///elsewhere.db", "resources.gpus=[0]"]
    cfg = compose_config(*overrides)
    assert run_name(overrides, None, cfg) == f"{cfg.augment.name},seed=3"


def test_a_job_not_yet_run_is_listed_by_the_name_its_run_gets():
    jobs = (("augment=none", "seed=0"), ("augment=flip_rot_zoom", "seed=1"))
    info = SweepInfo("s", "p", "0", "sqlite:///x.db", swept_keys=("augment", "seed"), jobs=jobs)
    for num, job in enumerate(jobs):
        cfg = compose_config(*job)
        assert info.job_name(num) == run_name(list(job), info, cfg)
