"""Reaping (``augsweep.tracking.relaunch.reap``, what ``python -m augsweep.tracking.reap``
and every launch call) on a real SQLite store: RUNNING runs whose owner died are closed
as KILLED, saying why; live owners' runs and closed runs are left as they are."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from augsweep.tracking import store
from augsweep.tracking.relaunch import reap, reap_jobs
from augsweep.tracking.tags import Tag


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_running_runs_of_dead_owners_are_reaped_as_killed(tracking_uri):
    client = store.connect(store.resolve_uri(tracking_uri))
    experiment = store.ensure_experiment(client, "augsweep")
    other = store.ensure_experiment(client, "other")
    here, gone = store.owner_tags(), {**store.owner_tags(),
                                      Tag.OWNER: f"{store.boot_id()}:{dead_pid()}"}  # fmt: skip
    now = time.time()
    owners = {
        "alive here": here,
        "dead here": gone,
        "remote, beat 10 s ago": {Tag.HOST: "gpu-box-2", Tag.OWNER: "b:42",
                                  Tag.HEARTBEAT: str(now - 10)},
        "remote, silent 1 h": {Tag.HOST: "gpu-box-2", Tag.OWNER: "b:43",
                               Tag.HEARTBEAT: str(now - 3600)},
    }  # fmt: skip
    runs = {name: client.create_run(experiment, run_name=name, tags=tags).info.run_id
            for name, tags in owners.items()}  # fmt: skip
    finished = client.create_run(experiment, run_name="finished", tags=gone).info.run_id
    client.set_terminated(finished, "FINISHED")
    elsewhere = client.create_run(other, run_name="other experiment", tags=gone).info.run_id

    reaped = reap(client, [experiment], stale_after_s=900)

    assert sorted(run.info.run_name for run in reaped) == ["dead here", "remote, silent 1 h"]
    status = {name: client.get_run(run_id).info.status for name, run_id in runs.items()}
    assert status == {
        "alive here": "RUNNING",
        "dead here": "KILLED",
        "remote, beat 10 s ago": "RUNNING",
        "remote, silent 1 h": "KILLED",
    }
    assert client.get_run(finished).info.status == "FINISHED"
    assert client.get_run(elsewhere).info.status == "RUNNING"  # not asked about
    dead = client.get_run(runs["dead here"]).data.tags
    assert dead[Tag.ERROR] == "reaped: its process died"
    assert "its process died" in dead[Tag.REAPED] and f"host {here[Tag.HOST]}" in dead[Tag.REAPED]
    assert reap(client, [experiment, other], stale_after_s=900)[0].info.run_id == elsewhere


def test_job_records_left_started_by_a_dead_sweep_become_killed_with_a_reason(tracking_uri):
    client = store.connect(store.resolve_uri(tracking_uri))
    experiment = store.ensure_experiment(client, "augsweep")
    gone = {**store.owner_tags(), Tag.OWNER: f"{store.boot_id()}:{dead_pid()}"}
    records = {
        "0": {"name": "augment=none", "overrides": ["augment=none"], "outcome": "trained"},
        "1": {"name": "augment=flip", "overrides": ["augment=flip"], "outcome": "started"},
    }
    parents = {}
    for name, owner in (("dead", gone), ("alive", store.owner_tags())):
        tags = {**owner, Tag.ROLE: "sweep", Tag.SWEEP_ID: f"sweep-{name}"}
        tags.update({f"{Tag.JOB_RECORD}{num}": json.dumps(r) for num, r in records.items()})
        parents[name] = client.create_run(experiment, run_name=name, tags=tags).info.run_id
    client.set_terminated(parents["dead"], "KILLED")  # closed, its records still `started`

    (job,) = reap_jobs(client, [experiment], stale_after_s=900)

    assert (job.num, job.parent.info.run_id) == (1, parents["dead"])
    assert str(job).startswith("job 2 augment=flip of sweep sweep-dead: left started by a dead")
    dead = client.get_run(parents["dead"]).data.tags
    fixed = json.loads(dead[f"{Tag.JOB_RECORD}1"])
    assert fixed["outcome"] == "killed" and fixed["name"] == "augment=flip"
    assert fixed["error"].startswith("its process died mid-job (reaped 20")
    assert json.loads(dead[f"{Tag.JOB_RECORD}0"])["outcome"] == "trained"
    alive = client.get_run(parents["alive"]).data.tags  # a live sweep's job runs now
    assert json.loads(alive[f"{Tag.JOB_RECORD}1"])["outcome"] == "started"
    assert reap_jobs(client, [experiment], stale_after_s=900) == []
