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


def run_label(overrides: list[str], shown: list[str] | None = None, policy: str = "") -> str:
    """A run's short name, policy first: ``"flip_rot_zoom,seed=1"``.

    MLflow's UI cuts a run name at about 15 characters, so the policy (what a user compares)
    comes first, without its ``augment=`` key; the other overrides follow as written.

    Args:
        overrides: All of the job's overrides; the policy is read from its ``augment=`` or
            ``augment.use=[flip,rotation]`` (shown as ``flip+rotation``).
        shown: The overrides to show after the policy (a sweep's swept keys); all of
            ``overrides`` when ``None``.
        policy: The resolved policy name, when known; it wins over ``overrides``.

    Returns:
        The name; ``"defaults"`` when there is nothing to show.
    """
    policy = policy or _policy_in(overrides)
    rest = [o for o in (overrides if shown is None else shown) if not _names_policy(o)]
    return ",".join([policy, *rest] if policy else rest) or "defaults"


def _names_policy(override: str) -> bool:
    return override_key(override) in ("augment", "augment.use")


def _policy_in(overrides: list[str]) -> str:
    """The policy an override list names: a composition's techniques, else ``augment=``."""
    values = dict(split_override(o) for o in overrides if _names_policy(o))
    if "augment.use" in values:
        return "+".join(t.strip(" '\"") for t in values["augment.use"].strip("[]").split(","))
    return values.get("augment", "")
