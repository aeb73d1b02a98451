"""Errors as people read them: the one line a tag or a job record holds.

No heavy import here: the command line uses it before TensorFlow or MLflow is loaded.
"""

from __future__ import annotations

import re

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def unwrap(error: BaseException) -> BaseException:
    """The error that a Hydra ``InstantiationException`` (building a ``_target_``) wraps."""
    from hydra.errors import InstantiationException

    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error


def first_line(error: BaseException) -> str:
    """``"Type: first line of the message"``, short enough for a tag.

    Hydra's ``InstantiationException`` is unwrapped to the error that caused it, and
    terminal color codes (Keras colors some of its messages) are removed. An error that
    carries its own tag text (attribute ``error_tag``, e.g. a diverged run's
    ``"diverged: loss is NaN at epoch 3"``) is tagged with it.
    """
    error = unwrap(error)
    if getattr(error, "error_tag", None):
        return str(error.error_tag)[:500]
    lines = ANSI_ESCAPE.sub("", str(error)).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text[:500]
