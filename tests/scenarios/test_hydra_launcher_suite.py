"""Hydra's own launcher test suite (``hydra.test_utils.launcher_common_tests``) for augsweep's
launchers that Hydra's configs can name: ``ray`` (a Ray started on this machine for the
tests) and ``subprocesses`` (submitit's local executor, waiting for every job). Both are
registered in Hydra's ConfigStore, as Hydra's own plugins are."""

from __future__ import annotations

import pytest
from hydra.test_utils.launcher_common_tests import LauncherTestSuite

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "launcher_name, overrides",
    [("ray", ["+hydra.launcher.init.num_cpus=2", "+hydra.launcher.init.include_dashboard=false"])],
)
class TestRayLauncher(LauncherTestSuite):
    """Hydra's suite on ``hydra/launcher=ray``."""


@pytest.mark.parametrize("launcher_name, overrides", [("subprocesses", [])])
class TestSubprocessesLauncher(LauncherTestSuite):
    """Hydra's suite on ``hydra/launcher=subprocesses``."""
