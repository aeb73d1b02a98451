"""What a process keeps from one job to the next (augsweep.worker)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

FREEZE_TWICE = textwrap.dedent(
    """
    import gc, weakref
    from augsweep.worker import frozen_imports

    with frozen_imports():  # the first job's start: the imports' objects are frozen
        import colorsys
    frozen = gc.get_freeze_count()
    collecting = gc.isenabled()

    class Node:
        pass

    def job():
        node = Node()
        node.self = node  # a cycle: garbage that only a collection frees
        return weakref.ref(node)

    ref = job()
    with frozen_imports():  # the next job's start: imports nothing new, freezes nothing
        import colorsys
    gc.collect()
    print(frozen, gc.get_freeze_count(), ref() is None, collecting)
    """
)


def test_the_imported_heap_is_frozen_once_and_a_jobs_garbage_is_still_freed():
    # In a process of its own: freezing is for the whole life of a process.
    result = subprocess.run(
        [sys.executable, "-c", FREEZE_TWICE], capture_output=True, text=True, check=True
    )
    frozen, frozen_after, freed, collecting = result.stdout.split()
    assert int(frozen) > 1000  # the interpreter's and augsweep's objects
    assert (frozen_after, freed, collecting) == (frozen, "True", "True")
