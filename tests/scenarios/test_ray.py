"""Sweeps with ``hydra/launcher=ray`` on a real Ray cluster of two nodes on this machine (a
head on 127.0.0.1 and a node joined to it): every job a Ray task, the runs nested and the
report built as under the other launchers; a node killed mid-sweep loses no job for good
and leaves no run RUNNING."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, epochs_per_run
from tests.helpers.ray_cluster import ENV, two_node_cluster

pytest.importorskip("ray", reason="hydra/launcher=ray needs the ray extra (in dev)")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """The cluster's address and its two nodes (head first)."""
    with two_node_cluster(tmp_path_factory.mktemp("ray")) as (address, nodes):
        yield address, nodes


def start_sweep(tmp_path, address: str, *overrides: str) -> subprocess.Popen:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    command = [sys.executable, str(ROOT / "train.py"), "-m", "hydra/launcher=ray",
               f"hydra.launcher.address={address}", *SMALL, f"tracking.uri={uri}",
               f"hydra.sweep.dir={tmp_path}/sweep", *overrides]  # fmt: skip
    env = {**os.environ, **ENV, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_RUN_ID", None)
    return subprocess.Popen(command, cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def job_runs(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep"]
    return client, parents, [r for r in runs if r not in parents]


def test_a_ray_sweep_runs_its_jobs_on_both_nodes_nested_with_its_report(ray_cluster, tmp_path):
    address, _ = ray_cluster
    process = start_sweep(tmp_path, address, "seed=0,1")
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-4000:]
    client, parents, children = job_runs(tmp_path)
    assert [p.info.status for p in parents] == ["FINISHED"]
    assert sorted(r.info.status for r in children) == ["FINISHED", "FINISHED"]
    assert {r.data.tags[Tag.PARENT] for r in children} == {parents[0].info.run_id}
    assert (tmp_path / "sweep" / "summary.md").is_file()
    assert "report.html" in {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert "jobs: trained 2" in output
    # one CPU per node, one per job: the two jobs ran at once, one on each node
    nodes = {line.split(" on node ")[1].split()[0] for line in output.splitlines()
             if "ray: job #" in line}  # fmt: skip
    assert len(nodes) == 2, output[-4000:]


def test_a_node_killed_mid_sweep_loses_no_job_and_leaves_no_run_running(ray_cluster, tmp_path):
    address, nodes = ray_cluster
    process = start_sweep(tmp_path, address, "seed=0,1", "trainer.epochs=40")
    try:
        deadline = time.monotonic() + 180
        db = tmp_path / "mlruns" / "mlflow.db"
        while not (len(logged := epochs_per_run(db)) == 2 and min(logged) >= 1):
            assert time.monotonic() < deadline and process.poll() is None, "no epoch logged"
            time.sleep(0.2)
        nodes[1].kill()  # the joined node dies with its job (one job per node)
        output, _ = process.communicate(timeout=300)
    finally:
        process.kill()
    _, parents, children = job_runs(tmp_path)
    statuses = sorted(r.info.status for r in children)
    assert "RUNNING" not in statuses + [p.info.status for p in parents], output[-4000:]
    # Ray reran the lost job on the head: it resumed its run there and the sweep ended well
    assert process.returncode == 0, output[-4000:]
    assert statuses == ["FINISHED", "FINISHED"] and len(children) == 2, output[-5000:]
    assert "resumed 1" in output, output[-3000:]
    # the rerun took the run of the task's first attempt as its own (same Ray task id)
    attempts = {r.data.tags[Tag.ATTEMPT].rpartition("/")[0] for r in children}
    assert all(a.startswith("ray:") for a in attempts) and len(attempts) == 2
