"""The options of the ``augsweep`` commands, defined once: one name means one thing in all of
them (``--tracking-uri`` wherever a store is named; ``--experiment`` and ``--sweep-id``
wherever an experiment or a sweep is chosen).

Standard library only, and no command's module is imported here: ``augsweep --help`` loads
neither MLflow nor TensorFlow, and the commands' modules (``tracking.report``, ``reap``,
``sync``) import this one for their ``python -m`` forms (:func:`run_module`), which parse the
same options. The program is :mod:`augsweep.commands`; ``augsweep schedule`` takes the options
of :mod:`augsweep.schedule`, which are its own.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from augsweep.tracking.uri import DEFAULT_EXPERIMENT, DEFAULT_URI


@dataclass(frozen=True)
class Command:
    """A subcommand of ``augsweep``.

    Attributes:
        name: Its name (``augsweep NAME``).
        summary: One line, listed by ``augsweep --help``.
        description: Its ``--help`` text.
        add_arguments: Adds its options to a parser.
        module: The module of its ``python -m`` form.
    """

    name: str
    summary: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    module: str


def add_tracking_uri(
    parser: argparse.ArgumentParser,
    default: str | None = DEFAULT_URI,
    help: str = "MLflow tracking URI (default: %(default)s)",
) -> None:
    """``--tracking-uri``: the store (a SQLite URI or a server's http(s) URL)."""
    parser.add_argument("--tracking-uri", default=default, help=help)


def report_arguments(parser: argparse.ArgumentParser) -> None:
    """``augsweep report``: which sweep, where to write, against which baseline."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sweep-id", help="the sweep_id tag of the sweep")
    which.add_argument(
        "--experiment",
        help=f"experiment name: report its latest sweep (default: {DEFAULT_EXPERIMENT}'s, "
        "unless --sweep-id)",
    )
    add_tracking_uri(parser)
    parser.add_argument("--out", type=Path, help="output folder (default: reports/SWEEP_ID)")
    parser.add_argument(
        "--baseline",
        help="the group every other is compared with: a value of augment (none) or key=value "
        "(default: the sweep's report.baseline, else none)",
    )


def reap_arguments(parser: argparse.ArgumentParser) -> None:
    """``augsweep reap``: which experiment, and when another host's run counts as dead."""
    add_tracking_uri(parser)
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                        help="experiment name, or 'all' (default: %(default)s)")  # fmt: skip
    parser.add_argument("--stale-after-s", type=float, default=900,
                        help="another host's run is dead after this many seconds without a "
                        "heartbeat (default: %(default)s)")  # fmt: skip


def sync_arguments(parser: argparse.ArgumentParser) -> None:
    """``augsweep sync``: which server's spools (``--uri``: its former name, hidden)."""
    add_tracking_uri(
        parser, default=None, help="only the spools of this tracking server (default: all)"
    )
    parser.add_argument("--uri", dest="tracking_uri", help=argparse.SUPPRESS)


def status_arguments(parser: argparse.ArgumentParser) -> None:
    """``augsweep status``: which sweeps, how often, and when a process counts as dead."""
    add_tracking_uri(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sweep-id", help="the sweep_id tag of the sweep")
    which.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                       help="experiment name, or 'all': its running sweeps, else its latest "
                       "(default: %(default)s)")  # fmt: skip
    parser.add_argument("--watch", type=float, nargs="?", const=10.0, metavar="SECONDS",
                        help="show it again every SECONDS (default 10) until Ctrl-C")  # fmt: skip
    parser.add_argument("--stale-after-s", type=float, default=900,
                        help="another host's job is probably dead after this many seconds "
                        "without a heartbeat (default: %(default)s)")  # fmt: skip


COMMANDS = {
    command.name: command
    for command in (
        Command(
            "report",
            "rebuild a sweep's report (plots, summary.md, report.html) from MLflow",
            "Rebuild a sweep's report from MLflow alone.\n\nExamples:\n"
            "  augsweep report --sweep-id 20261125-101500-a1b2c3\n"
            "  augsweep report --experiment augsweep     # its latest sweep\n"
            "  augsweep report --experiment augsweep --baseline flip",
            report_arguments,
            "augsweep.tracking.report",
        ),
        Command(
            "reap",
            "close runs left RUNNING by processes that died",
            "Close runs left RUNNING by processes that died.\n\n"
            "A SIGKILL (the OOM killer, a scheduler, a reboot) leaves MLflow runs RUNNING "
            "forever.\nA sweep's next launch reaps them before anything resumes; this command "
            "does the same\non demand:\n\n"
            "  augsweep reap                          # experiment augsweep\n"
            "  augsweep reap --experiment flowers --stale-after-s 600",
            reap_arguments,
            "augsweep.tracking.reap",
        ),
        Command(
            "sync",
            "send what runs kept in their spools while their server was away",
            "Send what runs kept while their server was away.\n\n"
            "Every spool file whose server answers is sent, each epoch's metrics exactly once, "
            "and removed;\nfiles of runs still training, or of a server still away, stay.\n"
            "Exit code: 0 when nothing is left to send, 1 otherwise.",
            sync_arguments,
            "augsweep.tracking.sync",
        ),
        Command(
            "status",
            "what the sweeps of a store are doing now: jobs, epochs, heartbeats, ETA",
            "What the sweeps of a store are doing now, read from MLflow alone (a sweep under "
            "cron,\non SLURM, on another host through a server): per sweep, its jobs finished, "
            "running,\nfailed and not started; each running job's epoch and last heartbeat "
            "(a dead process\nflagged probably dead); the ETA. It never writes to the store.\n\n"
            "  augsweep status                        # experiment augsweep's running sweeps\n"
            "  augsweep status --sweep-id 20261125-101500-a1b2c3 --watch",
            status_arguments,
            "augsweep.tracking.status",
        ),
    )
}


def configure(parser: argparse.ArgumentParser, command: Command) -> argparse.ArgumentParser:
    """Give ``parser`` the description and options of ``command``."""
    parser.description = command.description
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    command.add_arguments(parser)
    return parser


def module_parser(name: str) -> argparse.ArgumentParser:
    """The parser of a command's ``python -m`` form: the same options."""
    command = COMMANDS[name]
    return configure(argparse.ArgumentParser(prog=f"python -m {command.module}"), command)


def run_module(
    name: str,
    run: Callable[[argparse.Namespace, argparse.ArgumentParser], int],
    argv: Sequence[str] | None = None,
) -> int:
    """A command's ``python -m`` form: parse its options, then ``run`` them.

    Args:
        name: The command.
        run: Its code (``run_parsed`` of its module), given the options and their parser.
        argv: The arguments (default: the command line's).

    Returns:
        Its exit code.
    """
    parser = module_parser(name)
    return run(parser.parse_args(argv), parser)
