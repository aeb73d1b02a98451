"""Mistakes a user can fix, refused before any MLflow run exists: one line naming the value,
no traceback; exit code 2 for a value to change, 1 for an environment that fails (README:
exit codes). Those that need no TensorFlow to tell are told without importing it."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_cli, stored_runs
from tests.helpers.imagefiles import class_folder


def refuse(tmp_path: Path, *overrides: str) -> tuple[subprocess.CompletedProcess, list[str], set]:
    """``python -X importtime train.py OVERRIDES``: the result, its stderr without the import
    timings, and the top-level packages it imported."""
    result = run_cli("-X", "importtime", str(ROOT / "train.py"), *overrides,
                     f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)  # fmt: skip
    timings = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    imported = {line.rpartition("|")[2].strip().split(".")[0] for line in timings}
    said = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    return result, said, imported


def store(tmp_path: Path) -> str:
    return f"tracking.uri=sqlite:///{tmp_path}/mlruns/mlflow.db"


def one_class_folder(tmp_path: Path) -> list[str]:
    class_folder(tmp_path / "photos", "red", 2)
    (tmp_path / "photos" / "blue").mkdir()
    (tmp_path / "photos" / "blue" / "notes.txt").write_text("no images here")
    return ["dataset=folder", f"dataset.path={tmp_path}/photos", store(tmp_path)]


def no_class_folder(tmp_path: Path) -> list[str]:
    (tmp_path / "photos").mkdir()
    return ["dataset=folder", f"dataset.path={tmp_path}/photos", "dataset.on_bad_file=skip",
            store(tmp_path)]  # fmt: skip


def file_store(tmp_path: Path) -> list[str]:
    return [f"tracking.uri=file://{tmp_path}/mlruns"]


def not_sqlite(tmp_path: Path) -> list[str]:
    (tmp_path / "mlruns").mkdir()
    (tmp_path / "mlruns" / "mlflow.db").write_text("these are my notes, not a database\n")
    return [store(tmp_path)]


CASES = {
    "a folder with one class of images": (one_class_folder, 2, "empty class folder"),
    "a folder without class folders": (no_class_folder, 2, "found 0 class folder(s)"),
    "a file store": (file_store, 2, "/mlruns: not supported; use sqlite:///"),
    "a store file that is no SQLite database": (not_sqlite, 1, "is not a SQLite database"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_input_error_told_without_tensorflow_is_refused_before_it(tmp_path, case):
    make, exit_code, reason = CASES[case]
    result, said, imported = refuse(tmp_path, *make(tmp_path))
    assert result.returncode == exit_code, result.stderr[-3000:]
    assert said[0].startswith("augsweep: ") and reason in said[0] or reason in said[1], said
    assert "Traceback" not in result.stderr + result.stdout
    assert not {"tensorflow", "keras", "mlflow"} & imported
    db = tmp_path / "mlruns" / "mlflow.db"
    assert not db.exists() or db.read_text().startswith("these are my notes")  # untouched


@contextlib.contextmanager
def read_only_folder(path: Path):
    """``path`` made a read-only folder: a read-only mount as root (root writes through a
    folder's mode bits), else its mode bits."""
    path.mkdir(parents=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_read_only_artifacts_folder_is_refused_before_any_run(tmp_path):
    with read_only_folder(tmp_path / "mlruns" / "artifacts"):
        result, said, imported = refuse(tmp_path, store(tmp_path))
    assert result.returncode == 1, result.stderr[-3000:]
    assert said == [
        f"augsweep: cannot write the artifacts of {store(tmp_path)}: {tmp_path}/mlruns/artifacts "
        "is not a writable folder; make it writable, or use a store in a writable folder"
    ]
    assert "Traceback" not in result.stdout
    assert not {"tensorflow", "mlflow"} & imported
    assert stored_runs(tmp_path / "mlruns" / "mlflow.db") == 0
