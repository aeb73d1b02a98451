"""``python -m augsweep.tracking.reap``: close runs left RUNNING by processes that died.

A SIGKILL (the OOM killer, a scheduler, a reboot) leaves MLflow runs RUNNING forever. A
sweep's next launch reaps them before anything resumes; this command does the same on
demand::

    python -m augsweep.tracking.reap                          # experiment augsweep
    python -m augsweep.tracking.reap --experiment flowers --stale-after-s 600
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from augsweep.tracking import store
from augsweep.tracking.relaunch import owner_text, reap


def main(argv: Sequence[str] | None = None) -> int:
    """Reap the dead runs of an experiment (or of all) and list them."""
    parser = argparse.ArgumentParser(
        prog="python -m augsweep.tracking.reap",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tracking-uri", default="sqlite:///mlruns/mlflow.db",
                        help="MLflow tracking URI (default: %(default)s)")  # fmt: skip
    parser.add_argument("--experiment", default="augsweep",
                        help="experiment name, or 'all' (default: %(default)s)")  # fmt: skip
    parser.add_argument("--stale-after-s", type=float, default=900,
                        help="another host's run is dead after this many seconds without a "
                        "heartbeat (default: %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    client = store.connect(store.resolve_uri(args.tracking_uri, Path.cwd()))
    experiments = client.search_experiments()
    if args.experiment != "all":
        experiments = [e for e in experiments if e.name == args.experiment]
        if not experiments:
            names = ", ".join(e.name for e in client.search_experiments())
            parser.error(f"--experiment={args.experiment!r}: no such experiment; existing: {names}")
    reaped = reap(client, [e.experiment_id for e in experiments], args.stale_after_s)
    for run in reaped:
        print(f"reaped {run.info.run_id} ({run.info.run_name}, {owner_text(run)}): now KILLED")
    print(f"{len(reaped)} run(s) reaped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
