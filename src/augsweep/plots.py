"""Figures: a run's curves, its augmentation preview, and a sweep's comparison.

Built on ``matplotlib.figure.Figure`` directly (no pyplot state), so plotting works headless
and from any thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

# (metric prefix, label, line style) of the three curves of a run.
CURVES = (("", "train (augmented)", ":"), ("clean_", "clean train", "--"), ("val_", "val", "-"))


def run_curves(history: Mapping[str, Sequence[float]], title: str, path: Path) -> Path:
    """Accuracy and loss per epoch: Keras's train, clean train and validation.

    Args:
        history: Metric name -> per-epoch values (``accuracy``, ``clean_accuracy``, ...).
        title: Figure title, e.g. the run name.
        path: Where to write the PNG.

    Returns:
        ``path``.
    """
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    for ax, metric in zip(fig.subplots(1, 2), ("accuracy", "loss"), strict=True):
        for prefix, label, style in CURVES:
            values = history.get(prefix + metric)
            if values is not None and len(values):
                ax.plot(np.arange(len(values)), values, style, label=label)
        _label_axes(ax, metric)
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    return path


def comparison(runs: Sequence[Mapping], metric: str, path: Path, title: str = "") -> Path:
    """Clean-train (dashed) and validation (solid) curves of several runs on one axes.

    Args:
        runs: One mapping per run with ``label``, ``group`` (runs of one group share a
            color, e.g. the augmentation policy) and ``history`` (metric -> values).
        metric: ``accuracy`` or ``loss``.
        path: Where to write the PNG.
        title: Figure title.

    Returns:
        ``path``.
    """
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.subplots()
    groups = list(dict.fromkeys(run["group"] for run in runs))
    colors = {group: f"C{i % 10}" for i, group in enumerate(groups)}
    for run in runs:
        color = colors[run["group"]]
        for prefix, suffix, style in (("val_", "val", "-"), ("clean_", "clean train", "--")):
            values = run["history"].get(prefix + metric, [])
            if len(values):
                ax.plot(
                    np.arange(len(values)),
                    values,
                    style,
                    color=color,
                    label=f"{run['label']} ({suffix})",
                )
    _label_axes(ax, metric)
    ax.set_title(title or f"{metric}: clean train (dashed) vs validation (solid)")
    fig.savefig(path, dpi=100)
    return path


def image_grid(
    rows: np.ndarray,
    path: Path,
    column_titles: Sequence[str] = (),
    title: str = "",
    captions: np.ndarray | None = None,
) -> Path:
    """A grid of images, ``rows[i, j]`` in row i, column j (0-255 pixels).

    Args:
        rows: Array ``(R, C, H, W, channels)``.
        path: Where to write the PNG.
        column_titles: Optional title for each column (above the first row).
        title: Figure title.
        captions: Optional ``(R, C)`` strings under each image, e.g. mixed labels.

    Returns:
        ``path``.
    """
    n_rows, n_cols = rows.shape[:2]
    cell_height = 1.4 + (0.25 if captions is not None else 0)
    fig = Figure(figsize=(1.4 * n_cols, cell_height * n_rows + 0.4), layout="constrained")
    axes = np.asarray(fig.subplots(n_rows, n_cols, squeeze=False))
    for i in range(n_rows):
        for j in range(n_cols):
            image = np.clip(rows[i, j], 0, 255).astype(np.uint8)
            cmap = "gray" if image.shape[-1] == 1 else None
            axes[i, j].imshow(image.squeeze(-1) if cmap else image, cmap=cmap, vmin=0, vmax=255)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            for spine in axes[i, j].spines.values():
                spine.set_visible(False)
            if i == 0 and j < len(column_titles):
                axes[i, j].set_title(column_titles[j], fontsize=8)
            if captions is not None:
                axes[i, j].set_xlabel(str(captions[i, j]), fontsize=6)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=80)
    return path


def _label_axes(ax, metric: str) -> None:
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
