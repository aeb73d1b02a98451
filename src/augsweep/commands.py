"""``augsweep``: the project's commands in one program (``[project.scripts]``)::

    augsweep report --experiment augsweep     # rebuild the latest sweep's report
    augsweep reap                             # close runs left RUNNING by dead processes
    augsweep sync                             # send the spools of runs whose server was away
    augsweep status --watch                   # what the running sweeps are doing now
    augsweep schedule -- augment=none,flip    # one sweep under a lock, logged (cron, systemd)

Training is not one of them: it is ``python train.py`` (``-m`` for a sweep), run in the
project's folder, whose ``conf/`` Hydra composes. The options are defined once
(:mod:`augsweep.command_args`); each command imports its module only when it runs, so
``augsweep --help`` loads neither MLflow nor TensorFlow. The ``python -m`` forms
(``python -m augsweep.tracking.report`` ...) run the same code with the same options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from augsweep import command_args

TRAINING = """\
Training is not a command of augsweep: run `python train.py [overrides]` (one run) or
`python train.py -m [overrides]` (a sweep, then its report) in the project's folder (Hydra
composes its conf/). Each command has its own help: augsweep COMMAND --help."""


def _report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from augsweep.tracking import report

    return report.run_parsed(args, parser)


def _reap(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from augsweep.tracking import reap

    return reap.run_parsed(args, parser)


def _sync(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from augsweep.tracking import sync

    return sync.run_parsed(args, parser)


def _status(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from augsweep.tracking import status

    return status.run_parsed(args, parser)


def _schedule(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from augsweep import schedule

    return schedule.run_parsed(args, parser)


def _schedule_arguments(parser: argparse.ArgumentParser) -> None:
    from augsweep import schedule

    schedule.add_arguments(parser, prog=parser.prog)


# Its options are its own (augsweep.schedule, standard library only).
SCHEDULE = command_args.Command(
    "schedule",
    "run one sweep (python train.py -m ...) under a lock, its output in logs/DATE.log",
    "Run one sweep under an exclusive lock, its output in a dated log file. If the lock is "
    "held,\nsay by whom and exit 0 at once. Exit code: the command's own, 0 when skipped, 2 "
    "for a\nusage error.",
    _schedule_arguments,
    "augsweep.schedule",
)
COMMANDS = {**command_args.COMMANDS, SCHEDULE.name: SCHEDULE}
COMMAND_DEST = "augsweep_command"
RUNS = {"report": _report, "reap": _reap, "sync": _sync, "status": _status,
        "schedule": _schedule}  # fmt: skip


def parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``augsweep`` parser, and each command's own (for its usage errors)."""
    top = argparse.ArgumentParser(
        prog="augsweep",
        description="augsweep's commands: the sweeps' reports and stores, scheduled sweeps.",
        epilog=TRAINING,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Its own dest: `augsweep schedule --command ...` has an option named command.
    commands = top.add_subparsers(dest=COMMAND_DEST, metavar="COMMAND", required=True)
    parsers = {
        name: command_args.configure(commands.add_parser(name, help=command.summary), command)
        for name, command in COMMANDS.items()
    }
    return top, parsers


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``augsweep COMMAND [options]``; returns the command's exit code."""
    top, parsers = parser()
    args = top.parse_args(argv)
    name = getattr(args, COMMAND_DEST)
    return RUNS[name](args, parsers[name])


if __name__ == "__main__":
    sys.exit(main())
