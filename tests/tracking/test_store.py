"""The MLflow store: tracking URIs, experiments, error tags and how a run ends."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from augsweep.tracking import store
from augsweep.tracking.tags import Tag


def only_run(uri: str):
    client = MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return run


def test_relative_sqlite_uri_is_made_absolute_against_the_launch_dir(tmp_path):
    uri = store.resolve_uri("sqlite:///runs/mlflow.db", base_dir=tmp_path)
    assert uri == f"sqlite:///{tmp_path}/runs/mlflow.db"
    assert (tmp_path / "runs").is_dir()
    assert store.resolve_uri(uri) == uri
    assert store.artifact_root(uri) == (tmp_path / "runs" / "artifacts").as_uri()


@pytest.mark.parametrize("uri", ["./mlruns", "file:///tmp/mlruns"])
def test_file_stores_are_refused_with_the_alternatives(uri):
    with pytest.raises(ValueError, match="sqlite:///PATH/mlflow.db"):
        store.resolve_uri(uri)


def test_http_uri_is_kept():
    assert store.resolve_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_experiment_is_created_once_with_artifacts_beside_the_db(tmp_path):
    client = store.connect(store.resolve_uri(f"sqlite:///{tmp_path}/mlflow.db"))
    first = store.ensure_experiment(client, "study")
    assert store.ensure_experiment(client, "study") == first
    location = client.get_experiment(first).artifact_location
    assert location == (tmp_path / "artifacts").as_uri()


def test_experiments_are_of_the_training_runs_kind(tmp_path):
    # The UI reads `mlflow.experimentKind`; set on new experiments and on older ones
    # lacking it, never changed once set (a user may choose another kind in the UI).
    client = store.connect(store.resolve_uri(f"sqlite:///{tmp_path}/mlflow.db"))
    created = client.get_experiment(store.ensure_experiment(client, "new"))
    assert created.tags[Tag.EXPERIMENT_KIND] == "custom_model_development"
    older = client.create_experiment("older")
    other = client.create_experiment("other", tags={Tag.EXPERIMENT_KIND: "genai_development"})
    assert store.ensure_experiment(client, "older") == older
    store.ensure_experiment(client, "other")
    assert client.get_experiment(older).tags[Tag.EXPERIMENT_KIND] == "custom_model_development"
    assert client.get_experiment(other).tags[Tag.EXPERIMENT_KIND] == "genai_development"


def test_interrupt_ends_the_run_killed(tracking_uri):
    client = store.connect(store.resolve_uri(tracking_uri))
    experiment_id = store.ensure_experiment(client, "augsweep")
    with (
        pytest.raises(KeyboardInterrupt),
        store.tracked_run(client, experiment_id, "interrupted", {}),
    ):
        mlflow.log_metric("loss", 1.0, step=0)
        raise KeyboardInterrupt
    run = only_run(tracking_uri)
    assert run.info.status == "KILLED" and run.data.metrics["loss"] == 1.0
    assert run.data.tags[Tag.ERROR] == "KeyboardInterrupt: run interrupted"


def test_an_error_ends_the_run_failed_with_its_first_line_without_colors(tracking_uri):
    client = store.connect(store.resolve_uri(tracking_uri))
    experiment_id = store.ensure_experiment(client, "augsweep")
    with (
        pytest.raises(ValueError),
        store.tracked_run(client, experiment_id, "failing", {Tag.AUGMENT: "flip"}),
    ):
        raise ValueError("\x1b[91mshapes do not match\x1b[0m\n  in layer dense")
    run = only_run(tracking_uri)
    assert (run.info.status, run.info.run_name) == ("FAILED", "failing")
    assert run.data.tags[Tag.ERROR] == "ValueError: shapes do not match"
    assert run.data.tags["augment"] == "flip"


def test_tag_names_are_the_ones_runs_and_reports_are_searched_by():
    assert (Tag.ROLE, Tag.SWEEP_ID, Tag.ERROR, Tag.PARENT) == (
        "augsweep.role",
        "sweep_id",
        "error",
        "mlflow.parentRunId",
    )
    assert (Tag.AUGMENT, Tag.DATASET, Tag.MODEL, Tag.DATA_FINGERPRINT) == (
        "augment",
        "dataset",
        "model",
        "data_fingerprint",
    )
