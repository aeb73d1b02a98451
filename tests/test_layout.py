"""The package's layout: no module imports another in a circle, and data flows one way
(the report reads runs and never drives a sweep; models know nothing of augmentation)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "src" / "augsweep"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path) -> set[str]:
    """The augsweep modules that module ``name`` imports, anywhere in it (functions too).

    ``from augsweep.x import y`` is module ``augsweep.x.y`` when that is a module, else
    ``augsweep.x``; relative imports are resolved against the module's package.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import augsweep.x.y.Class`: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def reachable(start: str) -> set[str]:
    """Every module that importing ``start`` may import, ``start`` excluded."""
    seen, todo = set(), [start]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen - {start}


def test_the_import_graph_is_read_as_the_package_is_written():
    assert len(MODULES) > 30 and "augsweep.tracking.report" in MODULES
    # `from augsweep.tracking import artifacts, store`: the submodules, not the package.
    assert {"augsweep.tracking.artifacts", "augsweep.tracking.store"} <= GRAPH["augsweep.run"]
    assert "augsweep.tracking" not in GRAPH["augsweep.run"]
    # `from augsweep.augment.policy import build_policy`: the module.
    assert "augsweep.augment.policy" in GRAPH["augsweep.run"]
    # Imports inside functions count: a sweep builds its report when it ends.
    assert "augsweep.tracking.report" in GRAPH["augsweep.tracking.sweep"]


def test_no_module_imports_another_in_a_circle():
    try:
        graphlib.TopologicalSorter(GRAPH).prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_the_cycle_check_finds_a_cycle():
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter({"a": {"b"}, "b": {"c"}, "c": {"a"}}).prepare()


def test_the_report_never_reaches_the_sweep_that_drives_it():
    assert "augsweep.tracking.sweep" not in reachable("augsweep.tracking.report")
    assert "augsweep.run" not in reachable("augsweep.tracking.report")


def test_models_never_import_augmentation():
    assert not {m for m in reachable("augsweep.models") if m.startswith("augsweep.augment")}
