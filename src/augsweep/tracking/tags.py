"""The names of the MLflow tags augsweep sets and reads, spelled here only.

No MLflow import: the command line and Hydra's callbacks read these before anything heavy.
"""


class Tag:
    """The names of the MLflow tags augsweep sets and reads, spelled here only."""

    AUGMENT = "augment"  # the policy's name
    PLACEMENT = "augment_placement"
    BACKEND = "augment_backend"
    DATASET = "dataset"
    MODEL = "model"
    DATA_FINGERPRINT = "data_fingerprint"
    CLASSES = "classes"  # the class names, comma-separated
    ERROR = "error"  # first line of the error of a FAILED or KILLED run
    SWEEP_ID = "sweep_id"  # on a sweep's parent run and on each of its jobs' runs
    ROLE = "augsweep.role"  # "sweep" on a sweep's parent run
    SWEEP_DIR = "sweep_dir"
    SWEEP_OVERRIDES = "sweep_overrides"
    PARENT = "mlflow.parentRunId"  # MLflow's own: nests a run under another
