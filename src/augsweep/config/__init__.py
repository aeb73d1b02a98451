"""The config: typed schemas (registered with Hydra on import) and the value checks.

``import augsweep.config`` registers the schemas in Hydra's ConfigStore; ``conf/`` extends
them. Nothing here imports TensorFlow or MLflow.
"""

from augsweep.config.schema import Config, register_configs

__all__ = ["Config", "register_configs"]
