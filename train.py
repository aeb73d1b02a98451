"""augsweep's command line: one run, or a sweep with -m.

python train.py                                   # one run with the defaults
python train.py -m augment=none,flip,flip_rot_zoom  # a sweep and its report
"""

import sys

import hydra
from omegaconf import DictConfig

import augsweep.config  # noqa: F401  (registers the config schemas)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one job; return its best validation accuracy (for sweepers that optimise)."""
    from augsweep.cli import run_job

    return run_job(cfg)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # between jobs: the sweep's runs are closed at exit already
        sys.exit(130)
