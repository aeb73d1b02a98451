"""Tracking URIs, experiments and config flattening."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from augsweep import tracking


def test_relative_sqlite_uri_is_made_absolute_against_the_launch_dir(tmp_path):
    uri = tracking.resolve_uri("sqlite:///runs/mlflow.db", base_dir=tmp_path)
    assert uri == f"sqlite:///{tmp_path}/runs/mlflow.db"
    assert (tmp_path / "runs").is_dir()
    assert tracking.resolve_uri(uri) == uri
    assert tracking.artifact_root(uri) == (tmp_path / "runs" / "artifacts").as_uri()


@pytest.mark.parametrize("uri", ["./mlruns", "file:///tmp/mlruns"])
def test_file_stores_are_refused_with_the_alternatives(uri):
    with pytest.raises(ValueError, match="sqlite:///PATH/mlflow.db"):
        tracking.resolve_uri(uri)


def test_http_uri_is_kept():
    assert tracking.resolve_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_experiment_is_created_once_with_artifacts_beside_the_db(tmp_path):
    client = tracking.connect(tracking.resolve_uri(f"sqlite:///{tmp_path}/mlflow.db"))
    first = tracking.ensure_experiment(client, "study")
    assert tracking.ensure_experiment(client, "study") == first
    location = client.get_experiment(first).artifact_location
    assert location == (tmp_path / "artifacts").as_uri()


def test_flatten_gives_dotted_keys_including_list_items():
    cfg = OmegaConf.create({"a": {"b": 1, "c": [{"_target_": "x"}, 2]}, "d": [], "e": None})
    assert tracking.flatten(cfg) == {
        "a.b": 1,
        "a.c.0._target_": "x",
        "a.c.1": 2,
        "d": [],
        "e": None,
    }


def test_first_line_names_the_error_type():
    assert tracking.first_line(ValueError("bad value\nmore detail")) == "ValueError: bad value"
