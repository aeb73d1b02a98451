"""Small image files for folder-dataset tests, written with Pillow into tmp_path."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

# One color per class, so a test can tell from the pixels which class an image came from.
COLORS = {"blue": (20, 40, 220), "red": (220, 30, 20), "green": (30, 200, 40)}


def image_bytes(color=(200, 30, 20), mode: str = "RGB", fmt: str = "JPEG", size=(40, 30)) -> bytes:
    """An encoded image of one color with a little noise, converted to ``mode``."""
    rng = np.random.default_rng(sum(color))
    pixels = np.clip(np.array(color) + rng.integers(-8, 9, (size[1], size[0], 3)), 0, 255)
    image = Image.fromarray(pixels.astype(np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def class_folder(root: Path, name: str, count: int, fmt: str = "JPEG") -> list[Path]:
    """``count`` images of class ``name`` (colored as :data:`COLORS` says)."""
    suffix = ".jpg" if fmt == "JPEG" else f".{fmt.lower()}"
    return [
        write(root / name / f"{name}_{i}{suffix}", image_bytes(COLORS[name], fmt=fmt))
        for i in range(count)
    ]


def good_folder(root: Path, per_class: int = 5) -> Path:
    """Three classes of good images in every supported variant (the kinds users have)."""
    class_folder(root, "blue", per_class)
    class_folder(root, "red", per_class, fmt="PNG")
    class_folder(root, "green", per_class)
    write(root / "red" / "gray.png", image_bytes(COLORS["red"], mode="L", fmt="PNG"))
    write(root / "red" / "rgba.png", image_bytes(COLORS["red"], mode="RGBA", fmt="PNG"))
    write(root / "red" / "palette.png", image_bytes(COLORS["red"], mode="P", fmt="PNG"))
    write(root / "blue" / "png_named.jpg", image_bytes(COLORS["blue"], fmt="PNG"))
    write(root / "blue" / "notes.txt", b"photographed in May\n")
    return root


def truncated_jpeg() -> bytes:
    data = image_bytes(fmt="JPEG", size=(64, 48))
    return data[: len(data) // 2]
