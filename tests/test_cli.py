"""The command line's own logic: run names. (A bad config's exit code 2 and message:
tests/config/test_checks.py; whole runs and sweeps: tests/test_run*.py, tests/tracking/.)"""

from __future__ import annotations

from augsweep.cli import readable_overrides


def test_run_names_show_the_composition():
    shown = readable_overrides(
        ["augment=compose", "augment.use=[flip,rotation]", "seed=1"], "flip+rotation"
    )
    assert shown == ["augment=flip+rotation", "seed=1"]
    assert readable_overrides(["augment=flip", "seed=1"], "flip") == ["augment=flip", "seed=1"]
    assert readable_overrides(["+augment.use=[flip]"], "flip") == ["augment=flip"]
