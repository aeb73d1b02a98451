"""What became of a job: one word each, spelled once.

The relaunch planner decides an outcome (:func:`augsweep.tracking.relaunch.plan_run`), the
run reports it, the job records it on the sweep's parent run, the console and the report
show it. Stdlib only.
"""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    """A job's outcome; its value is what job records and the console show.

    A ``str`` subclass: it compares equal to its value and is written to JSON as it.
    """

    TRAINED = "trained"  # a new run
    RESUMED = "resumed"  # a killed or failed run, continued in the same run
    SKIPPED = "skipped"  # a finished run stands (a diverged one is not retried: FAILED)
    ELSEWHERE = "elsewhere"  # a live process trains the same run key now
    PRUNED = "pruned"  # a search's trial stopped early by its pruner (its run FINISHED)
    FAILED = "failed"
    KILLED = "killed"  # interrupted, or its process died mid-job
    NOT_STARTED = "not started"  # the sweep ended before the job began
    STARTED = "started"  # a job record's state while the job runs

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


# Outcomes that leave the sweep with a job to do again (its exit code 1, a relaunch resumes).
UNFINISHED = (Outcome.KILLED, Outcome.NOT_STARTED)
# Outcomes the end of a sweep lists one by one, with why.
LISTED = (Outcome.FAILED, Outcome.KILLED, Outcome.NOT_STARTED)
