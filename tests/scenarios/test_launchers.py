"""Sweeps under other Hydra launchers, through the real command line: ``subprocesses``
(submitit's local executor) runs every job in a process of its own, as ``slurm`` runs them on
other machines, so the parent run, ``sweep.json`` and the report must work across processes;
the ``slurm`` preset is checked by the sbatch script submitit makes of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient

from augsweep.tracking.tags import Tag
from tests.helpers import CONF_DIR, ROOT, SMALL, owner_pid, run_cli
from tests.helpers.imagefiles import good_folder, truncated_jpeg, write

REPORT_FILES = {"comparison_accuracy.png", "comparison_loss.png", "summary.csv", "summary.md"}
SUBPROCESSES = "hydra/launcher=subprocesses"  # submitit_local, waiting for every job


def launched_sweep(tmp_path, *overrides: str, base=SMALL):
    """``python train.py -m BASE OVERRIDES`` from ``tmp_path``: the result, the client, the
    parent run and the job runs."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    result = run_cli(
        str(ROOT / "train.py"), "-m", *base, f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp_path}/sweep", *overrides, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep"]
    assert len(parents) == 1, result.stdout[-3000:] + result.stderr[-3000:]
    children = [r for r in runs if r is not parents[0]]
    return result, client, parents[0], children


def job_logs(tmp_path) -> str:
    """Every job's output, as submitit keeps it (``.submitit/<id>/<id>_0_log.out``)."""
    logs = sorted((tmp_path / "sweep" / ".submitit").glob("*/*_log.*"))
    return "\n".join(path.read_text() for path in logs)


FAKE_SBATCH = """#!/bin/sh
# sbatch as a cluster answers it; keeps the script it was given (its last argument)
for last; do :; done
cp "$last" "$SBATCH_KEPT"
echo "Submitted batch job 4242"
"""


def noop_task(cfg) -> None:
    """The job's task function (never run: nothing executes the submitted script)."""


def slurm_script(tmp_path, monkeypatch, *overrides: str) -> str:
    """The sbatch script that ``hydra/launcher=slurm OVERRIDES`` submits for a 2-job sweep,
    as the project's launcher (``waiting_submitit.SlurmLauncher._submit``) submits it: to an
    ``sbatch`` on the PATH that keeps the script and answers a job id (no cluster)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("sbatch", FAKE_SBATCH), ("srun", "#!/bin/sh\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("SBATCH_KEPT", str(tmp_path / "kept.sh"))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", ["hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path}/sweep",
                                 *overrides], return_hydra_config=True)  # fmt: skip
    launcher = instantiate(cfg.hydra.launcher)
    # Hydra's plugin scan imports the module anew: its class, by name
    assert type(launcher).__module__ == "hydra_plugins.augsweep_launchers.waiting_submitit"
    assert type(launcher).__name__ == "SlurmLauncher"
    launcher.setup(hydra_context=None, task_function=noop_task, config=cfg)
    jobs = launcher._submit([["augment=none"], ["augment=flip"]], initial_job_idx=0)
    assert [job.job_id for job in jobs] == ["4242_0", "4242_1"]  # one array, a task per job
    return (tmp_path / "kept.sh").read_text()


def test_the_slurm_preset_asks_for_one_gpu_per_job_and_takes_the_documented_knobs(
    tmp_path, monkeypatch
):
    script = slurm_script(tmp_path, monkeypatch)
    for line in ("--job-name=augsweep", "--gpus-per-task=1", "--cpus-per-task=8",
                 "--mem=32GB", "--time=240"):  # fmt: skip
        assert f"#SBATCH {line}\n" in script, script
    assert "--partition" not in script  # the cluster's default partition

    script = slurm_script(
        tmp_path / "set", monkeypatch, "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=30", "hydra.launcher.gpus_per_task=null",
        "hydra.launcher.mem_gb=8", "hydra.launcher.cpus_per_task=2",
        "hydra.launcher.setup=[module load cuda]",
    )  # fmt: skip
    for line in ("--partition=gpu", "--time=30", "--mem=8GB", "--cpus-per-task=2"):
        assert f"#SBATCH {line}\n" in script, script
    assert "gpus" not in script and "\n# setup\nmodule load cuda\n" in script
    assert "#SBATCH --array=0-1%" in script  # both jobs, as one job array
    assert f"--output={tmp_path}/set/sweep/.submitit/%A_%a/" in script  # beside its output


@pytest.mark.slow
def test_a_process_per_job_sweep_nests_every_job_and_builds_the_report(tmp_path):
    result, client, parent, children = launched_sweep(
        tmp_path, SUBPROCESSES, "augment=none,flip,flip_rot_zoom", "trainer.epochs=1"
    )
    assert result.returncode == 0, result.stderr[-3000:] + job_logs(tmp_path)[-3000:]
    assert parent.info.status == "FINISHED"
    assert sorted((r.info.run_name, r.info.status) for r in children) == [
        ("flip", "FINISHED"),
        ("flip_rot_zoom", "FINISHED"),
        ("none", "FINISHED"),
    ]
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["sweep_id"] == parent.data.tags["sweep_id"]
    sweep_dir = tmp_path / "sweep"
    assert {p.name for p in sweep_dir.iterdir()} >= REPORT_FILES
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= REPORT_FILES
    assert "jobs: trained 3" in result.stdout
    # Each job ran in a process of its own, which read sweep.json and logged its lines.
    logs = job_logs(tmp_path)
    for num, policy in enumerate(("none", "flip", "flip_rot_zoom"), start=1):
        assert f"job {num}/3 {policy}: trained in" in logs


@pytest.mark.slow
def test_a_process_per_job_failing_job_lets_the_other_finish_and_exits_nonzero(tmp_path):
    # The bad folder's corrupt image fails its job in the job's own process, after the
    # config check: the job records the failure and returns NaN, as under the basic launcher.
    good_folder(tmp_path / "good")
    write(good_folder(tmp_path / "bad") / "green" / "cut.jpg", truncated_jpeg())
    base = ["dataset=folder", "dataset.image_size=16", "trainer.epochs=1",
            "tracking.log_model=false"]  # fmt: skip
    result, _, parent, children = launched_sweep(
        tmp_path, SUBPROCESSES, "dataset.path=good,bad", base=base
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert sorted((r.info.run_name, r.info.status) for r in children) == [
        ("none,dataset.path=good", "FINISHED")
    ], job_logs(tmp_path)[-3000:]
    assert parent.info.status == "FAILED"
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert "| 2 | none,dataset.path=bad | failed |  | DatasetError: " in summary
    assert "jobs: trained 1, failed 1" in result.stdout
    assert "job 2 none,dataset.path=bad: failed: DatasetError" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_a_job_killed_mid_run_is_reported_after_the_others_finish(tmp_path):
    # SIGKILL (as the OOM killer or SLURM's time limit) leaves no result: the launcher waits
    # for the other job, then the report lists the killed one and the sweep exits 1.
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    args = [str(ROOT / "train.py"), "-m", SUBPROCESSES, *SMALL, "trainer.epochs=400,3",
            f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/sweep"]  # fmt: skip
    process = subprocess.Popen([sys.executable, *args], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while (
            pid := owner_pid(tmp_path / "mlruns" / "mlflow.db", "none,trainer.epochs=400")
        ) is None:
            assert time.monotonic() < deadline and process.poll() is None, "no epoch logged"
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 1, output[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs(["1"])
    statuses = {r.data.tags.get(Tag.ROLE, r.info.run_name): r.info.status for r in runs}
    assert statuses == {
        "sweep": "KILLED",
        "none,trainer.epochs=400": "KILLED",
        "none,trainer.epochs=3": "FINISHED",
    }, output[-3000:]
    assert "jobs: trained 1, killed 1" in output
    assert "job 1 none,trainer.epochs=400: killed: its process ended mid-job" in output
