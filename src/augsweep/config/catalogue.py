"""The technique catalogue: an augment option's names -> the layer specs it stands for, and
which part of the ``augment`` config a policy uses.

Pure Python on the composed config (no TensorFlow), beside the schema: the checks, the run
key and the run's params read a policy through it before anything heavy is imported. The
catalogue itself is config: ``conf/techniques/<backend>.yaml``, merged into
``augment.techniques.<backend>``.
"""

from __future__ import annotations

import re
from typing import Any

from omegaconf import OmegaConf

BACKENDS = ("keras", "albumentations")
PLACEMENTS = ("model", "dataset")
# The keys of an augment node that are not technique knobs (magnitudes and modes).
POLICY_KEYS = ("name", "use", "layers", "placement", "backend", "techniques")
# A spec's reference to a knob: ``${augment.rotation}``. OmegaConf has no public API that
# lists a node's interpolations, hence the pattern.
_KNOB_REF = re.compile(r"\$\{augment\.(\w+)\}")


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
    """The part of ``augment.techniques`` that the policy uses: ``{backend: {name: spec}}``
    for the techniques in ``use``, the specs as config nodes (unresolved)."""
    specs = catalogue(augment)
    return {augment.backend: {name: specs[name] for name in augment.use if name in specs}}


def knobs_read(augment) -> set[str]:
    """The knobs (``rotation``, ``flip_mode``, ...) that the policy's specs read by
    interpolation (``factor: ${augment.rotation}``), searched in the unresolved specs."""
    specs = [*used_catalogue(augment)[augment.backend].values(), *augment.layers]
    text = str([OmegaConf.to_container(spec, resolve=False) for spec in specs])
    return set(_KNOB_REF.findall(text))


def knobs(augment) -> list[str]:
    """Every knob of an ``augment`` node (its keys but :data:`POLICY_KEYS`), in config order."""
    return [key for key in augment if key not in POLICY_KEYS]


def used_augment_config(augment) -> dict[str, Any]:
    """The ``augment`` node as plain resolved data, as far as the policy uses it: of the
    catalogue only the techniques in ``use`` (:func:`used_catalogue`), of the knobs only
    those its specs read (:func:`knobs_read`).

    What a run logs as its parameters; the run key leaves out the same unread knobs where
    its version allows (:mod:`augsweep.config.run_key`).

    Args:
        augment: The composed ``augment`` config node.

    Returns:
        The node; ``techniques`` is ``{backend: {name: spec}}``.
    """
    node = OmegaConf.to_container(augment, resolve=True)
    node["techniques"] = {
        backend: {name: node["techniques"][backend][name] for name in specs}
        for backend, specs in used_catalogue(augment).items()
    }
    read = knobs_read(augment)
    for key in knobs(augment):
        if key not in read:
            del node[key]
    return node
