"""Paths given in the config, resolved against the directory the user launched from.

Hydra jobs may run in another working directory (``hydra.job.chdir=true``), so relative
paths from the command line are made absolute against Hydra's ``runtime.cwd``. Nothing here
imports TensorFlow or MLflow.
"""

from __future__ import annotations

import os
from pathlib import Path


def launch_dir() -> Path:
    """The directory the user launched from (Hydra jobs may run elsewhere)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.cwd)
    return Path.cwd()


def resolve_path(path: str | os.PathLike, base_dir: Path | None = None) -> Path:
    """``path`` with ``~`` expanded, made absolute against ``base_dir``.

    Args:
        path: A path from the config or the command line.
        base_dir: What a relative path is relative to; default :func:`launch_dir`.

    Returns:
        The absolute path (it need not exist).
    """
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = (base_dir or launch_dir()) / resolved
    return resolved


def user_cache_dir() -> Path:
    """augsweep's cache folder (preflight manifests): ``$AUGSWEEP_CACHE_DIR`` if set, else
    ``$XDG_CACHE_HOME/augsweep`` (default ``~/.cache/augsweep``)."""
    if os.environ.get("AUGSWEEP_CACHE_DIR"):
        return Path(os.environ["AUGSWEEP_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "augsweep"
