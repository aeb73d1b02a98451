"""augsweep: Hydra + MLflow sweeps for data-augmentation studies with Keras.

The package root stays free of TensorFlow imports, so that configuration errors are
reported before the (slow) TensorFlow import happens.
"""

__version__ = "0.1.0"
