"""Augmentation: policies and where they run, previews, layers.

:mod:`augsweep.config.catalogue` (no TensorFlow, beside the schema) turns an ``augment``
option into layer specs; :mod:`~augsweep.augment.policy` builds them and splits them by
where they run;
:mod:`~augsweep.augment.albumentations` is the optional albumentations backend;
:mod:`~augsweep.augment.preview` draws a policy on sample images; ``layers/`` holds the
layers Keras lacks or gets wrong. Importing this package imports no TensorFlow.
"""
