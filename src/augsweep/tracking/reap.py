"""``augsweep reap``: close runs left RUNNING by processes that died (and mark the job
records their sweeps left ``started`` as ``killed``).

A SIGKILL (the OOM killer, a scheduler, a reboot) leaves MLflow runs RUNNING forever. A
sweep's next launch reaps them before anything resumes; this command does the same on
demand::

    augsweep reap                          # experiment augsweep
    augsweep reap --experiment flowers --stale-after-s 600

(``python -m augsweep.tracking.reap`` takes the same options.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from augsweep.tracking import store
from augsweep.tracking.relaunch import owner_text, reap, reap_jobs


def run_parsed(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Reap the dead runs of an experiment (or of all) and list them.

    Args:
        args: The options (:func:`augsweep.command_args.reap_arguments`).
        parser: Their parser, for a usage error (exit 2).
    """
    client = store.connect(store.resolve_uri(args.tracking_uri, Path.cwd()))
    experiments = client.search_experiments()
    if args.experiment != "all":
        experiments = [e for e in experiments if e.name == args.experiment]
        if not experiments:
            names = ", ".join(e.name for e in client.search_experiments())
            parser.error(f"--experiment={args.experiment!r}: no such experiment; existing: {names}")
    experiment_ids = [e.experiment_id for e in experiments]
    reaped = reap(client, experiment_ids, args.stale_after_s)
    for run in reaped:
        print(f"reaped {run.info.run_id} ({run.info.run_name}, {owner_text(run)}): now KILLED")
    jobs = reap_jobs(client, experiment_ids, args.stale_after_s)
    for job in jobs:
        print(f"reaped {job}")
    print(
        f"{len(reaped)} run(s) reaped" + (f", {len(jobs)} job record(s) corrected" if jobs else "")
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m augsweep.tracking.reap``: ``augsweep reap`` (:func:`run_parsed`)."""
    from augsweep import command_args

    return command_args.run_module("reap", run_parsed, argv)


if __name__ == "__main__":
    sys.exit(main())
