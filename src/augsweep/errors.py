"""Errors as people read them: the one line a tag or a job record holds.

No heavy import here: the command line uses it before TensorFlow or MLflow is loaded.
"""

from __future__ import annotations

import errno
import re

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The start of a diverged run's `error` tag: a relaunch does not train such a run again (it
# would diverge again; the job fails) unless `rerun=true`.
DIVERGED_PREFIX = "diverged:"
EXIT_FAILED = 1
EXIT_CONFIG_ERROR = 2  # as argparse


class InputError(Exception):
    """An error of the input that says what to change (a config value, the data, weights,
    the store, a diverged loss): shown as one line, never with a traceback.

    Attributes:
        tag: The run's ``error`` tag and job record, when it differs from
            ``"Type: first line"`` (e.g. ``"diverged: loss is NaN at epoch 3"``).
        exit_code: A single run's exit code for it.
        run_id: The run it concerns, when one exists before the job (recorded with the job).
    """

    tag: str | None = None
    exit_code: int = EXIT_FAILED
    run_id: str | None = None


class DiskFull(InputError):
    """A write found its disk full: the path, and the way out; exit code 1 (the environment
    fails). The run ends FAILED where its store can still be written; a relaunch once there
    is room resumes it from its last checkpoint.

    Args:
        path: What was being written.
    """

    def __init__(self, path: object):
        self.path = path
        self.tag = (
            f"no space left on device writing {path}: free space there (or set "
            "tracking.checkpoints to a disk with room), then relaunch: the run resumes"
        )
        super().__init__(self.tag)


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def no_space(error: BaseException | None) -> bool:
    """Whether ``error``, or an error it was raised from, says the disk is full (an
    ``OSError`` ENOSPC or EDQUOT, or SQLite's ``database or disk is full``)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in NO_SPACE:
            return True
        if "database or disk is full" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def unwrap(error: BaseException) -> BaseException:
    """The error that a Hydra ``InstantiationException`` (building a ``_target_``) wraps."""
    from hydra.errors import InstantiationException

    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error


def first_line(error: BaseException) -> str:
    """``"Type: first line of the message"``, short enough for a tag.

    Hydra's ``InstantiationException`` is unwrapped to the error that caused it, and
    terminal color codes (Keras colors some of its messages) are removed. An
    :class:`InputError` with a ``tag`` (e.g. a diverged run's ``"diverged: loss is NaN at
    epoch 3"``) is tagged with it.
    """
    error = unwrap(error)
    if isinstance(error, InputError) and error.tag:
        return error.tag[:500]
    lines = ANSI_ESCAPE.sub("", str(error)).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text[:500]


def is_input_error(error: BaseException) -> bool:
    """Whether ``error`` (or the error a Hydra ``InstantiationException`` wraps) is an
    :class:`InputError`."""
    return isinstance(unwrap(error), InputError)
