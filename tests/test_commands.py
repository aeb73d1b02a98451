"""The ``augsweep`` program: one entry for report, reap, sync and schedule, the same option
names in all of them, and the same work as their ``python -m`` forms.

The console script exists once the package is installed; here its entry function runs in a
subprocess, as the script would run it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from augsweep import command_args, commands
from augsweep.tracking.report_files import FOREST_FILE, REPORT_FILES
from augsweep.tracking.tags import Tag
from tests.helpers import ROOT, run_cli

COMMANDS = ("report", "reap", "sync", "schedule")
# What the `augsweep` script runs (pyproject.toml: augsweep = "augsweep.commands:main").
ENTRY = "import sys; from augsweep.commands import main; sys.exit(main())"
HEAVY = ("mlflow", "tensorflow", "keras", "numpy", "matplotlib", "hydra")


def augsweep(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    """``augsweep ARGS``, through the script's entry function."""
    return run_cli("-c", ENTRY, *args, cwd=cwd)


def test_pyproject_declares_the_augsweep_script_and_its_function_exists():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["augsweep"].partition(":")
    assert (module, function) == ("augsweep.commands", "main")
    assert callable(getattr(importlib.import_module(module), function))


def test_help_lists_the_commands_and_says_that_training_is_train_py():
    result = augsweep("--help")
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("positional arguments:")[1].split("options:")[0]
    for name in COMMANDS:
        assert f"\n    {name} " in listed
    assert "python train.py" in " ".join(result.stdout.split())
    assert "augsweep COMMAND --help" in result.stdout


def test_the_program_imports_nothing_heavy_until_a_command_runs():
    code = "import sys, augsweep.commands; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=ROOT).stdout.split())  # fmt: skip
    assert not {name.split(".")[0] for name in loaded} & set(HEAVY)
    assert not {"augsweep.tracking.report", "augsweep.tracking.store"} & loaded


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_its_help(name):
    result = augsweep(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: augsweep {name} ")


def test_one_name_per_option_across_the_commands():
    _, parsers = commands.parser()
    options = {
        name: {o for action in parser._actions for o in action.option_strings}
        for name, parser in parsers.items()
    }
    for name in ("report", "reap", "sync"):
        assert "--tracking-uri" in options[name], name
    assert {"--experiment", "--sweep-id"} <= options["report"]
    assert "--experiment" in options["reap"]
    assert {"--lock", "--log-dir", "--command", "--quiet"} <= options["schedule"]
    # The python -m forms parse the same options.
    for name in ("report", "reap", "sync"):
        module = command_args.module_parser(name)
        assert {o for a in module._actions for o in a.option_strings} == options[name]


def test_sync_takes_its_former_uri_option_without_showing_it():
    _, parsers = commands.parser()
    sync = parsers["sync"]
    assert sync.parse_args(["--uri", "http://x:5000"]).tracking_uri == "http://x:5000"
    assert sync.parse_args(["--tracking-uri", "http://x:5000"]).tracking_uri == "http://x:5000"
    assert sync.parse_args([]).tracking_uri is None
    assert "--uri" not in sync.format_help().replace("--tracking-uri", "")


def test_schedule_takes_the_arguments_after_the_double_dash():
    _, parsers = commands.parser()
    args = parsers["schedule"].parse_args(["--quiet", "--", "augment=none,flip", "seed=0"])
    assert args.quiet and args.args == ["augment=none,flip", "seed=0"]


def test_schedule_usage_errors_are_its_own(tmp_path):
    where = ["--lock", str(tmp_path / "a.lock"), "--log-dir", str(tmp_path / "logs")]
    result = augsweep("schedule", *where, "--command", "  ")
    assert (result.returncode, result.stderr) == (
        2,
        "augsweep.schedule: error: --command '  ' names no program\n",
    )


def make_sweep(uri: str) -> str:
    """A sweep's runs as a sweep leaves them, written with MLflow's client (no training):
    a parent run with its job records, 2 policies x 2 seeds with 2 epochs each."""
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("augsweep")
    sweep_id = "20261125-101500-a1b2c3"
    overrides = "augment=none,flip seed=0,1"
    parent = client.create_run(
        experiment_id, run_name=f"sweep {sweep_id}",
        tags={Tag.SWEEP_ID: sweep_id, Tag.ROLE: "sweep", Tag.SWEEP_OVERRIDES: overrides},
    )  # fmt: skip
    for num, (policy, seed) in enumerate((p, s) for p in ("none", "flip") for s in (0, 1)):
        name = f"augment={policy},seed={seed}"
        tags = {Tag.SWEEP_ID: sweep_id, Tag.JOB: str(num), Tag.AUGMENT: policy,
                Tag.DATASET: "digits", Tag.CLASSES: "0,1"}  # fmt: skip
        tags[Tag.PARENT] = parent.info.run_id
        run = client.create_run(experiment_id, run_name=name, tags=tags)
        run_id = run.info.run_id
        client.log_param(run_id, "seed", str(seed))
        lift = 0.05 * (policy == "flip") + 0.01 * seed
        for step in range(2):
            for key, value in {"val_accuracy": 0.5 + 0.1 * step + lift,
                               "clean_accuracy": 0.7 + 0.1 * step,
                               "val_loss": 1.0 - 0.1 * step - lift,
                               "clean_loss": 0.8 - 0.1 * step}.items():  # fmt: skip
                client.log_metric(run_id, key, value, step=step)
        final = {"best_val_accuracy": 0.6 + lift, "best_epoch": 1, "final_val_accuracy": 0.6 + lift,
                 "final_clean_accuracy": 0.8, "final_gap": 0.2 - lift}  # fmt: skip
        for key, value in final.items():
            client.log_metric(run_id, key, value)
        client.set_terminated(run_id, "FINISHED")
        record = {"name": name, "overrides": [f"augment={policy}", f"seed={seed}"],
                  "outcome": "trained", "run_id": run_id, "seconds": 1.0}  # fmt: skip
        client.set_tag(parent.info.run_id, f"{Tag.JOB_RECORD}{num}", json.dumps(record))
    client.set_terminated(parent.info.run_id, "FINISHED")
    return sweep_id


@pytest.mark.slow
def test_augsweep_report_rebuilds_the_same_report_as_the_module(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    sweep_id = make_sweep(uri)
    program = augsweep("report", "--sweep-id", sweep_id, "--tracking-uri", uri,
                       "--out", str(tmp_path / "program"), cwd=tmp_path)  # fmt: skip
    assert program.returncode == 0, program.stderr[-3000:]
    module = run_cli("-m", "augsweep.tracking.report", "--experiment", "augsweep",
                     "--tracking-uri", uri, "--out", str(tmp_path / "module"),
                     cwd=tmp_path)  # fmt: skip
    assert module.returncode == 0, module.stderr[-3000:]
    names = [*REPORT_FILES, FOREST_FILE]
    assert program.stdout.split() == [str(tmp_path / "program" / name) for name in names]
    assert module.stdout.split() == [str(tmp_path / "module" / name) for name in names]
    for name in names:
        assert (tmp_path / "program" / name).read_bytes() == (
            tmp_path / "module" / name
        ).read_bytes(), name
    table = (tmp_path / "program" / "summary.md").read_text()
    assert "| augment=flip | augment=none | 2 | +0.0500 [+0.0500, +0.0500] |" in table
    assert "## Jobs" in table


@pytest.mark.slow
def test_usage_errors_name_the_program_they_came_from(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    make_sweep(uri)
    program = augsweep("report", "--experiment", "nope", "--tracking-uri", uri, cwd=tmp_path)
    assert program.returncode == 2
    assert "augsweep report: error: no experiment named 'nope'; existing:" in program.stderr
    module = run_cli("-m", "augsweep.tracking.report", "--sweep-id", "nope",
                     "--tracking-uri", uri, cwd=tmp_path)  # fmt: skip
    assert module.returncode == 2
    assert "python -m augsweep.tracking.report: error: sweep 'nope' has no runs in" in (
        module.stderr
    )
    reap = augsweep("reap", "--tracking-uri", uri, cwd=tmp_path)
    assert (reap.returncode, reap.stdout) == (0, "0 run(s) reaped\n"), reap.stderr[-3000:]
    sync = augsweep("sync", "--tracking-uri", "http://127.0.0.1:9", cwd=tmp_path)
    assert sync.returncode == 0 and sync.stdout.startswith("0 sent, 0 left in ")


def test_augsweep_schedule_runs_the_command_with_the_arguments_after_the_double_dash(tmp_path):
    where = ["--lock", str(tmp_path / "a.lock"), "--log-dir", str(tmp_path / "logs")]
    command = f"{sys.executable} -c 'import sys; print(sys.argv[1:])'"
    result = augsweep("schedule", *where, "--command", command, "--", "seed=0,1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "['seed=0,1']" in result.stdout and "augsweep.schedule: exit 0 after" in result.stdout
    (log,) = (tmp_path / "logs").iterdir()
    assert "['seed=0,1']" in log.read_text()
