"""The technique catalogue: an augment option's names -> the layer specs it stands for.

Pure Python on the composed config (no TensorFlow), so that :mod:`augsweep.config.checks` can
check names before anything heavy is imported. The catalogue itself is config:
``conf/techniques/<backend>.yaml``, merged into ``augment.techniques.<backend>``.
"""

from __future__ import annotations

import re
from typing import Any

from omegaconf import OmegaConf

BACKENDS = ("keras", "albumentations")
PLACEMENTS = ("model", "dataset")
# The keys of an augment node that are not technique magnitudes.
POLICY_KEYS = ("name", "use", "layers", "placement", "backend", "techniques")
# A spec's reference to a magnitude: ``${augment.rotation}``.
_MAGNITUDE_REF = re.compile(r"\$\{augment\.(\w+)\}")


def catalogue(augment, backend: str | None = None) -> dict[str, Any]:
    """The technique specs of one backend, by name.

    Args:
        augment: The composed ``augment`` config node.
        backend: ``keras`` or ``albumentations``; default ``augment.backend``.

    Returns:
        Technique name -> spec (a config node with a ``_target_``); empty for an unknown
        backend.
    """
    techniques = augment.get("techniques") or {}
    return dict(techniques.get(backend or augment.backend) or {})


def policy_specs(augment) -> list[Any]:
    """The layer specs of a policy, in order: the ``use`` techniques, then ``layers``.

    Args:
        augment: The composed (and validated) ``augment`` config node.

    Returns:
        The specs; the empty list for ``none``.

    Raises:
        KeyError: If a name in ``use`` is not in the backend's catalogue (validation
            reports it earlier, with the valid names).
    """
    specs = catalogue(augment)
    return [specs[name] for name in augment.use] + list(augment.layers)


def used_catalogue(augment) -> dict[str, dict[str, Any]]:
    """The part of ``augment.techniques`` that the policy uses, for logging.

    Args:
        augment: The composed ``augment`` config node.

    Returns:
        ``{backend: {name: spec}}`` for the techniques in ``use``.
    """
    specs = catalogue(augment)
    return {augment.backend: {name: specs[name] for name in augment.use if name in specs}}


def unused_magnitudes(augment) -> list[str]:
    """The short magnitude keys (``augment.rotation``, ...) that no spec of the policy reads.

    A magnitude is read by interpolation (``factor: ${augment.rotation}``): the policy's
    specs, unresolved, are searched for those references (OmegaConf has no public API that
    lists a node's interpolations, hence the pattern).

    Args:
        augment: The composed ``augment`` config node.

    Returns:
        The keys, in config order; every magnitude for ``none``.
    """
    used_specs = [*used_catalogue(augment)[augment.backend].values(), *augment.layers]
    text = str([OmegaConf.to_container(spec, resolve=False) for spec in used_specs])
    read = set(_MAGNITUDE_REF.findall(text))
    return [key for key in augment if key not in POLICY_KEYS and key not in read]
