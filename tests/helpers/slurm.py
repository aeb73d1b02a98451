"""A real single-node SLURM for the tests: ``scripts/local_slurm.sh`` (munged, slurmctld and
slurmd on localhost), started once for every test process that needs it and stopped by the
last one to let go (pytest-xdist runs several such processes at once)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "local_slurm.sh"
DIR = Path(os.environ.get("LOCAL_SLURM_DIR", "/tmp/augsweep-slurm"))
CPUS = "4"  # more than the 2 cores of CI: two small jobs of a sweep run beside each other

# What the tests ask of SLURM for each job: no GPU, one CPU, a little memory.
CPU_ONLY = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_task=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
]


def slurm_missing() -> str | None:
    """Why SLURM cannot run here (its binaries absent, or not root), or None."""
    missing = [b for b in ("slurmctld", "slurmd", "munged", "sbatch")
               if not (shutil.which(b) or Path("/usr/sbin", b).exists())]  # fmt: skip
    if missing:
        return f"no {', '.join(missing)} (apt-get install slurm-wlm munge; .ci/run does)"
    if os.geteuid() != 0 and shutil.which("sudo") is None:
        return "slurmd runs as root: run the tests as root or with sudo"
    return None


@contextlib.contextmanager
def local_slurm() -> Iterator[str]:
    """SLURM running on this machine while the block runs; yields its ``SLURM_CONF``.

    Each user registers under ``DIR/users`` (under a lock); the first starts the daemons,
    the last to leave (the others' processes gone) stops them.
    """
    users = DIR / "users"
    users.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LOCAL_SLURM_DIR": str(DIR), "LOCAL_SLURM_CPUS": CPUS}
    me = users / str(os.getpid())
    with _locked():
        subprocess.run([str(SCRIPT), "start"], env=env, check=True, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
        me.touch()
    try:
        yield str(DIR / "slurm.conf")
    finally:
        with _locked():
            me.unlink(missing_ok=True)
            if not [user for user in users.iterdir() if _alive(int(user.name))]:
                subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True,
                               timeout=120)  # fmt: skip


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    with open(DIR / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def slurm_job_of(db: Path, epochs: int, min_logged: int = 1) -> str | None:
    """The SLURM job id of the run whose ``trainer.epochs`` param is ``epochs``, once it has
    logged ``min_logged`` epochs (tag ``augsweep.attempt``, ``slurm:JOB/RESTARTS``: the JOB);
    None before."""
    query = (
        "SELECT t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
        "AND t.key = 'augsweep.attempt' JOIN params p ON p.run_uuid = r.run_uuid "
        "AND p.key = 'trainer.epochs' AND p.value = ? WHERE r.status = 'RUNNING' AND "
        "(SELECT COUNT(*) FROM metrics m WHERE m.run_uuid = r.run_uuid "
        "AND m.key = 'val_accuracy') >= ?"
    )
    if not db.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            row = con.execute(query, (str(epochs), min_logged)).fetchone()
    except sqlite3.OperationalError:  # no such table yet, or locked for a moment
        return None
    return row[0].removeprefix("slurm:").partition("/")[0] if row else None
