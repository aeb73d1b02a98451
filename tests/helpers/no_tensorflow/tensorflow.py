"""Shadows TensorFlow for a test: on ``PYTHONPATH`` first, ``import tensorflow`` fails here as
on a machine without it (the GPU box)."""

raise ImportError("tensorflow is not installed here (shadowed by tests/helpers/no_tensorflow)")
