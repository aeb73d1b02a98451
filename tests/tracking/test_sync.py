"""Before a launch: the store is checked, and what earlier runs kept in their spools while
their server was away is sent to that server (a stub server on 127.0.0.1 here, which keeps
the requests MLflow's client sends it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augsweep.tracking.probe import StoreUnavailable
from augsweep.tracking.sync import prepare_store, replay_for_launch
from tests.helpers.server import free_port
from tests.helpers.stub_server import stub_server

pytestmark = pytest.mark.usefixtures("mlflow_http_settings")


def spool(cache_dir: Path, uri: str, run_id: str) -> Path:
    """The spool file a run on ``uri`` left: one epoch (step 3) and its FINISHED end."""
    records = [
        {"kind": "run", "uri": uri, "run_id": run_id},
        {"kind": "metrics", "run_id": run_id, "step": 3, "timestamp": 1000,
         "values": {"val_accuracy": 0.75}},
        {"kind": "end", "run_id": run_id, "status": "FINISHED", "error": None, "end_time": 2000},
    ]  # fmt: skip
    path = cache_dir / "spool" / f"{run_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_a_launch_sends_the_spools_of_its_server_and_leaves_the_others(private_cache_dir, capsys):
    with stub_server() as server, stub_server() as other:
        ours = spool(private_cache_dir, server.uri, "run-ours")
        theirs = spool(private_cache_dir, other.uri, "run-theirs")
        prepare_store(server.uri)
    sent = {path: body for method, path, body in server.requests if method == "POST"}
    assert sent["/api/2.0/mlflow/runs/log-batch"]["metrics"] == [
        {"key": "val_accuracy", "value": 0.75, "timestamp": 1000, "step": 3}
    ]
    assert sent["/api/2.0/mlflow/runs/update"]["status"] == "FINISHED"
    assert not ours.exists()
    assert theirs.exists() and other.requests == []  # the other server's runs wait for it
    said = [line for line in capsys.readouterr().out.splitlines() if "spool" in line]
    assert said == [
        f"sent the spool of run run-ours to {server.uri}: 1 epoch records, status FINISHED"
    ]


def test_a_spool_the_server_refuses_stays_and_is_not_reported_sent(private_cache_dir, capsys):
    with stub_server(api_status=400) as server:
        kept = spool(private_cache_dir, server.uri, "run-1")
        prepare_store(server.uri)
    assert any(path.startswith("/api/") for _, path, _ in server.requests)  # it was tried
    assert kept.exists() and "sent the spool" not in capsys.readouterr().out


def test_a_server_that_does_not_answer_fails_the_launch_and_its_spool_stays(
    private_cache_dir, capsys
):
    uri = f"http://127.0.0.1:{free_port()}"
    kept = spool(private_cache_dir, uri, "run-1")
    with pytest.raises(StoreUnavailable, match=f"tracking.uri={uri}"):
        prepare_store(uri)
    assert kept.exists()
    assert capsys.readouterr().out == ""


def test_a_sqlite_store_is_checked_and_no_spool_is_sent(tmp_path, private_cache_dir, capsys):
    with stub_server() as server:
        kept = spool(private_cache_dir, server.uri, "run-1")
        prepare_store(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
        with pytest.raises(StoreUnavailable, match="is a file, not a folder"):
            prepare_store(f"sqlite:///{kept}/mlflow.db")
    assert server.requests == [] and kept.exists()
    assert not (tmp_path / "mlruns").exists() and capsys.readouterr().out == ""


def test_replaying_without_spools_says_nothing(private_cache_dir, capsys):
    with stub_server() as server:
        replay_for_launch(server.uri)
    assert capsys.readouterr().out == "" and not private_cache_dir.exists()
