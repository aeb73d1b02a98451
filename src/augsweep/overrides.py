"""Hydra overrides as augsweep reads them (``+trainer.epochs=3``, ``augment=flip``).

Stdlib only: the command line, the run key, the sweep and the report's statistics share it.
"""

from __future__ import annotations


def split_override(override: str) -> tuple[str, str]:
    """``"+trainer.epochs=3"`` -> ``("trainer.epochs", "3")`` (Hydra's ``+``, ``++`` and
    ``~`` prefixes removed; the value as written, empty if there is none)."""
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def override_key(override: str) -> str:
    """The dotted key an override sets: ``"~report.baseline"`` -> ``"report.baseline"``."""
    return split_override(override)[0]


def is_under(override: str, group: str) -> bool:
    """Whether an override sets ``group`` or a key below it (``resources.gpus=[0]`` is
    under ``resources``)."""
    key = override_key(override)
    return key == group or key.startswith(group + ".")
