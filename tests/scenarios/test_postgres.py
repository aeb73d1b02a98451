"""A team's setup: ``mlflow server`` over a real PostgreSQL backend store, a sweep
through it (Debian's ``postgresql`` package; ``.ci/run`` installs it)."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, run_cli
from tests.helpers.postgres import postgres_bin, postgres_database
from tests.helpers.server import mlflow_server
from tests.scenarios.test_server import assert_every_epoch_once


@pytest.mark.slow
def test_a_sweep_through_a_server_over_postgresql(tmp_path):
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("initdb not installed: apt-get install postgresql (.ci/run does)")
    with (
        postgres_database(bindir) as database,
        mlflow_server(tmp_path / "store", backend=database) as server,
    ):
        result = run_cli(
            str(ROOT / "train.py"),
            "-m",
            *SMALL,
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=4",
            "tracking=server",
            f"tracking.uri={server.uri}",
            "augment=none,flip",
            "seed=0,1,2,3",
            f"hydra.sweep.dir={tmp_path}/sweep",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        client = MlflowClient(server.uri)
        runs = client.search_runs([client.get_experiment_by_name("augsweep").experiment_id])
        [parent] = [r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep"]
        jobs = [r for r in runs if r.data.tags.get(Tag.PARENT) == parent.info.run_id]
        assert len(runs) == 9 and len(jobs) == 8  # 8 jobs, 4 writers at once
        assert {r.info.status for r in runs} == {"FINISHED"}
        assert {r.data.tags[Tag.AUGMENT] for r in jobs} == {"none", "flip"}
        for run in jobs:
            assert_every_epoch_once(client, run, epochs=2)
