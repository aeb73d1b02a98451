"""Runs on photo datasets: a folder of images, tf_flowers (mocked), MobileNetV2, presets."""

from __future__ import annotations

import mlflow
import pytest
import tensorflow_datasets as tfds
from mlflow.tracking import MlflowClient

from augsweep.data.folder import load_folder
from augsweep.data.preflight import DatasetError
from augsweep.run import train
from tests.helpers import ROOT, compose_config, run_cli
from tests.helpers.imagefiles import class_folder, good_folder, truncated_jpeg, write

pytestmark = pytest.mark.slow

SMALL_PHOTOS = [
    "dataset.image_size=32",
    "trainer.epochs=2",
    "trainer.batch_size=8",
    "tracking.log_model=false",
]


def only_run(uri: str):
    client = MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return client, run


def test_folder_run_logs_classes_fingerprint_and_skipped_files(tmp_path, tracking_uri):
    root = good_folder(tmp_path / "photos")
    write(root / "green" / "cut.jpg", truncated_jpeg())
    cfg = compose_config(
        "dataset=folder", f"dataset.path={root}", "dataset.on_bad_file=skip",
        "augment=flip_rot_zoom", *SMALL_PHOTOS, f"tracking.uri={tracking_uri}",
    )  # fmt: skip
    train(cfg)
    client, run = only_run(tracking_uri)

    assert run.info.status == "FINISHED"
    assert run.data.params["dataset.num_classes"] == "3"
    assert run.data.tags["classes"] == "blue,green,red"
    expected = load_folder(path=str(root), image_size=32, on_bad_file="skip").fingerprint
    assert run.data.tags["data_fingerprint"] == expected
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, tracking_uri=tracking_uri)
    assert (tmp_path / local / "classes.txt").read_text() == "blue\ngreen\nred\n"
    skipped = (tmp_path / local / "skipped_files.txt").read_text()
    assert "cut.jpg: cannot be decoded" in skipped and "notes.txt: not an image" in skipped
    history = client.get_metric_history(run.info.run_id, "clean_accuracy")
    assert [m.step for m in history] == [0, 1]


def test_a_bad_file_fails_before_any_run_exists_with_its_path(tmp_path, tracking_uri):
    # The data is loaded (and a folder checked) before the run is created: bad data is bad
    # input, refused before anything is logged.
    root = good_folder(tmp_path / "photos")
    bad = write(root / "green" / "cut.jpg", truncated_jpeg())
    cfg = compose_config(
        "dataset=folder", f"dataset.path={root}", *SMALL_PHOTOS, f"tracking.uri={tracking_uri}"
    )
    with pytest.raises(Exception, match=str(bad)) as error:  # noqa: B017 - Hydra wraps it
        train(cfg)
    assert isinstance(error.value.__cause__ or error.value, DatasetError)
    client = MlflowClient(tracking_uri)
    assert not client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_mobilenet_v2_on_mocked_tf_flowers(tracking_uri):
    cfg = compose_config(
        "dataset=tf_flowers", "model=mobilenet_v2", "model.weights=null", "augment=flip",
        *SMALL_PHOTOS, "trainer.epochs=1", f"tracking.uri={tracking_uri}",
    )  # fmt: skip
    with tfds.testing.mock_data(num_examples=16):
        summary = train(cfg).summary
    _, run = only_run(tracking_uri)
    assert run.info.status == "FINISHED" and 0 <= summary["final_val_accuracy"] <= 1
    assert run.data.params["dataset.num_classes"] == "5"
    assert run.data.tags["model"] == "mobilenet_v2" and run.data.tags["dataset"] == "tf_flowers"


def test_the_reference_preset_sweeps_both_policies_on_a_folder_from_the_cli(tmp_path):
    class_folder(tmp_path / "photos" / "train", "blue", 8)
    class_folder(tmp_path / "photos" / "train", "red", 8)
    class_folder(tmp_path / "photos" / "val", "blue", 3)
    class_folder(tmp_path / "photos" / "val", "red", 3)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    result = run_cli(
        str(ROOT / "train.py"), "-m", "experiment=flowers_overfitting", "dataset=folder",
        "dataset.path=photos", *SMALL_PHOTOS, f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    jobs = sorted(r.info.run_name for r in runs if "augsweep.role" not in r.data.tags)
    assert jobs == ["flip_rot_zoom", "none"]
    assert {r.data.params.get("dataset.path") for r in runs} - {None} == {"photos"}
    assert {r.data.params.get("model.dropout") for r in runs} - {None} == {"0.2"}
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert "Data: folder, 2 classes: blue, red." in summary
    assert "different data" not in summary
