"""Figures: a run's curves, its augmentation preview, and a sweep's comparison.

Built on ``matplotlib.figure.Figure`` directly (no pyplot state), so plotting works headless
and from any thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

# (metric prefix, label, line style) of the three curves of a run.
CURVES = (("", "train (augmented)", ":"), ("clean_", "clean train", "--"), ("val_", "val", "-"))


def run_curves(history: Mapping[str, Sequence[float]], title: str, path: Path) -> Path:
    """Accuracy and loss per epoch: Keras's train, clean train and validation, and the best
    validation epoch (the weights tested and logged) as a dotted vertical line.

    Args:
        history: Metric name -> per-epoch values (``accuracy``, ``clean_accuracy``, ...).
        title: Figure title, e.g. the run name.
        path: Where to write the PNG.

    Returns:
        ``path``.
    """
    # Fixed margins rather than layout="constrained": every run draws this figure, and the
    # constrained layout measures every text first, doubling its cost (~0.15 s per run).
    fig = Figure(figsize=(11, 4.2))
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.12, top=0.88, wspace=0.16)
    val = history.get("val_accuracy")
    best = int(np.argmax(val)) if val is not None and len(val) else None
    for ax, metric in zip(fig.subplots(1, 2), ("accuracy", "loss"), strict=True):
        for prefix, label, style in CURVES:
            values = history.get(prefix + metric)
            if values is not None and len(values):
                ax.plot(np.arange(len(values)), values, style, label=label)
        if best is not None:
            ax.axvline(best, color="0.4", linestyle=":", label=f"best val. epoch ({best})")
        _label_axes(ax, metric)
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    return path


def comparison(runs: Sequence[Mapping], metric: str, path: Path, title: str = "") -> Path:
    """Clean-train (dashed) and validation (solid) curves of several runs on one axes.

    Runs of a group (e.g. the seeds of one augmentation policy) share a color; the legend
    names each group once, with its number of runs, and each line style once.

    Args:
        runs: One mapping per run with ``label``, ``group`` (runs of one group share a
            color, e.g. the augmentation policy) and ``history`` (metric -> values).
        metric: ``accuracy`` or ``loss``.
        path: Where to write the PNG.
        title: Figure title.

    Returns:
        ``path``.
    """
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.subplots()
    sizes = Counter(run["group"] for run in runs)
    colors = {group: f"C{i % 10}" for i, group in enumerate(sizes)}
    alpha = 1.0 if max(sizes.values(), default=1) == 1 else 0.6
    for run in runs:
        for prefix, style in (("val_", "-"), ("clean_", "--")):
            values = run["history"].get(prefix + metric, [])
            if len(values):
                ax.plot(
                    np.arange(len(values)),
                    values,
                    style,
                    color=colors[run["group"]],
                    alpha=alpha,
                    linewidth=1.3,
                )
    handles = [
        Line2D(
            [],
            [],
            color=colors[g],
            label=f"{g} ({n} runs)" if n > 1 else next(r["label"] for r in runs if r["group"] == g),
        )
        for g, n in sizes.items()
    ]
    return _save_comparison(fig, ax, handles, metric, path, title)


def band_comparison(groups: Sequence[Mapping], metric: str, path: Path, title: str = "") -> Path:
    """Each group's mean curve with its shaded 95% band: clean train dashed, validation solid.

    Args:
        groups: One mapping per group with ``label``, ``n`` (its runs) and, per curve
            (``val``, ``clean``), a ``(mean, low, high)`` tuple of per-epoch arrays
            (:func:`augsweep.tracking.stats.curve_band`).
        metric: ``accuracy`` or ``loss``.
        path: Where to write the PNG.
        title: Figure title.

    Returns:
        ``path``.
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.subplots()
    for i, group in enumerate(groups):
        color = f"C{i % 10}"
        for curve, style in (("val", "-"), ("clean", "--")):
            mean, low, high = group[curve]
            if len(mean):
                epochs = np.arange(len(mean))
                ax.plot(epochs, mean, style, color=color, linewidth=1.5)
                ax.fill_between(epochs, low, high, color=color, alpha=0.15, linewidth=0)
    handles = [
        Line2D([], [], color=f"C{i % 10}", label=f"{g['label']} (n={g['n']})")
        for i, g in enumerate(groups)
    ]
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save_comparison(
        fig, ax, handles, metric, path, title, ylabel=f"{metric} (mean over seeds, 95% band)"
    )


def _save_comparison(fig, ax, handles, metric: str, path: Path, title: str, ylabel: str = ""):
    """The axes of a comparison of curves (``handles`` name the colors; the line styles are
    added), its legend beside it and title; write ``path``."""
    from matplotlib.lines import Line2D

    handles = [
        *handles,
        Line2D([], [], color="gray", linestyle="-", label="validation"),
        Line2D([], [], color="gray", linestyle="--", label="clean train"),
    ]
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or metric)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or f"{metric}: clean train (dashed) vs validation (solid)")
    fig.savefig(path, dpi=100)
    return path


def forest(panels: Mapping[str, Sequence[tuple]], path: Path, title: str = "") -> Path:
    """Differences with their intervals, one row each, around a zero line: a forest plot.

    Args:
        panels: Panel title -> rows ``(label, mean, low, high)``; ``low``/``high`` None
            draws the point alone.
        path: Where to write the PNG.
        title: Figure title.

    Returns:
        ``path``.
    """
    height = max(len(rows) for rows in panels.values()) if panels else 1
    fig = Figure(figsize=(5.0 * max(len(panels), 1), 1.6 + 0.45 * height), layout="constrained")
    for ax, (name, rows) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels.items(),
                                strict=True):  # fmt: skip
        ys = np.arange(len(rows))[::-1]
        for y, (_, mean, low, high) in zip(ys, rows, strict=True):
            if low is not None:
                ax.plot([low, high], [y, y], color="C0", linewidth=2)
            ax.plot([mean], [y], "o", color="C0")
        ax.axvline(0.0, color="gray", linestyle="--", linewidth=1)
        ax.set_yticks(ys, [row[0] for row in rows], fontsize=8)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_title(name, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)
    return path


def class_list(class_names: Sequence[str], limit: int = 8) -> str:
    """``"5 classes: daisy, dandelion, ..."``, naming at most ``limit`` of them."""
    shown = ", ".join(class_names[:limit])
    more = f", ... (+{len(class_names) - limit})" if len(class_names) > limit else ""
    return f"{len(class_names)} classes: {shown}{more}"


def image_grid(
    rows: np.ndarray,
    path: Path,
    column_titles: Sequence[str] = (),
    title: str = "",
    row_titles: Sequence[str] = (),
    captions: np.ndarray | None = None,
) -> Path:
    """A grid of images, ``rows[i, j]`` in row i, column j (0-255 pixels).

    The grid is drawn as one mosaic image (one ``imshow``), which keeps it fast.

    Args:
        rows: Array ``(R, C, H, W, channels)``.
        path: Where to write the PNG.
        column_titles: Optional title for each column (above the first row).
        title: Figure title.
        row_titles: Optional label of each row (e.g. the image's class), shown left of it.
        captions: Optional ``(R, C)`` strings under each image, e.g. mixed labels.

    Returns:
        ``path``.
    """
    n_rows, n_cols, height, width, channels = rows.shape
    pad = max(1, height // 16)
    below = max(pad, round(height * 0.3)) if captions is not None else pad
    tiles = np.pad(
        np.clip(rows, 0, 255), ((0, 0), (0, 0), (0, below), (0, pad), (0, 0)), constant_values=255
    )
    tile_h, tile_w = height + below, width + pad
    mosaic = (
        tiles.transpose(0, 2, 1, 3, 4)
        .reshape(n_rows * tile_h, n_cols * tile_w, channels)
        .astype(np.uint8)
    )
    scale = 1.4 / max(height, width)
    fig = Figure(
        figsize=(max(3.0, n_cols * tile_w * scale), n_rows * tile_h * scale + 0.6),
        layout="constrained",
    )
    ax = fig.subplots()
    if channels == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks(
        [(j + 0.5) * tile_w for j in range(len(column_titles))], list(column_titles), fontsize=8
    )
    ax.xaxis.tick_top()
    ax.set_yticks(
        [i * tile_h + height / 2 for i in range(len(row_titles))], list(row_titles), fontsize=8
    )
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if captions is not None:
        for (i, j), caption in np.ndenumerate(np.asarray(captions, dtype=object)):
            ax.text((j + 0.5) * tile_w, i * tile_h + height + below / 2, str(caption),
                    ha="center", va="center", fontsize=6)  # fmt: skip
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)
    return path


def _label_axes(ax, metric: str) -> None:
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
