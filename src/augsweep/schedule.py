"""Scheduled sweeps: run one sweep command under a lock, its output in a dated log file.

Why: users start sweeps on a GPU box and walk away, and a cron job or a systemd timer
relaunches the sweep every night. When last night's sweep still runs, tonight's launch must
not start a second one on the same GPU and store: it exits at once with code 0 and says who
holds the lock. The lock is ``fcntl.flock`` on a file, which the kernel releases when its
holder dies, even by SIGKILL, so there is never a stale lock to delete by hand. Nobody
watches the console at night, so the output goes to ``<log-dir>/YYYY-MM-DD.log`` between a
header (time, command) and a footer (exit code, duration).

    augsweep schedule -- augment=none,flip,flip_rot_zoom seed=0,1,2
    augsweep schedule --command "python train.py -m" --lock /tmp/a.lock -- seed=0
    python -m augsweep.schedule -- seed=0       # the same launcher, without the script

The command is ``<this python> train.py -m`` (in the current directory) followed by the
arguments after ``--``; ``--command`` replaces that program. The exit code is the command's
own (128 + N when a signal N ended it), 0 when the launch was skipped because the lock is
held, 2 for a usage error of the launcher. SIGTERM and SIGINT are forwarded to the command
once (it runs in its own session, so a terminal's Ctrl-C reaches it only through here), and
on Linux the command gets SIGTERM if the launcher dies, so no sweep outlives its lock. A
launcher killed outright leaves its record in the lock file (a clean end empties it) and its
log without a footer: the next launch says so under its header.

Standard library only: this loads neither TensorFlow nor MLflow.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

PROG = "augsweep.schedule"
DEFAULT_LOCK = Path("mlruns") / "schedule.lock"
DEFAULT_LOG_DIR = Path("logs")
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT)
USAGE_ERROR = 2
DESCRIPTION = (
    "Run one sweep under an exclusive lock, its output in a dated log file. "
    "If the lock is held, say by whom and exit 0 at once."
)


class ScheduleError(Exception):
    """A usage error of the launcher: bad option, unusable path."""


@dataclasses.dataclass(frozen=True)
class Options:
    """What to run, and where the lock and the log live.

    Args:
        command: The full command line to run.
        lock: The lock file.
        log_dir: The folder of the dated log files.
        quiet: Write only to the log file, not to stdout.
    """

    command: list[str]
    lock: Path
    log_dir: Path
    quiet: bool


def add_arguments(parser: argparse.ArgumentParser, prog: str = f"python -m {PROG}") -> None:
    """Add the launcher's options to ``parser`` (also ``augsweep schedule``'s).

    Args:
        parser: The parser.
        prog: How the launcher is called, for the example.
    """
    parser.epilog = f"Example: {prog} -- augment=none,flip seed=0,1,2"
    parser.add_argument(
        "--command",
        help="the program to run, split like a shell would (default: '<this python> "
        "train.py -m'); the arguments after -- are appended to it",
    )
    parser.add_argument(
        "--lock", type=Path, default=DEFAULT_LOCK, help=f"lock file (default: {DEFAULT_LOCK})"
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=DEFAULT_LOG_DIR,
        help=f"folder of the YYYY-MM-DD.log files (default: {DEFAULT_LOG_DIR})",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="write to the log file only, not to stdout"
    )
    parser.add_argument("args", nargs="*", help="arguments for the command (put them after --)")


def options_from(ns: argparse.Namespace) -> Options:
    """The launch that parsed options ask for; relative paths are relative to the current
    directory.

    Raises:
        ScheduleError: ``--command`` is empty or cannot be split like a shell would.
    """
    command = program(ns.command) + ns.args
    return Options(command, ns.lock.absolute(), ns.log_dir.absolute(), ns.quiet)


def parse_args(argv: Sequence[str]) -> Options:
    """Read the launcher's options; relative paths are relative to the current directory.

    Args:
        argv: The arguments after the program name.

    Raises:
        ScheduleError: ``--command`` is empty or cannot be split like a shell would.
    """
    return options_from(parser().parse_args(argv))


def parser() -> argparse.ArgumentParser:
    """The parser of ``python -m augsweep.schedule``."""
    result = argparse.ArgumentParser(prog=f"python -m {PROG}", description=DESCRIPTION)
    add_arguments(result)
    return result


def program(command: str | None) -> list[str]:
    """The program part of the command line: ``command`` split, or the default sweep.

    Args:
        command: The value of ``--command``, or None for ``<this python> train.py -m``.

    Raises:
        ScheduleError: ``command`` is empty, or has unbalanced quotes; without ``command``,
            there is no ``train.py`` in the current directory.
    """
    if command is None:
        if not Path("train.py").is_file():
            raise ScheduleError(
                f"no train.py in {Path.cwd()}: run from the augsweep checkout "
                "(cron: cd there first; systemd: WorkingDirectory=) or pass --command"
            )
        return [sys.executable, "train.py", "-m"]
    try:
        words = shlex.split(command)
    except ValueError as error:
        raise ScheduleError(f"--command {command!r} cannot be split: {error}") from None
    if not words:
        raise ScheduleError(f"--command {command!r} names no program")
    return words


# --- the lock -------------------------------------------------------------------------------


def try_lock(path: Path, holder: dict) -> tuple[int | None, dict | None]:
    """Take the exclusive lock on ``path`` without waiting, and record ``holder`` in it.

    Args:
        path: The lock file; it and its folder are created if missing.
        holder: Who holds the lock (pid, host, since, command), written as JSON.

    Returns:
        The locked file descriptor (the lock lasts until it is closed or the process
        dies), or None when another process holds the lock; and the record of a holder
        that died without releasing it (a clean end empties the file: :func:`release`),
        else None.

    Raises:
        ScheduleError: The lock file cannot be created or opened.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ScheduleError(f"cannot open the lock file {path}: {error}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None, None
    left = None
    with contextlib.suppress(ValueError):
        left = json.loads(os.pread(fd, 65536, 0) or b"null")
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
    return fd, left if isinstance(left, dict) else None


def release(fd: int) -> None:
    """Empty the lock file (it keeps no stale holder) and release the lock."""
    os.ftruncate(fd, 0)
    os.close(fd)


def read_holder(path: Path, attempts: int = 20) -> dict | None:
    """Who holds the lock on ``path``, as its holder recorded it.

    Args:
        path: The lock file.
        attempts: Reads 50 ms apart, for a holder that has locked but not yet written.

    Returns:
        The holder's record, or None if the file holds no readable record.
    """
    for _ in range(attempts):
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(path.read_text())
            if isinstance(record, dict):
                return record
        time.sleep(0.05)
    return None


def describe_holder(path: Path, holder: dict | None) -> str:
    """One line naming the lock, and the holder's pid, host, start time and command."""
    if holder is None:
        return f"lock {path} is held by a process that left no record in it"
    return (
        f"lock {path} is held by pid {holder.get('pid')} on {holder.get('host')} "
        f"since {holder.get('since')}: {holder.get('command')}"
    )


# --- output ---------------------------------------------------------------------------------


class Output:
    """Where the launch writes: the day's log file, and stdout unless quiet.

    Args:
        log: The log file, opened for appending, unbuffered.
        echo: Also write to stdout (stops quietly once stdout is gone, e.g. a closed terminal).
    """

    def __init__(self, log: BinaryIO, echo: bool):
        self.log = log
        self.echo = echo

    def write(self, data: bytes) -> None:
        """Append ``data`` to the log (one write), and echo it."""
        self.log.write(data)
        if self.echo:
            try:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            except OSError:
                self.echo = False

    def line(self, text: str) -> None:
        """A launcher's line: ``==== <time> augsweep.schedule: <text>``."""
        self.write(f"==== {now_text()} {PROG}: {text}\n".encode())


def now_text() -> str:
    """The local time with its UTC offset, to the second."""
    return dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


@contextlib.contextmanager
def open_output(log_dir: Path, quiet: bool) -> Iterator[Output]:
    """The output of a launch: ``<log_dir>/<today>.log`` (appended) and stdout unless quiet.

    Args:
        log_dir: The folder of the log files; created if missing.
        quiet: Write to the log file only.

    Raises:
        ScheduleError: The folder or the file cannot be created.
    """
    path = log_dir / f"{dt.date.today().isoformat()}.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(path, "ab", buffering=0)  # noqa: SIM115  (closed below)
    except OSError as error:
        raise ScheduleError(f"cannot write the log file {path}: {error}") from None
    with log:
        yield Output(log, echo=not quiet)


# --- running the command --------------------------------------------------------------------


class Forwarder:
    """Signal handler that passes SIGTERM and SIGINT on to the running command.

    A signal that arrives before the command has started is passed on as soon as it has.
    """

    def __init__(self):
        self.child: subprocess.Popen | None = None
        self.received: list[int] = []

    def __call__(self, signum, frame) -> None:
        self.received.append(signum)
        if self.child is not None:
            self._send(signum)

    def attach(self, child: subprocess.Popen) -> None:
        """Forward to ``child`` from now on, including what came before it started."""
        self.child = child
        for signum in self.received:
            self._send(signum)

    def _send(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.child.send_signal(signum)


@contextlib.contextmanager
def forwarding_signals() -> Iterator[Forwarder]:
    """Within the block, SIGTERM and SIGINT go to the command instead of ending the launcher."""
    forwarder = Forwarder()
    previous = {signum: signal.signal(signum, forwarder) for signum in FORWARDED_SIGNALS}
    try:
        yield forwarder
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def start(command: list[str]) -> subprocess.Popen:
    """Start ``command`` in its own session, stdout and stderr on one pipe, unbuffered.

    Its own session: a terminal's Ctrl-C reaches the launcher only, which forwards it once
    (a sweep interrupted twice could stop before closing its MLflow runs).
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        preexec_fn=terminate_with_parent(),
    )


def terminate_with_parent():
    """A ``preexec_fn`` that makes the child get SIGTERM when the launcher dies (Linux).

    Without it, a launcher killed by SIGKILL would leave its sweep running with the lock
    free, and the next launch would start a second sweep beside it. None elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))
        if os.getppid() != parent:  # the launcher died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def copy_output(child: subprocess.Popen, out: Output) -> None:
    """Copy the command's output to ``out`` as it comes, until the command closes it."""
    fd = child.stdout.fileno()
    while chunk := os.read(fd, 65536):
        out.write(chunk)
    child.stdout.close()


def exit_code(returncode: int) -> int:
    """A shell's exit code: the command's own, or 128 + N when signal N ended it."""
    return returncode if returncode >= 0 else 128 - returncode


def run_command(command: list[str], out: Output) -> tuple[int, str]:
    """Run ``command``, its output to ``out``, forwarding SIGTERM and SIGINT to it.

    Returns:
        The exit code, and how the command ended, for the footer.
    """
    with forwarding_signals() as forwarder:
        try:
            child = start(command)
        except OSError as error:  # not found (127) or not executable (126), as a shell says
            code = 127 if isinstance(error, FileNotFoundError) else 126
            return code, f"cannot start {command[0]!r}: {error}"
        forwarder.attach(child)
        copy_output(child, out)
        returncode = child.wait()
    return exit_code(returncode), ending(returncode, forwarder.received)


def ending(returncode: int, received: list[int]) -> str:
    """How the command ended, in words: its exit, and the signals passed on to it."""
    if received:
        names = ", ".join(signal.Signals(s).name for s in received)
        return f"stopped: {names} forwarded to it"
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return "failed" if returncode else "finished"


# --- a launch -------------------------------------------------------------------------------


def holder_record(command: list[str]) -> dict:
    """This launch, as recorded in the lock file."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": now_text(),
        "cwd": str(Path.cwd()),
        "command": shlex.join(command),
    }


def launch(options: Options) -> int:
    """Run the command under the lock, or skip it if the lock is held.

    Returns:
        The command's exit code, or 0 when skipped.

    Raises:
        ScheduleError: The lock or the log file cannot be opened.
    """
    record = holder_record(options.command)
    with open_output(options.log_dir, options.quiet) as out:
        fd, dead = try_lock(options.lock, record)
        if fd is None:
            holder = read_holder(options.lock)
            out.line(f"skipped (pid {record['pid']}): {describe_holder(options.lock, holder)}")
            return 0
        try:
            where = f"pid {record['pid']} on {record['host']} in {record['cwd']}"
            out.line(f"start {where}: {record['command']}")
            if dead is not None:  # its log ends without a footer: say why, here
                out.line(
                    f"the previous launch, pid {dead.get('pid')} on {dead.get('host')} since "
                    f"{dead.get('since')}, died before its footer (SIGKILL, out of memory, a "
                    "power loss?); a sweep reaps what it left RUNNING and resumes it"
                )
            started = time.monotonic()
            code, how = run_command(options.command, out)
            duration = dt.timedelta(seconds=round(time.monotonic() - started))
            out.line(f"exit {code} after {duration} ({how})")
        finally:
            release(fd)
    return code


def run_parsed(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """``augsweep schedule``: launch with parsed options (:func:`add_arguments`); returns the
    exit code, as :func:`main`."""
    try:
        return launch(options_from(args))
    except ScheduleError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code (see the module's docstring)."""
    return run_parsed(parser().parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
