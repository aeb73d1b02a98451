"""Datasets: each loader returns a :class:`augsweep.data.splits.Splits` of unbatched images.

Loaders (the ``_target_`` of a ``dataset`` option): :func:`augsweep.data.digits.load_digits`
(embedded, offline), :func:`augsweep.data.tfds.load_tf_flowers` and
:func:`augsweep.data.folder.load_folder` (with :mod:`augsweep.data.preflight`). Batching,
caching and the run's input pipelines are :mod:`augsweep.data.pipeline`. Importing this
package imports no TensorFlow.
"""
