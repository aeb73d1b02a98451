"""The run's outbox on a real SQLite store: an epoch and the run's heartbeat in one write."""

import time

from augsweep.tracking import spool, store
from augsweep.tracking.tags import Tag


def test_an_epoch_logged_with_its_heartbeat_updates_both_and_keeps_nothing(
    tracking_uri, private_cache_dir
):
    client = store.connect(store.resolve_uri(tracking_uri))
    experiment_id = store.ensure_experiment(client, "outbox")
    run_id = client.create_run(experiment_id, tags={Tag.HEARTBEAT: "1000"}).info.run_id
    outbox = spool.Outbox(client, run_id, wait_s=0)

    outbox.log_metrics({"val_accuracy": 0.5}, 0)
    assert client.get_run(run_id).data.tags[Tag.HEARTBEAT] == "1000"
    before = int(time.time())
    outbox.log_metrics({"val_accuracy": 0.75}, 1, heartbeat=True)

    run = client.get_run(run_id)
    assert int(run.data.tags[Tag.HEARTBEAT]) >= before
    history = client.get_metric_history(run_id, "val_accuracy")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.5), (1, 0.75)]
    assert not outbox.pending and not outbox.path.exists()
