"""Per-job overhead of Hydra launchers: the same tiny sweep under each, timed end to end.

Each launcher runs a sweep of ``--jobs`` jobs (``seed=0,1,...``, ``trainer.epochs=1``, digits
at 16 px) and a sweep of 1 job, from process start to exit (report included). Printed per
launcher: the wall time of both, the wall time per job, the marginal cost of one more job
(``(wall_N - wall_1) / (N - 1)``) and the mean time a run spent inside its job (MLflow's
``duration_s``: data, model, training, logging). The difference is what the launcher adds:
a process per job under submitit (Python, Hydra, TensorFlow and MLflow imported again),
nothing but Hydra's bookkeeping under the basic launcher (one process, jobs in turn).

submitit's local executor starts every job at once: on few cores they share them, so its
per-job figures include that contention; on SLURM each job has a node's share of its own.

``slurm`` runs on the SLURM that ``SLURM_CONF`` names (``scripts/local_slurm.sh start``; CPU-only
settings, one CPU per job); ``ray`` on the cluster at ``--ray-address`` (default: a Ray
started for each sweep on this machine, ``num_cpus`` = the cores).

    python scripts/bench_launchers.py                        # basic vs submitit_local, 4 jobs
    python scripts/bench_launchers.py --jobs 4 --launchers basic joblib subprocesses slurm ray \
        --ray-address 127.0.0.1:6379

``launcher_overhead`` is importable (``scripts/bench.py --section parallel`` can call it).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A run of a few seconds on a 2-core CPU: what is left is the launcher's cost.
TINY = [
    "trainer.epochs=1",
    "trainer.batch_size=32",
    "dataset.train_samples=60",
    "dataset.image_size=16",
    "tracking.log_model=false",
]


# What each launcher needs besides its name (``--ray-address`` fills in ray's address).
LAUNCHER_ARGS = {
    "joblib": ["hydra.launcher.n_jobs=2"],
    "slurm": ["hydra.launcher.gpus_per_task=null", "hydra.launcher.cpus_per_task=1",
              "hydra.launcher.mem_gb=1"],
    "ray": [],
}  # fmt: skip


def timed_sweep(launcher: str, jobs: int, workdir: Path) -> tuple[float, list[float]]:
    """Run a sweep of ``jobs`` seeds under ``launcher`` from ``workdir``.

    Args:
        launcher: An option of ``hydra/launcher`` (``basic``, ``submitit_local``, ...).
        jobs: How many jobs (seeds 0 to ``jobs - 1``).
        workdir: An empty folder for the store and the sweep directory.

    Returns:
        The wall seconds from process start to exit, and every run's ``duration_s``.

    Raises:
        RuntimeError: The sweep exited non-zero (its output's tail is in the message).
    """
    seeds = ",".join(str(seed) for seed in range(jobs))
    command = [
        sys.executable, str(ROOT / "train.py"), "-m", f"hydra/launcher={launcher}",
        *LAUNCHER_ARGS.get(launcher, []), *TINY,
        f"seed={seeds}", f"tracking.uri=sqlite:///{workdir}/mlruns/mlflow.db",
        f"hydra.sweep.dir={workdir}/sweep",
    ]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{launcher} sweep failed:\n{(result.stdout + result.stderr)[-2000:]}")
    with open(workdir / "sweep" / "summary.csv", newline="") as summary:
        durations = [float(row["duration_s"]) for row in csv.DictReader(summary)]
    return wall, durations


def launcher_overhead(
    launchers: tuple[str, ...] = ("basic", "submitit_local"), jobs: int = 4
) -> dict[str, dict[str, float]]:
    """Time a sweep of ``jobs`` jobs and one of 1 job under every launcher.

    Args:
        launchers: Options of ``hydra/launcher`` to compare.
        jobs: Jobs of the larger sweep (at least 2).

    Returns:
        Per launcher: ``wall_1_s``, ``wall_n_s``, ``per_job_s`` (wall_n / jobs),
        ``marginal_job_s`` ((wall_n - wall_1) / (jobs - 1)) and ``run_s`` (the mean
        ``duration_s`` of the runs of the larger sweep).
    """
    if jobs < 2:
        raise ValueError(f"jobs={jobs}: the marginal cost needs at least 2 jobs")
    results = {}
    for launcher in launchers:
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as many:
            wall_1, _ = timed_sweep(launcher, 1, Path(one))
            wall_n, durations = timed_sweep(launcher, jobs, Path(many))
        results[launcher] = {
            "wall_1_s": wall_1,
            "wall_n_s": wall_n,
            "per_job_s": wall_n / jobs,
            "marginal_job_s": (wall_n - wall_1) / (jobs - 1),
            "run_s": statistics.mean(durations),
        }
    return results


def print_table(results: dict[str, dict[str, float]], jobs: int) -> None:
    """The results as a Markdown table."""
    print(f"| launcher | 1 job (s) | {jobs} jobs (s) | per job (s) | one more job (s) | "
          "run inside its job (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for launcher, r in results.items():
        print(f"| {launcher} | {r['wall_1_s']:.1f} | {r['wall_n_s']:.1f} | "
              f"{r['per_job_s']:.1f} | {r['marginal_job_s']:.1f} | {r['run_s']:.1f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=4, help="jobs of the larger sweep")
    parser.add_argument("--launchers", nargs="+", default=["basic", "submitit_local"])
    parser.add_argument("--ray-address", help="a Ray cluster's head (HOST:PORT) for `ray`")
    args = parser.parse_args()
    if args.ray_address:
        LAUNCHER_ARGS["ray"] = [f"hydra.launcher.address={args.ray_address}"]
    print_table(launcher_overhead(tuple(args.launchers), args.jobs), args.jobs)


if __name__ == "__main__":
    main()
