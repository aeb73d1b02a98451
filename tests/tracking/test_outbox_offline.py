"""The outbox while its server is away, in seconds: a real SQLite store behind a client that
fails its first N requests (the server away), or loses the answers of stored ones."""

from __future__ import annotations

import json

import pytest

from augsweep.tracking import spool, store
from augsweep.tracking.tags import Tag


class AwayServer:
    """The run's store as a server that is away for its first ``away`` requests (health
    checks included): each raises ``ConnectionError``. With ``lose_answers``, a request is
    stored first and only its answer is lost."""

    def __init__(self, client, away: int, lose_answers: bool = False):
        self.client = client
        self.away = away
        self.lose_answers = lose_answers
        self.tracking_uri = "http://127.0.0.1:9"  # a server: the outbox may keep records
        self.stored_steps: list[int] = []  # the steps of every metric the server stored

    def healthy(self, uri, timeout=None) -> bool:
        if self.away > 0:
            self.away -= 1
            return False
        return True

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def request(*args, **kwargs):
            if self.away > 0 and not self.lose_answers:
                self.away -= 1
                raise ConnectionError("the server does not answer")
            result = method(*args, **kwargs)
            self.stored_steps += [m.step for m in kwargs.get("metrics", ())]
            if self.away > 0:
                self.away -= 1
                raise ConnectionError("the server stored it, its answer was lost")
            return result

        return request


@pytest.fixture
def new_run(tracking_uri, private_cache_dir):
    client = store.connect(store.resolve_uri(tracking_uri))
    experiment_id = store.ensure_experiment(client, "offline")
    return client, client.create_run(experiment_id).info.run_id


def away(monkeypatch, client, away: int, lose_answers: bool = False) -> AwayServer:
    server = AwayServer(client, away, lose_answers)
    monkeypatch.setattr(spool.probe, "server_healthy", server.healthy)
    return server


def train_epochs(outbox: spool.Outbox, epochs: int) -> None:
    for epoch in range(epochs):
        outbox.log_metrics({"val_accuracy": epoch / 10}, epoch, heartbeat=True)
        outbox.drain()


def steps(client, run_id: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, "val_accuracy"))


# Away for 2 requests: one epoch's send and its health check; more: later epochs too.
@pytest.mark.parametrize("requests_lost", [2, 3, 5])
def test_epochs_kept_while_away_reach_the_server_once_when_it_is_back(
    new_run, monkeypatch, capsys, requests_lost
):
    client, run_id = new_run
    server = away(monkeypatch, client, requests_lost)
    outbox = spool.Outbox(server, run_id, wait_s=0)
    train_epochs(outbox, 5)
    assert outbox.end("FINISHED", None)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and steps(client, run_id) == [0, 1, 2, 3, 4]
    assert Tag.HEARTBEAT in run.data.tags
    assert not outbox.path.exists()
    assert capsys.readouterr().err.count("does not answer: training goes on") == 1


def test_a_lost_answer_does_not_store_an_epoch_twice(new_run, monkeypatch):
    client, run_id = new_run
    server = away(monkeypatch, client, 2, lose_answers=True)  # epoch 0 stored, answer lost
    outbox = spool.Outbox(server, run_id, wait_s=0)
    train_epochs(outbox, 3)
    assert outbox.end("FINISHED", None)
    assert steps(client, run_id) == [0, 1, 2]
    assert sorted(server.stored_steps) == [0, 1, 2]  # epoch 0 sent once, not replayed


def test_a_server_still_away_at_the_end_leaves_a_spool_the_next_launch_sends(
    new_run, monkeypatch, capsys
):
    client, run_id = new_run
    server = away(monkeypatch, client, 10**6)
    outbox = spool.Outbox(server, run_id, wait_s=0)
    train_epochs(outbox, 3)
    assert not outbox.end("FAILED", "boom")
    assert "is still away" in capsys.readouterr().err
    assert client.get_run(run_id).info.status == "RUNNING" and steps(client, run_id) == []
    kinds = [line.split('"kind": "')[1].split('"')[0] for line in outbox.path.open()]
    assert kinds == ["run", "metrics", "metrics", "metrics", "end"]  # no heartbeat kept

    server.away = 0  # back: a later launch replays the spool
    records = [r for r in map(json.loads, outbox.path.open()) if r["kind"] != "run"]
    spool.send_all(server, records)
    spool.send_all(server, records)  # twice (a replay interrupted): still once each
    run = client.get_run(run_id)
    assert (run.info.status, run.data.tags[Tag.ERROR]) == ("FAILED", "boom")
    assert steps(client, run_id) == [0, 1, 2] and sorted(server.stored_steps) == [0, 1, 2]
