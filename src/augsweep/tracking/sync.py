"""``augsweep sync``: send what runs kept while their server was away.

Runs that lost their tracking server keep their epochs, tags and final status in spool
files (:mod:`augsweep.tracking.spool`). This sends every spool file whose server answers,
each epoch's metrics exactly once, and removes it; files of runs still training, or of a
server still away, stay. Every launch against a server does the same for that server
first (:func:`replay_for_launch`).

Exit code: 0 when nothing is left to send, 1 otherwise. ``--tracking-uri URI``: only that
server's spools (``python -m augsweep.tracking.sync`` takes the same options).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from augsweep.tracking import probe
from augsweep.tracking import uri as uris


def prepare_store(
    uri: str, wait_s: float = 0.0, on_wait: Callable[[str], None] | None = None
) -> None:
    """Before a launch (or a sweep's job): check the store
    (:func:`augsweep.tracking.probe.check_store`: one message and nothing created if it
    cannot be used), then send what earlier runs on that server kept in their spools.

    Args:
        uri: ``tracking.uri``, as configured.
        wait_s: How long to wait for a server that does not answer (a sweep's job: the
            sweep's start reached it); 0: fail at once.
        on_wait: Told, in one line, that the wait begins.

    Raises:
        augsweep.tracking.probe.StoreUnavailable: The store cannot be used.
    """
    probe.check_store(uri, wait_s=wait_s, on_wait=on_wait)
    if uris.is_http(uri):
        replay_for_launch(uri)


def prepare_store_or_exit(uri: str) -> None:
    """:func:`prepare_store`; if the store cannot be used, its message and its exit code (1,
    or 2 for a kind of URI augsweep does not use) in a sweep's launching process: no job
    starts, no traceback."""
    try:
        prepare_store(uri)
    except probe.StoreUnavailable as error:
        print(f"augsweep: {error}", file=sys.stderr, flush=True)
        raise SystemExit(error.exit_code) from None


def replay_for_launch(uri: str) -> None:
    """Send the spools of earlier runs on the server at ``uri``, saying so; cheap when
    there are none (MLflow is imported only to send)."""
    from augsweep.tracking.spool import replay_pending

    for replay in replay_pending(uri):
        if replay.sent:
            print(f"sent the spool of run {replay.run_id} to {replay.uri}: {replay.reason}")


def run_parsed(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """``augsweep sync``: send the spools (of ``args.tracking_uri``'s server, else of every
    server) and list what became of each.

    Returns:
        0 when nothing is left to send, 1 otherwise.
    """
    probe.bound_http_retries()
    from augsweep.tracking.spool import replay_pending, spool_dir

    replays = replay_pending(args.tracking_uri)
    for replay in replays:
        state = "sent" if replay.sent else "kept"
        print(f"run {replay.run_id} ({replay.uri}): {state}: {replay.reason}")
    left = [r for r in replays if not r.sent]
    print(f"{len(replays) - len(left)} sent, {len(left)} left in {spool_dir()}")
    return 1 if left else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m augsweep.tracking.sync``: ``augsweep sync`` (:func:`run_parsed`)."""
    from augsweep import command_args

    return command_args.run_module("sync", run_parsed, argv)


if __name__ == "__main__":
    sys.exit(main())
