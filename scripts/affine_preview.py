"""Chained vs fused flip+rotation+zoom on the same photos: ``docs/affine_preview.png``.

Each row is one flower photo under one rotation and zoom, done twice: by Keras's chained
``RandomRotation`` and ``RandomZoom`` (two resamplings) and by the fused ``RandomAffine`` (one),
with the same angle and zoom. The last two columns enlarge the centre of each, where the
chain's second bilinear resampling shows as blur.

    python scripts/affine_preview.py [--data-path ../shared/data/flower_photos] [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FLOWERS = ROOT.parent / "shared" / "data" / "flower_photos"
# (turn, zoom) per row: a fraction of a full turn, and RandomZoom's factor (< 0 zooms in).
TRANSFORMS = [(0.06, -0.2), (-0.08, -0.1), (0.04, 0.1), (-0.05, -0.15)]
SIZE, CROP = 128, 32


def transformed(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photos under the chain and under the fused layer, row ``i`` with transform ``i``."""
    import keras

    from augsweep.augment.layers import RandomAffine

    constant = {"fill_mode": "constant"}
    chained, fused = [], []
    for image, (turn, zoom) in zip(images, TRANSFORMS, strict=True):
        chain = keras.layers.Pipeline(
            [
                keras.layers.RandomRotation((turn, turn), **constant),
                keras.layers.RandomZoom((zoom, zoom), **constant),
            ]
        )
        affine = RandomAffine(rotation=(turn, turn), zoom=(zoom, zoom), **constant)
        chained.append(np.asarray(chain(image[None])[0]))
        fused.append(np.asarray(affine(image[None])[0]))
    return np.stack(chained), np.stack(fused)


def centre(images: np.ndarray) -> np.ndarray:
    """The central ``CROP`` pixels, enlarged to ``SIZE`` by pixel repetition (no smoothing)."""
    start = (SIZE - CROP) // 2
    crop = images[:, start : start + CROP, start : start + CROP]
    factor = SIZE // CROP
    return crop.repeat(factor, axis=1).repeat(factor, axis=2)


def shrink(path: Path) -> None:
    """Rewrite the PNG with a 256-colour palette (a quarter of the size), for the docs."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MAXCOVERAGE)
    small.save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-path", type=Path, default=FLOWERS)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "affine_preview.png")
    args = parser.parse_args()

    import keras

    from augsweep import plots

    ds = keras.utils.image_dataset_from_directory(
        args.data_path, image_size=(SIZE, SIZE), batch_size=None, shuffle=True, seed=1,
        verbose=False,
    )  # fmt: skip
    pairs = list(ds.take(len(TRANSFORMS)).as_numpy_iterator())
    images = np.stack([image for image, _ in pairs]).astype("float32")
    chained, fused = transformed(images)
    rows = np.stack([images, chained, fused, centre(chained), centre(fused)], axis=1)
    titles = [
        "original",
        "chained (2 resamplings)",
        "fused (1)",
        "chained, centre",
        "fused, centre",
    ]
    row_titles = [f"{360 * turn:+.0f} deg, zoom {zoom:+.2f}" for turn, zoom in TRANSFORMS]
    plots.image_grid(
        rows, args.out, titles, title="flip_rot_zoom: chained Keras layers vs RandomAffine",
        row_titles=row_titles,
    )  # fmt: skip
    shrink(args.out)
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
