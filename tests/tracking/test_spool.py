"""The run's outbox on a real SQLite store: epochs sent by its sender thread, in order,
each with the run's heartbeat in the same write, all of them before the run's end; a record
sent outside a run (a job record) kept in the spool while its server is away."""

import json
import time

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from augsweep.tracking import spool, store
from augsweep.tracking.tags import Tag
from tests.helpers.server import free_port


@pytest.fixture
def new_run(tracking_uri, private_cache_dir):
    client = store.connect(store.resolve_uri(tracking_uri))
    experiment_id = store.ensure_experiment(client, "outbox")
    run_id = client.create_run(experiment_id, tags={Tag.HEARTBEAT: "1000"}).info.run_id
    return client, run_id


def test_every_epoch_and_its_heartbeat_are_stored_before_the_run_ends(new_run):
    client, run_id = new_run
    outbox = spool.Outbox(client, run_id, wait_s=0)
    outbox.log_metrics({"val_accuracy": 0.0}, 0)
    outbox.drain()
    assert client.get_run(run_id).data.tags[Tag.HEARTBEAT] == "1000"  # none asked for

    before = int(time.time())
    for epoch in range(1, 20):
        outbox.log_metrics({"val_accuracy": epoch / 20}, epoch, heartbeat=True)
    assert outbox.end("FINISHED", None)

    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert int(run.data.tags[Tag.HEARTBEAT]) >= before
    history = client.get_metric_history(run_id, "val_accuracy")
    assert sorted((m.step, m.value) for m in history) == [(e, e / 20) for e in range(20)]
    assert not outbox.pending and not outbox.path.exists()


def test_a_failed_send_is_raised_in_the_training_thread(new_run):
    client, run_id = new_run
    outbox = spool.Outbox(client, run_id, wait_s=0)
    client.delete_run(run_id)  # SQLite refuses metrics of a deleted run
    outbox.log_metrics({"val_accuracy": 0.5}, 0, heartbeat=True)
    with pytest.raises(MlflowException, match="active"):
        outbox.drain()


def test_a_record_sent_while_its_server_is_away_is_appended_to_its_runs_spool(
    monkeypatch, private_cache_dir
):
    # A sweep's job records on its parent run, from parallel jobs: each appended in turn,
    # after one head line, for the next job start (or `augsweep sync`) to send.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://127.0.0.1:{free_port()}"
    client = MlflowClient(uri)
    records = [{"kind": "tags", "run_id": "parent", "tags": {f"augsweep.job.{n}": "{}"}}
               for n in range(2)]  # fmt: skip
    assert [spool.send_or_keep(client, record) for record in records] == [False, False]
    kept = (private_cache_dir / "spool" / "parent.jsonl").read_text().splitlines()
    head = {"kind": "run", "uri": uri, "run_id": "parent"}
    assert [json.loads(line) for line in kept] == [head, *records]


def test_a_record_that_a_sqlite_store_refuses_is_raised(new_run):
    client, _ = new_run
    with pytest.raises(MlflowException):
        spool.send_or_keep(client, {"kind": "tags", "run_id": "no-such-run", "tags": {"a": "b"}})
