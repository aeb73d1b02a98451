"""scripts/gpu_check.sh's own steps (its figures come from scripts/bench.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import ROOT

# What gpu_check.sh runs as its Python (PY=...): answers the TensorFlow line and, in place of
# bench.py, lists the photo folder it was handed, a line per class: "<class> <files>".
LISTING_PYTHON = f"""#!{sys.executable}
import sys
from pathlib import Path

if sys.argv[1] != "-c":
    data = Path(sys.argv[sys.argv.index("--data-path") + 1])
    for folder in sorted(data.iterdir()):
        print(folder.name, len(list(folder.iterdir())))
"""


def test_quick_links_sixteen_photos_a_class_of_a_large_folder(tmp_path):
    # 700 photos a class (as in the flower photos): their sorted list is longer than a pipe
    # holds, which once made the script stop on the sort cut off after 16 lines.
    data = tmp_path / "photos"
    for name in ("daisy", "roses"):
        (data / name).mkdir(parents=True)
        for i in range(700):
            (data / name / f"{i:05d}_{'x' * 60}.jpg").touch()
    python = tmp_path / "python"
    python.write_text(LISTING_PYTHON)
    python.chmod(0o755)

    result = subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--quick", "--data", str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PY": str(python)},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "daisy 16\nroses 16\n" in result.stdout
