"""Where the end of a run or sweep tells the user to look: the UI command for the store
actually used, and the pages of MLflow 3's UI."""

from __future__ import annotations

import json

from augsweep.tracking import ui


def test_the_ui_command_serves_the_store_that_was_used(tmp_path, monkeypatch):
    other = f"sqlite:///{tmp_path}/mlflow.db"
    assert ui.ui_command(other) == f"mlflow ui --backend-store-uri {other}"
    project = f"sqlite:///{ui.PROJECT_STORE}"
    monkeypatch.chdir(ui.PROJECT_ROOT)
    assert ui.ui_command(project) == "make ui"  # the Makefile's store
    monkeypatch.chdir(tmp_path)
    assert ui.ui_command(project) == f"make -C {ui.PROJECT_ROOT} ui"
    assert ui.ui_command("http://gpu-box:5000") is None  # a server serves its own UI


def test_the_pages_open_on_the_runs_of_the_store_used(tmp_path):
    lines = ui.where_to_look(f"sqlite:///{tmp_path}/x.db", "3", "abc", "sweep run", "report.html")
    assert lines.splitlines() == [
        f"MLflow UI: mlflow ui --backend-store-uri sqlite:///{tmp_path}/x.db"
        "  (then open the pages below)",
        "  runs:        http://127.0.0.1:5000/#/experiments/3?workflowType=machine_learning",
        "  sweep run:   http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning",
        "  report.html: http://127.0.0.1:5000/#/experiments/3/runs/abc/artifacts/report.html"
        "?workflowType=machine_learning",
    ]
    server = ui.where_to_look("http://gpu-box:5000/", "3", "abc")
    assert server.splitlines()[0] == "MLflow UI: http://gpu-box:5000  (the tracking server's)"
    assert "http://gpu-box:5000/#/experiments/3/runs/abc?" in server


def test_a_sweeps_view_groups_by_its_swept_keys_shows_every_group_and_charts_bars():
    view = json.loads(ui.sweep_view("S1", ["augment", "seed", "trainer.learning_rate"]))
    assert view["groupBy"]["groupByKeys"] == [
        {"mode": "tag", "groupByData": "augment"},  # a group option: each run's tag
        {"mode": "param", "groupByData": "trainer.learning_rate"},  # never the seed
    ]
    assert view["runsHiddenMode"] == "SHOW_ALL"  # not the UI's first 10 rows
    assert view["searchFilter"] == "tags.`augsweep.sweeps` LIKE '%S1%'"
    assert "metrics.`test_accuracy`" in view["selectedColumns"]
    bars = [c["metricKey"] for c in view["compareRunCharts"] if c["type"] == "BAR"]
    assert bars[:2] == ["test_accuracy", "final_gap"]
    # The link opens the runs route itself (the experiment's route drops the parameter).
    url = ui.experiment_url("http://h:5000", "3", ui.sweep_view_key("S1"))
    assert url == ("http://h:5000/#/experiments/3/runs?workflowType=machine_learning"
                   "&viewStateShareKey=augsweep-sweep-S1")  # fmt: skip
