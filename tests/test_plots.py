"""Figures: what each one shows (its legend, titles and labels, read back from an SVG with
text kept as text) and the pixels of an image grid (read back from the PNG)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from augsweep import plots


def texts(draw, path: Path) -> list[str]:
    """The texts of the figure ``draw(path)`` writes, as an SVG keeping its texts."""
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        assert draw(path) == path
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", path.read_text())]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_run_curves_write_a_png_with_accuracy_and_loss_side_by_side(tmp_path):
    history = {"accuracy": [0.2, 0.5], "clean_accuracy": [0.3, 0.6], "val_accuracy": [0.25, 0.4],
               "loss": [2.0, 1.0], "clean_loss": [1.8, 0.9], "val_loss": [1.9, 1.2]}  # fmt: skip
    path = plots.run_curves(history, "augment=flip", tmp_path / "curves.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1100, 420)


def test_run_curves_name_only_the_curves_the_run_has(tmp_path):
    # a run without clean-train evaluation: no "clean train" line in the legends
    history = {"accuracy": [0.2, 0.5], "val_accuracy": [0.25, 0.4], "loss": [2.0, 1.0],
               "val_loss": [1.9, 1.2], "clean_loss": []}  # fmt: skip
    found = texts(lambda p: plots.run_curves(history, "run 7", p), tmp_path / "c.svg")
    assert found.count("train (augmented)") == 2 and found.count("val") == 2
    assert "clean train" not in found
    assert "run 7" in found and {"accuracy", "loss", "epoch"} <= set(found)


def test_run_curves_mark_the_best_validation_epoch(tmp_path):
    # the weights tested and logged are epoch 1's (0-based), the best validation accuracy
    history = {"val_accuracy": [0.25, 0.6, 0.4], "val_loss": [1.9, 1.0, 1.2]}
    found = texts(lambda p: plots.run_curves(history, "run 8", p), tmp_path / "c.svg")
    assert found.count("best val. epoch (1)") == 2  # in both legends


def test_a_comparison_names_each_group_once_with_its_runs_and_a_single_run_by_its_label(
    tmp_path,
):
    def run(label, group, val):
        return {"label": label, "group": group,
                "history": {"val_accuracy": val, "clean_accuracy": [0.9] * len(val)}}  # fmt: skip

    runs = [run("flip s0", "flip", [0.1, 0.4]), run("flip s1", "flip", [0.2, 0.5]),
            run("flip s2", "flip", [0.2, 0.6]), run("none s0", "none", [0.3, 0.3])]  # fmt: skip
    found = texts(lambda p: plots.comparison(runs, "accuracy", p), tmp_path / "cmp.svg")
    assert found.count("flip (3 runs)") == 1 and "none s0" in found
    assert not any(t.startswith("flip s") for t in found)
    assert {"validation", "clean train"} <= set(found)
    assert "accuracy: clean train (dashed) vs validation (solid)" in found
    given = texts(lambda p: plots.comparison(runs, "loss", p, "sweep 3"), tmp_path / "t.svg")
    assert "sweep 3" in given and "loss" in given


def test_a_band_comparison_names_each_group_with_its_seeds(tmp_path):
    band = (np.array([0.5, 0.6, 0.7]), np.array([0.4, 0.5, 0.6]), np.array([0.6, 0.7, 0.8]))
    empty = (np.array([]), np.array([]), np.array([]))
    groups = [{"label": "augment=none", "n": 5, "val": band, "clean": band},
              {"label": "augment=flip", "n": 4, "val": band, "clean": empty}]  # fmt: skip
    found = texts(lambda p: plots.band_comparison(groups, "accuracy", p), tmp_path / "b.svg")
    assert "augment=none (n=5)" in found and "augment=flip (n=4)" in found
    assert "accuracy (mean over seeds, 95% band)" in found


def test_a_forest_plot_has_a_panel_per_metric_and_a_row_per_difference(tmp_path):
    panels = {
        "Δ val accuracy": [("augment=flip", 0.05, 0.01, 0.09), ("augment=zoom", -0.02, None, None)],
        "Δ gap": [("augment=flip", -0.1, -0.2, 0.0)],
    }  # fmt: skip
    found = texts(lambda p: plots.forest(panels, p, "paired differences"), tmp_path / "f.svg")
    assert {"Δ val accuracy", "Δ gap", "paired differences"} <= set(found)
    assert found.count("augment=flip") == 2 and found.count("augment=zoom") == 1
    with Image.open(plots.forest(panels, tmp_path / "f.png")) as image:
        assert image.format == "PNG" and image.size == (1000, 250)  # 2 panels, 2 rows


@pytest.mark.parametrize(
    "names,limit,expected",
    [
        (["daisy", "rose"], 8, "2 classes: daisy, rose"),
        ([str(i) for i in range(10)], 8, "10 classes: 0, 1, 2, 3, 4, 5, 6, 7, ... (+2)"),
        (["a", "b", "c"], 3, "3 classes: a, b, c"),
    ],
)
def test_class_list_names_at_most_the_limit_and_counts_the_rest(names, limit, expected):
    assert plots.class_list(names, limit) == expected


def test_an_image_grid_draws_each_image_in_its_column(tmp_path):
    red = np.zeros((16, 16, 3)) + [255, 0, 0]
    blue = np.zeros((16, 16, 3)) + [0, 0, 255]
    path = plots.image_grid(np.stack([[red, blue], [red, blue]]), tmp_path / "grid.png")
    image = pixels(path)
    is_red = (image[..., 0] > 200) & (image[..., 1] < 60) & (image[..., 2] < 60)
    is_blue = (image[..., 2] > 200) & (image[..., 0] < 60) & (image[..., 1] < 60)
    assert is_red.sum() > 100 and is_blue.sum() > 100
    assert np.nonzero(is_red)[1].max() < np.nonzero(is_blue)[1].min()  # red left of blue


def test_an_image_grid_shows_pixels_on_the_0_255_scale_clipping_overshoot(tmp_path):
    # augmented images may overshoot 255 (e.g. colour jitter): white, never wrapped to dark
    bright = np.full((1, 1, 16, 16, 3), 300.0)
    assert pixels(plots.image_grid(bright, tmp_path / "bright.png")).min() > 240
    # a gray image is drawn at its own level, not stretched to black or white
    gray = np.full((1, 1, 16, 16, 1), 128.0)
    image = pixels(plots.image_grid(gray, tmp_path / "gray.png"))
    assert np.sum(np.all(np.abs(image - 128) <= 2, axis=-1)) > 100


def test_an_image_grid_labels_its_columns_rows_and_images(tmp_path):
    rows = np.zeros((2, 3, 8, 8, 3))
    captions = np.array([["0.7 cat", "b", "c"], ["d", "e", "0.3 dog"]])
    found = texts(
        lambda p: plots.image_grid(rows, p, column_titles=["original", "flip", "zoom"],
                                   title="preview", row_titles=["cat", "dog"],
                                   captions=captions),
        tmp_path / "grid.svg",
    )  # fmt: skip
    assert {"original", "flip", "zoom", "preview", "cat", "dog", "0.7 cat", "0.3 dog"} <= set(found)
