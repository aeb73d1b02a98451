"""The one place that turns ``_target_`` specs into objects."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf


def build(spec: DictConfig | dict, **kwargs: Any) -> Any:
    """Instantiate a config node that names its class or function in ``_target_``.

    Args:
        spec: A config node (or dict) with a ``_target_`` key and keyword arguments.
        **kwargs: Extra keyword arguments, e.g. values known only at run time.

    Returns:
        Whatever ``_target_`` returns.

    Raises:
        ValueError: If ``spec`` has no ``_target_``.
    """
    target = spec.get("_target_") if spec is not None else None
    if not target:
        shown = OmegaConf.to_container(spec) if isinstance(spec, DictConfig) else spec
        raise ValueError(f"config node {shown!r} has no _target_ to build")
    return instantiate(spec, _convert_="all", **kwargs)
