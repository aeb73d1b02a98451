"""Run identity: a key per run config, and one per sweep, so that relaunching is safe.

Two jobs with the same run key are the same experiment: a relaunch skips a finished run of
that key and resumes a killed one (:mod:`augsweep.tracking.relaunch`). The key hashes the
resolved config without what cannot change the result (:data:`EXCLUDED`). The data itself is
compared separately, by its fingerprint, once it is loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from augsweep.config.catalogue import knobs_read, used_catalogue
from augsweep.overrides import is_under

KEY_VERSION = "augsweep-run-key-1"
# Dotted config keys left out of the run key, and why:
EXCLUDED = (
    "tracking",  # where results are logged, not what they are
    "resources",  # which GPU, how many jobs per GPU: where it runs, not what it learns
    "report",  # how the sweep's report compares runs, after they ran
    "search",  # the search that chose this policy (its trial number, budget, storage)
    "rerun",  # asks to train again; the run itself is the same experiment
    "trainer.verbose",  # console output only
    "trainer.eval_batch_size",  # inference batch size: speed, not results
    "trainer.feature_cache",  # evaluation on cached backbone features: speed, not results
    "dataset.cache",  # where decoded images are cached: speed, not results
    # XLA on or off: the same math, float rounding apart (the augmentation block draws the
    # same random numbers either way: it runs outside the compiled step, compute.py)
    "trainer.jit_compile",
    "trainer.steps_per_execution",  # steps per compiled call: the same steps, in the same order
    "hydra",  # Hydra's own settings (output folders, launcher), never in the job's config
)
# Augment knobs added after KEY_VERSION 1: in the key only of a policy whose specs interpolate
# them (an unused knob cannot change a result), so that adding one kept every older run's key.
LATER_KNOBS = ("shear", "affine_flip")
# Catalogue entries added after the sweep key's first version: left out of the sweep key's
# base (a run's key holds only the techniques its policy uses), so that the sweeps launched
# before keep their parent runs.
LATER_TECHNIQUES = ("augment.techniques.keras.trivialaugment",)


def run_key(cfg: DictConfig) -> str:
    """The key of a run: a 16-hex-digit hash of what decides its result.

    Of the technique catalogue only the specs the policy uses count, so editing an unused
    technique does not change the key of every run.

    Args:
        cfg: The composed root config.

    Returns:
        The key, e.g. ``"3f9a0c1e2b4d5a6f"``.
    """
    node = OmegaConf.to_container(cfg, resolve=True)
    # The used specs as config nodes: KEY_VERSION 1 hashes each as its unresolved text
    # (`_digest`'s `default=str`), which every key since depends on.
    node["augment"]["techniques"] = used_catalogue(cfg.augment)
    left_out = (*EXCLUDED, *_unused_later_knobs(cfg.augment), *_left_out_at_default(node))
    return _digest(_without(node, left_out))


def experiment_part(node: Mapping[str, Any]) -> dict[str, Any]:
    """A resolved config without :data:`EXCLUDED`: the experiment, as the run's params show it
    (one list decides what is the experiment; the rest is in the run's ``config.yaml``).

    Args:
        node: The resolved config as plain data.
    """
    return _without(dict(node), EXCLUDED)


def _unused_later_knobs(augment) -> list[str]:
    """The dotted :data:`LATER_KNOBS` that no spec of the policy reads."""
    read = knobs_read(augment)
    return [f"augment.{knob}" for knob in LATER_KNOBS if knob not in read]


def _left_out_at_default(node: dict[str, Any]) -> tuple[str, ...]:
    """Keys that count only when set: ``trainer.mixed_precision`` changes results (float16
    compute), but at its default (false) it is left out, so that the runs logged before
    it existed keep their keys; ``float16`` is keyed as ``true`` was (the same run).
    ``trainer.keras_backend`` likewise: another backend is another result, but at its
    default (tensorflow) every earlier run keeps its key."""
    trainer = node.get("trainer", {})
    left_out = []
    precision = trainer.get("mixed_precision")
    if precision in (True, "float16"):
        trainer["mixed_precision"] = True
    elif not precision:
        left_out.append("trainer.mixed_precision")
    return (*left_out, *_backend_at_default(node))


def _backend_at_default(node: dict[str, Any]) -> tuple[str, ...]:
    """``trainer.keras_backend`` at its default (tensorflow): left out of run and sweep keys,
    which it did not exist in before."""
    backend = node.get("trainer", {}).get("keras_backend", "tensorflow")
    return ("trainer.keras_backend",) if backend == "tensorflow" else ()


def sweep_key(base: DictConfig, overrides: Iterable[str], params: Mapping[str, str]) -> str:
    """The key of a sweep: the base config and the sweep's overrides (in any order).

    Relaunching the same sweep command gives the same key, so the relaunch reuses the
    sweep's parent run.

    Args:
        base: The sweep's composed config (without the swept values).
        overrides: The command line's overrides, e.g. ``["augment=none,flip", "seed=0"]``.
        params: ``hydra.sweeper.params`` (a preset's sweep).

    Returns:
        The key.
    """
    node = OmegaConf.to_container(base, resolve=False)
    return _digest(
        {
            "base": _without(node, (*EXCLUDED, *LATER_TECHNIQUES, *_backend_at_default(node))),
            "overrides": sorted(
                o
                for o in overrides
                if not (_is_placement(o) or _is_report_choice(o) or _is_search_budget(o))
            ),
            "params": {key: str(value) for key, value in sorted(params.items())},
        }
    )


def _is_report_choice(override: str) -> bool:
    """An override of how the report compares runs (``report.baseline=flip``): a relaunch
    with another baseline is the same sweep, reported anew."""
    return is_under(override, "report")


def _is_search_budget(override: str) -> bool:
    """``search.trials=60``: a relaunch with a larger budget continues the same search."""
    return override.partition("=")[0].lstrip("+~") == "search.trials"


def _is_placement(override: str) -> bool:
    """An override of where jobs run (``resources.gpus=[0,1]``): a relaunch on other GPUs
    is the same sweep."""
    return is_under(override, "resources")


def _without(node: dict[str, Any], dotted_keys: Iterable[str]) -> dict[str, Any]:
    """A copy of ``node`` without the given dotted keys (absent ones are ignored)."""
    node = json.loads(json.dumps(node, default=str))
    for dotted in dotted_keys:
        *parents, last = dotted.split(".")
        parent = node
        for part in parents:
            parent = parent.get(part, {}) if isinstance(parent, dict) else {}
        if isinstance(parent, dict):
            parent.pop(last, None)
    return node


def _digest(node: Any) -> str:
    text = json.dumps([KEY_VERSION, node], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
