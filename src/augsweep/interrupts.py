"""Ctrl-C and SIGTERM: the first one stops the job; later ones never cut its shutdown short.

The first SIGINT or SIGTERM raises ``KeyboardInterrupt`` where the process is: the run ends
KILLED, the sweep lists the jobs that did not start, closes its parent run and writes its
report. That shutdown is a few database writes; a second Ctrl-C 50 ms after the first (a
user's double tap) would otherwise raise again inside them and leave the parent run RUNNING
without a report, or be swallowed by a library mid-write and let the sweep carry on into
its next job. So once the process is stopping (after the first signal, or while a sweep
writes its end), further signals are not raised: the first of them says that the shutdown
goes on, and how to end it at once (SIGKILL; the next launch reaps what that leaves
RUNNING). A wait in the shutdown (a sweep's end waiting for its tracking server) ends at the
next signal (:func:`received`): a second Ctrl-C hurries it. Python's own handler raises on
every Ctrl-C, hence this one.

Stdlib only: the command line uses it before TensorFlow or MLflow is loaded.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
STILL_STOPPING = (
    "augsweep: still stopping: closing the runs and writing the report; this signal is "
    "ignored (SIGKILL ends it at once, and the next launch reaps what that leaves RUNNING)"
)

_state = {"received": 0, "stopping": False}
INTERRUPTED = "interrupted (Ctrl-C or SIGTERM)"


class Requeued(KeyboardInterrupt):
    """A stop that a scheduler asked for (SLURM's warning signal before a time limit or a
    preemption): the run ends KILLED like at Ctrl-C, and the job's next attempt resumes it.
    Its message says why, in the job's record and line."""


def reason(stop: KeyboardInterrupt) -> str:
    """Why a job was stopped, as its record and line say it."""
    return str(stop) if isinstance(stop, Requeued) else INTERRUPTED


def handle(signum: int, frame) -> None:
    """The signal handler: the first signal raises KeyboardInterrupt, later ones are noted.

    Args:
        signum: The signal.
        frame: The interrupted frame (unused).

    Raises:
        KeyboardInterrupt: For the first signal, unless the process is already stopping.
    """
    _state["received"] += 1
    if not _state["stopping"]:
        _state["stopping"] = True
        raise KeyboardInterrupt(f"signal {signum}")
    if _state["received"] == 2 or _state["received"] % 10 == 0:
        print(STILL_STOPPING, file=sys.stderr, flush=True)


def install() -> dict | None:
    """Handle SIGINT and SIGTERM with :func:`handle`; return the previous handlers.

    Only the main thread can set signal handlers; elsewhere nothing changes (None).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return {signum: signal.signal(signum, handle) for signum in SIGNALS}


@contextmanager
def handled() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM go through :func:`handle`; after it, the
    previous handlers come back, unless the process is stopping (a signal then would cut
    its shutdown short)."""
    previous = install()
    try:
        yield
    finally:
        if previous is not None and not _state["stopping"]:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def received() -> int:
    """How many signals the process has received (a wait in the shutdown ends when one
    more comes: a second Ctrl-C hurries it)."""
    return _state["received"]


def stopping() -> bool:
    """Whether the process is stopping: a signal came, or its end is being written."""
    return _state["stopping"]


def begin_shutdown() -> None:
    """The process writes its end now (a sweep's report and status): from here on, a
    signal is noted, never raised."""
    _state["stopping"] = True
