"""Tracking URIs, read in one place: which kind of store, and where a SQLite store lies.

Stdlib only: the command line checks a store before MLflow is imported.
"""

from __future__ import annotations

import os
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"
# The local store, relative to the launch directory (`tracking=local`, the commands' default).
DEFAULT_URI = "sqlite:///mlruns/mlflow.db"
DEFAULT_EXPERIMENT = "augsweep"  # tracking.experiment's default, and the commands'


def is_http(uri: str) -> bool:
    """Whether ``uri`` names an ``mlflow server`` (``http(s)://HOST:PORT``)."""
    return uri.startswith(("http://", "https://"))


def is_sqlite(uri: str) -> bool:
    """Whether ``uri`` names a SQLite store (``sqlite:///PATH``)."""
    return uri.startswith(SQLITE_PREFIX)


def sqlite_file(uri: str) -> Path:
    """The database file of a ``sqlite:///`` URI, as written (relative or absolute)."""
    if not is_sqlite(uri):
        raise ValueError(f"not a SQLite tracking URI: {uri!r}")
    return Path(uri[len(SQLITE_PREFIX) :])


def absolute_sqlite_file(uri: str, base_dir: Path | None = None) -> Path:
    """The database file of a ``sqlite:///`` URI, absolute (a relative path against
    ``base_dir``, default the working directory), without creating or resolving links."""
    path = sqlite_file(uri)
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return Path(os.path.abspath(path))


def sqlite_uri(path: Path) -> str:
    """The URI of the SQLite store in file ``path``."""
    return SQLITE_PREFIX + str(path)
