"""What a run logs: the config flattened to params, and its per-epoch history as CSV."""

from __future__ import annotations

import csv

from omegaconf import OmegaConf

from augsweep.tracking.artifacts import flatten, write_history_csv


def test_flatten_gives_dotted_keys_and_each_list_as_one_value():
    # A list is one param whatever its length: the UI shows one column `augment.use`,
    # not `augment.use` for empty lists beside `augment.use.0`, `.1`, ... for others.
    cfg = OmegaConf.create(
        {"a": {"b": 1, "use": ["flip", "rotation"]}, "layers": [{"_target_": "x"}], "d": [],
         "e": None}
    )  # fmt: skip
    assert flatten(cfg) == {
        "a.b": 1,
        "a.use": "[flip, rotation]",
        "layers": '[{"_target_": "x"}]',
        "d": "[]",
        "e": None,
    }


def test_history_csv_has_one_row_per_epoch_and_a_column_per_metric(tmp_path):
    history = {"val_accuracy": [0.5, 0.75], "loss": [2.0, 1.0]}
    path = write_history_csv(history, tmp_path / "history.csv")
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["epoch", "loss", "val_accuracy"]
    assert [(r["epoch"], r["loss"], r["val_accuracy"]) for r in rows] == [
        ("0", "2.0", "0.5"),
        ("1", "1.0", "0.75"),
    ]
    assert write_history_csv({}, tmp_path / "empty.csv").read_text().strip() == "epoch"
