"""The package's layout: no module imports another in a circle, and data flows one way
(the report reads runs and never drives a sweep; models know nothing of augmentation)."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
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


# The floors of docs/architecture.md, lowest first: a module imports from its own floor or
# the floors below it, never from one above. A module is on the floor of the longest prefix
# listed here; a module that no prefix names fails the test below (put it on the map).
FLOORS = (
    (
        "ground",
        (
            "augsweep",
            "augsweep.errors",
            "augsweep.outcomes",
            "augsweep.metrics",
            "augsweep.overrides",
            "augsweep.paths",
            "augsweep.instantiate",
            "augsweep.downloads",
            "augsweep.resources",
            "augsweep.worker",
            "augsweep.interrupts",
            "augsweep.console",
            "augsweep.backend",
            "augsweep.tracking.uri",
            "augsweep.tracking.tags",
            "augsweep.command_args",
        ),
    ),
    ("config", ("augsweep.config",)),
    (
        "parts",
        (
            "augsweep.data",
            "augsweep.augment",
            "augsweep.models",
            "augsweep.plots",
            "augsweep.compute",
            "augsweep.checkpoint",
            "augsweep.callbacks",
            "augsweep.evaluation",
            "augsweep.search",
        ),
    ),
    ("tracking", ("augsweep.tracking",)),
    ("run", ("augsweep.run",)),
    ("commands", ("augsweep.cli", "augsweep.commands", "augsweep.schedule")),
)
# Modules that the command line imports before it knows the config is good: stdlib only at
# module level (a function may import more once it runs).
STDLIB_ONLY = (
    "augsweep.errors",
    "augsweep.paths",
    "augsweep.outcomes",
    "augsweep.metrics",
    "augsweep.overrides",
    "augsweep.resources",
    "augsweep.worker",
    "augsweep.interrupts",
    "augsweep.console",
    "augsweep.backend",
    "augsweep.schedule",
    "augsweep.tracking.uri",
    "augsweep.tracking.tags",
    "augsweep.tracking.probe",
    "augsweep.data.preflight",
    "augsweep.tracking.ui",
    "augsweep.command_args",
    "augsweep.commands",
)
HEAVY = ("tensorflow", "keras", "mlflow")


def floor(module: str) -> int:
    """The floor number of ``module``: that of the longest prefix of :data:`FLOORS`."""
    best, found = -1, None
    for number, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), number
    if found is None:
        raise KeyError(module)
    return found


def test_every_module_is_on_a_floor_of_the_map():
    assert [m for m in MODULES if m != "augsweep" and floor(m) == 0 and m not in FLOORS[0][1]] == []
    unplaced = []
    for module in MODULES:
        try:
            floor(module)
        except KeyError:
            unplaced.append(module)
    assert unplaced == []


def test_no_import_goes_up_a_floor():
    upward = [
        f"{module} ({FLOORS[floor(module)][0]}) -> {target} ({FLOORS[floor(target)][0]})"
        for module, targets in GRAPH.items()
        for target in targets
        if floor(target) > floor(module)
    ]
    assert upward == []


def test_the_floor_check_finds_an_upward_import():
    assert floor("augsweep.config.checks") < floor("augsweep.augment.policy")
    assert floor("augsweep.tracking.report") > floor("augsweep.plots")


def test_config_imports_nothing_from_augment_and_data_nothing_from_augment():
    for package in ("augsweep.config", "augsweep.data"):
        importers = [m for m in MODULES if m == package or m.startswith(package + ".")]
        reached = {t for m in importers for t in GRAPH[m]}
        assert not {t for t in reached if t.startswith("augsweep.augment")}, package


def module_level_imports(module: str) -> set[str]:
    """What ``module`` imports at module level (not inside functions): top-level packages
    outside augsweep, and augsweep modules by name."""
    found = set()
    for node in ast.parse(MODULES[module].read_text()).body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "augsweep":
                found.add(name.split(".")[0])
                continue
            while name not in MODULES:
                name = name.rpartition(".")[0]
            found.add(name)
    return found


@pytest.mark.parametrize("module", STDLIB_ONLY)
def test_the_modules_used_before_the_config_is_checked_are_stdlib_only(module):
    allowed = set(sys.stdlib_module_names) | set(STDLIB_ONLY) | {"augsweep"}
    assert module_level_imports(module) - allowed == set()


def test_the_stdlib_check_finds_a_heavier_import():
    assert "augsweep.tracking.spool" in module_level_imports("augsweep.tracking.store")
    assert "mlflow" in module_level_imports("augsweep.tracking.store")


def test_package_inits_and_the_command_line_import_nothing_heavy():
    # Checking a config (cli.run_job) happens before TensorFlow, Keras or MLflow loads.
    # Package __init__ files import nothing heavy, but augment.layers, whose import
    # registers its layers with Keras.
    packages = [m for m, p in MODULES.items() if p.name == "__init__.py"]
    packages.remove("augsweep.augment.layers")
    code = (
        "import sys\n"
        f"for name in {[*packages, 'augsweep.cli', 'augsweep.config.checks']!r}:\n"
        "    __import__(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
