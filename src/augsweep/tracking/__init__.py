"""Tracking in MLflow: the store and run lifecycle (:mod:`~augsweep.tracking.store`), what a
run logs (:mod:`~augsweep.tracking.artifacts`), sweeps (:mod:`~augsweep.tracking.sweep`), the
comparison report (:mod:`~augsweep.tracking.report`) and the tag names
(:mod:`~augsweep.tracking.tags`). Importing this package imports nothing heavy.
"""
