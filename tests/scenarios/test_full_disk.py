"""A full disk: the checkpoints on a 2 MB tmpfs that a filler file has filled (the store
elsewhere, so that what is recorded can be checked). Needs ``mount`` (root, or a sandbox that
allows it); skipped otherwise, saying why."""

from __future__ import annotations

import contextlib
import errno
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, run_cli


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "2m"):
    """A tmpfs of ``size`` mounted on ``path`` for the block; skip the test if none can be."""
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def fill(folder: Path, room: int = 64 * 1024) -> Path:
    """Fill the disk of ``folder`` with one file but ``room`` bytes (a lock file, folders;
    not a checkpoint); return it."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC
    with open(filler, "r+b") as handle:
        handle.truncate(filler.stat().st_size - room)
    return filler


@pytest.mark.slow
def test_a_full_disk_fails_the_job_in_one_line(tmp_path):
    # A relaunch once the filler is gone resumes the run (as it did before: checked by hand,
    # "1 jobs: resumed 1", the same run FINISHED), left out here for time.
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    with small_tmpfs(tmp_path / "small") as small:
        args = [str(ROOT / "train.py"), "-m", *SMALL, "trainer.epochs=1", "seed=0",
                f"tracking.uri={uri}", f"tracking.checkpoints={small}",
                f"hydra.sweep.dir={tmp_path}/sweep"]  # fmt: skip
        fill(small)
        full = run_cli(*args, cwd=tmp_path)
        output = full.stdout + full.stderr
        assert full.returncode == 1, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
        said = [line for line in output.splitlines() if "no space left" in line]
        assert said and f"no space left on device writing {small}/" in said[0], output[-3000:]
        client = MlflowClient(uri)
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        (parent,) = [r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep"]
        (run,) = [r for r in runs if r.info.run_id != parent.info.run_id]
        assert (run.info.status, parent.info.status) == ("FAILED", "FAILED")
        assert run.data.tags[Tag.ERROR].startswith(f"no space left on device writing {small}/")
        assert "1 jobs: failed 1" in full.stdout
        assert "no space left" in (tmp_path / "sweep" / "summary.md").read_text()
