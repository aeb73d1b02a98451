"""Multiruns through the real command line: nesting, the report, failing and refused jobs."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections import defaultdict

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats as scipy_stats

from augsweep.config.run_key import EXCLUDED
from augsweep.metrics import SUMMARY, SUMMARY_STEP
from augsweep.tracking import report
from augsweep.tracking.sweep import metric_name
from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, SMALL, run_cli, signal_at_epoch, sigterm_after_first_epoch
from tests.helpers.imagefiles import good_folder, truncated_jpeg, write

pytestmark = pytest.mark.slow

REPORT_FILES = {
    "comparison_accuracy.png", "comparison_loss.png", "summary.csv", "summary_groups.csv",
    "summary.md", "report.html",
}  # fmt: skip


def sweep(tmp_path, *overrides: str, base=SMALL):
    """``python train.py -m BASE OVERRIDES``, launched from ``tmp_path``."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    result = run_cli(
        str(ROOT / "train.py"),
        "-m",
        *base,
        f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp_path}/sweep",
        *overrides,
        cwd=tmp_path,
    )
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    (parent,) = [r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep"]
    children = [r for r in runs if r is not parent]
    return result, client, parent, children


def test_sweep_nests_one_run_per_policy_and_seed_and_builds_the_report(tmp_path):
    # The must-show, tiny: `-m augment=none,flip_rot_zoom seed=range(5)` on digits.
    result, client, parent, children = sweep(
        tmp_path, "augment=none,flip_rot_zoom", "seed=range(5)"
    )
    assert result.returncode == 0, result.stderr[-3000:]

    sweep_id = parent.data.tags["sweep_id"]
    assert parent.info.status == "FINISHED"
    assert sorted(r.info.run_name for r in children) == sorted(
        f"{p},seed={s}" for p in ("none", "flip_rot_zoom") for s in range(5)
    )
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["sweep_id"] == sweep_id
        assert run.data.tags["augment"] == run.info.run_name.split(",")[0]

    sweep_dir = tmp_path / "sweep"
    assert {p.name for p in sweep_dir.iterdir()} >= REPORT_FILES | {"differences.png"}
    assert json.loads((sweep_dir / "sweep.json").read_text())["sweep_id"] == sweep_id
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert artifacts >= REPORT_FILES  # report.html at the parent's artifact root
    table = (sweep_dir / "summary.md").read_text()
    page = re.sub(r"<td [^>]*>", "<td>", (sweep_dir / "report.html").read_text())  # no class
    for policy in ("none", "flip_rot_zoom"):
        assert f"| {policy},seed=0 | {policy} | 0 | FINISHED |" in table
    assert f"Report: {sweep_dir}/summary.md" in result.stdout
    for cells in expected_statistics(children):
        assert " | ".join(cells) in table
        # report.html: one cell per metric (difference [CI], p, verdict), to fit 950 px
        assert (f"{cells[0]}, p {cells[1]}: {cells[2]}" if len(cells) == 3 else cells[0]) in page
    assert "paired t-test (scipy.stats.ttest_rel" in page
    assert page.count("data:image/png;base64,") >= 3 and 'src="http' not in page
    assert "python train.py -m" in page and "seed=range(5)" in page
    assert page.index("Answer per group") < page.index("Verdict") < page.index("<img")
    assert page.index("<img") < page.index("<h2>Runs</h2>")
    check_what_the_ui_shows(tmp_path, result.stdout, client, parent, children)

    # The report can be rebuilt later from MLflow alone.
    out = tmp_path / "rebuilt"
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    assert report.main(["--sweep-id", sweep_id, "--tracking-uri", uri, "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == REPORT_FILES | {"differences.png"}
    assert (out / "summary.csv").read_text() == (sweep_dir / "summary.csv").read_text()
    latest = tmp_path / "latest"
    rebuilt = run_cli(
        "-m", "augsweep.tracking.report", "--experiment", "augsweep", "--tracking-uri", uri,
        "--out", str(latest), "--baseline", "flip_rot_zoom",
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert (latest / "summary.csv").read_text() == (sweep_dir / "summary.csv").read_text()
    assert "| augment=none | augment=flip_rot_zoom | 5 |" in (latest / "summary.md").read_text()


def expected_statistics(runs) -> list[list[str]]:
    """What the report must show, computed here from the runs' metrics in MLflow with scipy
    (not through augsweep.tracking.stats): per policy mean [95% t CI] of the final
    validation accuracy and gap; flip_rot_zoom - none paired by seed: mean [CI], p, verdict.
    Each as the adjacent cells of a table row."""
    values = defaultdict(dict)  # (policy, metric) -> seed -> value
    for run in runs:
        for metric in ("final_val_accuracy", "final_gap"):
            seed = int(run.data.params["seed"])
            values[run.data.tags["augment"], metric][seed] = run.data.metrics[metric]
    expected = []

    def interval(data, signed=""):
        mean, sem = np.mean(data), scipy_stats.sem(data)
        low, high = scipy_stats.t.interval(0.95, len(data) - 1, loc=mean, scale=sem)
        return f"{mean:{signed}.4f} [{low:{signed}.4f}, {high:{signed}.4f}]", low, high

    for metric, sign in (("final_val_accuracy", 1), ("final_gap", -1)):
        for policy in ("none", "flip_rot_zoom"):
            expected.append([interval(list(values[policy, metric].values()))[0]])
        seeds = range(5)
        augmented = [values["flip_rot_zoom", metric][s] for s in seeds]
        baseline = [values["none", metric][s] for s in seeds]
        text, low, high = interval(np.subtract(augmented, baseline), "+")
        p = scipy_stats.ttest_rel(augmented, baseline).pvalue
        if low > 0 or high < 0:
            word = "better" if (low > 0) == (sign > 0) else "worse"
        else:
            word = "no clear difference with n=5"
        expected.append([text, f"{p:.3g}", word])
    return expected


def git_commit() -> str | None:
    """The checkout's commit, None outside a git checkout (an unpacked archive). A checkout
    owned by another user (root in a CI container) is read all the same (``safe.directory``):
    a failing ``git`` fails the test rather than skipping the check."""
    if not (ROOT / ".git").exists():
        return None
    return subprocess.run(["git", "-c", "safe.directory=*", "rev-parse", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip


def check_the_sweep_runs_description(parent, children) -> None:
    """The sweep run's description (its overview in the UI): the answer per policy first,
    in the words its verdicts call for, the verdict table, a link to report.html, then the
    runs."""
    note = parent.data.tags[Tag.NOTE]
    verdicts = {word for cells in expected_statistics(children) if len(cells) == 3
                for word in cells[2:]}  # fmt: skip
    test_cells = expected_test_verdict(children)
    (line,) = [line for line in note.splitlines() if line.startswith("- flip_rot_zoom: ")]
    ending = {"better": ": helps", "worse": ": hurts"}.get(test_cells, "with n=5")
    if test_cells == "worse" and "overfits less" in line:
        ending = ": does not help here"
    assert line.endswith(ending), (line, test_cells)
    assert all(word in note for word in verdicts)
    assert note.index("- flip_rot_zoom: ") < note.index("| flip_rot_zoom | 5 |")
    assert f"/runs/{parent.info.run_id}/artifacts/report.html)" in note
    assert note.index("report.html") < note.index("**Sweep ")  # then the runs list
    assert note.count("- job ") == len(children)


def expected_test_verdict(runs) -> str:
    """flip_rot_zoom vs none on test accuracy, paired by seed, with scipy: better / worse /
    no clear difference."""
    values = defaultdict(dict)
    for run in runs:
        values[run.data.tags["augment"]][run.data.params["seed"]] = run.data.metrics[
            "test_accuracy"
        ]
    diffs = [values["flip_rot_zoom"][s] - values["none"][s] for s in values["none"]]
    low, high = scipy_stats.t.interval(0.95, len(diffs) - 1, loc=np.mean(diffs),
                                       scale=scipy_stats.sem(diffs))  # fmt: skip
    return "better" if low > 0 else "worse" if high < 0 else "no clear difference"


def check_what_the_ui_shows(tmp_path, stdout: str, client, parent, children) -> None:
    """What the MLflow UI reads of a sweep: the experiment's kind, the runs' source and
    user, their dataset, their params, their summary's step, the sweep run's description,
    the sweep's shared view; and the end of the sweep says how to open it."""
    experiment = client.get_experiment(parent.info.experiment_id)
    sweep_id = parent.data.tags["sweep_id"]
    assert experiment.tags[Tag.EXPERIMENT_KIND] == "custom_model_development"
    commit = git_commit()
    for run in [parent, *children]:
        tags = run.data.tags
        assert tags["mlflow.source.name"] == str(ROOT / "train.py")
        assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.user"]
        if commit is not None:  # a git checkout
            assert tags["mlflow.source.git.commit"] == commit
    for run in children:
        (data,) = run.inputs.dataset_inputs
        assert (data.dataset.name, data.dataset.digest) == (
            "digits",
            run.data.tags[Tag.DATA_FINGERPRINT],
        )
        assert json.loads(data.dataset.profile)["num_train"] == 60
        params = run.data.params
        uses = {"none": "[]", "flip": "[flip]", "flip_rot_zoom": "[affine]"}
        assert params["augment.use"] == uses[run.data.tags["augment"]]
        assert not [key for key in params if key.startswith("augment.use.")]
        assert params["augment.crop"] == "0"  # no policy here reads it: none applied
        zoom = "0.1" if run.data.tags["augment"] == "flip_rot_zoom" else "0"
        assert params["augment.zoom"] == zoom
        # No infrastructure key (what the run key leaves out) among the params
        infrastructure = [
            k for k in params for out in EXCLUDED if k == out or k.startswith(out + ".")
        ]
        assert not infrastructure
        # Every run's summary metrics at one common step: the Chart view draws bars
        for key in SUMMARY:
            steps = {m.step for m in client.get_metric_history(run.info.run_id, key)}
            assert steps == {SUMMARY_STEP}, key
    check_the_sweep_runs_description(client.get_run(parent.info.run_id), children)
    means = client.get_run(parent.info.run_id).data.metrics  # per policy, on the sweep run
    test = [r.data.metrics["test_accuracy"] for r in children if r.data.tags["augment"] == "none"]
    assert means["mean_test_accuracy/none"] == pytest.approx(np.mean(test))
    assert "diff_final_gap/flip_rot_zoom" in means
    view = json.loads(experiment.tags[f"mlflow.sharedViewState.augsweep-sweep-{sweep_id}"])
    assert view["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": "augment"}]
    assert view["runsHiddenMode"] == "SHOW_ALL"
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    assert f"MLflow UI: mlflow ui --backend-store-uri {uri}" in stdout
    page = (
        f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs/{parent.info.run_id}"
    )
    assert f"{page}?workflowType=machine_learning" in stdout
    runs = f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs?"
    assert (
        f"{runs}workflowType=machine_learning&viewStateShareKey=augsweep-sweep-{sweep_id}" in stdout
    )
    assert f"{page}/artifacts/report.html" in stdout


# A folder dataset at a small size: no dataset.train_samples (digits only).
SMALL_FOLDER = [
    "dataset=folder",
    "dataset.image_size=16",
    "trainer.epochs=2",
    "tracking.log_model=false",
]


def test_a_failing_job_does_not_stop_the_others_and_the_sweep_exits_nonzero(tmp_path):
    # The config of every job is fine; one folder holds a corrupt image, found by the
    # preflight before the job's run exists: those jobs fail, the others finish.
    good_folder(tmp_path / "good")
    bad = write(good_folder(tmp_path / "bad") / "green" / "cut.jpg", truncated_jpeg())
    result, client, parent, children = sweep(
        tmp_path, "dataset.path=good,bad", "augment=none,flip", base=SMALL_FOLDER
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert sorted((r.info.run_name, r.info.status) for r in children) == [
        ("flip,dataset.path=good", "FINISHED"),
        ("none,dataset.path=good", "FINISHED"),
    ], result.stderr[-3000:]
    assert parent.info.status == "FAILED"
    jobs = jobs_table(tmp_path)
    for name in ("none,dataset.path=bad", "flip,dataset.path=bad"):
        assert f"| {name} | failed |  | DatasetError: dataset.path={tmp_path / 'bad'}" in jobs
    assert f"{bad}: cannot be decoded" in result.stdout + result.stderr  # the full error
    assert "Traceback" not in result.stdout + result.stderr
    assert "jobs: trained 2, failed 2" in result.stdout


def test_a_refused_job_logs_no_run_and_the_sweep_is_failed(tmp_path):
    # -m trainer.batch_size=16,-1: the config check refuses the second job before its run
    # exists; the first trains; the parent run is FAILED and the report says why.
    result, _, parent, children = sweep(tmp_path, "trainer.batch_size=16,-1", "trainer.epochs=1")
    assert result.returncode == 1
    assert [(r.info.run_name, r.info.status) for r in children] == [
        ("none,trainer.batch_size=16", "FINISHED")
    ], result.stderr[-3000:]
    assert parent.info.status == "FAILED"
    jobs = jobs_table(tmp_path)
    assert (
        "| 2 | none,trainer.batch_size=-1 | failed |  | invalid config: trainer.batch_size=-1: "
        in jobs
    )
    output = result.stdout + result.stderr
    assert "job 2/2 none,trainer.batch_size=-1: failed" in output and "Traceback" not in output


def statuses(uri: str) -> dict[str, str]:
    """Every run's status, by name (``sweep`` for the parent)."""
    runs = MlflowClient(uri).search_runs(["1"])
    return {r.data.tags.get(Tag.ROLE, r.info.run_name): r.info.status for r in runs}


def test_sigterm_during_a_sweep_leaves_no_run_running_and_still_reports(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    args = ["train.py", "-m", *SMALL, "trainer.epochs=500", "augment=none,flip",
            f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/sweep"]  # fmt: skip
    returncode, output = sigterm_after_first_epoch(args, uri)
    assert (returncode, statuses(uri)) == (
        130,
        {"sweep": "KILLED", "none": "KILLED"},
    ), output[-3000:]
    assert "Traceback" not in output
    jobs = jobs_table(tmp_path)
    assert "| 1 | none | killed |" in jobs and "| 2 | flip | not started |" in jobs


def test_two_ctrl_c_50_ms_apart_still_close_every_run_and_report(tmp_path):
    # A double tap of Ctrl-C mid-job: the second one lands in the shutdown (the run's end,
    # the job record, the report), which must go on; the next job must not start.
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    args = ["train.py", "-m", *SMALL, "trainer.epochs=500", "augment=none,flip,flip_rot_zoom",
            f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/sweep"]  # fmt: skip
    returncode, output = signal_at_epoch(args, uri, signal.SIGINT, again_after_s=0.05)
    assert (returncode, statuses(uri)) == (
        130,
        {"sweep": "KILLED", "none": "KILLED"},
    ), output[-3000:]
    assert "Traceback" not in output and "job 2/3 flip: started" not in output
    assert "job 2 flip: not started" in output  # listed at the end
    assert "augsweep: still stopping" in output  # the second Ctrl-C, noted and ignored
    jobs = jobs_table(tmp_path)
    assert "| 1 | none | killed |" in jobs
    assert "| 2 | flip | not started |" in jobs
    assert "| 3 | flip_rot_zoom | not started |" in jobs


def jobs_table(tmp_path) -> str:
    """The "Jobs" section of the sweep's summary.md."""
    text = (tmp_path / "sweep" / "summary.md").read_text()
    return text[text.index("## Jobs") :]


def test_a_sweep_over_augment_options_trains_each_once_and_reports_equal_ones_skipped(tmp_path):
    # Every option composes, builds and augments (tests/augment/test_policy.py); here a
    # sweep over four of them: the empty composition, `none`, a label-mixing one and
    # RandAugment.
    options = ["compose", "none", "mixup", "randaugment"]
    result, _, parent, children = sweep(
        tmp_path, f"augment={','.join(options)}", "trainer.epochs=1", "dataset.train_samples=30"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert parent.info.status == "FINISHED"
    # `compose` with its empty default list is `none`: the same run key, so `none`, which
    # comes later, reports the run of `compose` instead of training it again.
    trained = [o for o in options if o != "none"]
    # Runs are named by the resolved policy: the empty composition is "none".
    assert sorted(r.info.run_name for r in children) == ["mixup", "none", "randaugment"]
    compose = next(r for r in children if r.info.run_name == "none")
    assert f"job 2/4 none: skipped (finished run {compose.info.run_id})" in result.stdout
    assert f"jobs: trained {len(trained)}, skipped 1" in result.stdout
    for run in children:
        assert run.info.status == "FINISHED", run.info.run_name
        assert run.data.tags["augment"] == run.info.run_name


def test_compositions_and_backends_sweep_with_readable_names(tmp_path):
    result, client, _, children = sweep(
        tmp_path,
        "augment=compose",
        "augment.use=[flip,rotation],[flip,mixup]",
        "augment.backend=keras,albumentations",
        "trainer.epochs=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    names = sorted((r.info.run_name, r.data.tags["augment"], r.info.status) for r in children)
    assert names == [
        (f"{policy},augment.backend={backend}", policy, "FINISHED")
        for policy in ("flip+mixup", "flip+rotation")
        for backend in ("albumentations", "keras")
    ]
    for run in children:
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "augment_preview.png" in artifacts
        assert run.data.tags["augment_backend"] == run.info.run_name.split("=")[-1]


def test_a_groups_metric_name_is_one_mlflow_takes(tracking_uri):
    name = metric_name("mean_final_gap", "flip,trainer.learning_rate=0.001,model.filters=[8,16]")
    assert name == "mean_final_gap/flip trainer.learning_rate:0.001 model.filters:_8 16_"
    client = MlflowClient(tracking_uri)  # a real store refuses "=" and "," in a name
    run_id = client.create_run(client.create_experiment("names")).info.run_id
    client.log_metric(run_id, name, 0.5, step=0)
    assert client.get_run(run_id).data.metrics == {name: 0.5}
