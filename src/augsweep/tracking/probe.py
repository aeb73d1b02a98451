"""Is the tracking store there? Asked before anything else, answered in seconds.

MLflow finds out that a store is missing only when it first writes, and then retries:
a server that is not listening costs ~250 s of retries and a page of chained tracebacks,
a SQLite file in a read-only folder ~110 s. :func:`check_store` asks first (an HTTP
``/health`` probe with a short timeout; for SQLite, whether the file or the first existing
folder above it is writable) and creates nothing.

Stdlib only: the command line calls it before TensorFlow or MLflow is imported.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from augsweep.errors import EXIT_CONFIG_ERROR, InputError
from augsweep.tracking import uri as uris

PROBE_TIMEOUT_S = 3.0
START_HINT = "start it with `make server` (README: A tracking server)"
# MLflow's own HTTP retries for augsweep's processes, unless the environment sets them.
# Its defaults (7 retries, backoff factor 2, 120 s timeout) block a job ~12 minutes per call
# when a server goes away mid-run; augsweep keeps what it could not send in a spool
# (augsweep.tracking.spool) instead, so a call may fail after a few seconds.
HTTP_RETRY_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}


SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file
SUPPORTED = "sqlite:///PATH/mlflow.db (relative to the launch directory or absolute) or " \
    "http(s)://HOST:PORT of an `mlflow server`"  # fmt: skip


class StoreUnavailable(InputError):
    """The tracking store cannot be reached or written: nothing was created (exit code 1,
    the environment fails)."""


class UnsupportedStore(StoreUnavailable):
    """``tracking.uri`` names a kind of store augsweep does not use (exit code 2, a value
    to change)."""

    exit_code = EXIT_CONFIG_ERROR


def bound_http_retries() -> None:
    """Set :data:`HTTP_RETRY_LIMITS` in this process's environment where unset (MLflow
    reads them at every request)."""
    for name, value in HTTP_RETRY_LIMITS.items():
        os.environ.setdefault(name, value)


def check_store(
    uri: str,
    base_dir: Path | None = None,
    wait_s: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> None:
    """Fail, with one message, if the store at ``uri`` cannot be used: at once, or, for a
    server that answered before (a sweep's job), once it has been waited for.

    Also bounds MLflow's HTTP retries for this process (:func:`bound_http_retries`).

    Args:
        uri: ``tracking.uri``: ``http(s)://HOST:PORT`` of an ``mlflow server``, or
            ``sqlite:///PATH`` (relative paths against ``base_dir``).
        base_dir: What a relative SQLite path is relative to; default: the launch directory.
        wait_s: How long to wait for a server that does not answer (0: fail at once, for a
            server never reached: a mistyped URI must not cost minutes).
        on_wait: Told, in one line, that the wait begins.

    Raises:
        StoreUnavailable: The server does not answer, or the SQLite file cannot be written
            or is no SQLite database, or its ``artifacts/`` folder cannot be written.
        UnsupportedStore: Another kind of URI (a ``file:`` store: MLflow 3 refuses it).
    """
    bound_http_retries()
    if uris.is_http(uri):
        if not server_healthy(uri):
            _wait_or_fail(uri, wait_s, on_wait)
    elif uris.is_sqlite(uri):
        _check_sqlite(uri, base_dir)
    elif not uri.startswith("databricks"):
        raise UnsupportedStore(f"tracking.uri={uri}: not supported; use {SUPPORTED}")


def _wait_or_fail(uri: str, wait_s: float, on_wait: Callable[[str], None] | None) -> None:
    """A server that does not answer: waited for ``wait_s`` seconds (a sweep's job, whose
    sweep reached it), else refused at once."""
    if wait_s <= 0:
        raise StoreUnavailable(
            f"no MLflow tracking server answers at tracking.uri={uri} ({health_url(uri)}: "
            f"no OK within {PROBE_TIMEOUT_S:.0f} s): {START_HINT}, or point "
            "tracking.uri at a running one (tracking=local for the local SQLite store)"
        )
    if on_wait is not None:
        on_wait(f"the tracking server {uri} does not answer: waiting for it, at most "
                f"{wait_s:.0f} s (tracking.reconnect_wait_s)")  # fmt: skip
    if not wait_for_server(uri, wait_s):
        raise StoreUnavailable(
            f"the MLflow tracking server at tracking.uri={uri} answered at the "
            f"sweep's start, then not for {wait_s:.0f} s (tracking.reconnect_wait_s): "
            f"{START_HINT}; a relaunch resumes the jobs it could not run"
        )


def health_url(uri: str) -> str:
    """The ``/health`` endpoint of an ``mlflow server`` (it answers ``OK``)."""
    return uri.rstrip("/") + "/health"


def server_healthy(uri: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the ``mlflow server`` at ``uri`` answers its health check within ``timeout``.

    Args:
        uri: ``http(s)://HOST:PORT`` (with the server's static prefix, if it has one).
        timeout: Seconds to wait for the connection and the answer.
    """
    try:
        with urllib.request.urlopen(health_url(uri), timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError, ValueError):  # refused, timed out, HTTP error
        return False


def wait_for_server(
    uri: str, wait_s: float, poll_s: float = 1.0, give_up: Callable[[], bool] | None = None
) -> bool:
    """Whether the ``mlflow server`` at ``uri`` answers within ``wait_s`` seconds (asked
    every ``poll_s`` seconds; ``give_up``, if given, ends the wait early when true)."""
    deadline = time.monotonic() + wait_s
    while not server_healthy(uri):
        if time.monotonic() >= deadline or (give_up is not None and give_up()):
            return False
        time.sleep(poll_s)
    return True


def sqlite_path(uri: str, base_dir: Path | None = None) -> Path:
    """The database file of a ``sqlite:///`` URI, absolute, without creating anything."""
    if base_dir is None and not uris.sqlite_file(uri).is_absolute():
        from augsweep.paths import launch_dir

        base_dir = launch_dir()
    return uris.absolute_sqlite_file(uri, base_dir)


def _check_sqlite(uri: str, base_dir: Path | None) -> None:
    """The database file is a SQLite database and writable, or can be created: the first
    existing folder above it is a writable folder (SQLite also writes its journal beside
    the file); and the ``artifacts/`` folder beside it, if there is one, is writable."""
    path = sqlite_path(uri, base_dir)
    problem = _sqlite_file_problem(path)
    if problem:
        raise StoreUnavailable(
            f"cannot write the SQLite store of tracking.uri={uri}: {problem}. Use a "
            "writable path (tracking.uri=sqlite:///PATH/mlflow.db), or a tracking server "
            "(tracking=server; `make server` starts one)"
        )
    artifacts = path.parent / "artifacts"  # where new experiments keep their files
    if artifacts.exists() and not (artifacts.is_dir() and os.access(artifacts, os.W_OK | os.X_OK)):
        raise StoreUnavailable(
            f"cannot write the artifacts of tracking.uri={uri}: {artifacts} is not a "
            "writable folder; make it writable, or use a store in a writable folder"
        )


def _sqlite_file_problem(path: Path) -> str | None:
    """Why a SQLite store cannot be at ``path``, or None."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == path and not path.is_file():
        return f"{path} is not a file"
    if existing == path and not os.access(path, os.W_OK):
        return f"{path} is read-only"
    if existing == path and not _is_sqlite_file(path):
        return f"{path} is not a SQLite database (move it away, or point tracking.uri elsewhere)"
    if existing != path and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(path.parent if existing == path else existing, os.W_OK | os.X_OK):
        return f"the folder {path.parent if existing == path else existing} is not writable"
    return None


def _is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` starts as a SQLite database does (an empty file becomes one)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError:
        return False
    return head in (b"", SQLITE_HEADER)
