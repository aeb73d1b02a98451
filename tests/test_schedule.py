"""The scheduled launcher through real processes: the lock, the log, exit codes, signals.

Self-contained on purpose (no import from conftest or other test modules).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A tiny real sweep: a few seconds of training once TensorFlow has loaded.
TINY_SWEEP = [
    "augment=none",
    "trainer.epochs=2",
    "trainer.batch_size=32",
    "dataset.train_samples=60",
    "dataset.image_size=16",
]

# A command that says it is ready, then waits; on SIGTERM or SIGINT it writes the signal's
# name to the file named by its first argument and exits 3.
TRAP = """
import pathlib, signal, sys, time
def stop(signum, frame):
    pathlib.Path(sys.argv[1]).write_text(signal.Signals(signum).name)
    sys.exit(3)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
print("ready", flush=True)
time.sleep(60)
"""


def python_command(code: str, *args: str) -> str:
    """A ``--command`` value running ``code`` with this Python."""
    return shlex.join([sys.executable, "-c", code, *args])


def launch(tmp_path: Path, *args: str, cwd: Path = ROOT) -> subprocess.Popen:
    """Start ``python -m augsweep.schedule`` with its lock and logs under ``tmp_path``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "AUGSWEEP_CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("MLFLOW_RUN_ID", None)
    where = ["--lock", str(tmp_path / "schedule.lock"), "--log-dir", str(tmp_path / "logs")]
    return subprocess.Popen(
        [sys.executable, "-m", "augsweep.schedule", *where, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    """Wait for ``process``; return its exit code, stdout and stderr."""
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        process.kill()
    return process.returncode, out, err


def log_text(tmp_path: Path) -> str:
    """Today's log file (the only one)."""
    files = list((tmp_path / "logs").glob("*.log"))
    return files[0].read_text() if files else ""


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def assert_second_launch_skips(tmp_path: Path, first: subprocess.Popen, *args: str) -> None:
    """A launch while ``first`` holds the lock exits 0 at once, naming the holder."""
    started = time.monotonic()
    code, out, err = finish(launch(tmp_path, *args), timeout=30)
    took = time.monotonic() - started
    assert (code, err) == (0, ""), err
    assert took < 5, f"the skipped launch took {took:.1f} s"
    assert "skipped" in out
    assert f"held by pid {first.pid} on {socket.gethostname()} since " in out
    assert first.poll() is None, "the first launch should still be running"


def test_log_has_header_output_and_footer(tmp_path):
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr)"
    command = python_command(code)

    scheduler = launch(tmp_path, "--command", command)
    returncode, out, err = finish(scheduler)

    assert (returncode, err) == (0, "")
    lines = log_text(tmp_path).splitlines()
    assert lines[0].startswith("==== ")
    where = f"pid {scheduler.pid} on {socket.gethostname()} in {ROOT}"
    assert lines[0].endswith(f" augsweep.schedule: start {where}: {command}")
    assert lines[1:3] == ["to stdout", "to stderr"]
    assert "augsweep.schedule: exit 0 after 0:00:0" in lines[3]
    assert lines[3].endswith("(finished)")
    assert len(lines) == 4
    assert out == log_text(tmp_path)  # echoed to the console too


def test_quiet_writes_the_log_only(tmp_path):
    returncode, out, _ = finish(launch(tmp_path, "--quiet", "--command", "echo hello"))
    assert (returncode, out) == (0, "")
    assert "\nhello\n" in log_text(tmp_path)


def test_arguments_after_the_separator_are_appended_to_the_command(tmp_path):
    command = python_command("import sys; print(sys.argv[1:])")
    returncode, out, _ = finish(launch(tmp_path, "--command", command, "--", "-m", "seed=1"))
    assert returncode == 0
    assert "\n['-m', 'seed=1']\n" in out


def test_a_failing_command_gives_its_exit_code(tmp_path):
    command = python_command("import sys; print('boom'); sys.exit(1)")

    returncode, _, _ = finish(launch(tmp_path, "--command", command))

    assert returncode == 1
    footer = log_text(tmp_path).splitlines()[-1]
    assert "augsweep.schedule: exit 1 after " in footer
    assert footer.endswith("(failed)")


def test_a_missing_program_exits_127(tmp_path):
    returncode, _, _ = finish(launch(tmp_path, "--command", "no-such-program-here --x"))
    assert returncode == 127
    assert "exit 127 after 0:00:00 (cannot start 'no-such-program-here'" in log_text(tmp_path)


# Runs until the file named by its argument exists: the first launch holds the lock until
# the test lets it go, however slow the machine.
HOLD_UNTIL_RELEASED = (
    "import pathlib, sys, time\n"
    "print('ready', flush=True)\n"
    "while not pathlib.Path(sys.argv[1]).exists():\n"
    "    time.sleep(0.05)\n"
)


def test_a_second_launch_exits_at_once_while_the_first_runs(tmp_path):
    release = tmp_path / "release"
    command = python_command(HOLD_UNTIL_RELEASED, str(release))
    first = launch(tmp_path, "--command", command)
    try:
        wait_for(lambda: "\nready\n" in log_text(tmp_path))  # not the header's "ready"
        assert_second_launch_skips(tmp_path, first, "--command", command)
    finally:
        release.touch()

    assert finish(first)[0] == 0
    log = log_text(tmp_path)
    assert "skipped (pid " in log
    assert log.splitlines()[-1].endswith("(finished)")


@pytest.mark.slow
def test_a_second_launch_of_a_real_sweep_exits_at_once(tmp_path):
    sweep = [
        *TINY_SWEEP,
        f"tracking.uri=sqlite:///{tmp_path}/mlruns/mlflow.db",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ]
    first = launch(tmp_path, "--", *sweep)  # the default command: python train.py -m
    wait_for(lambda: "start pid" in log_text(tmp_path))

    assert_second_launch_skips(tmp_path, first, "--", *sweep)

    returncode, out, err = finish(first, timeout=300)
    assert (returncode, err) == (0, ""), out[-3000:]
    log = log_text(tmp_path)
    assert f"{sys.executable} train.py -m augment=none" in log.splitlines()[0]
    assert f"Report: {tmp_path}/sweep/summary.md" in log
    assert (tmp_path / "sweep" / "summary.md").exists()
    assert log.splitlines()[-1].endswith("(finished)")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_is_forwarded_and_the_launcher_exits_with_the_childs_code(tmp_path, signum):
    marker = tmp_path / "got-signal"
    scheduler = launch(tmp_path, "--command", python_command(TRAP, str(marker)))
    wait_for(lambda: "\nready\n" in log_text(tmp_path))  # not the header's "ready"

    scheduler.send_signal(signum)

    assert finish(scheduler, timeout=30)[0] == 3
    assert marker.read_text() == signum.name
    footer = log_text(tmp_path).splitlines()[-1]
    assert "exit 3 after 0:00:0" in footer
    assert footer.endswith(f"(stopped: {signum.name} forwarded to it)")


def test_the_lock_is_free_once_its_holder_is_killed(tmp_path):
    marker = tmp_path / "got-signal"
    holder = launch(tmp_path, "--command", python_command(TRAP, str(marker)))
    wait_for(lambda: "\nready\n" in log_text(tmp_path))  # not the header's "ready"

    holder.send_signal(signal.SIGKILL)
    finish(holder)

    returncode, out, _ = finish(launch(tmp_path, "--command", "echo second launch"))
    assert returncode == 0
    assert "skipped" not in out
    assert "\nsecond launch\n" in out
    # The killed launch's log ends without a footer: the next one says why, at its top.
    assert f"the previous launch, pid {holder.pid} on " in out.splitlines()[1]
    assert "died before its footer" in out.splitlines()[1]
    if sys.platform.startswith("linux"):  # the orphaned command was told to stop
        wait_for(lambda: marker.exists(), timeout=10)
        assert marker.read_text() == "SIGTERM"


def test_usage_errors_exit_2_naming_the_bad_value(tmp_path):
    returncode, _, err = finish(launch(tmp_path, "--command", "  "))
    assert (returncode, err) == (2, "augsweep.schedule: error: --command '  ' names no program\n")

    returncode, _, err = finish(launch(tmp_path, cwd=tmp_path))  # the default needs train.py
    assert returncode == 2
    assert f"no train.py in {tmp_path}" in err
    assert not (tmp_path / "schedule.lock").exists()


def test_an_unusable_log_folder_exits_2_naming_it(tmp_path):
    (tmp_path / "logs").write_text("a file, not a folder")
    returncode, _, err = finish(launch(tmp_path, "--command", "echo never"))
    assert returncode == 2
    assert f"cannot write the log file {tmp_path}/logs/" in err
